"""The worker-process strategy: same numbers as the loop, failures named, nothing left behind."""

import multiprocessing
import os
import signal
import time
from pathlib import Path

import forked_train
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.core.diagnostics import DiagnosticsSpec
from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from benchmarks.run.history import Listener
from benchmarks.run.strategies import ProcessStrategy, WorkerFailed
from benchmarks.run.training_loop import init_params, train
from models import make_model
from tasks.adding import AddingTask


def lstm_trainer(steps=300, level="basic"):
    task = AddingTask(variant="pascanu2013", length=10)
    model = make_model("lstm", task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(steps=steps, batch_size=16, eval_every=100, eval_size=100, workers=2)
    diag = DiagnosticsSpec(level=level, every=100, batch_size=4, jacobian_sequences=2, lyapunov_k=2)
    return Trainer(model, task, OptimSpec(name="adam", lr=1e-2), spec, diag)


def test_worker_processes_give_the_loop_results_bit_for_bit_and_report_live():
    """Seeds spread over pinned worker processes give exactly the per-seed results of the
    in-process loop, and their evaluations and full diagnostics arrive while training."""
    trainer = lstm_trainer(level="full")
    seen, measured = [], []

    class Live(Listener):
        def on_eval(self, step, rows):
            seen.append((step, [r["seed"] for r in rows]))

        def on_diagnostics(self, step, arrays):
            measured.append(step)

    loop = train(trainer, [0, 1, 2], strategy="loop")
    procs = train(trainer, [0, 1, 2], strategy="processes", listener=Live())
    assert procs.strategy == "processes"
    assert [s for s, _ in seen] == sorted({s for s, _ in seen}) and seen[0] == (0, [0, 1, 2])
    assert measured == list(loop.diagnostics["step"])
    assert procs.summary(16)["seeds"] == loop.summary(16)["seeds"]
    for k in loop.params_final:
        np.testing.assert_array_equal(procs.params_final[k], loop.params_final[k])
    for k in loop.step_series:
        np.testing.assert_array_equal(procs.step_series[k], loop.step_series[k])
    for k in loop.diagnostics:
        np.testing.assert_array_equal(procs.diagnostics[k], loop.diagnostics[k])
    assert procs.metrics == loop.metrics or _same_rows(procs.metrics, loop.metrics)
    assert not multiprocessing.active_children()


def _same_rows(a, b):
    """Metric rows equal, NaN included."""
    return len(a) == len(b) and all(
        ra.keys() == rb.keys() and all(np.array_equal(ra[k], rb[k], equal_nan=True) for k in ra)
        for ra, rb in zip(a, b, strict=True)
    )


def _states(trainer, seeds):
    return jax.vmap(trainer.init_state)(init_params(trainer.model, seeds))


def test_a_killed_worker_ends_the_run_with_its_seeds_named_not_a_hang():
    trainer = lstm_trainer()
    strategy = ProcessStrategy(trainer, [0, 1, 2], workers=2)
    states = _states(trainer, [0, 1, 2])
    strategy.evaluate(states)  # both workers are up and compiled
    os.kill(strategy.procs[1].pid, signal.SIGKILL)  # what the out-of-memory killer does
    start = time.monotonic()
    with pytest.raises(WorkerFailed, match=r"worker process 1 \(seeds 1\) died with exit code -9"):
        strategy.train_chunk(states, jnp.arange(5))
    assert time.monotonic() - start < 10
    assert not multiprocessing.active_children()  # the surviving worker was stopped too


def test_an_exception_in_a_worker_is_raised_in_the_parent_with_its_seeds():
    trainer = lstm_trainer()
    states = _states(trainer, [0, 1])
    with ProcessStrategy(trainer, [0, 1], workers=2) as strategy:
        bad = states._replace(params={k: v for k, v in states.params.items() if k != "R_o"})
        with pytest.raises(WorkerFailed, match=r"worker process [01] \(seeds [01]\) raised:(.|\n)*KeyError"):
            strategy.evaluate(bad)
    assert not multiprocessing.active_children()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_no_worker_outlives_a_killed_parent(tmp_path, sig):
    psutil = pytest.importorskip("psutil")
    repo = Path(__file__).resolve().parents[4]
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(repo),
    }
    args = ["model=lstm", "model.hidden=8", "task.length=10", "seeds=2", "train.steps=100000"]
    args += ["train.strategy=processes", "train.workers=2", "diagnostics=none", "logger=none"]
    args += ["train.eval_every=20", "train.eval_size=64"]  # the first evaluation comes soon
    parent = forked_train.popen(*args, f"hydra.run.dir={tmp_path}", env=env)
    start = time.monotonic()
    while not (tmp_path / "metrics.parquet").exists():  # the workers have evaluated once
        assert parent.poll() is None and time.monotonic() - start < 120
        time.sleep(0.1)
    children = psutil.Process(parent.pid).children(recursive=True)
    assert len(children) >= 2
    parent.send_signal(sig)
    parent.wait(timeout=60)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert alive == []


def test_the_workers_compile_each_program_once_through_the_cache(tmp_path, monkeypatch, capfd):
    """With the persistent compilation cache on, worker 0 compiles each program and the
    other reads it back: of the two workers' compilations of each, one is a cache hit."""
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "cache"))  # empty
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    monkeypatch.setenv("JAX_LOG_COMPILES", "1")  # logs every compilation and every cache hit
    result = train(lstm_trainer(steps=200, level="full"), [0, 1], strategy="processes")
    assert result.strategy == "processes"
    err = capfd.readouterr().err
    for program in ("train_chunk", "evaluate", "full_diagnostics"):
        compiled = err.count(f"Finished XLA compilation of jit({program})")
        hits = err.count(f"Persistent compilation cache hit for 'jit_{program}'")
        assert (compiled, hits) == (2, 1), (program, compiled, hits)
