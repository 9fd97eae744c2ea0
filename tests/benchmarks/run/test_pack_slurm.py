"""``hydra/launcher=pack_slurm``: one submitted job per pack, through submitit's local
executor (each job a process of its own on this machine, as a SLURM job would be on its
node), writing the numbers ``hydra/launcher=pack`` writes in the launching process."""

import json
import os
import re
import signal
import time
import types
from pathlib import Path

import forked_train
import pytest
from hydra import compose, initialize_config_dir
from run_files import assert_same_runs

from benchmarks import cli
from benchmarks.config import register
from benchmarks.run.experiment import RunLock
from hydra_plugins.carousel_pack.pack_submitit import PackJob, split

REPO = Path(__file__).resolve().parents[3]
TINY = [
    "model=lstm",
    "model.hidden=8",
    "task=adding",
    "task.variant=arjovsky2016",
    "task.length=10",
    "seeds=2",
    "train.steps=40",
    "train.eval_every=20",
    "train.eval_size=50",
    "train.batch_size=10",
    "train.strategy=loop",
    "diagnostics=basic",
    "logger=none",
    "hydra.launcher.progress=false",
]
LOCAL = ["hydra/launcher=pack_slurm", "hydra.launcher.cluster=local"]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }


def _sweep(args: list[str], sweep_dir: Path):
    return forked_train.run("-m", *args, f"hydra.sweep.dir={sweep_dir}", env=_env())


def submitted(sweep_dir: Path) -> list[str]:
    """The submitted jobs' ids: submitit's folder per job (a local job's id is its pid)."""
    return sorted(p.name for p in (sweep_dir / ".submitit").iterdir() if p.name.isdigit())


def test_the_preset_composes_over_hydra_submitit_launchers_slurm_fields():
    register()
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        cfg = compose("config", ["hydra/launcher=pack_slurm", "hydra.launcher.max_models_per_job=64"], True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.carousel_pack.pack_submitit.PackSubmititLauncher"
    assert (launcher.cluster, launcher.max_models_per_job, launcher.wait) == ("slurm", 64, True)
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 240)
    assert (launcher.max_num_timeout, launcher.signal_delay_s, launcher.array_parallelism) == (3, 120, 32)


def test_split_cuts_a_group_in_order_by_models_keeping_a_jobs_seeds_together():
    jobs = [
        types.SimpleNamespace(name=i, experiment=types.SimpleNamespace(seeds=range(n)))
        for i, n in enumerate([2, 2, 3, 5, 1])
    ]
    names = lambda parts: [[j.name for j in part] for part in parts]  # noqa: E731
    assert names(split(jobs, 4)) == [[0, 1], [2], [3], [4]]
    assert names(split(jobs, 7)) == [[0, 1, 2], [3, 4]]
    assert names(split(jobs, None)) == [[0, 1, 2, 3, 4]]


def test_a_pack_job_requeues_itself():
    """At submitit's signal the checkpointed pack is requeued as the same callable, which
    resumes it from ``<sweep dir>/.pack/<id>``."""
    job = PackJob([], [Path("a")], Path("sweep"))
    again = job.checkpoint()
    assert again.function is job and again.args == () and again.kwargs == {}


def _results(sweep_dir: Path, ids: list[str]) -> None:
    """Wait until every submitted job has written its result (submitit's pickle)."""
    deadline = time.monotonic() + 300
    while not all((sweep_dir / ".submitit" / i / f"{i}_0_result.pkl").exists() for i in ids):
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.slow
def test_one_submitted_job_per_pack_with_the_numbers_of_the_pack_launcher(tmp_path):
    """6 configs in 2 compiled programs (2 lengths x 3 learning rates): 2 submitted jobs,
    and every run directory holds exactly what ``hydra/launcher=pack`` writes. With
    ``wait=false`` the launcher prints the job ids and returns while they train."""
    args = [*TINY, "task.length=10,11", "optim.lr=0.01,0.03,0.1"]
    packed = _sweep(["hydra/launcher=pack", *args], tmp_path / "pack")  # first: the jobs read its programs
    assert packed.returncode == 0, packed.stderr[-2000:]  # from JAX's compilation cache
    res = _sweep([*LOCAL, "hydra.launcher.wait=false", *args], tmp_path / "slurm")
    assert res.returncode == 0, res.stderr[-2000:]
    ids = submitted(tmp_path / "slurm")
    assert len(ids) == 2
    [line] = [
        x for x in res.stdout.splitlines() if x.startswith("6 jobs to train in 2 submitted local job(s): ")
    ]
    assert sorted(re.findall(r"(\d+) \(3 jobs, 6 models\)", line)) == ids
    assert "not waiting for them (hydra.launcher.wait=false)" in res.stdout
    _results(tmp_path / "slurm", ids)
    assert_same_runs(tmp_path / "slurm", tmp_path / "pack")
    for run in (tmp_path / "slurm").glob("*_lstm_adding"):
        assert json.loads((run / "summary.json").read_text())["pack"]["jobs"] == 3


@pytest.mark.slow
def test_max_models_per_job_splits_a_pack_and_a_failed_pack_is_named(tmp_path):
    """4 configs of one program, 2 seeds each, at most 4 models per job: 2 submitted jobs.
    Another run holds the last config's directory: that job's pack fails in its submitted
    job (no error.json: the directories may be the other run's), the other pack trains, and
    the launcher waits for both and names the two failed configs in the sweep's last line."""
    held = tmp_path / "3_lstm_adding"
    held.mkdir(parents=True)
    with RunLock(held):
        res = _sweep(
            [*LOCAL, *TINY, "hydra.launcher.max_models_per_job=4", "optim.lr=0.01,0.02,0.03,0.04"], tmp_path
        )
    assert res.returncode == 2, res.stderr[-2000:]
    assert len(submitted(tmp_path)) == 2
    assert "4 jobs to train in 2 submitted local job(s)" in res.stdout
    for name in ("0_lstm_adding", "1_lstm_adding"):
        assert json.loads((tmp_path / name / "summary.json").read_text())["pack"]["models"] == 4
    free = tmp_path / "2_lstm_adding"
    last = res.stderr.splitlines()[-1]
    assert last.startswith("error: 2 sweep job(s) failed; no error.json, not started as its pack's")
    assert f"held by another run (pid {os.getpid()})" in last and str(free) in last and str(held) in last
    assert not list(tmp_path.glob("*/error.json")) and not (free / "summary.json").exists()


@pytest.mark.slow
def test_a_signalled_pack_job_checkpoints_is_requeued_and_resumes(tmp_path):
    """submitit's signal (SIGUSR2, sent ``signal_delay_s`` before the time limit) to the
    submitted job: its pack saves a checkpoint, submitit requeues the job, and the job run
    again resumes the pack there and finishes it (that a resumed pack writes the numbers of
    an uninterrupted one: test_pack's ``test_a_preempted_pack_resumes_to_the_same_numbers``)."""
    long = [
        "train.steps=600",
        "train.checkpoint_every=20",
        "train.stop_when_solved=false",
    ]
    proc = forked_train.popen(
        "-m", *LOCAL, *TINY, *long, "optim.lr=0.01,0.003", f"hydra.sweep.dir={tmp_path}", env=_env()
    )
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob(".pack/*/checkpoint.npz")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    [job_id] = submitted(tmp_path)
    [task] = Path(f"/proc/{job_id}/task/{job_id}/children").read_text().split()  # the job's process
    os.kill(int(task), signal.SIGUSR2)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    log = (tmp_path / ".submitit" / job_id / f"{job_id}_0_log.out").read_text()  # both runs of the job
    assert f"Requeued job {job_id}" in log
    assert "resuming the pack of 2 jobs, 4 models from its checkpoint at step" in log
    for name in ("0_lstm_adding", "1_lstm_adding"):
        assert json.loads((tmp_path / name / "summary.json").read_text())["steps_run"] == 600
