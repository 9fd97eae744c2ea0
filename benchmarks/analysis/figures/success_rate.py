"""success_rate.png (sweep): success rate against the sequence length, one line per model.

Error bars are the 95% Wilson interval of the pooled seeds (the interval ``collect``
reports), so two models whose bars overlap widely are not told apart at these seeds
(``carousel-compare`` tests it). One panel per task/variant and any other varying key.
"""

from __future__ import annotations

import numpy as np

from benchmarks.analysis.figures.across_runs import Point, series
from benchmarks.analysis.figures.draw import length_axis, length_width, panel_grid, panel_title

TITLE = "Success rate against length (error bars: 95% Wilson interval over seeds)"


def draw(points: list[Point]) -> object:
    """The figure (one panel per panel key)."""
    by = series(points)
    fig, axes = panel_grid(len(by))
    for ax, (panel, models) in zip(axes, by.items(), strict=True):
        spread = length_width([p.x for pts in models.values() for p in pts])
        for i, (model, pts) in enumerate(models.items()):
            x = np.array([p.x for p in pts]) + 0.025 * spread * (i - (len(models) - 1) / 2)
            rate = np.array([p.rate for p in pts])
            err = np.array([[p.rate - p.ci95[0], p.ci95[1] - p.rate] for p in pts]).T
            seeds = "/".join(sorted({str(p.seeds) for p in pts}))
            ax.errorbar(
                x, rate, yerr=err, marker="o", capsize=3, color=f"C{i}", label=f"{model} ({seeds} seeds)"
            )
        ax.set_ylim(-0.03, 1.03)
        ax.set_ylabel("success rate (fraction of seeds solved)")
        length_axis(ax, [p.length for pts in models.values() for p in pts])
        panel_title(ax, panel)
        ax.legend(fontsize=8)
    fig.suptitle(TITLE, fontsize=11)
    return fig
