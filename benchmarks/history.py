"""Where a run's history goes while it trains: memory, or the result store in parts.

The training loop's :class:`~benchmarks.training_loop.Recorder` hands every evaluation's
rows, every chunk's per-step series and chunk means, every exploding event and every full
diagnostics measurement to a sink. :class:`MemorySink` keeps them (a direct ``train`` call
returns them in its result); :class:`StoreSink` appends them to the run directory as parts
named by the step they start at (:mod:`benchmarks.store`), so memory stays flat however
long the run and a resumed run rewrites the parts after its checkpoint identically.

Per-step series are exact for the first ``exact_steps`` steps; beyond, one row per bin of
``bin_steps`` steps holds each series' mean and maximum (``grad_norms_binned``), while
every exploding event stays exact (``events``: step, seed, norm). :meth:`StoreSink.finish`
joins the parts into one ``.npz`` per series when the run ends.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import store

Arrays = dict[str, np.ndarray]
SERIES = ("grad_norms", "grad_norms_binned", "events", "grad_time", "diagnostics")


class MemorySink:
    """Keeps the whole history in memory."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.series: dict[str, list[np.ndarray]] = {}
        self.grad_time: dict[str, list[np.ndarray]] = {}
        self.measured: dict[str, list[np.ndarray]] = {}

    def add_rows(self, step: int, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)

    def add_series(self, step: int, arrays: Arrays) -> None:
        for k, v in arrays.items():
            self.series.setdefault(k, []).append(v)

    def add_events(self, step: int, arrays: Arrays) -> None:
        pass  # the per-step ``explode`` series holds them

    def add_grad_time(self, step: int, arrays: Arrays) -> None:
        for k, v in arrays.items():
            self.grad_time.setdefault(k, []).append(v[None])

    def add_diagnostics(self, step: int, arrays: Arrays) -> None:
        for k, v in arrays.items():
            self.measured.setdefault(k, []).append(np.asarray(v)[None])

    def result(self) -> tuple[list[dict[str, Any]], Arrays, Arrays, Arrays]:
        cat = lambda d: {k: np.concatenate(v) for k, v in d.items() if v}  # noqa: E731
        return self.rows, cat(self.series), cat(self.grad_time), cat(self.measured)


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


class StoreSink:
    """Appends the history to the run directory ``out`` in parts."""

    def __init__(self, out: Path, exact_steps: int, bin_steps: int):
        self.out, self.exact_steps, self.bin_steps = Path(out), exact_steps, bin_steps

    def add_rows(self, step: int, rows: list[dict[str, Any]]) -> None:
        store.write_rows(self.out, "metrics.parquet", step, rows)

    def add_series(self, step: int, arrays: Arrays) -> None:
        exact = arrays["step"] < self.exact_steps
        if exact.any():
            store.write_part(self.out, "grad_norms", step, {k: v[exact] for k, v in arrays.items()})
        if not exact.all():
            late = {k: v[~exact] for k, v in arrays.items()}
            store.write_part(self.out, "grad_norms_binned", step, _bins(late, self.bin_steps))

    def add_events(self, step: int, arrays: Arrays) -> None:
        if len(arrays["step"]):
            store.write_part(self.out, "events", step, arrays)

    def add_grad_time(self, step: int, arrays: Arrays) -> None:
        store.write_part(self.out, "grad_time", step, {k: np.asarray(v)[None] for k, v in arrays.items()})

    def add_diagnostics(self, step: int, arrays: Arrays) -> None:
        store.write_part(self.out, "diagnostics", step, {k: np.asarray(v)[None] for k, v in arrays.items()})

    def result(self) -> tuple[list[dict[str, Any]], Arrays, Arrays, Arrays]:
        """Nothing is read back into memory: the store holds it."""
        return [], {}, {}, {}

    def finish(self) -> None:
        """Join each series' parts into its single ``.npz`` file."""
        for name in SERIES:
            store.join_parts(self.out, name)
