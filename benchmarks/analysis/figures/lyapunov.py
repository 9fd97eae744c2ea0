"""lyapunov.png: the leading Lyapunov exponents of the hidden dynamics, per chosen step.

From the one-step state Jacobians along the trajectory (state h, or (h, c) for the LSTM).
The largest exponent is the asymptotic rate per time step at which products of these
Jacobians grow or shrink: below the dotted zero line, gradients through the state vanish
exponentially with the lag; above it they can explode. Needs the lyapunov array of
diagnostics.npz.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from benchmarks.analysis.figures.draw import Drawn, band, choose_steps, new_figure, step_colors, step_index
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The spectrum at each chosen step, or why it is skipped."""
    if "lyapunov" not in run.diag:
        return run.missing("lyapunov array")
    chosen = choose_steps(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    lyap = run.seeds(run.diag["lyapunov"])  # [seeds, K, k]
    index = np.arange(1, lyap.shape[-1] + 1)
    fig, (ax,) = new_figure(width=7.0)
    for color, step in zip(step_colors(len(chosen)), chosen, strict=True):
        k = step_index(run.diag["step"], step)
        band(ax, index, lyap[:, k], log=False, color=color, marker="o", markersize=4, label=f"step {step}")
    ax.axhline(0.0, color="0.4", linewidth=0.9, linestyle=":")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index $i$ (largest first)")
    ax.set_ylabel(r"Lyapunov exponent $\lambda_i$ (per time step)")
    ax.legend(fontsize=8)
    fig.suptitle(run.title("Lyapunov spectrum"), fontsize=11)
    return fig
