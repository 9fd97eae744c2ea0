"""A sweep directory as the sweep-level figures read it: one point per (panel, model, length).

The sweep is joined by :func:`benchmarks.analysis.results.collect` (finished configs, seeds pooled
across jobs) and split as :func:`benchmarks.analysis.pairwise.groups` splits it: a panel is
everything that is not the model or the length (task, variant, any other varying key),
a series is a model label (``lstm``, ``lstm (hidden=100)``). Each point holds the pooled
success rate with its 95% Wilson interval, the steps to solve of the solved seeds, and
||dL/dh_t|| per seed at fixed fractions of the sequence (:data:`LAG_FRACTIONS` of T-1
steps back from the loss), at the first and the last measured training step.

A finished run whose files cannot be read (a corrupt ``metrics.parquet`` part, a damaged
``.npz``) is left out of every point, the others pooled without it, when the caller
gives a ``warn`` to say so; without one it is a FigureError, so nothing is left out
unsaid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.analysis import pairwise, results
from benchmarks.analysis.figures.draw import per_step_source
from benchmarks.analysis.figures.load import FigureError, Run, load_run

LAG_FRACTIONS = (0.1, 0.5, 0.9)


@dataclass
class Point:
    """One model at one length of one panel, seeds pooled."""

    panel: str
    model: str
    length: float
    rate: float
    ci95: tuple[float, float]
    seeds: int
    steps_to_solve: list[float]
    # fraction -> ("first" | "last") -> per-seed ||dL/dh|| at that lag
    lag_norms: dict[float, dict[str, list[float]]] = field(default_factory=dict)

    @property
    def x(self) -> float:
        """Where the point sits on the length axis: its length, or 0 for a task without one."""
        return self.length if np.isfinite(self.length) else 0.0


def sweep_runs(root: Path) -> list[Path]:
    """The run directories under ``root`` when it is a sweep (not a run itself), else []."""
    root = Path(root)
    if (root / "summary.json").is_file():
        return []
    return [p for p in results.find_runs(root) if p != root]


def load_points(
    root: Path, warn: Callable[[str], None] | None = None, table: pd.DataFrame | None = None
) -> list[Point]:
    """Every finished (panel, model, length) of the sweep, from the runs that can be read.

    ``table`` is the sweep's :func:`benchmarks.analysis.results.collect` table where the caller has it
    (and has said its warnings); else it is collected here and each of its warnings (runs
    not finished, unreadable, seeds run twice) goes to ``warn``. A finished run that
    :func:`load_run` cannot read is left out, with one line to ``warn`` naming it and why,
    or, without ``warn``, raises its FigureError. FigureError when no finished run is left."""
    root = Path(root)
    if table is None:
        table = results.collect(root)
        for line in table.attrs.get("warnings", []):
            if warn is not None:
                warn(line)
    finished = table["status"] == "finished"
    if not finished.any():
        raise FigureError(f"no finished run under {root}")
    lags: dict[str, dict[float, dict[str, list[float]]]] = {}
    for path in (p for runs in table.loc[finished, "runs"] for p in runs):
        try:
            lags[path] = _lag_norms(load_run(Path(path)))
        except FigureError as e:
            if warn is None:
                raise
            warn(f"sweep figures without run {_named(Path(path), root)}: {e}")
    readable = table.copy()
    readable["runs"] = [
        [p for p in runs if p in lags] if done else runs
        for runs, done in zip(table["runs"], finished, strict=True)
    ]
    readable = readable[~finished | readable["runs"].map(bool)]
    if not (readable["status"] == "finished").any():
        raise FigureError(f"no finished run under {root} can be read")
    points = []
    for key, models in pairwise.groups(readable):
        panel = pairwise.group_title({k: v for k, v in key.items() if k != "length" and v is not None})
        length = float(key.get("length") or np.nan)
        for m in models:
            point = Point(
                panel, m["model"], length, m["rate"], tuple(m["ci95"]), m["seeds"], m["steps_to_solve"]
            )
            point.lag_norms = _pooled(lags[p] for p in m["runs"])
            points.append(point)
    return points


def _named(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _lag_norms(run: Run) -> dict[float, dict[str, list[float]]]:
    """One run's per-seed ||dL/dh|| at each lag fraction, at the first and last measured
    step (diagnostics.npz, else grad_time.npz's chunk means); empty lists without either."""
    out: dict[float, dict[str, list[float]]] = {f: {"first": [], "last": []} for f in LAG_FRACTIONS}
    found = per_step_source(run)
    if found is None:
        return out
    grad_h = np.asarray(found[0]["grad_h"], dtype=float)  # [steps, seeds, T]
    length = grad_h.shape[-1]
    for f in LAG_FRACTIONS:
        t = length - 1 - int(round(f * (length - 1)))  # lag f*(T-1) -> time index
        out[f]["first"] = grad_h[0, :, t].tolist()
        out[f]["last"] = grad_h[-1, :, t].tolist()
    return out


def _pooled(per_run: Iterable[dict[float, dict[str, list[float]]]]) -> dict[float, dict[str, list[float]]]:
    """The lag norms of the runs of one pooled row, their seeds in run order."""
    out: dict[float, dict[str, list[float]]] = {f: {"first": [], "last": []} for f in LAG_FRACTIONS}
    for run in per_run:
        for f, at in run.items():
            for when, values in at.items():
                out[f][when] += values
    return out


def series(points: list[Point]) -> dict[str, dict[str, list[Point]]]:
    """Points by panel, then by model, each model's points sorted by length."""
    by: dict[str, dict[str, list[Point]]] = {}
    for p in points:
        by.setdefault(p.panel, {}).setdefault(p.model, []).append(p)
    for models in by.values():
        for pts in models.values():
            pts.sort(key=lambda p: p.length)
    return by


def describe(root: Path, points: list[Point]) -> dict[str, Any]:
    """How many panels, models and lengths the figures show (for a log line)."""
    return {
        "sweep": str(root),
        "panels": len({p.panel for p in points}),
        "models": sorted({p.model for p in points}),
        "lengths": sorted({p.length for p in points}),
    }
