"""What every figure draws with: seed reduction, step choice, axes labels, a blank figure.

Seeds: curves show the mean over seeds with a light band, the 95% Student-t interval of
that mean (:data:`BAND`); on log axes both are taken over log10 of the values, so the mean
is geometric and the band a multiplicative interval. With one seed (or one run loaded with
``seed``) there is no band. Per-step figures show the requested measured
training steps, by default at most six, evenly spread, first and last included; early steps
are dark and late ones light. Figures use matplotlib's object API on their own Agg canvas
(no pyplot, no global backend switch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from benchmarks.analysis.figures.load import Run
from benchmarks.stats import mean_interval

MAX_DEFAULT_STEPS = 6

GRAD_H = r"$\|\partial L/\partial h_t\|$"
GRAD_C = r"$\|\partial L/\partial c_t\|$"
LAG = r"lag $T-1-t$ (time steps between $t$ and the loss)"
BAND = "band: 95% t-interval of the mean over seeds (of log10 on log axes)"

Drawn = Figure | str  # what a figure's draw returns: the figure, or why it was skipped


def reduce_seeds(a: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the first (seed) axis and its 95% Student-t interval, ignoring non-finite values.

    On log axes the mean and interval are those of log10(a), mapped back (a geometric mean
    and a multiplicative interval), and non-positive values are ignored too, so one seed
    with a huge norm does not hide the others. The interval is NaN where fewer than two
    values count, and on log axes where a bound leaves float32's range. No NumPy warnings on
    empty slices."""
    a = np.asarray(a, dtype=float)
    ok = np.isfinite(a) & (a > 0) if log else np.isfinite(a)
    v = np.where(ok, np.log10(np.where(ok, a, 1.0)) if log else a, np.nan)
    mid, lo, hi = mean_interval(v)
    if not log:
        return mid, lo, hi
    with np.errstate(over="ignore", under="ignore"):
        mid, lo, hi = (np.power(10.0, x) for x in (mid, lo, hi))
    # a bound past float32's range, where the stored norms live (a t-interval over two seeds,
    # one diverged, can span 500 decades) is not drawn: it says nothing, and such a range
    # breaks matplotlib's log ticks (OverflowError)
    tiny, big = float(np.finfo(np.float32).smallest_subnormal), float(np.finfo(np.float32).max)
    inside = lambda x: np.where((x >= tiny) & (x <= big), x, np.nan)  # noqa: E731
    return mid, inside(lo), inside(hi)


def band(ax: Axes, x: np.ndarray, a: np.ndarray, *, log: bool, **style: Any) -> bool:
    """Plot the seed mean of ``a`` [seeds, len(x)] with its :data:`BAND`; True if anything showed."""
    mid, lo, hi = reduce_seeds(a, log)
    if not np.isfinite(mid).any():
        return False
    (line,) = ax.plot(x, mid, **style)
    if a.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    return True


def choose_steps(available: np.ndarray, requested: Sequence[int] | None) -> list[int]:
    """The measured steps to draw: the requested ones, or at most six spread evenly."""
    steps = [int(s) for s in available]
    if requested is not None:
        wanted = set(requested)
        return [s for s in steps if s in wanted]
    if len(steps) <= MAX_DEFAULT_STEPS:
        return steps
    idx = np.unique(np.round(np.linspace(0, len(steps) - 1, MAX_DEFAULT_STEPS)).astype(int))
    return [steps[i] for i in idx]


def step_index(measured: np.ndarray, step: int) -> int:
    """Position of training step ``step`` in a stored ``step`` array."""
    return int(np.flatnonzero(measured == step)[0])


def step_colors(n: int) -> list[Any]:
    """Early training steps dark, late ones light, so order reads without the legend."""
    return list(colormaps["viridis"](np.linspace(0.0, 0.85, max(n, 1))))


def lag_axis(length: int) -> np.ndarray:
    """Distance of each time step t from the loss at the last step: T-1-t."""
    return length - 1 - np.arange(length)


def length_axis(ax: Axes, lengths: Sequence[float]) -> None:
    """An x axis of sequence lengths: a tick at each, padded so edge markers show whole; a
    task without a length (NaN) sits at 0, labelled so."""
    ax.set_xlabel("sequence length T")
    if not np.isfinite(np.asarray(lengths, dtype=float)).any():
        ax.set_xticks([0.0], ["(the task has no length)"])
        ax.set_xlim(-1.0, 1.0)
        return
    xs = sorted(set(lengths))
    pad = 0.08 * ((xs[-1] - xs[0]) or xs[0] or 1.0)
    ax.set_xticks(xs)
    ax.set_xlim(xs[0] - pad, xs[-1] + pad)


def length_width(lengths: Sequence[float]) -> float:
    """The span of the lengths on their axis (one length: a fifth of it, as length_axis pads)."""
    xs = np.asarray(lengths, dtype=float)
    return float(np.ptp(xs)) or 0.2 * (abs(float(xs[0])) or 1.0)


def wide_range(*arrays: np.ndarray, decades: float = 2.0) -> bool:
    """Whether the positive finite values span more than ``decades`` (then use a log axis)."""
    if not arrays:
        return False
    v = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size) and float(np.log10(v.max() / v.min())) > decades


def new_figure(
    ncols: int = 1, width: float = 6.4, height: float = 4.6, **kw: Any
) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure on its own Agg canvas, wide enough for the two-line title."""
    fig = Figure(figsize=(max(width * ncols, 7.6), height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False, **kw)[0]
    return fig, list(axes)


def canvas(ncols: int, nrows: int = 1, width: float = 4.2, height: float = 3.4) -> tuple[Figure, Any]:
    """``nrows`` x ``ncols`` panels of ``width`` x ``height`` inches, constrained layout, on
    its own Agg canvas; the axes as a 2-D array (the study figures)."""
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def panel_title(ax: Axes, text: str, width: int = 58) -> None:
    """A panel's title, wrapped at commas so long config keys stay inside the panel."""
    lines, line = [], ""
    for part in text.split(", "):
        if line and len(line) + 2 + len(part) > width:
            lines.append(line + ",")
            line = part
        else:
            line = f"{line}, {part}" if line else part
    ax.set_title("\n".join([*lines, line]), fontsize=9)


def panel_grid(n: int, width: float = 5.6, height: float = 4.4, ncols: int = 3) -> tuple[Figure, list[Axes]]:
    """``n`` panels in rows of at most ``ncols`` (spare cells hidden), on its own Agg canvas."""
    cols = max(1, min(n, ncols))
    rows = -(-max(n, 1) // cols)
    fig = Figure(figsize=(max(width * cols, 7.6), height * rows + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def lag_bands(
    run: Run, steps: Sequence[int] | None, key: str, *, log: bool | None = None
) -> tuple[Figure, Axes, bool, bool] | str:
    """A diagnostics array ``key`` [K, seeds, T] against the lag T-1-t: one :func:`band` per
    chosen measured step (early dark, late light), on log10 values when ``log`` (None: when
    they span more than two decades). Returns the figure, its axes (the y axis still linear
    and unlabelled), whether the bands are on log values and whether any showed; or why
    the run has no such figure."""
    if key not in run.diag:
        return run.missing(f"{key} array")
    chosen = choose_steps(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    a = run.seeds(run.diag[key])  # [seeds, K, T]
    lag = lag_axis(a.shape[-1])
    log = wide_range(a) if log is None else log
    fig, (ax,) = new_figure(width=7.0)
    shown = False
    for color, step in zip(step_colors(len(chosen)), chosen, strict=True):
        k = step_index(run.diag["step"], step)
        shown |= band(ax, lag, a[:, k], log=log, color=color, label=f"step {step}")
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return fig, ax, log, shown


def per_step_source(run: Run) -> tuple[dict[str, np.ndarray], str] | None:
    """Per-step gradient arrays: full diagnostics if stored, else the training chunk means."""
    if "grad_h" in run.diag:
        return run.diag, "diagnostics.npz"
    if "grad_h" in run.grad_time:
        return run.grad_time, "grad_time.npz (chunk means)"
    return None
