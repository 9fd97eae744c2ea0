"""grad_time_heatmap.png: log10 ||dL/dh_t|| over (training step, lag T-1-t).

Where in the sequence gradient survives, and when in training: a vanishing gradient shows
as a dark band at large lags, far from the loss after t=T-1. The x axis is the lag, as in
every figure with a time axis (lag 0, the last step, on the left). Rows come from
grad_time.npz (the mean over each training chunk) when the run trained, else from the
steps measured in diagnostics.npz. Models with a cell state get a second panel for
||dL/dc_t||.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from benchmarks.analysis.figures.draw import GRAD_C, GRAD_H, LAG, Drawn, new_figure, reduce_seeds
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The heatmap (all training steps: ``steps`` does not apply), or why it is skipped."""
    if "grad_h" in run.grad_time:
        src, origin = run.grad_time, "grad_time.npz: mean over each training chunk"
        ends = src["step"].astype(float)
        y_edges = np.concatenate([[0.0], ends])  # chunk i covers steps (end[i-1], end[i]]
        if not np.all(np.diff(y_edges) > 0):
            y_edges = _mid_edges(ends)
    elif "grad_h" in run.diag:
        src, origin = run.diag, "diagnostics.npz: measured at these steps"
        y_edges = _mid_edges(src["step"].astype(float))
    else:
        return "no grad_h in grad_time.npz or diagnostics.npz"
    panels = [("grad_h", GRAD_H)] + ([("grad_c", GRAD_C)] if "grad_c" in src else [])
    fig, axes = new_figure(len(panels), width=6.2)
    for ax, (key, label) in zip(axes, panels, strict=True):
        mean_log, _, _ = reduce_seeds(run.seeds(src[key]), log=True)
        z = np.ma.masked_invalid(np.log10(mean_log))[:, ::-1]  # column j: lag j = T-1-t
        lag_edges = np.arange(z.shape[1] + 1) - 0.5
        mesh = ax.pcolormesh(lag_edges, y_edges, z, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label=rf"$\log_{{10}}$ {label}")
        ax.set_xlabel(LAG)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("training step")
        ax.set_title(f"{label}  [{origin}]", fontsize=9)
        if len(y_edges) <= 9:
            ax.set_yticks(y_edges if src is run.grad_time else src["step"])
    fig.suptitle(run.title("Gradient norm over lag and training", "geometric mean"), fontsize=11)
    return fig


def _mid_edges(points: np.ndarray) -> np.ndarray:
    """Cell edges halfway between measured points (one point: a cell of width 1)."""
    if points.size == 1:
        return np.array([points[0] - 0.5, points[0] + 0.5])
    mid = (points[1:] + points[:-1]) / 2
    return np.concatenate([[2 * points[0] - mid[0]], mid, [2 * points[-1] - mid[-1]]])
