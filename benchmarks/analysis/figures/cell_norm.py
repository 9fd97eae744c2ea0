"""cell_norm.png: ||c_t|| along the sequence against the lag T-1-t, per chosen step.

Whether the LSTM's cell state grows without bound over time: the carousel that keeps
gradients alive also lets the cell state accumulate input, and a growing ||c_t||
saturates the output nonlinearity. A log axis when the values span more than two
decades. Needs the cell_norm array of diagnostics.npz (models with a cell state only).
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.analysis.figures.draw import Drawn, lag_bands
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The cell-state norm against the lag at each chosen step, or why it is skipped."""
    drawn = lag_bands(run, steps, "cell_norm")
    if isinstance(drawn, str):
        return drawn
    fig, ax, log, _ = drawn
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(r"$\|c_t\|$ (batch mean)")
    fig.suptitle(run.title("Cell state norm along the sequence"), fontsize=11)
    return fig
