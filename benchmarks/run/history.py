"""What a run reports while it trains (:class:`Listener`), and where its history goes.

The training loop (:func:`benchmarks.run.training_loop.train`) tells one :class:`Listener`
about each evaluation (one metrics row per seed), each trained chunk (a
:class:`TrainedChunk`: per-step series, exploding events, gradient-over-time means), each
full diagnostics measurement and each checkpoint; :class:`Listeners` tells several. Every
object that answers "where do results go" is a listener: :class:`MemorySink` keeps the
history (a direct ``train`` call returns it in its result); :class:`StoreSink` appends it
to the run directory as parts named by the step they start at (:mod:`benchmarks.store`),
so memory stays flat however long the run and a resumed run rewrites the parts after its
checkpoint identically; the progress bar and the tracker (W&B and the log lines,
:mod:`benchmarks.run.experiment`) show it; a pack's fan-out (:mod:`benchmarks.run.pack`) hands
each job its share.

Per-step series are exact for the first ``exact_steps`` steps; beyond, one row per bin of
``bin_steps`` steps holds each series' mean and maximum (``grad_norms_binned``), while
every exploding event stays exact (``events``: step, seed, norm). :meth:`StoreSink.finish`
joins the parts into one ``.npz`` per series when the run ends.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from benchmarks import store

Arrays = dict[str, np.ndarray]
Rows = list[dict[str, Any]]
SERIES = ("grad_norms", "grad_norms_binned", "events", "grad_time", "diagnostics", "streams")


@dataclasses.dataclass(frozen=True)
class TrainedChunk:
    """What one chunk trained (:meth:`~benchmarks.run.training_loop.Recorder.record_chunk`),
    for the models it is about (every model of the run, or a share: :meth:`models`).

    ``series``: ``step`` [steps] and, [steps, models] each, ``loss``, ``global`` (the
    gradient norm), ``explode`` (events) and one gradient norm per parameter matrix: NaN
    where a model did not train (solved and stopped, or diverged). ``events``: one entry
    per exploding-gradient event (``step``, ``seed``: the model's index, ``norm``).
    ``grad_time``: with probes, ``step`` (the step after the chunk) and the chunk's mean
    dL/dh_t (and dL/dc_t) norms, [models, T] each; else None. ``streams``: under
    ``train.schedule=stream``, one entry per training stream that ended in the chunk
    (``seed``: the model's index, ``lane``, ``step``, ``symbol``, ``length``:
    :meth:`~benchmarks.run.training_loop.Recorder.record_streams`); else None."""

    series: Arrays
    events: Arrays
    grad_time: Arrays | None
    streams: Arrays | None = None

    @property
    def first(self) -> int:
        """The chunk's first step: its parts are named by it."""
        return int(self.series["step"][0])

    def models(self, m: range) -> TrainedChunk:
        """The same chunk for the models ``m`` only (indices renumbered from 0)."""
        series = {k: v if k == "step" else v[:, m.start : m.stop] for k, v in self.series.items()}
        mine = (self.events["seed"] >= m.start) & (self.events["seed"] < m.stop)
        events = {
            "step": self.events["step"][mine],
            "seed": self.events["seed"][mine] - m.start,
            "norm": self.events["norm"][mine],
        }
        grad_time = self.grad_time
        if grad_time is not None:
            grad_time = {k: v if k == "step" else v[m.start : m.stop] for k, v in grad_time.items()}
        streams = self.streams
        if streams is not None:
            ours = (streams["seed"] >= m.start) & (streams["seed"] < m.stop)
            streams = {k: v[ours] - (m.start if k == "seed" else 0) for k, v in streams.items()}
        return TrainedChunk(series, events, grad_time, streams)


class Listener(Protocol):
    """Told what a run does while it trains. Subclass it: every method is a no-op until
    overridden. ``rows`` are one metrics row per model (see
    :meth:`benchmarks.run.training_loop.Recorder.record_eval`); ``arrays`` one full diagnostics
    measurement, [models, ...] each."""

    def on_eval(self, step: int, rows: Rows) -> None:
        """The evaluation at ``step`` (every ``train.eval_every`` steps, and the last)."""
        return None

    def on_chunk(self, chunk: TrainedChunk) -> None:
        """A chunk was trained (the steps between two evaluations)."""
        return None

    def on_diagnostics(self, step: int, arrays: Arrays) -> None:
        """A full diagnostics measurement at ``step`` (``diagnostics.every``, and the last)."""
        return None

    def on_checkpoint(self, step: int) -> Any:
        """A checkpoint is saved at ``step`` (before that step's evaluation): returns what
        this listener needs back to go on after a resume (JSON-able), or None."""
        return None

    def on_resume(self, state: Any) -> None:
        """The run resumes from a checkpoint; ``state`` is what :meth:`on_checkpoint` gave."""
        return None


class Listeners(Listener):
    """Several listeners as one, each told in turn."""

    def __init__(self, listeners: Sequence[Listener]):
        self.listeners = list(listeners)

    def on_eval(self, step: int, rows: Rows) -> None:
        for listener in self.listeners:
            listener.on_eval(step, rows)

    def on_chunk(self, chunk: TrainedChunk) -> None:
        for listener in self.listeners:
            listener.on_chunk(chunk)

    def on_diagnostics(self, step: int, arrays: Arrays) -> None:
        for listener in self.listeners:
            listener.on_diagnostics(step, arrays)

    def on_checkpoint(self, step: int) -> Any:
        states = [listener.on_checkpoint(step) for listener in self.listeners]
        return None if all(s is None for s in states) else states

    def on_resume(self, state: Any) -> None:
        for listener, own in zip(self.listeners, state or [None] * len(self.listeners), strict=True):
            listener.on_resume(own)


class MemorySink(Listener):
    """Keeps the whole history in memory."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.series: dict[str, list[np.ndarray]] = {}
        self.grad_time: dict[str, list[np.ndarray]] = {}
        self.measured: dict[str, list[np.ndarray]] = {}
        self.streams: dict[str, list[np.ndarray]] = {}

    def on_eval(self, step: int, rows: Rows) -> None:
        self.rows.extend(rows)

    def on_chunk(self, chunk: TrainedChunk) -> None:
        for k, v in chunk.series.items():
            self.series.setdefault(k, []).append(v)
        # the events: the per-step ``explode`` series holds them
        for k, v in (chunk.grad_time or {}).items():
            self.grad_time.setdefault(k, []).append(v[None])
        for k, v in (chunk.streams or {}).items():
            self.streams.setdefault(k, []).append(v)

    def on_diagnostics(self, step: int, arrays: Arrays) -> None:
        for k, v in {"step": np.asarray(step), **arrays}.items():
            self.measured.setdefault(k, []).append(np.asarray(v)[None])

    def result(self) -> tuple[Rows, Arrays, Arrays, Arrays, Arrays]:
        """The metrics rows, the per-step series, the gradient-over-time means, the
        measurements and the training streams' records, each series joined along its first
        axis."""
        cat = lambda d: {k: np.concatenate(v) for k, v in d.items() if v}  # noqa: E731
        return self.rows, cat(self.series), cat(self.grad_time), cat(self.measured), cat(self.streams)


def _bins(arrays: Arrays, bin_steps: int) -> Arrays:
    """Rows of ``bin_steps`` steps: first step, step count, each series' mean and max."""
    step = arrays["step"]
    keys = step // bin_steps
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    out: Arrays = {"step": step[starts], "steps": np.diff(np.r_[starts, len(step)])}
    with warnings.catch_warnings():  # all-NaN bins (frozen seeds) have no mean
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, v in arrays.items():
            if k in ("step", "explode"):
                continue
            out[k] = np.stack([np.nanmean(g, axis=0) for g in np.split(v, starts[1:])])
            out[f"{k}.max"] = np.stack([np.nanmax(g, axis=0) for g in np.split(v, starts[1:])])
    out["explode"] = np.stack([g.any(axis=0) for g in np.split(arrays["explode"], starts[1:])])
    return out


class StoreSink(Listener):
    """Appends the history to the run directory ``out`` in parts."""

    def __init__(self, out: Path, exact_steps: int, bin_steps: int):
        self.out, self.exact_steps, self.bin_steps = Path(out), exact_steps, bin_steps

    def on_eval(self, step: int, rows: Rows) -> None:
        store.write_rows(self.out, "metrics.parquet", step, rows)

    def on_chunk(self, chunk: TrainedChunk) -> None:
        first, series = chunk.first, chunk.series
        exact = series["step"] < self.exact_steps
        if exact.any():
            store.write_part(self.out, "grad_norms", first, {k: v[exact] for k, v in series.items()})
        if not exact.all():
            late = {k: v[~exact] for k, v in series.items()}
            store.write_part(self.out, "grad_norms_binned", first, _bins(late, self.bin_steps))
        if len(chunk.events["step"]):
            store.write_part(self.out, "events", first, chunk.events)
        if chunk.grad_time is not None:
            arrays = {k: np.asarray(v)[None] for k, v in chunk.grad_time.items()}
            store.write_part(self.out, "grad_time", first, arrays)
        if chunk.streams is not None:  # every chunk, none ended or some: streams.npz exists
            store.write_part(self.out, "streams", first, chunk.streams)

    def on_diagnostics(self, step: int, arrays: Arrays) -> None:
        measured = {k: np.asarray(v)[None] for k, v in {"step": np.asarray(step), **arrays}.items()}
        store.write_part(self.out, "diagnostics", step, measured)

    def finish(self) -> None:
        """Join each series' parts into its single ``.npz`` file."""
        for name in SERIES:
            store.join_parts(self.out, name)
