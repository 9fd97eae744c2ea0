"""lstm_paths.png: dL/dc_t split into the constant error carousel and the recurrent hops.

Each path from the loss to the cell state c_t is classed by its recurrent hop nearest to
t: none (``cec``, along the carousel, scaled by the forget gates) or the hop through one
recurrent matrix (``R_z``, ``R_i``, ...); the parts add up to dL/dc_t (``total``, dashed),
and the title gives the split's residual. Two panels show the split at the first and the
last chosen step, the third the ablations at the last step in which only one gate's
recurrent hop stays differentiable, so it reads which path carries the gradient over long
lags. Needs the path.* (and ablation.*) arrays of diagnostics.npz (LSTM models only);
benchmarks.diagnostics documents the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from benchmarks.figures.draw import GRAD_C, LAG, Drawn, band, choose_steps, lag_axis, new_figure, step_index
from benchmarks.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The split at the first and last chosen step and the ablations at the last, or why skipped."""
    if "path.cec" not in run.diag:
        return run.missing("path.* arrays")
    chosen = choose_steps(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    lag = lag_axis(run.diag["path.cec"].shape[-1])
    fig, axes = new_figure(3, width=5.0, height=4.6, sharey=True)
    shown = False
    for ax, step in zip(axes[:2], (chosen[0], chosen[-1]), strict=True):
        shown |= _paths(ax, run, lag, step)
    axes[0].set_ylabel(GRAD_C)
    shown |= _ablations(axes[2], run, lag, chosen[-1])
    if shown:
        axes[0].set_yscale("log")
    fig.suptitle(run.title("LSTM cell gradient: constant error carousel vs recurrent hops"), fontsize=11)
    return fig


def _paths(ax: Axes, run: Run, lag: np.ndarray, step: int) -> bool:
    """Every part of the split and their total at ``step``; True if anything showed."""
    d = run.diag
    parts = ["path.cec"] + sorted(k for k in d if k.startswith("path.R_")) + ["path.total"]
    k = step_index(d["step"], step)
    shown = False
    for i, key in enumerate(parts):
        style: dict[str, Any] = {"color": f"C{i}", "label": key.removeprefix("path.")}
        if key == "path.total":
            style.update(color="black", linestyle="--", label="total")
        shown |= band(ax, lag, run.seeds(d[key])[:, k], log=True, **style)
    title = f"paths of {GRAD_C}, step {step}"
    if "path.residual" in d:
        res = run.seeds(d["path.residual"])[:, k]
        if np.isfinite(res).any():
            title += f"\n(split residual max {np.nanmax(res):.1e})"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return shown


def _ablations(ax: Axes, run: Run, lag: np.ndarray, step: int) -> bool:
    """dL/dc_t with one hop differentiable (or none), and the full one; True if anything showed."""
    d = run.diag
    ablations = sorted((k for k in d if k.startswith("ablation.")), key=lambda k: (k != "ablation.none", k))
    k = step_index(d["step"], step)
    shown = False
    if ablations:
        for i, key in enumerate(ablations):
            gate = key.removeprefix("ablation.")
            label = "no hop (CEC only)" if gate == "none" else f"only {gate} hop"
            shown |= band(ax, lag, run.seeds(d[key])[:, k], log=True, color=f"C{i}", label=label)
        band(ax, lag, run.seeds(d["path.total"])[:, k], log=True, color="black", linestyle="--", label="full")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no ablation.* arrays", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{GRAD_C} with one recurrent hop differentiable, step {step}", fontsize=9)
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return shown
