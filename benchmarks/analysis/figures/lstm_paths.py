"""lstm_paths.png: dL/dc_t split into the constant error carousel and the recurrent hops.

Each path from the loss to the cell state c_t is classed by its recurrent hop nearest to
t: none (``cec``, along the carousel, scaled by the forget gates), the hop through one
recurrent matrix (``R_z``, ``R_i``, ...), through the input and forget peepholes
(``peephole``) or through FGR's gate-to-gate matrices (``Q``), each drawn when the model
has it; the parts add up to dL/dc_t (``total``, dashed), and the title gives the split's
residual. Two panels show the split at the first and the last chosen step, the third the
ablations at the last step in which only one gate's recurrent hop stays differentiable
(coloured like that gate's part; no hop like ``cec``), so it reads which path carries the
gradient over long lags. Needs the path.* (and ablation.*) arrays of diagnostics.npz (LSTM
models only); benchmarks.core.diagnostics documents the split.

Underflow: a part that fell below float32's range (< 1.2e-38) is stored as 0 and flagged,
and the figure does not draw it as a value: a seed that underflowed at a step is left out
of that step's mean and band, and a lag at which every seed underflowed is marked by a
downward triangle in the part's colour along the bottom edge of the panel. Where only some
seeds underflowed, the mean is over the others and so overstates the part; values between
1.2e-38 and 1e-36, at float32's floor, are drawn dotted and faint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from benchmarks.analysis.figures.draw import (
    GRAD_C,
    LAG,
    Drawn,
    choose_steps,
    lag_axis,
    new_figure,
    reduce_seeds,
    step_index,
)
from benchmarks.analysis.figures.load import Run

FLOOR = 1e-36  # below this a norm is at float32's floor: drawn dotted and faint
UNDERFLOW_LABEL = "below float32 range (< 1.2e-38): underflow"
FLOOR_LABEL = "at float32's floor (1.2e-38 to 1e-36)"
ORDER = {"path.cec": 0, "path.peephole": 2, "path.Q": 3}  # path.R_* rank 1, anything else 4


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


def families(diag: dict[str, np.ndarray]) -> list[str]:
    """The path.* parts present, in drawing order: cec, R_*, peephole, Q (total and residual not)."""
    keys = [k for k in diag if k.startswith("path.") and k not in ("path.total", "path.residual")]
    return sorted(keys, key=lambda k: (1 if k.startswith("path.R_") else ORDER.get(k, 4), k))


def without_underflow(run: Run, key: str, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``key`` at measurement k as [seeds, T], NaN where the value underflowed (0 and flagged
    in ``<prefix>_underflow.<name>``), and a [T] mask of the steps where every seed did.
    Runs stored before the flags existed have no flag arrays: nothing is flagged."""
    a = run.seeds(run.diag[key])[:, k]
    prefix, _, name = key.partition(".")
    flag_key = f"{prefix}_underflow.{name}"
    if flag_key not in run.diag:
        return a, np.zeros(a.shape[-1], dtype=bool)
    lost = (run.seeds(run.diag[flag_key])[:, k] > 0) & (a == 0)
    return np.where(lost, np.nan, a), lost.all(axis=0)


def _curve(ax: Axes, lag: np.ndarray, a: np.ndarray, lost: np.ndarray, row: int, **style: Any) -> bool:
    """Seed mean of ``a`` [seeds, T] on a log axis with its 95% t-interval band; points at float32's
    floor dotted and faint; a triangle on the bottom edge (in row ``row``, so marks of several
    parts stay apart) at each lost step. True if any value showed."""
    mid, lo, hi = reduce_seeds(a, log=True)
    shown = bool(np.isfinite(mid).any())
    if not shown and not lost.any():
        return False
    floor = np.isfinite(mid) & (mid < FLOOR)
    (line,) = ax.plot(lag, np.where(floor, np.nan, mid), **style)
    color = line.get_color()
    if floor.any():
        near = floor | np.append(False, floor[:-1]) | np.append(floor[1:], False)  # joins the solid line
        ax.plot(lag, np.where(near, mid, np.nan), color=color, linestyle=":", alpha=0.5, label="_floor")
    if a.shape[0] > 1 and shown:
        ax.fill_between(lag, lo, hi, color=color, alpha=0.15, linewidth=0)
    if lost.any():
        y = np.full(int(lost.sum()), 0.012 + 0.03 * row)
        edge = ax.get_xaxis_transform()  # x in data, y in axes coordinates: 0 is the bottom edge
        ax.plot(lag[lost], y, "v", color=color, clip_on=False, transform=edge, label="_underflow")
    return shown


def _legend(ax: Axes) -> None:
    """The axis legend, plus one entry each for underflow marks and floor values if drawn."""
    handles, labels = ax.get_legend_handles_labels()
    drawn = {line.get_label() for line in ax.lines}
    if "_underflow" in drawn:
        handles.append(Line2D([], [], linestyle="none", marker="v", color="dimgray"))
        labels.append(UNDERFLOW_LABEL)
    if "_floor" in drawn:
        handles.append(Line2D([], [], linestyle=":", color="dimgray", alpha=0.5))
        labels.append(FLOOR_LABEL)
    ax.legend(handles, labels, fontsize=8)


def _paths(ax: Axes, run: Run, lag: np.ndarray, step: int) -> bool:
    """Every part of the split and their total at ``step``; True if anything showed."""
    d = run.diag
    k = step_index(d["step"], step)
    shown, row = False, 0
    for i, key in enumerate([*families(d), "path.total"]):
        style: dict[str, Any] = {"color": f"C{i}", "label": key.removeprefix("path.")}
        if key == "path.total":
            style.update(color="black", linestyle="--", label="total")
        a, lost = without_underflow(run, key, k)
        shown |= _curve(ax, lag, a, lost, row, **style)
        row += bool(lost.any())
    title = f"paths of {GRAD_C}, step {step}"
    if "path.residual" in d:
        res = run.seeds(d["path.residual"])[:, k]
        if np.isfinite(res).any():
            title += f"\n(split residual max {np.nanmax(res):.1e})"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _legend(ax)
    return shown


def _ablations(ax: Axes, run: Run, lag: np.ndarray, step: int) -> bool:
    """dL/dc_t with one hop differentiable (or none), and the full one; True if anything showed."""
    d = run.diag
    ablations = sorted((k for k in d if k.startswith("ablation.")), key=lambda k: (k != "ablation.none", k))
    colors = {key.removeprefix("path."): f"C{i}" for i, key in enumerate(families(d))}
    k = step_index(d["step"], step)
    shown, row = False, 0
    if ablations:
        for i, key in enumerate([*ablations, "path.total"]):
            gate = key.removeprefix("ablation.")
            style: dict[str, Any] = {"color": colors.get("cec" if gate == "none" else gate, f"C{i}")}
            style["label"] = "no hop (CEC only)" if gate == "none" else f"only {gate} hop"
            if key == "path.total":
                style.update(color="black", linestyle="--", label="full")
            a, lost = without_underflow(run, key, k)
            shown |= _curve(ax, lag, a, lost, row, **style)
            row += bool(lost.any())
        _legend(ax)
    else:
        ax.text(0.5, 0.5, "no ablation.* arrays", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{GRAD_C} with one recurrent hop differentiable, step {step}", fontsize=9)
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return shown
