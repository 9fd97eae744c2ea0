"""gers2000.png: the figure of the study :mod:`benchmarks.studies.gers2000`.

Left, ||c_t|| over the long test streams for both LSTMs, trained and at initialisation
(median over seeds, quartile band); right, the shares of perfect and good networks on the
test streams (95% Wilson interval) beside the paper's Table 2 (hollow diamonds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas

Paper = Mapping[str, Mapping[str, float]]  # Table 2: model (or lr_decay) -> perfect/good -> share


def _draw_norms(ax: Any, result: dict[str, Any], models: Sequence[str], labels: Mapping[str, str]) -> None:
    for i, model in enumerate(models):
        row = result["models"].get(model)
        if row is None:
            continue
        for when, style in (("final", "-"), ("init", ":")):
            prof = row[when]["profile"]
            label = f"{labels[model]}, {'trained' if when == 'final' else 'at init'}"
            ax.plot(prof["t"], prof["median"], linestyle=style, color=f"C{i}", label=label)
            ax.fill_between(prof["t"], prof["q25"], prof["q75"], color=f"C{i}", alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("symbols into the stream (no reset)")
    ax.set_ylabel(r"$\|c_t\|$ (mean over test streams)")
    te = result["test"]
    ax.set_title(
        f"Cell-state norm over {te.get('streams', 0)} streams of {te.get('length', 0):,} symbols\n"
        "median over seeds, band: quartiles",
        fontsize=9,
    )
    ax.legend(fontsize=7)


def _draw_rates(ax: Any, result: dict[str, Any], models: Sequence[str], paper: Paper) -> None:
    bars = [(m, w) for m in models for w in ("perfect", "good")]
    for x, (model, what) in enumerate(bars):
        row = result["models"].get(model)
        colour = f"C{models.index(model)}"
        if row is not None:
            r = row["final"][what]
            err = [[r["rate"] - r["ci95"][0]], [r["ci95"][1] - r["rate"]]]
            ax.bar(x, r["rate"], color=colour, alpha=0.6 if what == "perfect" else 0.3)
            ax.errorbar(
                x,
                r["rate"],
                yerr=err,
                color=colour,
                marker="o",
                capsize=4,
                label="ours (95% Wilson interval)" if x == 0 else None,
            )
            ax.text(x, r["ci95"][1] + 0.02, f"{r['solved']}/{r['seeds']}", ha="center", fontsize=7)
        ax.plot(
            x,
            paper[model][what],
            marker="D",
            markerfacecolor="none",
            color="k",
            linestyle="none",
            label="paper (Table 2)" if x == 0 else None,
        )
    x = len(bars)
    ax.plot(x, paper["lr_decay"]["perfect"], marker="D", markerfacecolor="none", color="k")
    ax.text(x, paper["lr_decay"]["perfect"] + 0.04, "not run", ha="center", fontsize=7)
    names = [f"{'FG' if m == 'lstm' else 'no FG'}\n{w}" for m, w in bars] + ["FG + lr decay\nperfect"]
    ax.set_xticks(range(len(names)), names, fontsize=7)
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("share of networks (ours: 95% Wilson interval)")
    ax.set_title("Networks perfect / good on the test streams", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def figure(
    result: dict[str, Any], out: Path, *, models: Sequence[str], labels: Mapping[str, str], paper: Paper
) -> list[Path]:
    """The study's figure for ``models`` (named by ``labels``), saved in ``out``; the PNG's path."""
    fig, axes = canvas(2, width=5.0, height=3.8)
    _draw_norms(axes[0][0], result, models, labels)
    _draw_rates(axes[0][1], result, models, paper)
    fig.suptitle("Gers et al. 2000: continual embedded Reber, LSTM with and without forget gate", fontsize=10)
    return [save(fig, out, "gers2000")[0]]
