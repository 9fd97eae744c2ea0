"""gradient_over_time.png: the figure of the study :mod:`benchmarks.studies.gradient_over_time`.

One panel per model: the geometric mean over seeds of ||dL/dh|| against the lag (log y),
at initialisation and after training, with the 95% t-band of the log mean and the lag
window of the study's decay-rate fit (``window``) shaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas


def figure(result: dict[str, Any], out: Path, *, window: Callable[[int], tuple[int, int]]) -> list[Path]:
    """The study's figure, ``window(n)`` the fit's lags of a profile of n, saved in ``out``:
    the PNG's path (none without a model)."""
    rows = result["models"]
    if not rows:
        return []
    ncols = min(2, len(rows))
    fig, axes = canvas(ncols, -(-len(rows) // ncols), width=5.0, height=3.6)  # rows: ceil(n / ncols)
    flat = [ax for line in axes for ax in line]
    for ax in flat[len(rows) :]:
        ax.set_axis_off()
    for ax, r in zip(flat, rows, strict=False):
        for colour, when, label in (
            ("C0", "init", "initialisation"),
            ("C3", "final", f"after {r['trained_steps'][-1]} steps"),
        ):
            norm = np.asarray(r[when]["norm"])
            lag = np.arange(norm.size)
            ax.plot(lag, norm, color=colour, label=f"{label}: {r[when]['rate']['mean']:+.3f}/step")
            ax.fill_between(lag, r[when]["lo"], r[when]["hi"], color=colour, alpha=0.2, linewidth=0)
        if norm.size:
            lo, hi = window(norm.size)
            ax.axvspan(lo, hi, color="0.9", zorder=0, label="fit window")
        ax.set_yscale("log")
        ax.set_xlabel("lag T-1-t (steps between t and the loss)")
        ax.set_ylabel("||dL/dh_t||")
        ax.set_title(f"{r['model']} ({len(r['seeds'])} seeds)", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(
        "||dL/dh_t|| on adding (cf. Arjovsky et al. 2016; the paper's values not read): batch mean,\n"
        "geometric mean over seeds, band: 95% t-interval of the mean log norm; slope fit in the grey window",
        fontsize=10,
    )
    return [save(fig, out, "gradient_over_time")[0]]
