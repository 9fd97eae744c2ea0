"""jacobian_norm.png: ||dh_{T-1}/dh_t|| against the lag T-1-t, per chosen step.

How far back the hidden state still influences the last one: the spectral norm of the
h-to-h block of the product of one-step state Jacobians along the actual trajectory (the
state is (h, c) for the LSTM). It is the chain a gradient from the last step travels
through, seen without the loss, so it separates the dynamics' share of the decay in
grad_time_lines.png. Needs the jacobian_norm array of diagnostics.npz.
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
)
from benchmarks.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The Jacobian norm against lag at each chosen step, or why it is skipped."""
    if "jacobian_norm" not in run.diag:
        return run.missing("jacobian_norm array")
    chosen = choose_steps(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    jac = run.seeds(run.diag["jacobian_norm"])  # [seeds, K, T]
    lag = lag_axis(jac.shape[-1])
    fig, (ax,) = new_figure(width=7.0)
    shown = False
    for color, step in zip(step_colors(len(chosen)), chosen, strict=True):
        k = step_index(run.diag["step"], step)
        shown |= band(ax, lag, jac[:, k], log=True, color=color, label=f"step {step}")
    if shown:
        ax.set_yscale("log")
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(r"$\|\partial h_{T-1}/\partial h_t\|$ (spectral norm)")
    ax.legend(fontsize=8)
    fig.suptitle(run.title("Hidden-state Jacobian norm against lag"), fontsize=11)
    return fig
