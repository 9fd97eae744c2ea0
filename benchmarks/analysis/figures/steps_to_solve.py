"""steps_to_solve.png (sweep): training steps to solve against the length, per model.

Each solved seed is a small dot (spread sideways a little so equal values stay visible),
the median over the solved seeds a larger marker joined by a line; a length at which a
model solved no seed has no median (the success-rate figure shows it). A log axis when
the steps span more than two decades. The top of each panel counts solved seeds.
"""

from __future__ import annotations

import numpy as np

from benchmarks.analysis.figures.across_runs import Point, series
from benchmarks.analysis.figures.draw import length_axis, length_width, panel_grid, panel_title, wide_range

TITLE = "Steps to solve against length (dots: solved seeds; line: median over solved seeds)"


def draw(points: list[Point]) -> object:
    """The figure, or why it is skipped (no seed solved anywhere)."""
    if not any(p.steps_to_solve for p in points):
        return "no seed solved its task in this sweep: no steps to solve"
    by = series(points)
    fig, axes = panel_grid(len(by))
    rng = np.random.default_rng(0)  # sideways jitter only; fixed so figures are reproducible
    for ax, (panel, models) in zip(axes, by.items(), strict=True):
        spread = length_width([p.x for pts in models.values() for p in pts])
        for i, (model, pts) in enumerate(models.items()):
            shift = 0.03 * spread * (i - (len(models) - 1) / 2)
            for p in pts:
                jitter = rng.uniform(-0.006, 0.006, len(p.steps_to_solve)) * spread
                ax.scatter(p.x + shift + jitter, p.steps_to_solve, s=12, color=f"C{i}", alpha=0.5)
            solved = [p for p in pts if p.steps_to_solve]
            ax.plot(
                [p.x + shift for p in solved],
                [float(np.median(p.steps_to_solve)) for p in solved],
                marker="D",
                color=f"C{i}",
                label=f"{model} (solved " + ", ".join(_count(p) for p in pts) + ")",
            )
        if wide_range(
            *[np.array(p.steps_to_solve) for pts in models.values() for p in pts if p.steps_to_solve]
        ):
            ax.set_yscale("log")
        if not any(p.steps_to_solve for pts in models.values() for p in pts):
            ax.text(0.5, 0.5, "no seed solved", transform=ax.transAxes, ha="center", color="0.4")
            ax.set_yticks([])
        ax.set_ylabel("training steps to solve")
        length_axis(ax, [p.length for pts in models.values() for p in pts])
        panel_title(ax, panel)
        ax.legend(fontsize=8)
    fig.suptitle(TITLE, fontsize=11)
    return fig


def _count(p: Point) -> str:
    """``3/4 at 100``: solved seeds of all at that length (no length: just the counts)."""
    at = f" at {p.length:g}" if np.isfinite(p.length) else ""
    return f"{len(p.steps_to_solve)}/{p.seeds}{at}"
