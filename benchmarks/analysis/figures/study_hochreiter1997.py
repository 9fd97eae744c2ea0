"""hochreiter1997.png: the figure of the study :mod:`benchmarks.studies.hochreiter1997`.

Per published row (the study's ``rows``: a table's task configuration and number) and
model: above, the training sequences to solve on a log axis, the paper's as a star (Reber:
a range), ours as a dot per solved seed, a bar at their median where half the seeds
solved and a hollow triangle at the budget with the unsolved count; below, the share of
seeds solved (95% Wilson interval) with the paper's Reber rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas

# the study's entry for a published row and a model in its result, None if not run
Find = Callable[[dict[str, Any], Any, str], dict[str, Any] | None]


def _draw_counts(
    ax: Any, result: dict[str, Any], rows: Sequence[Any], models: Sequence[str], find: Find
) -> None:
    for i, row in enumerate(rows):
        ax.plot([i], [row.paper], marker="*", color="k", markersize=11, linestyle="none")
        if row.paper_hi:
            ax.plot([i, i], [row.paper, row.paper_hi], color="k", linewidth=2)
        for j, model in enumerate(models):
            e = find(result, row, model)
            if e is None:
                continue
            x = i + (j - (len(models) - 1) / 2) * 0.3
            c = f"C{j}"
            xs = x + np.linspace(-0.05, 0.05, max(len(e["sequences"]), 1))[: len(e["sequences"])]
            ax.plot(xs, e["sequences"], "o", color=c, alpha=0.6, markersize=4)
            if e["median"] and 2 * e["solved"] >= e["seeds"]:  # as the verdict reads it
                ax.plot([x - 0.12, x + 0.12], [e["median"]] * 2, color=c, linewidth=2.5)
            if e["solved"] < e["seeds"]:
                ax.plot([x], [e["budget"]], marker="v", markerfacecolor="none", color=c, linestyle="none")
                ax.annotate(
                    f"{e['seeds'] - e['solved']}/{e['seeds']}",
                    (x, e["budget"]),
                    xytext=(0, 6),
                    textcoords="offset points",
                    fontsize=6,
                    color=c,
                    va="bottom",
                    ha="center",
                )
    ax.set_yscale("log")
    ax.set_ylabel("training sequences to solve (log)")
    ax.set_title(
        "sequences to solve: paper (star, Reber: range) vs ours\n"
        "(dots: solved seeds, bar: their median if half solved, hollow triangle: budget, unsolved/seeds)",
        fontsize=8,
    )


def _draw_rates(
    ax: Any, result: dict[str, Any], rows: Sequence[Any], models: Sequence[str], find: Find, reber_rate: float
) -> None:
    for j, model in enumerate(models):
        for i, row in enumerate(rows):
            e = find(result, row, model)
            if e is None:
                continue
            x = i + (j - (len(models) - 1) / 2) * 0.3
            err = [[e["rate"] - e["ci95"][0]], [e["ci95"][1] - e["rate"]]]
            ax.errorbar([x], [e["rate"]], yerr=err, marker="o", color=f"C{j}", capsize=3)
    reber = next(i for i, r in enumerate(rows) if r.task == "reber")
    ax.plot([reber], [reber_rate], marker="*", color="k", markersize=11, linestyle="none")
    ax.set_ylim(-0.05, 1.1)
    ax.set_ylabel("share of seeds solved (95% Wilson interval)")
    ax.set_title("solved or not (paper: Reber's 30/30; the other tables give counts only)", fontsize=8)


def figure(
    result: dict[str, Any],
    out: Path,
    *,
    rows: Sequence[Any],
    models: Sequence[str],
    find: Find,
    reber_rate: float,
) -> list[Path]:
    """The study's figure, saved in ``out``; the PNG's path."""
    fig, axes = canvas(1, 2, width=11.0, height=4.2)
    _draw_counts(axes[0, 0], result, rows, models, find)
    _draw_rates(axes[1, 0], result, rows, models, find, reber_rate)
    for ax in axes[:, 0]:
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(
            [f"{r.key.replace(', ', chr(10)).replace(' T=', chr(10) + 'T=')}\n{r.table}" for r in rows],
            fontsize=6.5,
        )
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.grid(axis="y", alpha=0.3)
    handles = [axes[0, 0].plot([], [], "o", color=f"C{j}", label=m)[0] for j, m in enumerate(models)] + [
        axes[0, 0].plot([], [], "*", color="k", label="H&S 1997")[0]
    ]
    # in the empty band under the long rows, clear of the points and the budget marks
    axes[0, 0].legend(handles=handles, fontsize=7, loc="lower center", ncol=len(handles))
    fig.suptitle(
        "Hochreiter & Schmidhuber 1997 (their LSTM: cell blocks, no forget gate, online learning) vs ours",
        fontsize=10,
    )
    return [save(fig, out, "hochreiter1997")[0]]
