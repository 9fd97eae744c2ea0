"""cell_norm.png: ||c_t|| along the sequence against the lag T-1-t, per chosen step.

Whether the LSTM's cell state grows without bound over time: the carousel that keeps
gradients alive also lets the cell state accumulate input, and a growing ||c_t||
saturates the output nonlinearity. A log axis when the values span more than two
decades. Needs the cell_norm array of diagnostics.npz (models with a cell state only).
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.ticker import MaxNLocator

from benchmarks.figures.draw import (
    LAG,
    Drawn,
    band,
    choose_steps,
    lag_axis,
    new_figure,
    step_colors,
    step_index,
    wide_range,
)
from benchmarks.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The cell-state norm against the lag at each chosen step, or why it is skipped."""
    if "cell_norm" not in run.diag:
        return run.missing("cell_norm array")
    chosen = choose_steps(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    c = run.seeds(run.diag["cell_norm"])  # [seeds, K, T]
    lag = lag_axis(c.shape[-1])
    log = wide_range(c)
    fig, (ax,) = new_figure(width=7.0)
    for color, step in zip(step_colors(len(chosen)), chosen, strict=True):
        k = step_index(run.diag["step"], step)
        band(ax, lag, c[:, k], log=log, color=color, label=f"step {step}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(r"$\|c_t\|$ (batch mean)")
    ax.legend(fontsize=8)
    fig.suptitle(run.title("Cell state norm along the sequence"), fontsize=11)
    return fig
