"""spectral_radius.png: spectral radius and largest singular value of each recurrent matrix.

Over training, against a dotted line at 1. The recurrent matrices set how fast the
backward product through time can shrink or grow: with gamma bounding the activation's
derivative (1 for tanh), sigma_max < 1/gamma is sufficient for vanishing gradients and
sigma_max > 1/gamma necessary for exploding ones (Pascanu et al., 2013). Needs the
spectral_radius.* arrays of diagnostics.npz.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from benchmarks.analysis.figures.draw import Drawn, band, new_figure, wide_range
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """rho and sigma_max at every measured step (``steps`` does not apply), or why skipped."""
    names = [k.split(".", 1)[1] for k in run.diag if k.startswith("spectral_radius.")]
    if not names:
        return run.missing("spectral_radius.* arrays")
    fig, (ax,) = new_figure(width=7.2)
    x = run.diag["step"]
    arrays = []
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        rho = run.seeds(run.diag[f"spectral_radius.{name}"])
        band(ax, x, rho, log=False, color=color, marker="o", label=name)
        arrays.append(rho)
        if f"sigma_max.{name}" in run.diag:
            sigma = run.seeds(run.diag[f"sigma_max.{name}"])
            band(ax, x, sigma, log=False, color=color, marker="s", markersize=4, linestyle="--")
            arrays.append(sigma)
    ax.axhline(1.0, color="0.4", linewidth=0.9, linestyle=":")
    _scale_y(ax, arrays)
    ax.set_xlabel("training step")
    ax.set_ylabel(r"spectral radius $\rho$, largest singular value $\sigma_{max}$")
    handles, _ = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="0.3", marker="o", label=r"$\rho$ (solid)"),
        Line2D(
            [], [], color="0.3", marker="s", markersize=4, linestyle="--", label=r"$\sigma_{max}$ (dashed)"
        ),
        Line2D([], [], color="0.4", linestyle=":", label="1"),
    ]
    ax.legend(handles=handles, fontsize=8)
    if len(x) <= 10:
        ax.set_xticks(x)
    fig.suptitle(run.title("Recurrent matrices: spectral radius and norm"), fontsize=11)
    return fig


def _scale_y(ax: Axes, arrays: list[np.ndarray]) -> None:
    """Log axis over a wide range; else a linear one padded around the values and 1.

    At orthogonal initialisation every value is 1 +- 1e-7: the padding keeps the axis from
    zooming into rounding."""
    if wide_range(*arrays):
        ax.set_yscale("log")
        return
    v = np.concatenate([np.ravel(a) for a in arrays] + [[1.0]])
    lo, hi = float(np.nanmin(v[np.isfinite(v)])), float(np.nanmax(v[np.isfinite(v)]))
    pad = max(0.08 * (hi - lo), 0.05)
    ax.set_ylim(lo - pad, hi + pad)
