"""Checkpoints: the complete training state of every seed, saved atomically, and resumed.

A checkpoint is taken at a chunk boundary, before the evaluation at step ``done``: the
stacked :class:`~benchmarks.chunk.TrainState` (parameters, optimiser state, divergence
step, stopped flag of every seed), ``done``, the step of the next full diagnostics and
the recorder's state (per-seed results, the last chunk's statistics, the exploding-event
detector's window). Training batches come from ``fold_in(data_key, step)``, so a run
resumed from it computes exactly what the uninterrupted run computes after ``done``.

Format: one ``checkpoint.npz`` in the run directory, written to a temporary file and
renamed into place (:func:`benchmarks.store.atomic_write`), the state's leaves in
``jax.tree`` flatten order and the rest as JSON. Why not orbax: the state is a few
megabytes that one synchronous rename makes atomic; orbax saves asynchronously from
threads, and a save requested by a preemption signal must be complete before the job
requeues and exits. The tree structure is rebuilt from the run's own config on resume.

Signals: SIGTERM and SIGUSR1 (what SLURM sends before preemption or the time limit) and
SIGUSR2 (submitit's) ask for a checkpoint at the next chunk boundary; after saving, the
handler that was installed before (submitit's requeue) is called, or the process exits
with status 128 + the signal number.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from benchmarks import store

SIGNALS = tuple(
    s for s in (signal.SIGTERM, getattr(signal, "SIGUSR1", None), getattr(signal, "SIGUSR2", None)) if s
)
FILE = "checkpoint.npz"


class Checkpointer:
    """Saves every ``every`` steps and when a signal asks; loads the last checkpoint."""

    def __init__(self, run_dir: Path, every: int):
        self.path = Path(run_dir) / FILE
        self.every = every
        self.last_saved = 0
        self.signalled: int | None = None
        self.previous: dict[int, Any] = {}
        self.saves = 0
        self.seconds = 0.0

    def __enter__(self) -> Checkpointer:
        for sig in SIGNALS:
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.signalled = signum

    def due(self, done: int) -> bool:
        return self.signalled is not None or (self.every > 0 and done - self.last_saved >= self.every)

    def save(self, states: Any, done: int, next_full: int, recorder: dict[str, Any]) -> None:
        start = time.perf_counter()
        leaves = jax.tree.leaves(jax.device_get(states))
        arrays = {f"leaf{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
        meta = {"done": done, "next_full": next_full, "recorder": recorder, "leaves": len(leaves)}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)  # NaN round-trips
        store.write_npz(self.path, arrays)
        self.last_saved, self.saves = done, self.saves + 1
        self.seconds += time.perf_counter() - start

    def saved_step(self) -> int | None:
        """The step of the last checkpoint, without loading it."""
        if not self.path.exists():
            return None
        with np.load(self.path) as data:
            return int(json.loads(bytes(data["meta"]).decode())["done"])

    def load(self, template: Any) -> tuple[Any, dict[str, Any]] | None:
        """(states shaped like ``template``, meta) from the last checkpoint, or None."""
        if not self.path.exists():
            return None
        with np.load(self.path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            leaves = [data[f"leaf{i:04d}"] for i in range(meta["leaves"])]
        structure = jax.tree.structure(template)
        if len(jax.tree.leaves(template)) != len(leaves):
            raise ValueError(f"{self.path} does not match this run's training state")
        self.last_saved = meta["done"]
        return jax.tree.unflatten(structure, [jax.numpy.asarray(x) for x in leaves]), meta

    def after_save(self) -> None:
        """A save asked for by a signal: hand over to the previous handler, or exit."""
        signum, self.signalled = self.signalled, None
        if signum is None:
            return
        previous = self.previous.get(signum)
        if callable(previous):
            previous(signum, None)
        elif previous != signal.SIG_IGN:
            print(f"checkpoint saved at signal {signal.Signals(signum).name}; exiting", flush=True)
            sys.exit(128 + signum)
