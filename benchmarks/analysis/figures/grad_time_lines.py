"""grad_time_lines.png: ||dL/dh_t|| (solid) and ||dL/dc_t|| (dashed) against the lag T-1-t.

One curve per chosen training step, so the decay rate of the gradient with distance from
the loss reads as a slope on the log axis, and its change over training as the change of
colour. Drawn from diagnostics.npz when the run stored full diagnostics, else from the
chunk means in grad_time.npz.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from benchmarks.analysis.figures.draw import (
    GRAD_C,
    GRAD_H,
    LAG,
    Drawn,
    band,
    choose_steps,
    lag_axis,
    new_figure,
    per_step_source,
    step_colors,
    step_index,
)
from benchmarks.analysis.figures.load import Run


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The gradient norm against lag at each chosen step, or why it is skipped."""
    found = per_step_source(run)
    if found is None:
        return "no grad_h in diagnostics.npz or grad_time.npz"
    src, origin = found
    chosen = choose_steps(src["step"], steps)
    if not chosen:
        return f"none of --steps measured in {origin.split()[0]}"
    fig, (ax,) = new_figure(width=7.2)
    lag = lag_axis(src["grad_h"].shape[-1])
    shown = False
    for color, step in zip(step_colors(len(chosen)), chosen, strict=True):
        k = step_index(src["step"], step)
        shown |= band(ax, lag, run.seeds(src["grad_h"])[:, k], log=True, color=color, label=f"step {step}")
        if "grad_c" in src:
            shown |= band(ax, lag, run.seeds(src["grad_c"])[:, k], log=True, color=color, linestyle="--")
    if shown:
        ax.set_yscale("log")
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("gradient norm (batch mean)")
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", label=GRAD_H)]
    if "grad_c" in src:
        handles += [Line2D([], [], color="0.3", linestyle="--", label=GRAD_C)]
    ax.legend(handles=handles, fontsize=8, title=f"from {origin}", title_fontsize=8)
    fig.suptitle(run.title("Gradient norm against lag"), fontsize=11)
    return fig
