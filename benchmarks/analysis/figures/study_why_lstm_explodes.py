"""why_lstm_explodes.png: the figure of the study :mod:`benchmarks.studies.why_lstm_explodes`.

(a) exploding events per 1,000 steps against the hidden size, one line per model (solid
unclipped, dashed clipped); (b) the same against the recurrent matrices' spectral radius
at initialisation (orthogonal, scaled); (c) ||dL/dc_t|| against the lag for the largest
unclipped LSTM, with its CEC part and its dominant recurrent-matrix part, at initialisation
(dashed) and after training (solid), and the LSTM without forget gate's CEC part; (d) the
share of ||dL/dc_t|| each path family carries at lags 10, 50 and 90 after training;
(e) the spectral radius of every recurrent matrix over training for that LSTM, unclipped
and clipped; (f) gradient-norm quantiles against the hidden size. Values that underflowed
float32 are stored as 0 and are absent from the log axes. Reads only the study's result,
and the study's own choice of the largest run (``largest``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import LAG

COLORS = {"lstm": "C0", "lstm_nofg": "C1", "rnn": "C3", "gru": "C2"}
# the study's largest run of a model with a clipping setting, None if the sweep has none
Largest = Callable[..., dict[str, Any] | None]


def _rate_lines(ax: Axes, series: dict[str, list[dict[str, Any]]], x: str) -> None:
    for key, points in series.items():
        model, _, clip = key.partition("/")
        if not points:
            continue
        style = "-" if clip in ("", "none") else ("--" if clip.endswith("@5.0") else ":")
        label = model if clip in ("", "none") else f"{model}, {clip.replace('global_norm@', 'clip ')}"
        xs = [p[x] for p in points]
        ax.plot(
            xs,
            [p["events_per_1000"] for p in points],
            style,
            marker="o",
            color=COLORS.get(model, "k"),
            label=label,
        )
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylabel("exploding events / 1,000 trained steps")
    ax.legend(fontsize=7)


def _positive(y: list[float]) -> np.ndarray:
    a = np.asarray(y, float)
    return np.where((a > 0) & np.isfinite(a), a, np.nan)  # underflow (0) and inf: not on a log axis


def _profiles(ax: Axes, row: dict[str, Any], when: str, style: str, label: str) -> None:
    ax.plot(
        _positive(row[f"grad_c_{when}"]),
        style,
        color="k",
        label=rf"total $\|\partial L/\partial c_t\|$, {label}",
    )
    ax.plot(_positive(row[f"cec_profile_{when}"]), style, color="C0", label=f"CEC part, {label}")
    ax.plot(
        _positive(row[f"dominant_profile_{when}"]),
        style,
        color="C3",
        label=f"{row[f'dominant_{when}']} part, {label}",
    )


def _paths(ax: Axes, result: dict[str, Any], largest: Largest) -> None:
    top = largest(result, "lstm")
    nofg = largest(result, "lstm_nofg")
    if top and top.get("grad_c_init"):
        _profiles(ax, top, "init", "-", "init")
        if np.isfinite(np.asarray(top["grad_c_final"], float)).any():
            _profiles(ax, top, "final", "--", "trained")
        ax.set_title(f"LSTM H={top['hidden']}; underflow (0) not drawn", fontsize=9)
    if nofg and nofg.get("cec_profile_init"):
        ax.plot(
            _positive(nofg["cec_profile_init"]),
            color="C1",
            label=f"CEC part, no forget gate (H={nofg['hidden']})",
        )
    ax.set_yscale("log")
    ax.set_xlabel(LAG)
    ax.legend(fontsize=6)


def _shares(ax: Axes, result: dict[str, Any], largest: Largest) -> None:
    top = largest(result, "lstm")
    if not top or not top.get("shares_init"):
        ax.text(0.5, 0.5, "no path split", ha="center", transform=ax.transAxes)
        return
    families = list(top["shares_init"])
    lags = result["lags"]
    width = 0.8 / len(lags)
    for j, lag in enumerate(lags):
        vals = [top["shares_init"][f].get(str(lag)) for f in families]
        vals = [np.nan if v is None else v for v in vals]
        ax.bar(np.arange(len(families)) + j * width, vals, width, label=f"lag {lag}")
    ax.set_xticks(np.arange(len(families)) + 0.4 - width / 2, families, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(r"$\|$part$\|$ / $\|\partial L/\partial c_t\|$ (log)")
    ax.set_title(
        f"(d) share of the cell-state gradient per path, LSTM H={top['hidden']} at init", fontsize=10
    )
    ax.legend(fontsize=7)


def _radius(ax: Axes, result: dict[str, Any], largest: Largest) -> None:
    for clip, style in (("none", "-"), ("global_norm@5.0", "--")):
        row = largest(result, "lstm", clip)
        if not row or "spectral_radius" not in row:
            continue
        for j, (name, values) in enumerate(sorted(row["spectral_radius"].items())):
            label = f"{name}, {'unclipped' if clip == 'none' else 'clip 5'} (H={row['hidden']})"
            ax.plot(row["steps_measured"], _positive(values), style, marker="o", color=f"C{j}", label=label)
    ax.set_xlabel("training step")
    ax.set_yscale("log")
    ax.set_ylabel("spectral radius (seed mean)")
    ax.legend(fontsize=6)


def _quantiles(ax: Axes, result: dict[str, Any]) -> None:
    rows = result["by_size"].get("lstm/none", [])  # the size sweep's unclipped LSTMs, by size
    for q, style in (("p50", "-"), ("p99", "--"), ("max", ":")):
        ax.plot(
            [r["hidden"] for r in rows],
            _positive([r["global_norm"][q] for r in rows]),
            style,
            marker="o",
            color="C0",
            label=f"LSTM {q}",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("hidden size H")
    ax.set_ylabel("global gradient norm over training")
    ax.legend(fontsize=7)


def figure(result: dict[str, Any], out: Path, *, largest: Largest) -> list[Path]:
    """The six panels from the study's analysed result, saved in ``out``; the PNG's path."""
    fig = Figure(figsize=(16.0, 9.0), layout="constrained")
    FigureCanvasAgg(fig)
    (a, b, c), (d, e, f) = fig.subplots(2, 3)
    _rate_lines(a, result["by_size"], "hidden")
    a.set_xscale("log", base=2)
    a.set_xlabel("hidden size H (recurrent weights U[-0.08, 0.08])")
    a.set_title("(a) explosions against size", fontsize=10)
    _rate_lines(b, result["by_radius"], "rho")
    sizes = sorted({r["hidden"] for r in result["runs"] if r["init"] == "orthogonal"})
    b.set_xlabel(r"spectral radius $\rho(R)$ at init (orthogonal, H=" + ",".join(map(str, sizes)) + ")")
    b.set_title("(b) explosions against the recurrent matrices' radius", fontsize=10)
    _paths(c, result, largest)
    c.set_title("(c) " + c.get_title(), fontsize=10)
    _shares(d, result, largest)
    _radius(e, result, largest)
    e.set_title("(e) spectral radii over training", fontsize=10)
    _quantiles(f, result)
    f.set_title("(f) gradient-norm quantiles against size", fontsize=10)
    fig.suptitle("Why do LSTMs still explode? (carousel study why_lstm_explodes)", fontsize=12)
    return [save(fig, out, "why_lstm_explodes")[0]]
