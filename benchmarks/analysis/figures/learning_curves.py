"""learning_curves.png: loss and fraction correct against training steps and sequences seen.

Left, the training loss (the mean over the batches since the last evaluation) and the
evaluation loss; right, the fraction of the evaluation set answered correctly, with the
task's success threshold implied by ``solved``. The bottom axis counts training steps,
the top one training sequences (steps x batch size), the unit papers report. From
metrics.parquet (one row per evaluation and seed). A seed that stopped early (solved, with
``stop_when_solved``) holds its last value, so the mean does not jump when it leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from benchmarks.analysis.figures.draw import BAND, Drawn, band, new_figure, wide_range
from benchmarks.analysis.figures.load import Run

SERIES = {"train_loss": ("train loss", "C0"), "eval_loss": ("eval loss", "C1")}


def draw(run: Run, steps: Sequence[int] | None) -> Drawn:
    """Both panels over every evaluation (``steps`` does not apply), or why skipped."""
    m = run.metrics
    if m.empty or not {"step", "seed", "eval_loss"} <= set(m.columns):
        return "no metrics.parquet (the run wrote no evaluations)"
    x = np.sort(m["step"].unique()).astype(float)
    fig, (loss, correct) = new_figure(2, width=6.4, height=4.8)
    arrays = [_per_seed(run, m, col) for col in SERIES if col in m.columns]
    log = wide_range(*arrays)
    for (label, color), a in zip((v for c, v in SERIES.items() if c in m.columns), arrays, strict=True):
        band(loss, x, a, log=log, color=color, marker=".", label=label)
    if log:
        loss.set_yscale("log")
    loss.set_ylabel("loss")
    loss.legend(fontsize=8)
    if "eval_correct" in m.columns:
        band(correct, x, _per_seed(run, m, "eval_correct"), log=False, color="C2", marker=".")
    correct.set_ylim(-0.02, 1.02)
    correct.set_ylabel("fraction of the evaluation set correct")
    batch = (run.summary.get("train") or {}).get("batch_size")
    for ax in (loss, correct):
        ax.set_xlabel("training step")
        if batch:
            _sequences_axis(ax, int(batch))
    loss.set_title(BAND, fontsize=8)
    fig.suptitle(run.title("Learning curves"), fontsize=11)
    return fig


def _per_seed(run: Run, m: pd.DataFrame, column: str) -> np.ndarray:
    """``column`` as [seeds, evaluations] (the chosen seed only, if one is), each seed's
    last value carried past its last evaluation."""
    table = m.pivot_table(index="seed", columns="step", values=column, aggfunc="mean", dropna=False)
    table = table.reindex(columns=np.sort(m["step"].unique()))
    if run.seed_index is not None:
        table = table.loc[[run.seed_values[run.seed_index]]]
    return table.ffill(axis=1).to_numpy(dtype=float)


def _sequences_axis(ax: Axes, batch: int) -> None:
    """A top axis in training sequences seen: steps x ``batch``."""

    def to_sequences(steps: Any) -> Any:
        return np.asarray(steps, dtype=float) * batch

    def to_steps(sequences: Any) -> Any:
        return np.asarray(sequences, dtype=float) / batch

    top = ax.secondary_xaxis("top", functions=(to_sequences, to_steps))
    top.set_xlabel(f"training sequences seen (steps x batch {batch})", fontsize=8)
