"""A job in a child process: its value, its exception, and its death, each told to the parent."""

import os
import signal
from pathlib import Path

import pytest

from benchmarks.run.isolation import JobDied, run_in_child


def _value(n):
    return {"summary": list(range(n))}


def _raise():
    raise ValueError("task.length must be >= 1, got 0")


def _abort():
    os.write(2, b"F1203 raw_buffer.h:106] Check failed: buffer_.IsConcrete()\n")
    os.write(2, b"*** Check failure stack trace: ***\n")
    os.abort()


def _killed():
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_value_larger_than_a_pipe_comes_back():
    assert run_in_child(_value, 200_000) == {"summary": list(range(200_000))}  # ~1 MB pickled


def test_an_exception_is_raised_again_in_the_parent():
    with pytest.raises(ValueError, match="task.length must be >= 1, got 0"):
        run_in_child(_raise)


def test_an_abort_is_a_death_with_its_last_words(capfd):
    with pytest.raises(JobDied) as info:
        run_in_child(_abort)
    assert str(info.value) == (
        "the job's process was killed by SIGABRT (an abort of the XLA runtime): "
        "F1203 raw_buffer.h:106] Check failed: buffer_.IsConcrete()"
    )
    assert info.value.tail[-1] == "*** Check failure stack trace: ***"
    assert "Check failed" in capfd.readouterr().err  # passed through to the parent's stderr as it came


def test_a_sigkill_is_a_death_naming_the_out_of_memory_killer():
    with pytest.raises(JobDied, match=r"^the job's process was killed by SIGKILL \(the out-of-memory killer"):
        run_in_child(_killed)


def test_a_process_forks_its_children_only_while_it_has_computed_nothing():
    """A sweep's process (carousel imported, no JAX backend, one thread) forks its jobs
    itself; once a backend has started, or another thread runs, the forkserver does."""
    import subprocess
    import sys

    code = """
import threading
import benchmarks.train
from benchmarks.run import isolation
print(isolation._context().get_start_method())
stop = threading.Event()
t = threading.Thread(target=stop.wait); t.start()
print(isolation._context().get_start_method())
stop.set(); t.join()
import jax.numpy as jnp
jnp.zeros(2).block_until_ready()
print(isolation._context().get_start_method())
"""
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.split() == ["fork", "forkserver", "forkserver"], proc.stderr[-2000:]
