"""A sweep's models compared pairwise, with the statistics of :mod:`benchmarks.stats`.

The sweep is read with :func:`benchmarks.analysis.results.collect` (finished configs only, seeds
pooled across jobs) and split into groups that differ in anything but the model: task,
variant, length and every other varying config key outside ``model.*``. Within a group a
"model" is ``model.name`` with the ``model.*`` keys that vary among its runs there
(``lstm (hidden=100)``; a preset's own fields, which its name implies, are left out),
so a sweep over hidden sizes compares every size with every other.

Per group, each model's success rate with its 95% Wilson interval and the steps to solve
of its solved seeds (read from the runs' ``summary.json``, each seed once: the first job
that holds it, as ``collect`` pools them), their median with a 95% bootstrap interval;
then every pair of models, ranked best first by the chosen metric:

- success rates: Boschloo's exact test, two-sided, Holm-corrected over the group's pairs;
- steps to solve (solved seeds only): the Mann-Whitney U test, Holm-corrected likewise;
- seeds needed: the seeds per model at which Boschloo's test would detect the observed
  rates with power 0.8 (:func:`benchmarks.stats.seeds_needed`), at alpha / m for the m
  pairs of the group (Bonferroni, the level of Holm's first step: the seeds that would
  tell the pair apart after the correction too; "never" when the rates are equal).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks import stats
from benchmarks.analysis import results

METRICS = ("success", "steps")
POWER = 0.8
NOT_CONFIG = ("status", *results.RESULT_COLUMNS)
TESTS = {
    "success_rate": "95% Wilson interval; pairs: Boschloo's exact test, two-sided, "
    "Holm over the group's pairs",
    "steps_to_solve": "solved seeds only: median with a 95% percentile bootstrap interval (9,999 "
    "resamples, seed 0); pairs: Mann-Whitney U, two-sided, Holm over the group's pairs",
    "seeds_needed": f"seeds per model for Boschloo's test to detect the observed rates with power {POWER}, "
    f"at alpha / pairs (exact enumeration up to {stats.EXACT_MAX} seeds, Cohen's h beyond)",
}


def plain(value: Any) -> Any:
    """A table cell as a JSON-able Python value (pandas' missing values as None)."""
    if isinstance(value, list | tuple | dict):
        return value
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def split_columns(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The config columns that name a model (``model`` and ``model.*``) and the others,
    which name a group."""
    config = [c for c in table.columns if c not in NOT_CONFIG]
    model = [c for c in config if c == "model" or c.startswith("model.")]
    return model, [c for c in config if c not in model]


def seed_results(runs: list[str]) -> list[dict[str, Any]]:
    """The per-seed results of one pooled row's runs, each seed once (the first run in
    path order that holds it), sorted by seed."""
    seen: dict[int, dict[str, Any]] = {}
    for path in sorted(runs):
        summary = results.read_run(Path(path)).summary or {}
        for s in summary.get("seeds", []):
            seen.setdefault(s["seed"], s)
    return [seen[k] for k in sorted(seen)]


def model_entry(row: dict[str, Any], label: str) -> dict[str, Any]:
    """One model of a group: counts, rate with its Wilson interval, steps to solve of the
    solved seeds with their median and its bootstrap interval."""
    seeds = seed_results(row["runs"])
    solved = [s for s in seeds if s["solved"]]
    steps = [s["steps_to_solve"] for s in solved if s.get("steps_to_solve") is not None]
    med, lo, hi = stats.median_interval(steps)
    n, k = len(seeds), len(solved)
    return {
        "model": label,
        "seeds": n,
        "solved": k,
        "rate": k / n,
        "ci95": list(stats.wilson_interval(k, n)),
        "diverged": sum(s.get("diverged_at") is not None for s in seeds),
        "steps_to_solve": steps,
        "median_steps": med,
        "median_steps_ci95": [lo, hi],
        "runs": list(row["runs"]),
    }


def _label(row: dict[str, Any], varying: list[str]) -> str:
    extra = ", ".join(f"{c.removeprefix('model.')}={plain(row[c])}" for c in varying)
    return f"{row['model']} ({extra})" if extra else str(row["model"])


def _steps_key(m: dict[str, Any]) -> float:
    return m["median_steps"] if math.isfinite(m["median_steps"]) else math.inf


def ranked(models: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Best first: by success rate (then fewer median steps), or by fewer median steps to
    solve (a model that solved no seed last, then by rate)."""
    if metric == "steps":
        return sorted(models, key=lambda m: (_steps_key(m), -m["rate"], m["model"]))
    return sorted(models, key=lambda m: (-m["rate"], _steps_key(m), m["model"]))


def _fmt_p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"


def verdict(pair: dict[str, Any], metric: str, alpha: float) -> str:
    """``A > B (p=...)`` when the chosen test's Holm-corrected p is below ``alpha``, else
    why not and, for success rates, how many seeds per model would tell."""
    a, b = pair["a"], pair["b"]
    p = pair["rate_holm"] if metric == "success" else pair["steps_holm"]
    if p is None:
        return f"{a} vs {b}: steps to solve not compared: one of them solved no seed"
    if p < alpha:
        return f"{a} > {b} (p={_fmt_p(p)})"
    text = f"{a} vs {b}: not distinguishable at these seeds (p={_fmt_p(p)})"
    needed = pair["seeds_needed"]
    if metric == "steps":
        return text
    if needed is None:
        return text + "; never: the observed success rates are equal"
    text += f"; about {needed} seeds per model would tell a difference this large"
    if needed <= pair["seeds"]:
        text += f" (with power {POWER:.0%}: these {pair['seeds']} did not)"
    return text


def steps_tests(
    pairs: list[tuple[dict[str, Any], dict[str, Any]]],
) -> list[tuple[float | None, float | None]]:
    """Mann-Whitney p and its Holm correction for each pair whose models both solved a
    seed (the family is those pairs); (None, None) for the others."""
    tested = [i for i, (a, b) in enumerate(pairs) if a["steps_to_solve"] and b["steps_to_solve"]]
    raw = [stats.mannwhitney_p(pairs[i][0]["steps_to_solve"], pairs[i][1]["steps_to_solve"]) for i in tested]
    out: list[tuple[float | None, float | None]] = [(None, None)] * len(pairs)
    for i, p, ph in zip(tested, raw, stats.holm(raw), strict=True):
        out[i] = (p, ph)
    return out


def compare_pairs(models: list[dict[str, Any]], metric: str, alpha: float) -> list[dict[str, Any]]:
    """Every pair (the better ranked first) with both tests, Holm-corrected over the
    pairs, the seeds needed and the verdict on the chosen metric."""
    pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
    rate_p = [stats.boschloo_p(a["solved"], a["seeds"], b["solved"], b["seeds"]) for a, b in pairs]
    level = alpha / max(len(pairs), 1)
    out = []
    for (a, b), pr, ph, (ps, psh) in zip(pairs, rate_p, stats.holm(rate_p), steps_tests(pairs), strict=True):
        pair = {
            "a": a["model"],
            "b": b["model"],
            "seeds": min(a["seeds"], b["seeds"]),
            "rate_diff": a["rate"] - b["rate"],
            "rate_p": pr,
            "rate_holm": ph,
            "fisher_p": stats.fisher_p(a["solved"], a["seeds"], b["solved"], b["seeds"]),
            "steps_p": ps,
            "steps_holm": psh,
            "seeds_needed": stats.seeds_needed(a["rate"], b["rate"], level, POWER),
            "seeds_needed_alpha": level,
        }
        pair["verdict"] = verdict(pair, metric, alpha)
        out.append(pair)
    return out


def groups(table: pd.DataFrame) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """The finished rows split by group: (the group's config values, its models)."""
    model_cols, group_cols = split_columns(table)
    finished = [r for r in table.to_dict("records") if r["status"] == "finished"]
    by: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for row in finished:
        key = {c: plain(row[c]) for c in group_cols}
        by.setdefault(repr(sorted(key.items(), key=str)), (key, []))[1].append(row)
    out = []
    for key, rows in by.values():
        # a key joins the label only where it tells apart runs of one model name: a preset's
        # own fields (lstm_cifg's coupled=True) say nothing its name does not
        varying = [
            c
            for c in model_cols[1:]
            if any(
                len({repr(plain(r[c])) for r in rows if r["model"] == name}) > 1
                for name in {r["model"] for r in rows}
            )
        ]
        out.append((key, [model_entry(r, _label(r, varying)) for r in rows]))
    return sorted(out, key=lambda g: [_sortable(v) for v in g[0].values()])


def _sortable(value: Any) -> tuple[int, Any]:
    """Numbers before text, numbers by value (length 50 before 100)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def compare_sweep(root: Path, metric: str = "success", alpha: float = 0.05) -> dict[str, Any]:
    """The comparison of every group of the sweep under ``root`` (JSON-able); a group
    with one model has no pairs. Raises ValueError when nothing can be compared."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    table = results.collect(Path(root))
    if table.empty or not (table["status"] == "finished").any():
        raise ValueError(f"no finished run under {root}")
    out_groups: list[dict[str, Any]] = []
    for key, models in groups(table):
        models = ranked(models, metric)
        out_groups.append({"group": key, "models": models, "pairs": compare_pairs(models, metric, alpha)})
    if not any(g["pairs"] for g in out_groups):
        names = sorted({m["model"] for g in out_groups for m in g["models"]})
        raise ValueError(
            f"a single model ({', '.join(names)}) in every group under {root}: nothing to compare"
        )
    return {
        "sweep": str(root),
        "metric": metric,
        "alpha": alpha,
        "power": POWER,
        "tests": TESTS,
        "groups": out_groups,
        "warnings": list(table.attrs.get("warnings", [])),
    }


def _steps(m: dict[str, Any]) -> str:
    med, (lo, hi) = m["median_steps"], m["median_steps_ci95"]
    if not math.isfinite(med):
        return "-"
    return f"{med:.0f} [{lo:.0f}, {hi:.0f}]" if math.isfinite(lo) else f"{med:.0f}"


def group_title(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in key.items()) or "all runs"


def group_markdown(group: dict[str, Any]) -> str:
    """One group as Markdown: the models ranked, the pairs' p-values, one verdict line per pair."""
    lines = [
        f"### {group_title(group['group'])}",
        "",
        "| rank | model | seeds | solved | success rate [95% Wilson] | diverged | "
        "median steps to solve [95% bootstrap] |",
        "|---:|---|---:|---:|---|---:|---|",
    ]
    for i, m in enumerate(group["models"], start=1):
        lo, hi = m["ci95"]
        lines.append(
            f"| {i} | {m['model']} | {m['seeds']} | {m['solved']} | {m['rate']:.0%} [{lo:.0%}, {hi:.0%}] "
            f"| {m['diverged']} | {_steps(m)} |"
        )
    if not group["pairs"]:
        return "\n".join([*lines, "", "One model only: nothing to compare."])
    lines += [
        "",
        "| pair | success: Boschloo p | Holm p | steps: Mann-Whitney p | Holm p | seeds needed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in group["pairs"]:
        needed = "never" if p["seeds_needed"] is None else f"about {p['seeds_needed']}"
        lines.append(
            f"| {p['a']} vs {p['b']} | {_fmt_p(p['rate_p'])} | {_fmt_p(p['rate_holm'])} "
            f"| {_fmt_p(p['steps_p'])} | {_fmt_p(p['steps_holm'])} | {needed} |"
        )
    lines += ["", *(f"- {p['verdict']}" for p in group["pairs"])]
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """The whole comparison as Markdown: what was tested, then one section per group."""
    what = "success rate" if result["metric"] == "success" else "median steps to solve (fewer is better)"
    head = [
        f"## Models compared: {result['sweep']}",
        "",
        f"Ranked by {what}; verdicts at alpha {result['alpha']} after Holm's correction within each group.",
        *(f"- {k.replace('_', ' ')}: {v}" for k, v in result["tests"].items()),
    ]
    body = [group_markdown(g) for g in result["groups"]]
    return "\n\n".join(["\n".join(head), *body]) + "\n"
