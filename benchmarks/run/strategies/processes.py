"""The ``processes`` strategy: seeds spread over pinned, single-thread worker processes.

Small recurrent models (B=20, H=50) leave a multi-core CPU mostly idle inside one step:
XLA's intra-op threads cannot split a [20, 50] x [50, 200] matmul usefully, and vmapping
seeds was measured slower than looping them. One process per core, pinned to it
(``sched_setaffinity``) with XLA limited to one thread, runs the ``loop`` strategy for its
share of the seeds. The parent drives them chunk by chunk exactly as it drives the
in-process strategies: it sends each worker its seeds' states, the worker runs the same
jitted single-seed functions and sends the new states back, so evaluations and
diagnostics arrive live, checkpoints see every seed's state, and each seed's numbers are
bit-identical to the ``loop`` strategy's.

A worker that dies (the out-of-memory killer's SIGKILL, a crash) is noticed at once
through its process sentinel and ends the run with :class:`WorkerFailed` naming its
seeds; workers are daemonic, leave when the parent's end of their pipe closes, and within a
quarter second of the parent's death whatever they are doing (a thread watches its pid),
so none outlives its run.

The workers run the same programs, so compiling them once is enough: when JAX's persistent
compilation cache is on (``benchmarks.train`` turns it on), the first request of each kind
goes to worker 0 alone, and the others are sent theirs once it has answered and read the
programs back from the cache. The wall time is about the same (one compilation either way,
the others read it in a fraction of a second); the CPU time of n - 1 compilations is saved,
which is what a loaded machine (or a test suite) runs out of.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import threading
import time
import traceback
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.core.trainer import ChunkMetrics, EvalMetrics, Trainer, TrainState
from benchmarks.run.strategies.base import SeedStrategy

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
JOIN_TIMEOUT_S = 5.0


class WorkerFailed(RuntimeError):
    """A worker process died or raised; the message names its seeds."""


def usable_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cache_on() -> bool:
    """Whether the workers will have JAX's persistent compilation cache (they inherit this
    process's environment, where ``benchmarks.train`` names its folder)."""
    return bool(os.environ.get("JAX_COMPILATION_CACHE_DIR"))


def _leave_with_the_parent(every_s: float = 0.25) -> None:
    """Exit this worker within ``every_s`` of its parent's death, also in the middle of a
    compilation or a chunk (the pipe's end-of-file is seen only between requests, which on
    a loaded machine can be tens of seconds apart). A daemon thread watches the parent's
    pid; XLA releases the GIL while it compiles and runs, so the thread gets its turn."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, name="carousel-parent-watch", daemon=True).start()


def _serve(conn: Any, trainer: Trainer, seeds: list[int], core: int | None) -> None:
    """A worker's life: pin, go single-threaded, then answer (method, args) requests with
    the loop strategy until told to close or the parent goes away. Ctrl-C is the parent's
    to handle (the terminal sends it to every process of the group): the worker ignores it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _leave_with_the_parent()
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    # XLA reads its flags when the backend starts, at the first JAX operation (not import).
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    from benchmarks.run.strategies.loop import LoopStrategy

    strategy = LoopStrategy(trainer, seeds)
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if method == "close":
            return
        try:
            out = getattr(strategy, method)(*jax.tree.map(jnp.asarray, args))
            conn.send(("ok", jax.device_get(out)))
        except Exception:  # noqa: BLE001 - sent to the parent, which raises it there
            conn.send(("error", traceback.format_exc()))


class ProcessStrategy(SeedStrategy):
    name = "processes"

    def __init__(self, trainer: Trainer, seeds: list[int], workers: int | None = None):
        super().__init__(trainer, seeds)
        cores = usable_cores()
        n = max(1, min(workers or len(cores), len(self.seeds)))
        self.groups = [np.arange(len(self.seeds))[w::n] for w in range(n)]
        self.order = np.argsort(np.concatenate(self.groups))
        ctx = mp.get_context("spawn")
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        # request kinds worker 0 still has to compile alone first (see the module's docstring)
        self.uncompiled = {"train_chunk", "evaluate", "full_diagnostics"} if _cache_on() else set()
        for w, group in enumerate(self.groups):
            parent, child = ctx.Pipe()
            core = cores[w % len(cores)] if len(cores) >= n else None
            args = (child, trainer, [self.seeds[i] for i in group], core)
            proc = ctx.Process(target=_serve, args=args, daemon=True, name=f"carousel-worker-{w}")
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def _seeds_of(self, w: int) -> str:
        return ", ".join(str(self.seeds[i]) for i in self.groups[w])

    def _call(self, method: str, per_worker_args: list[tuple[Any, ...]]) -> Any:
        """Send one request to every worker and merge their answers in seed order; the
        first of its kind to worker 0 before the others (it compiles for them)."""
        answers: list[Any] = [None] * len(self.conns)
        first = method in self.uncompiled and len(self.conns) > 1
        self.uncompiled.discard(method)
        waves = [[0], list(range(1, len(self.conns)))] if first else [list(range(len(self.conns)))]
        for wave in waves:
            for w in wave:
                try:
                    self.conns[w].send((method, per_worker_args[w]))
                except (OSError, ValueError) as e:  # its end of the pipe is gone
                    raise self._died(w) from e
            self._gather(set(wave), answers)
        merged = jax.tree.map(lambda *xs: np.concatenate(xs)[self.order], *answers)
        return jax.tree.map(jnp.asarray, merged)

    def _gather(self, pending: set[int], answers: list[Any]) -> None:
        """Wait for the answers of the workers in ``pending``; a death is noticed at once."""
        while pending:
            waitables = [self.conns[w] for w in pending] + [self.procs[w].sentinel for w in pending]
            for ready in mp_connection.wait(waitables):
                w = next(w for w in pending if ready in (self.conns[w], self.procs[w].sentinel))
                answers[w] = self._receive(w)
                pending.discard(w)

    def _receive(self, w: int) -> Any:
        conn = self.conns[w]
        if not conn.poll():
            raise self._died(w)
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError) as e:  # its end of the pipe closed: it died
            raise self._died(w) from e
        if kind == "error":
            self.close()
            raise WorkerFailed(f"worker process {w} (seeds {self._seeds_of(w)}) raised:\n{payload}")
        return payload

    def _died(self, w: int) -> WorkerFailed:
        """Stop every worker and describe the one that died."""
        proc = self.procs[w]
        proc.join(JOIN_TIMEOUT_S)
        code = proc.exitcode
        self.close()
        return WorkerFailed(f"worker process {w} (seeds {self._seeds_of(w)}) died with exit code {code}")

    def _split(self, tree: Any) -> list[Any]:
        host = jax.device_get(tree)
        return [jax.tree.map(lambda x, g=g: np.asarray(x)[g], host) for g in self.groups]

    def train_chunk(self, states: TrainState, steps: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        host_steps = np.asarray(steps)
        return self._call("train_chunk", [(s, host_steps) for s in self._split(states)])

    def evaluate(self, states: TrainState) -> EvalMetrics:
        return self._call("evaluate", [(s,) for s in self._split(states)])

    def full_diagnostics(self, states: TrainState) -> dict[str, jax.Array]:
        return self._call("full_diagnostics", [(s,) for s in self._split(states)])

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError, ValueError):  # already gone
                conn.send(("close", ()))
        for proc in self.procs:
            proc.join(JOIN_TIMEOUT_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(JOIN_TIMEOUT_S)
        for conn in self.conns:
            conn.close()
        self.conns, self.procs = [], []
