"""jacobian_norm.png: ||dh_{T-1}/dh_t|| against the lag T-1-t, per chosen step.

How far back the hidden state still influences the last one: the spectral norm of the
h-to-h block of the product of one-step state Jacobians along the actual trajectory (the
state is (h, c) for the LSTM). It is the chain a gradient from the last step travels
through, seen without the loss, so it separates the dynamics' share of the decay in
grad_time_lines.png. Needs the jacobian_norm array of diagnostics.npz.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.analysis.figures.draw import Drawn, lag_bands
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The Jacobian norm against lag at each chosen step, or why it is skipped."""
    drawn = lag_bands(run, steps, "jacobian_norm", log=True)
    if isinstance(drawn, str):
        return drawn
    fig, ax, _, shown = drawn
    if shown:
        ax.set_yscale("log")
    ax.set_ylabel(r"$\|\partial h_{T-1}/\partial h_t\|$ (spectral norm)")
    fig.suptitle(run.title("Hidden-state Jacobian norm against lag"), fontsize=11)
    return fig
