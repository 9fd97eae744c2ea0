"""grad_norm_distribution.png: the per-step gradient norms of training.

Left, their spread per parameter (the global norm first): which weights carry large or
tiny gradients. Right, the global norm (before clipping) over training with the exploding
events marked, so a spike can be told from a steady drift. Needs grad_norms.npz, which a
run that trained no steps does not write.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes

from benchmarks.analysis.figures.draw import Drawn, band, new_figure
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """Both panels over every training step (``steps`` does not apply), or why skipped."""
    if "global" not in run.grad_norms:
        return "no grad_norms.npz (the run trained no steps)"
    fig, (left, right) = new_figure(2, width=6.4, height=4.8)
    _distribution(left, run)
    _global_norm(right, run)
    fig.suptitle(run.title("Per-step gradient norms"), fontsize=11)
    return fig


def _distribution(ax: Axes, run: Run) -> None:
    """Box plot of log10 norms per parameter, over steps (and seeds unless one is chosen)."""
    g = run.grad_norms
    names = ["global"] + [k for k in g if k not in ("step", "loss", "explode", "global")]
    data, labels = [], []
    for name in names:
        v = run.seeds(g[name]).ravel()
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            data.append(np.log10(v))
            labels.append(name)
    if data:
        ax.boxplot(
            data,
            tick_labels=labels,
            whis=(1, 99),
            flierprops={"markersize": 2, "alpha": 0.3},
            medianprops={"color": "C1"},
        )
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
        ax.axvline(1.5, color="0.6", linewidth=0.8)  # the global norm, then each parameter
    ax.set_ylabel(r"$\log_{10}$ gradient norm (per training step)")
    over = "steps and seeds" if run.seed_index is None else "steps"
    ax.set_title(f"distribution over {over} (box: quartiles, whiskers: 1..99%)", fontsize=9)


def _global_norm(ax: Axes, run: Run) -> None:
    """The global norm over training, exploding events as crosses (non-finite ones on top)."""
    g = run.grad_norms
    step = g["step"]
    glob = run.seeds(g["global"], axis=1)
    if band(ax, step, glob, log=True, color="C0", linewidth=0.8, label="global norm"):
        ax.set_yscale("log")
    if "explode" in g:
        events = run.seeds(g["explode"], axis=1).astype(bool)
        xs = np.concatenate([step[e] for e in events])
        ys = np.concatenate([gl[e] for gl, e in zip(glob, events, strict=True)])
        finite = np.isfinite(ys) & (ys > 0)
        ax.scatter(
            xs[finite],
            ys[finite],
            marker="x",
            color="C3",
            s=30,
            zorder=3,
            label=f"exploding events ({xs.size})",
        )
        if (~finite).any():  # NaN/inf norms cannot sit on a log axis: mark them along the top
            ax.scatter(
                xs[~finite],
                np.full((~finite).sum(), 0.97),
                transform=ax.get_xaxis_transform(),
                marker="v",
                color="C3",
                s=30,
                label=f"non-finite norm ({(~finite).sum()})",
            )
    ax.set_xlabel("training step")
    ax.set_ylabel("global gradient norm (before clipping)")
    ax.legend(fontsize=8)
