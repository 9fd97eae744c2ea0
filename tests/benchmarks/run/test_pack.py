"""Packed sweeps: jobs that share a compiled program train side by side in it, and every
job's run directory holds the numbers of the job run by itself, bit for bit."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import forked_train
import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from run_files import assert_same_runs

from benchmarks import cli
from benchmarks.config import build, register
from benchmarks.run import pack
from benchmarks.run.experiment import RunLock, run_experiment

REPO = Path(__file__).resolve().parents[3]
# an easy adding task: at these learning rates the jobs end (every seed solved) at
# different evaluations (120 and 280 steps, some at 320 unsolved), so a job's history must
# stop at its own end
BASE = [
    "model=lstm",
    "model.hidden=8",
    "task=adding",
    "task.variant=arjovsky2016",
    "task.length=10",
    "seeds=3",
    "train.steps=320",
    "train.eval_every=40",
    "train.eval_size=200",
    "train.batch_size=20",
    "logger=none",
]
FULL = [  # full diagnostics every 100 steps: measured at 0, 120, 240 and at each job's end
    "diagnostics=full",
    "diagnostics.every=100",
    "diagnostics.batch_size=4",
    "diagnostics.jacobian_sequences=1",
    "diagnostics.lyapunov_k=2",
]


def jobs(root: Path, sweep: list[list[str]]) -> list[pack.Job]:
    register()
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return [
            pack.Job(build(compose(config_name="config", overrides=o)), root / f"job{i}")
            for i, o in enumerate(sweep)
        ]


def run_alone(js: list[pack.Job]) -> None:
    for job in js:
        run_experiment(job.experiment, job.out, progress=False)


def test_plan_groups_jobs_by_program(tmp_path):
    """Numbers and initialisation share a program; shapes, optimizer and task do not."""
    sweep = [
        [*BASE, "optim.lr=0.01"],
        [*BASE, "optim.lr=0.003", "optim.clip=elementwise", "optim.clip_value=0.5", "seed_offset=7"],
        [*BASE, "model.init.recurrent=normal", "model.init.recurrent_scale=0.3", "model.forget_bias=2"],
        [*BASE, "model.hidden=9"],
        [*BASE, "optim=sgd"],
        [*BASE, "task.length=11"],
    ]
    plan = pack.plan(jobs(tmp_path, sweep))
    assert [[j.out.name for j in p] for p in plan] == [["job0", "job1", "job2"], ["job3"], ["job4"], ["job5"]]


def test_packed_sweep_equals_jobs_run_alone(tmp_path):
    """Learning rates, clipping kinds and thresholds, initialisations and seeds in one
    pack; jobs end at different steps, full diagnostics included."""
    sweep = [
        [*BASE, *FULL, "optim.lr=0.03"],
        [*BASE, *FULL, "optim.lr=0.003", "optim.clip=none", "seed_offset=5"],
        [*BASE, *FULL, "optim.lr=0.01", "optim.clip=elementwise", "optim.clip_value=0.05"],
        [*BASE, *FULL, "optim.lr=0.01", "model.init.recurrent=normal", "model.init.recurrent_scale=0.5"],
    ]
    packed, alone = jobs(tmp_path / "packed", sweep), jobs(tmp_path / "alone", sweep)
    outcomes = pack.run_jobs(packed, tmp_path / "packed", progress=False)
    run_alone(alone)
    steps = [outcomes[j.out]["steps_run"] for j in packed]
    assert len(set(steps)) > 1 and min(steps) < 320, steps  # the jobs did end apart
    assert all(outcomes[j.out]["pack"]["jobs"] == 4 for j in packed)
    assert not (tmp_path / "packed" / pack.PACK_DIR).exists() or not any(
        (tmp_path / "packed" / pack.PACK_DIR).iterdir()
    )
    assert_same_runs(tmp_path / "packed", tmp_path / "alone")
    # a finished pack is not trained again
    again = pack.run_jobs(jobs(tmp_path / "packed", sweep), tmp_path / "packed", progress=False)
    assert [again[j.out]["steps_run"] for j in packed] == steps


def test_regulariser_on_and_off_share_a_program(tmp_path):
    """Pascanu et al.'s three methods (no clipping; clipping; clipping and the
    regulariser) in one pack: a weight of 0 leaves the plain gradient exactly."""
    rnn = [
        "model=rnn_tanh_basic",
        "model.hidden=8",
        "task=temporal_order",
        "task.length=12",
        "seeds=2",
        "train.steps=120",
        "train.eval_every=40",
        "train.eval_size=100",
        "train.batch_size=10",
        "logger=none",
        "diagnostics=basic",
    ]
    sweep = [[*rnn, "optim=pascanu2013_msgd"], [*rnn, "optim=pascanu2013"], [*rnn, "optim=pascanu2013_cr"]]
    packed, alone = jobs(tmp_path / "packed", sweep), jobs(tmp_path / "alone", sweep)
    assert len(pack.plan(packed)) == 1
    pack.run_jobs(packed, tmp_path / "packed", progress=False)
    run_alone(alone)
    assert_same_runs(tmp_path / "packed", tmp_path / "alone")
    with (
        np.load(tmp_path / "alone" / "job1" / "params_final.npz") as a,
        np.load(tmp_path / "alone" / "job2" / "params_final.npz") as b,
    ):
        assert not np.array_equal(a["W_hh"], b["W_hh"])  # the regulariser did act


def test_packed_sweep_in_worker_processes(tmp_path):
    """The pack's models spread over worker processes: the same numbers as each job
    alone in the in-process loop."""
    short = [*BASE, "train.steps=80", "seeds=2"]
    sweep = [[*short, "optim.lr=0.03"], [*short, "optim.lr=0.003"]]
    packed = jobs(tmp_path / "packed", [[*o, "train.strategy=processes", "train.workers=2"] for o in sweep])
    out = pack.run_jobs(packed, tmp_path / "packed", progress=False)
    assert {o["strategy"] for o in out.values()} == {"processes"}
    loop = jobs(tmp_path / "alone", [[*o, "train.strategy=loop"] for o in sweep])
    run_alone(loop)
    assert_same_runs(tmp_path / "packed", tmp_path / "alone")


def _sweep(args: list[str], sweep_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return forked_train.run("-m", *args, f"hydra.sweep.dir={sweep_dir}", env=env)


def test_launcher_vmap_sweep_equals_jobs_run_alone(tmp_path):
    """``hydra/launcher=pack`` over a Hydra multirun, every model in one vmapped program:
    the same files as Hydra's own launcher running the jobs one by one, each vmapped over
    its own seeds. On XLA's CPU backend this holds with YNNPACK's fusions off: with them,
    a vmapped reduction rounds differently with the number of models beside it. Compiled
    with LLVM at -O0 to save time, but with XLA's own fusion emitters (the suite's older
    emitters round the two programs differently); ``make bench`` checks the same identity
    at XLA's default settings (``sweep_packed_vmap``)."""
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
        "XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type= --xla_backend_optimization_level=0",
    }
    args = [
        *BASE,
        "train.steps=120",
        "train.strategy=vmap",
        "diagnostics=basic",
        "optim.lr=0.03,0.003",
        "optim.clip=global_norm,elementwise",
    ]
    packed = _sweep(["hydra/launcher=pack", "hydra.launcher.progress=false", *args], tmp_path / "packed", env)
    assert packed.returncode == 0, packed.stderr[-2000:]
    assert "4 jobs to train in 1 compiled program(s)" in packed.stdout
    alone = _sweep(args, tmp_path / "alone", env)
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert_same_runs(tmp_path / "packed", tmp_path / "alone")
    summary = json.loads(next((tmp_path / "packed").glob("0_*/summary.json")).read_text())
    assert summary["pack"]["models"] == 12 and summary["strategy"] == "vmap"


def test_launcher_records_a_bad_job_and_trains_the_others(tmp_path):
    """A job whose config does not build gets its one-line error.json; the others are
    trained, and the sweep exits with status 2 naming the failed job."""
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }
    args = ["hydra/launcher=pack", "hydra.launcher.progress=false", *BASE, "train.steps=40"]
    res = _sweep([*args, "optim.lr=0.01,-1"], tmp_path, env)
    assert res.returncode == 2
    assert "1 sweep job(s) failed" in res.stderr.splitlines()[-1]
    bad = json.loads(next(tmp_path.glob("1_*/error.json")).read_text())
    assert bad == {"error": "optim.lr must be positive, got -1.0", "type": "ValueError"}
    assert json.loads(next(tmp_path.glob("0_*/summary.json")).read_text())["steps_run"] == 40


@pytest.mark.parametrize("key", ["optim.lr", "model.forget_bias"])
def test_program_key_ignores_numbers(tmp_path, key):
    a, b = jobs(tmp_path, [[*BASE, f"{key}=0.5"], [*BASE, f"{key}=2.0"]])
    assert pack.program_key(a.experiment.trainer) == pack.program_key(b.experiment.trainer)
    assert a.experiment.trainer != b.experiment.trainer


@pytest.mark.slow
def test_a_preempted_pack_resumes_to_the_same_numbers(tmp_path):
    """SIGTERM (what a cluster sends before preemption) checkpoints the pack and exits;
    the same sweep launched again resumes it and writes what an uninterrupted pack wrote."""
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }
    args = [
        "hydra/launcher=pack",
        "hydra.launcher.progress=false",
        *BASE,
        *FULL,
        "diagnostics.every=800",
        "seeds=2",
        "train.steps=2400",
        "train.eval_every=50",
        "train.checkpoint_every=200",
        "train.stop_when_solved=false",
        "train.strategy=loop",
        "optim.lr=0.01,0.003",
    ]
    whole = _sweep(args, tmp_path / "whole", env)
    assert whole.returncode == 0, whole.stderr[-2000:]
    cut = tmp_path / "cut"
    proc = forked_train.popen("-m", *args, f"hydra.sweep.dir={cut}", env=env)
    deadline = time.monotonic() + 300
    while not list(cut.glob(f"{pack.PACK_DIR}/*/checkpoint.npz")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 143 and "checkpoint saved at signal SIGTERM" in out
    assert not list(cut.glob("*/summary.json"))
    again = _sweep(args, cut, env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming the pack of 2 jobs, 4 models from its checkpoint at step" in again.stdout
    assert_same_runs(tmp_path / "whole", cut)
    assert not list(cut.glob(f"{pack.PACK_DIR}/*"))  # the pack's checkpoint is gone


def test_a_pack_blocked_by_a_held_directory_names_it_and_points_to_no_missing_error_json(tmp_path):
    """Another run holds the second job's directory (its lock, taken here) when a packed
    sweep starts: the pack writes nothing; the held job's error names its own directory and
    the holder's pid, the other job's names the held one, no error.json is written and the
    last line points to none."""
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }
    args = ["hydra/launcher=pack", "hydra.launcher.progress=false", *BASE, "train.steps=40"]
    free, held = tmp_path / "0_lstm_adding", tmp_path / "1_lstm_adding"
    held.mkdir()
    with RunLock(held):
        res = _sweep([*args, "optim.lr=0.01,0.03"], tmp_path, env)
    assert res.returncode == 2, res.stderr[-2000:]
    by = f"is being written by another run (pid {os.getpid()})"
    assert [line for line in res.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: job failed (RunDirConflict): {free} was not started: {held} {by} [{free}]",
        f"error: job failed (RunDirConflict): {held} {by} [{held}]",
        f"error: 2 sweep job(s) failed; no error.json, not started as its pack's {held} is held by another "
        f"run (pid {os.getpid()}): {free}; no error.json, held by another run (pid {os.getpid()}): {held}",
    ]
    assert not list(tmp_path.glob("*/error.json"))
    assert sorted(p.name for p in free.iterdir()) == [".hydra", ".lock", "train.log"]
