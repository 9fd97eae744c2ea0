"""Checkpoints: the complete training state of every seed, saved atomically, and resumed.

A checkpoint is taken at a chunk boundary, before the evaluation at step ``done``: the
stacked :class:`~benchmarks.core.trainer.TrainState` (parameters, optimiser state, divergence
step, stopped flag of every seed), ``done``, the step of the next full diagnostics, the
recorder's state (per-seed results, the last chunk's statistics, the exploding-event
detector's window) and the listener's (:meth:`benchmarks.run.history.Listener.on_checkpoint`:
a pack's, which of its jobs have ended). Training batches come from ``fold_in(data_key, step)``, so a run
resumed from it computes exactly what the uninterrupted run computes after ``done``.

Format: ``checkpoint.npz`` in the run directory, written to a temporary file and renamed
into place (:func:`benchmarks.store.atomic_write`), the state's leaves in ``jax.tree``
flatten order, the rest as JSON, and the SHA-256 of both (every leaf's dtype, shape and
bytes, then the JSON): zip's own CRCs are not checked by every reader and do not cover a
file cut short between members. The one before is kept as ``checkpoint.prev.npz``
(renamed aside before the new one is written, so one complete checkpoint exists at every
instant). On resume the newest that reads and matches its checksum is used; one that
does not (truncated, empty, random, a flipped bit) is renamed ``<name>.corrupt-<n>`` with
one warning line naming it, and the run resumes from the other or starts clean, so a
requeued job never crashes on the same file again. Why not orbax: the state is a few
megabytes that one synchronous rename makes atomic; orbax saves asynchronously from
threads, and a save requested by a preemption signal must be complete before the job
requeues and exits. The tree structure is rebuilt from the run's own config on resume.

Signals: SIGTERM and SIGUSR1 (what SLURM sends before preemption or the time limit) and
SIGUSR2 (submitit's) ask for a checkpoint at the next chunk boundary; after saving, the
handler that was installed before (submitit's requeue) is called, or the process exits
with status 128 + the signal number.
"""

from __future__ import annotations

import hashlib
import json
import os
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
PREVIOUS = "checkpoint.prev.npz"
NEXT = "checkpoint.next.npz"  # a save in progress; never read


class Unreadable(ValueError):
    """A checkpoint file that cannot be used; the message says why in a few words."""


def _digest(leaves: list[np.ndarray], meta: bytes) -> str:
    h = hashlib.sha256()
    for x in leaves:
        h.update(f"{x.dtype.str}{x.shape}".encode())
        h.update(np.ascontiguousarray(x).tobytes())
    h.update(meta)
    return h.hexdigest()


def _read(path: Path) -> tuple[dict[str, Any], list[np.ndarray]]:
    """(meta, leaves) of a checkpoint file, verified; :class:`Unreadable` otherwise."""
    try:
        with np.load(path) as data:
            raw = bytes(data["meta"])
            meta = json.loads(raw.decode())
            leaves = [data[f"leaf{i:04d}"] for i in range(meta["leaves"])]
            stored = bytes(data["checksum"]).decode()
    except Exception as e:  # zipfile, numpy, JSON and key errors alike: the file is unusable
        raise Unreadable(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'unreadable'}") from e
    if stored != _digest(leaves, raw):
        raise Unreadable("checksum mismatch")
    return meta, leaves


def _set_aside(path: Path, reason: str) -> None:
    n = 1
    while (aside := path.with_name(f"{path.name}.corrupt-{n}")).exists():
        n += 1
    os.replace(path, aside)
    print(f"warning: checkpoint {path} cannot be read ({reason}); set aside as {aside.name}", file=sys.stderr)


class Checkpointer:
    """Saves every ``every`` steps and when a signal asks; loads the last checkpoint."""

    def __init__(self, run_dir: Path, every: int):
        self.path = Path(run_dir) / FILE
        self.previous_path = Path(run_dir) / PREVIOUS
        self.next_path = Path(run_dir) / NEXT
        self.chosen: tuple[dict[str, Any], list[np.ndarray]] | None = None
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

    def save(
        self, states: Any, done: int, next_full: int, recorder: dict[str, Any], listener: Any = None
    ) -> None:
        """``recorder``: the recorder's state; ``listener``: the listener's (JSON-able)."""
        start = time.perf_counter()
        leaves = jax.tree.leaves(jax.device_get(states))
        arrays = {f"leaf{i:04d}": np.asarray(x) for i, x in enumerate(leaves)}
        meta = json.dumps(
            {
                "done": done,
                "next_full": next_full,
                "recorder": recorder,
                "listener": listener,
                "leaves": len(leaves),
            }
        )
        checksum = _digest(list(arrays.values()), meta.encode())
        arrays["meta"] = np.frombuffer(meta.encode(), np.uint8)  # NaN round-trips
        arrays["checksum"] = np.frombuffer(checksum.encode(), np.uint8)
        # written whole beside the others first, then two renames: a kill at any moment
        # leaves the newest complete checkpoint readable, and at most for the instant
        # between the renames only the previous one
        store.write_npz(self.next_path, arrays)
        if self.path.exists():
            os.replace(self.path, self.previous_path)
        os.replace(self.next_path, self.path)
        self.last_saved, self.saves = done, self.saves + 1
        self.seconds += time.perf_counter() - start

    def saved_step(self) -> int | None:
        """The step of the newest checkpoint that reads and matches its checksum (chosen
        here, once, for :meth:`load`; the ones that do not are set aside), or None."""
        if self.chosen is None:
            for path in (self.path, self.previous_path):
                if not path.exists():
                    continue
                try:
                    self.chosen = _read(path)
                    break
                except Unreadable as e:
                    _set_aside(path, str(e))
        return None if self.chosen is None else int(self.chosen[0]["done"])

    def remove(self) -> None:
        """The checkpoint files, once the run's results are written."""
        for path in (self.path, self.previous_path, self.next_path):
            path.unlink(missing_ok=True)

    def load(self, template: Any) -> tuple[Any, dict[str, Any]] | None:
        """(states shaped like ``template``, meta) from the checkpoint :meth:`saved_step`
        chose, or None."""
        if self.saved_step() is None or self.chosen is None:
            return None
        meta, leaves = self.chosen
        self.chosen = None  # the arrays are the device's now: no second copy held
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
