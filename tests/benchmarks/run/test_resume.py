"""Runs that survive what a cluster does: kill and resume, signals, requeue, one writer per
directory, sweeps that skip what is done and go on after a failure."""

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import forked_train
import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
RUN = [
    "model=lstm",
    "model.hidden=8",
    "task.length=10",
    "seeds=2",
    "train.steps=2400",
    "train.eval_every=50",
    "train.eval_size=64",
    "train.batch_size=8",
    "train.checkpoint_every=200",
    "train.strategy=loop",
    "train.stop_when_solved=false",
    "diagnostics=full",
    "diagnostics.every=800",
    "diagnostics.batch_size=4",
    "diagnostics.jacobian_sequences=1",
    "diagnostics.lyapunov_k=2",
    "logger=none",
]


def _env():
    return {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }


def start(out, *extra):
    return forked_train.popen(*RUN, *extra, f"hydra.run.dir={out}", env=_env())


def finish(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_for(path, proc, timeout=300):
    start_time = time.monotonic()
    while not Path(path).exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() - start_time < timeout
        time.sleep(0.05)


def same_results(a: Path, b: Path) -> None:
    """Bit-identical numbers: summary (but wall time), parameters, every stored series."""
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for s in (sa, sb):
        s.pop("wall_time_s")
    assert sa == sb
    for name in ("params_final.npz", "grad_norms.npz", "grad_time.npz", "diagnostics.npz"):
        with np.load(a / name) as x, np.load(b / name) as y:
            assert set(x.files) == set(y.files), name
            for k in x.files:
                np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}:{k}")
    pd.testing.assert_frame_equal(
        pd.read_parquet(a / "metrics.parquet"), pd.read_parquet(b / "metrics.parquet")
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    code, _, err = finish(start(out))
    assert code == 0, err[-2000:]
    assert not (out / "checkpoint.npz").exists() and not list(out.glob("*.parts"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_run_resumes_to_the_same_numbers(uninterrupted, tmp_path, sig):
    proc = start(tmp_path)
    wait_for(tmp_path / "checkpoint.npz", proc)
    time.sleep(0.5)  # somewhere inside the next chunks
    proc.send_signal(sig)
    code, out, _ = finish(proc)
    if sig == signal.SIGTERM:  # a checkpoint at the signal, then exit 128 + 15
        assert code == 143 and "checkpoint saved at signal SIGTERM" in out
    else:
        assert code == -9
    assert not (tmp_path / "summary.json").exists()
    code, out, err = finish(start(tmp_path))
    assert code == 0, err[-2000:]
    assert "resuming from the checkpoint at step" in out
    same_results(uninterrupted, tmp_path)


@pytest.mark.slow
def test_two_runs_cannot_write_one_directory(tmp_path):
    first = start(tmp_path)
    wait_for(tmp_path / "params_init.npz", first)
    code, _, err = finish(start(tmp_path), timeout=120)
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {tmp_path} is being written by another run (pid {first.pid})"
    ]
    first.kill()
    first.communicate()


@pytest.mark.slow
def test_a_sweep_goes_on_after_a_failed_job_and_a_rerun_runs_nothing_twice(tmp_path):
    args = ["-m", "model=rnn", "task.length=10,-5,12", "seeds=1"]
    args += ["train.steps=10", "train.eval_every=5", "train.eval_size=16", "diagnostics=none", "logger=none"]
    args += [f"hydra.sweep.dir={tmp_path}"]
    first = forked_train.run(*args, env=_env(), timeout=300)
    assert first.returncode == 2
    assert (
        first.stderr.strip().splitlines()[-1].startswith("error: 1 sweep job(s) failed; see error.json in: ")
    )
    assert sorted(p.parent.name for p in tmp_path.glob("*/summary.json")) == ["0_rnn_adding", "2_rnn_adding"]
    error = json.loads((tmp_path / "1_rnn_adding" / "error.json").read_text())
    assert error == {"error": "task.length must be a positive integer, got -5", "type": "ValueError"}
    again = forked_train.run(*args, env=_env(), timeout=300)
    assert again.stdout.count("already finished") == 2 and again.returncode == 2


class _Job:
    """What Hydra's submitit launcher hands submitit: a callable with ``checkpoint``."""

    def __init__(self, out):
        self.out = str(out)

    def __call__(self):
        from hydra import compose, initialize_config_dir

        from benchmarks import cli
        from benchmarks.config import build, register
        from benchmarks.run.experiment import run_experiment

        register()
        with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=RUN)
        return run_experiment(build(cfg), Path(self.out), progress=False)["success_rate"]

    def checkpoint(self):
        import submitit

        return submitit.helpers.DelayedSubmission(self)


@pytest.mark.slow
def test_a_preempted_submitit_job_requeues_and_resumes(uninterrupted, tmp_path):
    submitit = pytest.importorskip("submitit")
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="local")
    executor.update_parameters(timeout_min=10)
    out = tmp_path / "run"
    os.environ.update({k: v for k, v in _env().items() if k in ("WANDB_MODE", "JAX_PLATFORMS", "PYTHONPATH")})
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job process cannot import tests
    job = executor.submit(_Job(out))
    start_time = time.monotonic()
    while not (out / "checkpoint.npz").exists():
        assert not job.done(), job.stderr()
        assert time.monotonic() - start_time < 300
        time.sleep(0.05)
    psutil = pytest.importorskip("psutil")
    [task] = psutil.Process(job._process.pid).children()  # the controller's one task
    task.send_signal(signal.SIGUSR2)  # what SLURM sends a submitit job before preemption
    job.result()
    assert "resuming from the checkpoint at step" in (job.stdout() or "")
    same_results(uninterrupted, out)


@pytest.mark.parametrize("where", ["is_a_file", "under_a_file"])
def test_a_run_directory_that_cannot_be_one_is_a_one_line_error(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    out = blocker if where == "is_a_file" else blocker / "run"
    proc = forked_train.run("logger=none", f"hydra.run.dir={out}", env=_env(), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: cannot write {blocker}")
    assert blocker.read_text() == "not a directory"


@pytest.mark.slow
def test_ctrl_c_is_one_line_exit_130_and_the_run_resumes_to_the_same_numbers(uninterrupted, tmp_path):
    proc = start(tmp_path)
    wait_for(tmp_path / "checkpoint.npz", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert code == 130 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"error: interrupted: {re.escape(str(tmp_path))} stopped; the same command resumes it from its "
        r"checkpoint at step \d+",
        last,
    ), last
    code, out, err = finish(start(tmp_path))
    assert code == 0, err[-2000:]
    same_results(uninterrupted, tmp_path)


def test_a_dead_worker_is_one_line(tmp_path):
    psutil = pytest.importorskip("psutil")
    proc = start(tmp_path, "train.strategy=processes", "train.workers=2")
    wait_for(tmp_path / "checkpoint.npz", proc)
    workers = [p for p in psutil.Process(proc.pid).children() if "carousel" in p.name() or p.cmdline()]
    workers[-1].kill()
    code, _, err = finish(proc)
    lines = [line for line in err.strip().splitlines() if "step/s" not in line]
    assert code == 2 and "Traceback" not in err, err[-3000:]
    assert re.fullmatch(r"error: worker process [01] \(seeds [01]\) died with exit code -9", lines[-1]), lines


@pytest.mark.slow
def test_a_truncated_checkpoint_resumes_from_the_previous_one_to_the_same_numbers(uninterrupted, tmp_path):
    """Killed after two checkpoints, the newest cut in half: the same command sets it aside
    with a warning, resumes from the one before and ends with the uninterrupted numbers."""
    proc = start(tmp_path)
    wait_for(tmp_path / "checkpoint.prev.npz", proc)
    proc.send_signal(signal.SIGKILL)
    finish(proc)
    newest = tmp_path / "checkpoint.npz"
    assert newest.exists()  # a save writes the new file whole before it renames the old
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    code, out, err = finish(start(tmp_path))
    assert code == 0, err[-2000:]
    assert f"warning: checkpoint {newest} cannot be read (" in err
    assert "set aside as checkpoint.npz.corrupt-1" in err
    assert re.search(r"resuming from the checkpoint at step \d+", out)
    assert (tmp_path / "checkpoint.npz.corrupt-1").exists() and not newest.exists()
    same_results(uninterrupted, tmp_path)
