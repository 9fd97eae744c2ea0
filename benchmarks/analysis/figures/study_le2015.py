"""le2015.png: the figure of the study :mod:`benchmarks.studies.le2015`.

One panel per T: the evaluation MSE against training (mean over seeds, 95% t-band) with
the baseline (dashed) and the solved threshold (dotted); the last panel: the success rate
against T (95% Wilson interval) with Le et al.'s longest T solved as 0/1 points (the
study's ``paper``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas

PaperPoints = Callable[[Any, Any], list[tuple[float, float]]]  # (panel, model) -> (T, solved)


def _draw_curves(
    ax: Any,
    curves: list[dict[str, Any]],
    length: int,
    colours: Mapping[str, str],
    baseline: float,
    threshold: float,
) -> None:
    for c in sorted((c for c in curves if c["length"] == length), key=lambda c: str(c["name"])):
        steps = np.asarray(c["steps"], dtype=float)
        colour = colours.get(str(c["name"]), "C7")
        ax.plot(steps, c["mean"], color=colour, label=f"{c['name']} ({len(c['seeds'])} seeds)")
        ax.fill_between(steps, c["lo"], c["hi"], color=colour, alpha=0.2, linewidth=0)
    ax.axhline(baseline, color="k", linestyle="--", linewidth=1, label="baseline 1/6")
    ax.axhline(threshold, color="k", linestyle=":", linewidth=1, label="solved below 1/12")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("eval MSE (mean, 95% t-band over seeds)")
    ax.set_title(f"T = {length}", fontsize=9)
    ax.legend(fontsize=7)


def _draw_rates(ax: Any, rows: list[dict[str, Any]], colours: Mapping[str, str], paper: PaperPoints) -> None:
    for i, model in enumerate(sorted({str(r["name"]) for r in rows})):
        pts = sorted((r for r in rows if r["name"] == model), key=lambda r: r["length"])
        xs = np.array([r["length"] for r in pts], dtype=float) + 2.0 * i
        err = np.array([[r["rate"] - r["ci95"][0], r["ci95"][1] - r["rate"]] for r in pts]).T
        colour = colours.get(model, "C7")
        ax.errorbar(
            xs,
            [r["rate"] for r in pts],
            yerr=err,
            marker="o",
            capsize=3,
            color=colour,
            label=f"{model} (ours)",
        )
        published = paper(None, model)
        if published:
            px, py = zip(*published, strict=True)
            ax.plot(
                px,
                py,
                ":",
                marker="s",
                markerfacecolor="none",
                color=colour,
                label=f"{model} (paper, read as 0/1)",
            )
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("T")
    ax.set_ylabel("success rate (95% Wilson interval)")
    ax.set_title("solved: eval MSE < 1/12", fontsize=9)
    ax.legend(fontsize=7)


def figure(
    result: dict[str, Any],
    out: Path,
    *,
    colours: Mapping[str, str],
    baseline: float,
    threshold: float,
    paper: PaperPoints,
) -> list[Path]:
    """The study's figure, a colour per model, saved in ``out``; the PNG's path."""
    lengths = result["lengths"]
    fig, axes = canvas(len(lengths) + 1, width=4.4, height=3.8)
    for ax, length in zip(axes[0], lengths, strict=False):
        _draw_curves(ax, result["curves"], length, colours, baseline, threshold)
    _draw_rates(axes[0][-1], result["rows"], colours, paper)
    fig.suptitle("Le et al. 2015 on adding (arjovsky2016 variant; their protocol is uncertain)", fontsize=10)
    return [save(fig, out, "le2015")[0]]
