"""grad_at_lags.png (sweep): ||dL/dh_t|| at fixed lags against the length, per model.

One column per lag, a fixed fraction of the sequence (10%, 50% and 90% of T-1 steps back
from the loss), one row per panel key: how much gradient reaches a given distance, and
whether that falls with T. The marker is the geometric mean over seeds and the error bar
its 95% t-interval (of log10), after training (solid, the last measured step) and at the
first measured step (dashed, hollow; initialisation when the run measured step 0).
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.analysis.figures.across_runs import LAG_FRACTIONS, Point, series
from benchmarks.analysis.figures.draw import GRAD_H, length_axis, panel_title, reduce_seeds

TITLE = (
    f"Gradient norm {GRAD_H} at fixed lags against length\n"
    "(geometric mean over seeds, bars: 95% t-interval of the mean log; solid: last measured step, "
    "dashed: first)"
)


def draw(points: list[Point]) -> object:
    """The figure, or why it is skipped (no run stored per-step gradients)."""
    if not any(v for p in points for f in p.lag_norms.values() for v in f.values()):
        return "no run stored per-step gradients (diagnostics.npz or grad_time.npz)"
    by = series(points)
    fig = Figure(figsize=(4.4 * len(LAG_FRACTIONS), 3.8 * len(by) + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(by), len(LAG_FRACTIONS), squeeze=False)
    for row, (panel, models) in zip(axes, by.items(), strict=True):
        for ax, frac in zip(row, LAG_FRACTIONS, strict=True):
            for i, (model, pts) in enumerate(models.items()):
                for when, style in (
                    ("last", {"linestyle": "-"}),
                    ("first", {"linestyle": "--", "mfc": "none"}),
                ):
                    _series(
                        ax, pts, frac, when, color=f"C{i}", label=model if when == "last" else None, **style
                    )
            ax.set_yscale("log")
            length_axis(ax, [p.length for pts in models.values() for p in pts])
            panel_title(ax, f"{panel}, lag {frac:.0%} of T-1")
        row[0].set_ylabel(f"{GRAD_H} (batch mean)")
        row[0].legend(fontsize=8)
    fig.suptitle(TITLE, fontsize=10)
    return fig


def _series(ax, pts: list[Point], frac: float, when: str, **style) -> None:
    """One model's geometric means with their t-interval bars at one lag."""
    xs, mids, errs = [], [], []
    for p in pts:
        values = np.array(p.lag_norms.get(frac, {}).get(when, []), dtype=float)
        if not values.size:
            continue
        mid, lo, hi = (float(v[0]) for v in reduce_seeds(values[:, None], log=True))
        if not np.isfinite(mid):
            continue
        xs.append(p.x)
        mids.append(mid)
        errs.append([mid - lo, hi - mid] if np.isfinite(lo) else [0.0, 0.0])
    if xs:
        ax.errorbar(xs, mids, yerr=np.array(errs).T, marker="o", capsize=3, **style)
