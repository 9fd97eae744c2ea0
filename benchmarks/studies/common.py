"""What the paper studies share: seeds pooled by config, success rates with intervals,
evaluation curves with bands over seeds, verdicts against a published number, and the two
figures most papers drew (success rate against length; loss against training, with the
baseline).

Pooling counts each seed once per group (the first run that holds it, in path order), as
:func:`benchmarks.sweep.collect` does. Success rates carry the 95% Wilson interval; curve
bands are the 95% Student-t interval of the mean over seeds (say so in a caption).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.figures import save
from benchmarks.stats import mean_interval, wilson_interval
from benchmarks.studies.base import RunRecord

# Seeds below which a success rate's interval is too wide to tell a published rate from
# its complement (with 3 seeds the Wilson interval of 0/3 reaches 0.56).
MIN_SEEDS = 3
# A count of training sequences "agrees" with a published one within this factor: the
# papers' networks, learning rules and stopping rules differ from ours (see each row).
MAGNITUDE = 10.0


def group_key(record: RunRecord, keys: Sequence[str]) -> tuple[Any, ...]:
    return tuple(record.get(k) for k in keys)


def _groups(records: list[RunRecord], keys: Sequence[str]) -> dict[tuple[Any, ...], list[RunRecord]]:
    groups: dict[tuple[Any, ...], list[RunRecord]] = {}
    for r in sorted(records, key=lambda r: str(r.path)):
        groups.setdefault(group_key(r, keys), []).append(r)
    return groups


def _label(keys: Sequence[str]) -> list[str]:
    """Row keys for dotted config keys: the last part (``task.length`` -> ``length``)."""
    return [k.rsplit(".", 1)[-1] for k in keys]


def pooled(records: list[RunRecord], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per distinct value of ``keys``: seeds, solved, rate with its Wilson
    interval, diverged, the per-seed steps and sequences to solve (solved seeds only) and
    final evaluation loss and fraction correct (every seed); sorted by the keys."""
    rows = []
    for key, group in _groups(records, keys).items():
        seen: dict[int, dict[str, Any]] = {}
        for r in group:
            for s in r.summary["seeds"]:
                seen.setdefault(s["seed"], s)
        seeds = [seen[k] for k in sorted(seen)]
        n, k = len(seeds), sum(bool(s["solved"]) for s in seeds)
        lo, hi = wilson_interval(k, n)
        row = dict(zip(_label(keys), key, strict=True))
        row.update(
            seeds=n,
            solved=k,
            rate=k / n if n else math.nan,
            ci95=[lo, hi],
            diverged=sum(s.get("diverged_at") is not None for s in seeds),
            steps_to_solve=[s["steps_to_solve"] for s in seeds if s["solved"]],
            sequences_to_solve=[s.get("sequences_to_solve") for s in seeds if s["solved"]],
            final_eval_loss=[s.get("final_eval_loss") for s in seeds],
            final_correct=[s.get("final_correct") for s in seeds],
            runs=[str(r.path) for r in group],
        )
        rows.append(row)
    return sorted(rows, key=lambda row: [str(v) for v in row.values()][: len(keys)])


def eval_curves(
    records: list[RunRecord], keys: Sequence[str], column: str = "eval_loss"
) -> list[dict[str, Any]]:
    """One curve per distinct value of ``keys``: the evaluation steps, every seed's
    ``column`` (NaN where a seed has no row, e.g. after it stopped) and the mean with its
    95% t-interval over seeds."""
    curves = []
    for key, group in _groups(records, keys).items():
        per_seed: dict[int, dict[int, float]] = {}
        for r in group:
            m = r.metrics()
            if m.empty:
                continue
            for seed, rows in m.groupby("seed"):
                if int(seed) in per_seed:
                    continue
                per_seed[int(seed)] = dict(
                    zip(rows["step"].astype(int), rows[column].astype(float), strict=True)
                )
        steps = sorted({s for d in per_seed.values() for s in d})
        values = np.array(
            [[d.get(s, np.nan) for s in steps] for _, d in sorted(per_seed.items())], dtype=float
        )
        if not len(steps):
            continue
        mean, lo, hi = mean_interval(values)
        curve = dict(zip(_label(keys), key, strict=True))
        curve.update(
            steps=steps,
            seeds=sorted(per_seed),
            values=values.tolist(),
            mean=mean.tolist(),
            lo=lo.tolist(),
            hi=hi.tolist(),
        )
        curves.append(curve)
    return curves


def rate_verdict(paper_rate: float, solved: int, n: int, why_not: str = "") -> tuple[str, str]:
    """``agrees`` when the published rate lies in our 95% Wilson interval, ``disagrees``
    when outside; ``not comparable`` with ``why_not`` (a scale or protocol reason) or with
    fewer than :data:`MIN_SEEDS` seeds."""
    if why_not:
        return "not comparable", why_not
    if n < MIN_SEEDS:
        return "not comparable", f"{n} seeds: too few for an interval"
    lo, hi = wilson_interval(solved, n)
    inside = lo <= paper_rate <= hi
    where = "inside" if inside else "outside"
    return (
        "agrees" if inside else "disagrees"
    ), f"{paper_rate:.0%} is {where} our 95% interval [{lo:.2f}, {hi:.2f}]"


def magnitude_verdict(paper: float, ours: Sequence[float], what: str = "sequences") -> tuple[str, str]:
    """``agrees`` when the median of ``ours`` is within a factor :data:`MAGNITUDE` of
    ``paper``; ``not comparable`` when no seed solved (there is no count to compare)."""
    values = [float(v) for v in ours if v is not None]
    if not values:
        return "not comparable", f"no seed solved, so there is no count of {what} to compare"
    med = float(np.median(values))
    ratio = med / paper
    ok = 1 / MAGNITUDE <= ratio <= MAGNITUDE
    return ("agrees" if ok else "disagrees"), f"median {med:,.0f} {what} = {ratio:.2g}x the paper's"


def fmt_rate(row: dict[str, Any]) -> str:
    lo, hi = row["ci95"]
    return f"{row['solved']}/{row['seeds']} [{lo:.2f}, {hi:.2f}]"


def canvas(ncols: int, nrows: int = 1, width: float = 4.2, height: float = 3.4) -> tuple[Figure, Any]:
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def draw_rates(
    rows: list[dict[str, Any]],
    *,
    x: str,
    series: str,
    panel: str | None,
    paper: Callable[[Any, Any], list[tuple[float, float]]] | None,
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


def draw_curves(
    curves: list[dict[str, Any]],
    *,
    series: str,
    panel: str,
    baseline: Callable[[Any], float] | None,
    ylabel: str,
    title: str,
    out: Path,
    name: str,
    log: bool = False,
) -> Path:
    """Mean evaluation curve per ``series`` with its 95% t-band over seeds, one panel per
    ``panel`` value, and the panel's baseline as a dashed black line."""
    panels = sorted({c[panel] for c in curves}, key=lambda v: (str(type(v)), v))
    fig, axes = canvas(len(panels))
    for ax, p in zip(axes[0], panels, strict=True):
        for i, c in enumerate(sorted((c for c in curves if c[panel] == p), key=lambda c: str(c[series]))):
            steps = np.asarray(c["steps"], dtype=float)
            ax.plot(steps, c["mean"], color=f"C{i}", label=f"{c[series]} ({len(c['seeds'])} seeds)")
            ax.fill_between(steps, c["lo"], c["hi"], color=f"C{i}", alpha=0.2, linewidth=0)
        if baseline is not None:
            ax.axhline(baseline(p), color="k", linestyle="--", linewidth=1, label="baseline")
        if log:
            ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{panel} = {p}", fontsize=9)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title} (bands: 95% t-interval of the mean over seeds)", fontsize=10)
    return save(fig, out, name)[0]
