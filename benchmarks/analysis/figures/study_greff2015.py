"""greff2015.png: the figure of the study :mod:`benchmarks.studies.greff2015`.

Success rate (95% Wilson interval) and final evaluation loss per seed (bar: median) per
variant, one column per task, the vanilla LSTM ``vanilla`` shaded; each tick label carries
Greff et al.'s finding for the variants it names (the study's ``paper``) and ours
(Holm-corrected, against the vanilla LSTM).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas
from benchmarks.stats import worst_for_nan


def _tick(variant: str, comparison: dict[str, Any], vanilla: str, paper: Mapping[str, str]) -> str:
    """The variant's name, Greff et al.'s finding and ours (vs V, Holm-corrected)."""
    if variant == vanilla:
        return f"{variant}\n(reference)"
    lines = [variant, f"paper: {paper.get(variant, '-')}"]
    ours = comparison["variants"].get(variant)
    if ours is not None:
        lines.append(f"ours: {ours['effect'].replace('not distinguishable', 'n.d.')}")
    return "\n".join(lines)


def _draw_task(
    ax_rate: Any,
    ax_loss: Any,
    rows: list[dict[str, Any]],
    task: str,
    comparison: dict[str, Any],
    order: Callable[[str], int],
    vanilla: str,
    paper: Mapping[str, str],
) -> None:
    rows = sorted(rows, key=lambda r: order(r["variant"]))
    xs = np.arange(len(rows))
    colours = ["k" if r["variant"] == vanilla else "C0" for r in rows]
    for x, r, colour in zip(xs, rows, colours, strict=True):
        lo, hi = r["ci95"]
        ax_rate.errorbar(
            x, r["rate"], yerr=[[r["rate"] - lo], [hi - r["rate"]]], marker="o", capsize=3, color=colour
        )
        losses = worst_for_nan(r["final_eval_loss"])
        finite = losses[np.isfinite(losses)]
        jitter = np.linspace(-0.15, 0.15, len(finite)) if len(finite) > 1 else np.zeros(len(finite))
        ax_loss.scatter(x + jitter, finite, s=10, color=colour, alpha=0.6)
        ax_loss.hlines(r["loss_q"][0], x - 0.3, x + 0.3, color=colour, linewidth=2)
    for ax in (ax_rate, ax_loss):
        ax.axvspan(-0.5, 0.5, color="0.85", zorder=0)
        ax.set_xticks(xs, [_tick(r["variant"], comparison, vanilla, paper) for r in rows], fontsize=7)
        ax.set_xlim(-0.6, len(rows) - 0.4)
    ax_rate.set_ylim(-0.05, 1.05)
    ax_rate.set_ylabel("success rate (95% Wilson)")
    ax_rate.set_title(f"{task} (pascanu2013); grey: vanilla V; n.d.: not distinguishable", fontsize=9)
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("final eval loss per seed (bar: median)")


def figure(
    result: dict[str, Any],
    out: Path,
    *,
    order: Callable[[str], int],
    vanilla: str,
    paper: Mapping[str, str],
) -> list[Path]:
    """The study's figure, variants placed by ``order``, saved in ``out``; the PNG's path."""
    tasks = result["tasks"] or ["(no runs)"]
    fig, axes = canvas(len(tasks), 2, width=8.0, height=3.6)
    for i, task in enumerate(tasks):
        rows = [r for r in result["rows"] if r["task"] == task]
        comparison = result["compare"].get(task, {"variants": {}})
        _draw_task(axes[0][i], axes[1][i], rows, task, comparison, order, vanilla, paper)
    fig.suptitle(
        "Greff et al. 2015's variants on long-dependency tasks: a comparison, not their data sets",
        fontsize=10,
    )
    return [save(fig, out, "greff2015")[0]]
