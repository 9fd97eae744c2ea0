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
from matplotlib.ticker import NullFormatter

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
    sizes = sorted(
        {
            r["hidden"]
            for r in result["runs"]
            if r["init"] == "orthogonal" and r.get("sweep", "radius") == "radius"
        }
    )
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


# ---------------------------------------------------------------------------- the mechanisms
INIT_STYLE = {"uniform": "-", "fan_in": "--", "orthogonal": ":"}
CELL_COLORS = {"lstm": "C0", "lstm_cifg": "C4", "gru": "C2", "rnn": "C3"}


def _growth_share(ax: Axes, measured: dict[str, Any]) -> None:
    """(a) the share of random draws whose Jacobian product grows, against H, with intervals."""
    rows = measured.get("growth", [])
    for key in sorted({(r["cell"], r["init"], r["scale"]) for r in rows}):
        pts = sorted(
            (r for r in rows if (r["cell"], r["init"], r["scale"]) == key), key=lambda r: r["hidden"]
        )
        h = [r["hidden"] for r in pts]
        share = np.array([r["growing"] / r["draws"] for r in pts])
        err = np.array([share - [r["lo"] for r in pts], [r["hi"] for r in pts] - share])
        ax.errorbar(
            h,
            share,
            yerr=err,
            fmt=INIT_STYLE.get(key[1], "-"),
            marker="s" if key[2] >= 1 else "o",  # the radius: square at or above 1
            capsize=2,
            color=CELL_COLORS.get(key[0], "k"),
            label=f"{key[0]} {key[1]} x {key[2]:g}",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("hidden size H")
    ax.set_ylabel("share of draws with largest exponent > 0")
    ax.set_title("(a) random nets whose Jacobian product grows (95% Wilson)", fontsize=10)
    ax.legend(fontsize=5, ncol=2)


def _exponent_vs_rho(ax: Axes, measured: dict[str, Any]) -> None:
    """(b) the mean largest exponent against rho(R), every cell, draw and size."""
    rows = measured.get("growth", [])
    for cell in sorted({r["cell"] for r in rows}):
        for init in sorted({r["init"] for r in rows}):
            pts = [r for r in rows if r["cell"] == cell and r["init"] == init]
            if pts:
                ax.scatter(
                    [r["rho"] for r in pts],
                    [r["mean_exponent"] for r in pts],
                    s=[6 + r["hidden"] / 8 for r in pts],
                    color=CELL_COLORS.get(cell, "k"),
                    marker={"uniform": "o", "fan_in": "s", "orthogonal": "^"}.get(init, "o"),
                    label=f"{cell} {init}",
                    alpha=0.7,
                )
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(r"spectral radius $\rho(R)$ at init (marker size: H)")
    ax.set_ylabel("largest Lyapunov exponent (mean of draws)")
    ax.set_title("(b) largest exponent at init against the radius", fontsize=10)
    ax.legend(fontsize=5, ncol=2)


def _fixed_radius_events(ax: Axes, result: dict[str, Any]) -> None:
    """(c) trained: seeds with an event against H, uniform draw vs radius held fixed."""
    for key, pts in result.get("fixed_radius", {}).items():
        init = key.partition("@")[0]
        ax.plot(
            [p["hidden"] for p in pts],
            [p["seeds_with_event"] for p in pts],
            INIT_STYLE.get(init, "-"),
            marker="o",
            label=key.replace("@", " x ") if key != "uniform" else "U[-0.08, 0.08]",
        )
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("hidden size H")
    ax.set_ylabel("share of LSTM seeds with an exploding event")
    ax.set_title("(c) trained, unclipped: size at a fixed radius", fontsize=10)
    ax.legend(fontsize=7)


def _growth_rate(ax: Axes, result: dict[str, Any]) -> None:
    """(d) the dominant R_g path's growth factor per step against rho(R_g), init and trained."""
    for when, marker in (("init", "o"), ("final", "x")):
        pts = [p for p in result.get("growth_points", []) if p["when"] == when]
        for model in sorted({p["model"] for p in pts}):
            sel = [p for p in pts if p["model"] == model]
            ax.scatter(
                [p["rho"] for p in sel],
                [np.exp(p["growth"]) for p in sel],
                marker=marker,
                color=COLORS.get(model, "k"),
                label=f"{model}, {'trained' if when == 'final' else 'init'}",
            )
    ax.axhline(1, color="k", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\rho(R_g)$ of the dominant path's matrix")
    ax.set_ylabel("dominant path's growth factor per step of lag")
    ax.set_title("(d) R-path growth per step against the radius", fontsize=10)
    ax.legend(fontsize=6)


def _linear_curse(ax: Axes, measured: dict[str, Any]) -> None:
    """(e) the linear recurrence: Monte Carlo with intervals, closed form as lines."""
    for key, color, label in (("plain", "C0", "plain"), ("normalised", "C1", "LRU-normalised")):
        v = measured.get("linear", {}).get(key)
        if not v:
            continue
        gap = np.array([p["gap"] for p in v["points"]])
        mean = np.array([p["mean"] for p in v["points"]])
        err = np.array([mean - [p["lo"] for p in v["points"]], [p["hi"] for p in v["points"]] - mean])
        ax.errorbar(
            gap,
            mean,
            yerr=err,
            fmt="o",
            color=color,
            capsize=2,
            label=f"{label}: Monte Carlo, slope {v['fit']['exponent']:.2f}",
        )
        ax.plot(
            gap,
            [p["closed_form"] for p in v["points"]],
            "-",
            color=color,
            lw=0.8,
            label=f"{label}: closed form",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$1 - \lambda$")
    ax.set_ylabel(r"$E[(\partial h_T/\partial\lambda)^2]$")
    ax.set_title("(e) the curse of memory, linear recurrence", fontsize=10)
    ax.legend(fontsize=6)


def _gated_curse(ax: Axes, measured: dict[str, Any], writers: dict[str, tuple[str, str]]) -> None:
    """(f) the gated cells' memory-state sensitivity to its writers against 1 - (memory gate)
    (the output's, where no state was measured)."""
    for name, g in measured.get("gated", {}).items():
        key, fits = ("state_sensitivity", "state_fits") if "state_fits" in g else ("sensitivity", "fits")
        white = writers[name][0]
        gap = [1 - p["gate"] for p in g["points"]]
        val = [p[key][white]["mean"] for p in g["points"]]
        ax.plot(
            gap,
            _positive(val),
            "-o",
            color=CELL_COLORS.get(name, "k"),
            label=f"{name} {white}: slope {g[fits][white]['exponent']:.2f}",
        )
        ax.plot(
            gap,
            _positive([p[key][writers[name][1]]["mean"] for p in g["points"]]),
            "--",
            color=CELL_COLORS.get(name, "k"),
            label=f"{name} {writers[name][1]} (constant input)",
        )
    lstm = measured.get("gated", {}).get("lstm")
    if lstm:  # the linear theory's slopes for a white input, from the LSTM's first point
        gap = np.array([1 - p["gate"] for p in lstm["points"]])
        key = "state_sensitivity" if "state_fits" in lstm else "sensitivity"
        y0 = lstm["points"][0][key][writers["lstm"][0]]["mean"]
        for slope, label in ((-1.0, "theory -1 (plain)"), (1.0, "theory +1 (coupled)")):
            ax.plot(gap, y0 * (gap / gap[0]) ** slope, ":", color="grey", lw=0.8, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("1 - mean memory gate (f; CIFG's 1 - i; GRU's u)")
    ax.set_ylabel(r"$E\|\partial s_T/\partial\theta\|^2$ ($s = c$ LSTM, $h$ GRU), CEC-only")
    ax.set_title("(f) the memory state's writers: theory -1 plain, +1 coupled", fontsize=10)
    ax.legend(fontsize=6)


def _rule_bars(ax: Axes, result: dict[str, Any]) -> None:
    """(g) truncated against full: seeds with an event and diverged, per forget bias and clip."""
    rows = result.get("truncated", [])
    if not rows:
        ax.text(0.5, 0.5, "no truncated sweep", ha="center", transform=ax.transAxes)
        return
    labels = [
        f"{r['gradient'][:5]}\nb={r['forget_bias']:g}\n{r['clip'].replace('global_norm@', 'clip ')}"
        for r in rows
    ]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["seeds_with_event"] for r in rows], 0.4, label="seeds with an event")
    ax.bar(x + 0.2, [r["diverged"] / r["seeds"] for r in rows], 0.4, label="seeds diverged")
    ax.set_xticks(x, labels, fontsize=6)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"(g) 1997 truncated rule vs full BPTT, LSTM H={rows[0]['hidden']}", fontsize=10)
    ax.legend(fontsize=7)


def _success_panel(ax: Axes, result: dict[str, Any]) -> None:
    """(h) success rate (Wilson interval) beside the share of seeds with an event, per config."""
    configs = result.get("success", {}).get("configs", [])
    if not configs:
        ax.text(0.5, 0.5, "no success sweep", ha="center", transform=ax.transAxes)
        return
    x = np.arange(len(configs))
    rate = np.array([c["success_rate"] for c in configs])
    err = np.array([rate - [c["ci95"][0] for c in configs], [c["ci95"][1] for c in configs] - rate])
    ax.bar(x - 0.2, rate, 0.4, yerr=err, capsize=2, label="solved (95% Wilson)")
    ax.bar(x + 0.2, [c["seeds_with_event"] for c in configs], 0.4, label="seeds with an event")
    ax.set_xticks(
        x,
        [f"{c['optim']} {c['lr']:g}\n{c['clip'].replace('global_norm@', 'clip ')}" for c in configs],
        fontsize=7,
    )
    ax.set_ylim(0, 1.05)
    c0 = configs[0]
    ax.set_title(
        f"(h) success axis: adding ({c0['variant']}) T={c0['length']}, H={c0['hidden']}", fontsize=10
    )
    ax.legend(fontsize=7)


def mechanisms(result: dict[str, Any], out: Path, *, writers: dict[str, tuple[str, str]]) -> Path:
    """why_lstm_explodes_mechanisms.png: (a)-(d) the R paths, (e)-(f) the curse of memory,
    (g) the learning rule, (h) the success axis."""
    measured = result.get("measured") or {}
    fig = Figure(figsize=(20.0, 9.5), layout="constrained")
    FigureCanvasAgg(fig)
    (a, b, c, d), (e, f, g, h) = fig.subplots(2, 4)
    _growth_share(a, measured)
    _exponent_vs_rho(b, measured)
    _fixed_radius_events(c, result)
    _growth_rate(d, result)
    _linear_curse(e, measured)
    _gated_curse(f, measured, writers)
    _rule_bars(g, result)
    _success_panel(h, result)
    fig.suptitle(
        "Why do LSTMs still explode? Three mechanisms and the success axis (why_lstm_explodes)", fontsize=12
    )
    return save(fig, out, "why_lstm_explodes_mechanisms")[0]
