"""What the paper studies share: seeds pooled by config, success rates with intervals,
evaluation curves with bands over seeds, and verdicts against a published number. Their
figures are drawn in :mod:`benchmarks.analysis.figures` (``study_<name>``).

Pooling counts each seed once per group (the first run that holds it, in path order), as
:func:`benchmarks.analysis.results.collect` does. Success rates carry the 95% Wilson interval; curve
bands are the 95% Student-t interval of the mean over seeds (say so in a caption).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

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
