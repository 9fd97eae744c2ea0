"""A sweep directory as the sweep-level figures read it: one point per (panel, model, length).

The sweep is joined by :func:`benchmarks.sweep.collect` (finished configs, seeds pooled
across jobs) and split as :func:`benchmarks.pairwise.groups` splits it: a panel is
everything that is not the model or the length (task, variant, any other varying key),
a series is a model label (``lstm``, ``lstm (hidden=100)``). Each point holds the pooled
success rate with its 95% Wilson interval, the steps to solve of the solved seeds, and
||dL/dh_t|| per seed at fixed fractions of the sequence (:data:`LAG_FRACTIONS` of T-1
steps back from the loss), at the first and the last measured training step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import pairwise, sweep
from benchmarks.figures.draw import per_step_source
from benchmarks.figures.load import FigureError, load_run

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
    return [p for p in sweep.find_runs(root) if p != root]


def load_points(root: Path) -> list[Point]:
    """Every finished (panel, model, length) of the sweep; FigureError when none is."""
    table = sweep.collect(Path(root))
    if table.empty or not (table["status"] == "finished").any():
        raise FigureError(f"no finished run under {root}")
    points = []
    for key, models in pairwise.groups(table):
        panel = pairwise.group_title({k: v for k, v in key.items() if k != "length" and v is not None})
        length = float(key.get("length") or np.nan)
        for m in models:
            point = Point(
                panel, m["model"], length, m["rate"], tuple(m["ci95"]), m["seeds"], m["steps_to_solve"]
            )
            point.lag_norms = _lag_norms(m["runs"])
            points.append(point)
    return points


def _lag_norms(runs: list[str]) -> dict[float, dict[str, list[float]]]:
    """Per-seed ||dL/dh|| at each lag fraction, at the first and last measured step, over
    the runs of one pooled row (diagnostics.npz, else grad_time.npz's chunk means)."""
    out: dict[float, dict[str, list[float]]] = {f: {"first": [], "last": []} for f in LAG_FRACTIONS}
    for path in runs:
        found = per_step_source(load_run(Path(path)))
        if found is None:
            continue
        grad_h = np.asarray(found[0]["grad_h"], dtype=float)  # [steps, seeds, T]
        length = grad_h.shape[-1]
        for f in LAG_FRACTIONS:
            t = length - 1 - int(round(f * (length - 1)))  # lag f*(T-1) -> time index
            out[f]["first"] += grad_h[0, :, t].tolist()
            out[f]["last"] += grad_h[-1, :, t].tolist()
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
