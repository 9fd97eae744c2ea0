"""arjovsky2016.png: the figure of the study :mod:`benchmarks.studies.arjovsky2016`.

Loss curves against the memoryless baseline: one row per task, one panel per T, series =
model (mean over seeds with its 95% t-band), the baseline dashed and the verdict threshold
``beat_fraction`` x baseline dotted, on a log y axis; the paper's reading (the study's
``paper``) in each panel's title, ours in the legend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas

Baseline = Callable[[str, int], float]  # (task, T) -> the memoryless baseline's loss


def _panel(
    ax: Any,
    task: str,
    length: int,
    curves: list[dict[str, Any]],
    baseline: Baseline,
    paper: Mapping[tuple[str, str, int], bool],
    beat_fraction: float,
) -> None:
    """One (task, T): each model's mean curve with its 95% t-band, the baseline (dashed)
    and the verdict threshold beat_fraction x baseline (dotted); log y."""
    base = baseline(task, length)
    floor = 0.25 * min([base, *(np.nanmin(c["mean"]) for c in curves)])  # a band's lower end can be < 0
    for i, c in enumerate(sorted(curves, key=lambda c: c["model"])):
        steps = np.asarray(c["steps"], dtype=float)
        lo = np.clip(np.asarray(c["lo"], dtype=float), floor, None)
        label = f"{c['model']} {'/'.join(map(str, c['hidden']))} ({len(c['seeds'])} seeds): {c['verdict']}"
        ax.plot(steps, c["mean"], color=f"C{i}", label=label)
        ax.fill_between(steps, lo, c["hi"], color=f"C{i}", alpha=0.2, linewidth=0)
    ax.axhline(base, color="k", linestyle="--", linewidth=1, label=f"baseline {base:.3g}")
    ax.axhline(
        beat_fraction * base, color="k", linestyle=":", linewidth=1, label=f"{beat_fraction} x baseline"
    )
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("evaluation " + ("cross-entropy" if task == "copy" else "MSE"))
    reading = "; ".join(
        f"{m} {'beats' if paper[(task, m, length)] else 'does not beat'}"
        for m in ("lstm", "rnn")
        if (task, m, length) in paper
    )
    ax.set_title(f"{task} T={length}\npaper: {reading or 'no claim'}", fontsize=9)
    ax.legend(fontsize=7)


def figure(
    result: dict[str, Any],
    out: Path,
    *,
    baseline: Baseline,
    paper: Mapping[tuple[str, str, int], bool],
    beat_fraction: float,
) -> list[Path]:
    """The study's figure, saved in ``out``: the PNG's path (none without a curve)."""
    tasks = [t for t in ("copy", "adding") if result[t]]
    if not tasks:
        return []
    lengths = {t: sorted({c["length"] for c in result[t]}) for t in tasks}
    ncols = max(len(v) for v in lengths.values())
    fig, axes = canvas(ncols, len(tasks), width=4.6, height=3.6)
    for row, task in enumerate(tasks):
        for col in range(ncols):
            ax = axes[row][col]
            if col >= len(lengths[task]):
                ax.set_axis_off()
                continue
            length = lengths[task][col]
            curves = [c for c in result[task] if c["length"] == length]
            _panel(ax, task, length, curves, baseline, paper, beat_fraction)
    fig.suptitle(
        "Loss against the memoryless baseline\n(bands: 95% t-interval of the mean over seeds)",
        fontsize=10,
    )
    return [save(fig, out, "arjovsky2016")[0]]
