"""grad_norm_quantiles.png: the distribution of each weight matrix's gradient norm over training.

One small panel per weight matrix (recurrent R_* / W_hh first, then input and output
weights; biases left out), log y: training is cut into at most :data:`BINS` windows of
consecutive steps, and each window shows the median of the per-step norms over its steps
and the seeds (line), their 25-75% quantiles (dark band) and 5-95% (light band). So a
matrix whose gradient drifts, spreads or spikes reads apart from the others, which the
global norm hides. Needs grad_norms.npz (a run that trained no steps has none).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.analysis.figures.draw import Drawn
from benchmarks.analysis.figures.load import Run

BINS = 40
NOT_MATRICES = ("step", "loss", "explode", "global")
QUANTILES = (5, 25, 50, 75, 95)


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """One panel per matrix over every training step (``steps`` does not apply), or why skipped."""
    g = run.grad_norms
    names = sorted(
        (k for k in g if k not in NOT_MATRICES and not k.startswith("b")),
        key=lambda k: (not k.startswith(("R", "W_hh", "U")), k),
    )
    if "step" not in g or not names:
        return "no grad_norms.npz (the run trained no steps)"
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    fig = Figure(figsize=(max(3.4 * ncols, 7.6), 2.6 * nrows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    edges = np.unique(np.linspace(0, len(g["step"]), min(BINS, len(g["step"])) + 1).astype(int))
    x = np.array([g["step"][a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    for ax, name in zip(axes.ravel(), names, strict=False):
        q = _window_quantiles(run.seeds(g[name], axis=1), edges)
        ax.fill_between(x, q[0], q[4], color="C0", alpha=0.15, linewidth=0)
        ax.fill_between(x, q[1], q[3], color="C0", alpha=0.35, linewidth=0)
        ax.plot(x, q[2], color="C0", linewidth=1.2)
        if np.isfinite(q).any():
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training step", fontsize=8)
    for ax in axes.ravel()[len(names) :]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("gradient norm")
    over = "the window's steps and the seeds" if run.seed_index is None else "the window's steps"
    title = f"Gradient norm per matrix over training: median, 25-75% and 5-95% over {over}"
    fig.suptitle(run.title(title, "pooled"), fontsize=10)
    return fig


def _window_quantiles(a: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """[len(QUANTILES), windows] quantiles of the positive finite values of ``a`` [seeds, steps]
    in each window of steps (NaN for a window with none)."""
    out = np.full((len(QUANTILES), len(edges) - 1), np.nan)
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        v = a[:, lo:hi].ravel()
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            out[:, i] = np.percentile(v, QUANTILES)
    return out
