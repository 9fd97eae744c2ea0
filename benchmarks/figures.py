"""Offline figures for one run directory (command line: ``scripts/figures.py``).

Reads only what the trainer stored in RUN_DIR (``summary.json``, ``diagnostics.npz``,
``grad_time.npz``, ``grad_norms.npz``) with json and NumPy, so a run can be inspected long
after training, on a machine without W&B, JAX or a network. Figures are drawn with
matplotlib's object API on Agg canvases (no pyplot, no global backend switch), one PNG each,
into RUN_DIR/figures unless ``--out`` says otherwise. A figure whose arrays the run did not
store (basic diagnostics, no cell state, zero training steps) is skipped with a note.

Seeds: curves show the mean over seeds (geometric on log axes) with a light min..max band,
or one seed with ``--seed``. ``--steps`` picks the measured training steps for the
per-step figures; by default at most six, evenly spread, first and last included.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

MAX_DEFAULT_STEPS = 6
DPI = 110
NPZ_FILES = ("diagnostics.npz", "grad_time.npz", "grad_norms.npz")

GRAD_H = r"$\|\partial L/\partial h_t\|$"
GRAD_C = r"$\|\partial L/\partial c_t\|$"
LAG = r"lag $T-1-t$ (time steps between $t$ and the loss)"


class FigureError(Exception):
    """A run directory or option the renderer cannot use; the command line prints it as one line."""


@dataclass
class Run:
    """Everything a figure needs from one run directory, already loaded."""

    path: Path
    summary: dict[str, Any]
    diag: dict[str, np.ndarray]  # empty when diagnostics.npz is absent
    grad_time: dict[str, np.ndarray]
    grad_norms: dict[str, np.ndarray]
    seed_index: int | None  # None: aggregate over every seed

    def missing(self, what: str) -> str:
        """Why a figure is skipped: no full diagnostics at all, or this model lacks ``what``."""
        if not self.diag:
            return f"no diagnostics.npz (the run did not use diagnostics=full), so no {what}"
        return f"diagnostics.npz has no {what} (model {self.summary.get('model', '?')})"

    def seeds(self, a: np.ndarray, axis: int = 1) -> np.ndarray:
        """``a`` with its seed axis moved first, reduced to the chosen seed if there is one."""
        a = np.moveaxis(np.asarray(a, dtype=float), axis, 0)
        return a if self.seed_index is None else a[self.seed_index : self.seed_index + 1]

    @property
    def length(self) -> int | None:
        """Time steps in the stored per-step arrays (may exceed the task's nominal T)."""
        for src in (self.diag, self.grad_time):
            if "grad_h" in src:
                return int(src["grad_h"].shape[-1])
        return None

    def title(self, what: str) -> str:
        """Figure title: what is shown, then model, task, variant, T and which seeds."""
        s = self.summary
        nominal = s.get("task_length", "?")
        extra = f" ({self.length} time steps)" if self.length not in (None, nominal) else ""
        head = f"{s.get('model', '?')} · {s.get('task', '?')}/{s.get('task_variant', '?')} · T={nominal}"
        if self.seed_index is not None:
            who = f"seed {self.seed_values[self.seed_index]}"
        else:
            who = f"{len(self.seed_values)} seeds: mean, band min..max"
        return f"{what}\n{head}{extra} · {who}"

    @property
    def seed_values(self) -> list[int]:
        """Seed numbers in array order: from summary.json, else 0..S-1 from the arrays."""
        listed = [int(x["seed"]) for x in self.summary.get("seeds", []) if "seed" in x]
        if listed:
            return listed
        for src in (self.diag, self.grad_norms, self.grad_time):
            for k, v in src.items():
                if k != "step" and v.ndim >= 2:
                    return list(range(v.shape[1]))
        return []


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of ``path`` in memory ({} if the run did not write it)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise FigureError(f"cannot read {path}: {e}") from e


def load_run(run_dir: Path, seed: int | None = None) -> Run:
    """Load a run directory; FigureError if it is not one or ``seed`` is not among its seeds."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FigureError(f"no such directory: {run_dir}")
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise FigureError(f"not a run directory (no summary.json): {run_dir}")
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as e:
        raise FigureError(f"cannot read {summary_path}: {e}") from e
    diag, grad_time, grad_norms = (_load_npz(run_dir / name) for name in NPZ_FILES)
    run = Run(run_dir, summary, diag, grad_time, grad_norms, None)
    if seed is not None:
        values = run.seed_values
        if seed not in values:
            raise FigureError(f"seed {seed} is not in this run (seeds: {', '.join(map(str, values))})")
        run.seed_index = values.index(seed)
    return run


# ---------------------------------------------------------------------------------------
# Helpers: seed reduction, step choice, drawing.


def _reduce(a: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over the first (seed) axis, ignoring non-finite values.

    On log axes the mean is geometric and non-positive values are ignored too, so one
    seed with a huge norm does not hide the others. No NumPy warnings on empty slices."""
    a = np.asarray(a, dtype=float)
    ok = np.isfinite(a) & (a > 0) if log else np.isfinite(a)
    v = np.log10(np.where(ok, a, 1.0)) if log else np.where(ok, a, 0.0)
    n = ok.sum(axis=0)
    has = n > 0
    mid = np.where(has, np.where(ok, v, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)
    lo = np.where(has, np.where(ok, v, np.inf).min(axis=0), np.nan)
    hi = np.where(has, np.where(ok, v, -np.inf).max(axis=0), np.nan)
    if log:
        mid, lo, hi = (np.power(10.0, x) for x in (mid, lo, hi))
    return mid, lo, hi


def _band(ax: Axes, x: np.ndarray, a: np.ndarray, *, log: bool, **style: Any) -> bool:
    """Plot the seed mean of ``a`` [seeds, len(x)] with a min..max band; True if anything showed."""
    mid, lo, hi = _reduce(a, log)
    if not np.isfinite(mid).any():
        return False
    (line,) = ax.plot(x, mid, **style)
    if a.shape[0] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
    return True


def _choose(available: np.ndarray, requested: Sequence[int] | None) -> list[int]:
    """The measured steps to draw: the requested ones, or at most six spread evenly."""
    steps = [int(s) for s in available]
    if requested is not None:
        wanted = set(requested)
        return [s for s in steps if s in wanted]
    if len(steps) <= MAX_DEFAULT_STEPS:
        return steps
    idx = np.unique(np.round(np.linspace(0, len(steps) - 1, MAX_DEFAULT_STEPS)).astype(int))
    return [steps[i] for i in idx]


def _step_colors(n: int) -> list[Any]:
    """Early training steps dark, late ones light, so order reads without the legend."""
    return list(colormaps["viridis"](np.linspace(0.0, 0.85, max(n, 1))))


def _lag(length: int) -> np.ndarray:
    """Distance of each time step t from the loss at the last step: T-1-t."""
    return length - 1 - np.arange(length)


def _wide_range(*arrays: np.ndarray, decades: float = 2.0) -> bool:
    """Whether the positive finite values span more than ``decades`` (then use a log axis)."""
    v = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays])
    v = v[np.isfinite(v) & (v > 0)]
    return bool(v.size) and float(np.log10(v.max() / v.min())) > decades


def _figure(ncols: int = 1, width: float = 6.4, height: float = 4.6, **kw: Any) -> tuple[Figure, list[Axes]]:
    """A constrained-layout figure on its own Agg canvas, wide enough for the two-line title."""
    fig = Figure(figsize=(max(width * ncols, 7.6), height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False, **kw)[0]
    return fig, list(axes)


def _per_step_source(run: Run) -> tuple[dict[str, np.ndarray], str] | None:
    """Per-step gradient arrays: full diagnostics if stored, else the training chunk means."""
    if "grad_h" in run.diag:
        return run.diag, "diagnostics.npz"
    if "grad_h" in run.grad_time:
        return run.grad_time, "grad_time.npz (chunk means)"
    return None


# ---------------------------------------------------------------------------------------
# The figures. Each returns a Figure, or a string saying why it was skipped.

Drawn = Figure | str


def fig_grad_time_heatmap(run: Run, steps: Sequence[int] | None) -> Drawn:
    """log10 ||dL/dh_t|| over (training step, t): where in the sequence gradient survives, and when."""
    if "grad_h" in run.grad_time:
        src, origin = run.grad_time, "grad_time.npz: mean over each training chunk"
        ends = src["step"].astype(float)
        y_edges = np.concatenate([[0.0], ends])  # chunk i covers steps (end[i-1], end[i]]
        if not np.all(np.diff(y_edges) > 0):
            y_edges = _mid_edges(ends)
    elif "grad_h" in run.diag:
        src, origin = run.diag, "diagnostics.npz: measured at these steps"
        y_edges = _mid_edges(src["step"].astype(float))
    else:
        return "no grad_h in grad_time.npz or diagnostics.npz"
    panels = [("grad_h", GRAD_H)] + ([("grad_c", GRAD_C)] if "grad_c" in src else [])
    fig, axes = _figure(len(panels), width=6.2)
    for ax, (key, label) in zip(axes, panels, strict=True):
        mean_log, _, _ = _reduce(run.seeds(src[key]), log=True)
        z = np.ma.masked_invalid(np.log10(mean_log))
        t_edges = np.arange(z.shape[1] + 1) - 0.5
        mesh = ax.pcolormesh(t_edges, y_edges, z, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label=rf"$\log_{{10}}$ {label}")
        ax.set_xlabel(r"time step $t$ (loss after $t=T-1$)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("training step")
        ax.set_title(f"{label}  [{origin}]", fontsize=9)
        if len(y_edges) <= 9:
            ax.set_yticks(y_edges if src is run.grad_time else src["step"])
    fig.suptitle(run.title("Gradient norm over time and training"), fontsize=11)
    return fig


def _mid_edges(points: np.ndarray) -> np.ndarray:
    """Cell edges halfway between measured points (one point: a cell of width 1)."""
    if points.size == 1:
        return np.array([points[0] - 0.5, points[0] + 0.5])
    mid = (points[1:] + points[:-1]) / 2
    return np.concatenate([[2 * points[0] - mid[0]], mid, [2 * points[-1] - mid[-1]]])


def fig_grad_time_lines(run: Run, steps: Sequence[int] | None) -> Drawn:
    """||dL/dh_t|| (solid) and ||dL/dc_t|| (dashed) against lag: the decay rate at each step."""
    found = _per_step_source(run)
    if found is None:
        return "no grad_h in diagnostics.npz or grad_time.npz"
    src, origin = found
    chosen = _choose(src["step"], steps)
    if not chosen:
        return f"none of --steps measured in {origin.split()[0]}"
    fig, (ax,) = _figure(width=7.2)
    colors = _step_colors(len(chosen))
    lag = _lag(src["grad_h"].shape[-1])
    shown = False
    for color, step in zip(colors, chosen, strict=True):
        k = int(np.flatnonzero(src["step"] == step)[0])
        shown |= _band(ax, lag, run.seeds(src["grad_h"])[:, k], log=True, color=color, label=f"step {step}")
        if "grad_c" in src:
            shown |= _band(ax, lag, run.seeds(src["grad_c"])[:, k], log=True, color=color, linestyle="--")
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


def fig_spectral_radius(run: Run, steps: Sequence[int] | None) -> Drawn:
    """Spectral radius and largest singular value of each recurrent matrix over training."""
    names = [k.split(".", 1)[1] for k in run.diag if k.startswith("spectral_radius.")]
    if not names:
        return run.missing("spectral_radius.* arrays")
    fig, (ax,) = _figure(width=7.2)
    x = run.diag["step"]
    arrays = []
    for i, name in enumerate(names):
        color = f"C{i % 10}"
        rho = run.seeds(run.diag[f"spectral_radius.{name}"])
        _band(ax, x, rho, log=False, color=color, marker="o", label=name)
        arrays.append(rho)
        if f"sigma_max.{name}" in run.diag:
            sigma = run.seeds(run.diag[f"sigma_max.{name}"])
            _band(ax, x, sigma, log=False, color=color, marker="s", markersize=4, linestyle="--")
            arrays.append(sigma)
    ax.axhline(1.0, color="0.4", linewidth=0.9, linestyle=":")
    if _wide_range(*arrays):
        ax.set_yscale("log")
    else:  # at orthogonal init every value is 1 +- 1e-7: keep the axis from zooming into rounding
        v = np.concatenate([np.ravel(a) for a in arrays] + [[1.0]])
        lo, hi = float(np.nanmin(v[np.isfinite(v)])), float(np.nanmax(v[np.isfinite(v)]))
        pad = max(0.08 * (hi - lo), 0.05)
        ax.set_ylim(lo - pad, hi + pad)
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


def fig_grad_norm_distribution(run: Run, steps: Sequence[int] | None) -> Drawn:
    """Per-step gradient norms over training: their spread per parameter, and the global norm."""
    g = run.grad_norms
    if "global" not in g:
        return "no grad_norms.npz (the run trained no steps)"
    names = ["global"] + [k for k in g if k not in ("step", "loss", "explode", "global")]
    data, labels = [], []
    for name in names:
        v = run.seeds(g[name]).ravel()
        v = v[np.isfinite(v) & (v > 0)]
        if v.size:
            data.append(np.log10(v))
            labels.append(name)
    fig, (left, right) = _figure(2, width=6.4, height=4.8)
    if data:
        left.boxplot(
            data,
            tick_labels=labels,
            whis=(1, 99),
            flierprops={"markersize": 2, "alpha": 0.3},
            medianprops={"color": "C1"},
        )
        left.tick_params(axis="x", labelrotation=60, labelsize=8)
        left.axvline(1.5, color="0.6", linewidth=0.8)  # the global norm, then each parameter
    left.set_ylabel(r"$\log_{10}$ gradient norm (per training step)")
    over = "steps and seeds" if run.seed_index is None else "steps"
    left.set_title(f"distribution over {over} (box: quartiles, whiskers: 1..99%)", fontsize=9)

    step = g["step"]
    glob = run.seeds(g["global"], axis=1)
    if _band(right, step, glob, log=True, color="C0", linewidth=0.8, label="global norm"):
        right.set_yscale("log")
    if "explode" in g:
        events = run.seeds(g["explode"], axis=1).astype(bool)
        xs = np.concatenate([step[e] for e in events])
        ys = np.concatenate([gl[e] for gl, e in zip(glob, events, strict=True)])
        finite = np.isfinite(ys) & (ys > 0)
        right.scatter(
            xs[finite],
            ys[finite],
            marker="x",
            color="C3",
            s=30,
            zorder=3,
            label=f"exploding events ({xs.size})",
        )
        if (~finite).any():  # NaN/inf norms cannot sit on a log axis: mark them along the top
            right.scatter(
                xs[~finite],
                np.full((~finite).sum(), 0.97),
                transform=right.get_xaxis_transform(),
                marker="v",
                color="C3",
                s=30,
                label=f"non-finite norm ({(~finite).sum()})",
            )
    right.set_xlabel("training step")
    right.set_ylabel("global gradient norm (before clipping)")
    right.legend(fontsize=8)
    fig.suptitle(run.title("Per-step gradient norms"), fontsize=11)
    return fig


def fig_lstm_paths(run: Run, steps: Sequence[int] | None) -> Drawn:
    """dL/dc_t split into the CEC path and the hop through each recurrent matrix, plus ablations."""
    if "path.cec" not in run.diag:
        return run.missing("path.* arrays")
    chosen = _choose(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    d = run.diag
    parts = ["path.cec"] + sorted(k for k in d if k.startswith("path.R_")) + ["path.total"]
    lag = _lag(d["path.cec"].shape[-1])
    fig, axes = _figure(3, width=5.0, height=4.6, sharey=True)
    shown = False
    for ax, step in zip(axes[:2], (chosen[0], chosen[-1]), strict=True):
        k = int(np.flatnonzero(d["step"] == step)[0])
        for i, key in enumerate(parts):
            style: dict[str, Any] = {"color": f"C{i}", "label": key.removeprefix("path.")}
            if key == "path.total":
                style.update(color="black", linestyle="--", label="total")
            shown |= _band(ax, lag, run.seeds(d[key])[:, k], log=True, **style)
        title = f"paths of {GRAD_C}, step {step}"
        if "path.residual" in d:
            res = run.seeds(d["path.residual"])[:, k]
            if np.isfinite(res).any():
                title += f"\n(split residual max {np.nanmax(res):.1e})"
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(LAG)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    axes[0].set_ylabel(GRAD_C)

    ax = axes[2]
    ablations = sorted((k for k in d if k.startswith("ablation.")), key=lambda k: (k != "ablation.none", k))
    step = chosen[-1]
    k = int(np.flatnonzero(d["step"] == step)[0])
    if ablations:
        for i, key in enumerate(ablations):
            gate = key.removeprefix("ablation.")
            label = "no hop (CEC only)" if gate == "none" else f"only {gate} hop"
            shown |= _band(ax, lag, run.seeds(d[key])[:, k], log=True, color=f"C{i}", label=label)
        _band(
            ax, lag, run.seeds(d["path.total"])[:, k], log=True, color="black", linestyle="--", label="full"
        )
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no ablation.* arrays", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{GRAD_C} with one recurrent hop differentiable, step {step}", fontsize=9)
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if shown:
        axes[0].set_yscale("log")
    fig.suptitle(run.title("LSTM cell gradient: constant error carousel vs recurrent hops"), fontsize=11)
    return fig


def fig_lyapunov(run: Run, steps: Sequence[int] | None) -> Drawn:
    """The leading Lyapunov exponents of the hidden dynamics at each measured step."""
    if "lyapunov" not in run.diag:
        return run.missing("lyapunov array")
    chosen = _choose(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    lyap = run.seeds(run.diag["lyapunov"])  # [seeds, K, k]
    index = np.arange(1, lyap.shape[-1] + 1)
    fig, (ax,) = _figure(width=7.0)
    for color, step in zip(_step_colors(len(chosen)), chosen, strict=True):
        k = int(np.flatnonzero(run.diag["step"] == step)[0])
        _band(ax, index, lyap[:, k], log=False, color=color, marker="o", markersize=4, label=f"step {step}")
    ax.axhline(0.0, color="0.4", linewidth=0.9, linestyle=":")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index $i$ (largest first)")
    ax.set_ylabel(r"Lyapunov exponent $\lambda_i$ (per time step)")
    ax.legend(fontsize=8)
    fig.suptitle(run.title("Lyapunov spectrum"), fontsize=11)
    return fig


def fig_cell_norm(run: Run, steps: Sequence[int] | None) -> Drawn:
    """||c_t|| along the sequence: whether the cell state grows without bound."""
    if "cell_norm" not in run.diag:
        return run.missing("cell_norm array")
    chosen = _choose(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    c = run.seeds(run.diag["cell_norm"])  # [seeds, K, T]
    t = np.arange(c.shape[-1])
    log = _wide_range(c)
    fig, (ax,) = _figure(width=7.0)
    for color, step in zip(_step_colors(len(chosen)), chosen, strict=True):
        k = int(np.flatnonzero(run.diag["step"] == step)[0])
        _band(ax, t, c[:, k], log=log, color=color, label=f"step {step}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("time step $t$")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(r"$\|c_t\|$ (batch mean)")
    ax.legend(fontsize=8)
    fig.suptitle(run.title("Cell state norm along the sequence"), fontsize=11)
    return fig


def fig_jacobian_norm(run: Run, steps: Sequence[int] | None) -> Drawn:
    """||dh_{T-1}/dh_t|| against lag: how far back the hidden state still influences the end."""
    if "jacobian_norm" not in run.diag:
        return run.missing("jacobian_norm array")
    chosen = _choose(run.diag["step"], steps)
    if not chosen:
        return "none of --steps measured in diagnostics.npz"
    jac = run.seeds(run.diag["jacobian_norm"])  # [seeds, K, T]
    lag = _lag(jac.shape[-1])
    fig, (ax,) = _figure(width=7.0)
    shown = False
    for color, step in zip(_step_colors(len(chosen)), chosen, strict=True):
        k = int(np.flatnonzero(run.diag["step"] == step)[0])
        shown |= _band(ax, lag, jac[:, k], log=True, color=color, label=f"step {step}")
    if shown:
        ax.set_yscale("log")
    ax.set_xlabel(LAG)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(r"$\|\partial h_{T-1}/\partial h_t\|$ (spectral norm)")
    ax.legend(fontsize=8)
    fig.suptitle(run.title("Hidden-state Jacobian norm against lag"), fontsize=11)
    return fig


FIGURES: dict[str, Callable[[Run, Sequence[int] | None], Drawn]] = {
    "grad_time_heatmap.png": fig_grad_time_heatmap,
    "grad_time_lines.png": fig_grad_time_lines,
    "spectral_radius.png": fig_spectral_radius,
    "grad_norm_distribution.png": fig_grad_norm_distribution,
    "lstm_paths.png": fig_lstm_paths,
    "lyapunov.png": fig_lyapunov,
    "cell_norm.png": fig_cell_norm,
    "jacobian_norm.png": fig_jacobian_norm,
}


def render(
    run_dir: Path,
    out: Path | None = None,
    steps: Sequence[int] | None = None,
    seed: int | None = None,
    *,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every figure the run's files allow into ``out`` (default RUN_DIR/figures).

    Returns the PNGs written. ``echo`` receives one line per file written and per figure
    skipped. Raises FigureError for a directory that is not a run, a seed the run does not
    have, or a step in ``steps`` that no stored file measured."""
    run = load_run(run_dir, seed)
    if steps is not None:
        measured = {int(s) for src in (run.diag, run.grad_time) if "step" in src for s in src["step"]}
        missing = sorted(set(steps) - measured)
        if missing:
            have = ", ".join(map(str, sorted(measured))) or "none"
            raise FigureError(f"steps not measured in this run: {missing} (measured: {have})")
    out = Path(out) if out is not None else run.path / "figures"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FigureError(f"cannot create {out}: {e}") from e
    say = echo or (lambda _: None)
    written = []
    for name, draw in FIGURES.items():
        fig = draw(run, steps)
        if isinstance(fig, str):
            say(f"skipped {name}: {fig}")
            continue
        path = out / name
        try:
            fig.savefig(path, dpi=DPI)
        except OSError as e:
            raise FigureError(f"cannot write {path}: {e}") from e
        written.append(path)
        say(str(path))
    return written
