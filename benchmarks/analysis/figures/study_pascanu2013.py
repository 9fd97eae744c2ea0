"""pascanu2013_figure7.png: the figure of the study :mod:`benchmarks.studies.pascanu2013`.

Success rate against the sequence length per training method (series), one panel per
initialisation, with 95% Wilson error bars; Figure 7's qualitative statements (the study's
``paper_points``) as hollow markers of the series' colour.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import save
from benchmarks.analysis.figures.draw import canvas

PaperPoints = Callable[[Any, Any], list[tuple[float, float]]]  # (panel, series) -> (x, rate)


def figure(result: dict[str, Any], out: Path, *, paper: PaperPoints) -> list[Path]:
    """Figure 7's rows of the study's result, saved in ``out``; the PNG's path."""
    return [
        _rates(
            result["figure7"],
            x="length",
            series="method",
            panel="init",
            paper=paper,
            title="Pascanu 2013 Fig. 7 (hollow: the paper, qualitative, uncertain)",
            out=out,
            name="pascanu2013_figure7",
        )
    ]


def _rates(
    rows: list[dict[str, Any]],
    *,
    x: str,
    series: str,
    panel: str | None,
    paper: PaperPoints | None,
    title: str,
    out: Path,
    name: str,
) -> Path:
    """Success rate against ``x`` per ``series`` (one panel per ``panel`` value), with 95%
    Wilson error bars; ``paper(panel, series)`` gives published (x, rate) points, drawn
    as hollow markers of the series' colour."""
    panels = sorted({r.get(panel) for r in rows} if panel else {None}, key=str)
    fig, axes = canvas(len(panels))
    for ax, p in zip(axes[0], panels, strict=True):
        for i, s in enumerate(sorted({r[series] for r in rows if panel is None or r[panel] == p}, key=str)):
            pts = sorted(
                (r for r in rows if r[series] == s and (panel is None or r[panel] == p)), key=lambda r: r[x]
            )
            xs = np.array([r[x] for r in pts], dtype=float)
            rate = np.array([r["rate"] for r in pts])
            err = np.array([[r["rate"] - r["ci95"][0], r["ci95"][1] - r["rate"]] for r in pts]).T
            colour = f"C{i}"
            ax.errorbar(
                xs + 0.01 * i * np.ptp(xs),
                rate,
                yerr=err,
                marker="o",
                capsize=3,
                color=colour,
                label=f"{s} (ours)",
            )
            published = paper(p, s) if paper else []
            if published:
                px, py = zip(*published, strict=True)
                ax.plot(
                    px,
                    py,
                    linestyle=":",
                    marker="s",
                    markerfacecolor="none",
                    color=colour,
                    label=f"{s} (paper)",
                )
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel(x)
        ax.set_ylabel("success rate (95% Wilson interval)")
        ax.set_title(f"{panel} = {p}" if panel else title, fontsize=9)
        ax.legend(fontsize=7)
    if panel:
        fig.suptitle(title, fontsize=10)
    return save(fig, out, name)[0]
