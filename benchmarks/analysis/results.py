"""A sweep's runs, joined: every run directory under a root, its status, one table.

A Hydra multirun writes one run directory per job, and :func:`collect` has to work on a
sweep that is still going, that lost some jobs, or that was copied back from a cluster
with a damaged file; so every run directory (one holding ``config.yaml``, ``summary.json``
or ``error.json``) gets a status, and no run can stop the others from being read:

- ``finished``: its ``summary.json`` (the last file a run writes) was read;
- ``unfinished``: ``config.yaml`` (the first file) but no summary: still running, or
  stopped without a word (killed, out of time);
- ``failed``: the entry point wrote ``error.json`` (``{"error": ..., "type": ...}``);
- ``unreadable``: a file too large, not parseable or not of the expected shape (the
  reason in the ``error`` column). Files are read through the store's strict readers: a
  size limit before parsing, YAML without anchors or aliases.

Jobs that ran one config with different seeds (``seed_offset``, a seed budget split over
several jobs) are one experiment, so finished runs are pooled on their config without its
seeds: each seed counted once, solved and total seeds summed, and one 95% Wilson interval
from the pooled counts. The config keys that vary across the sweep become columns, so a
sweep over ``optim.clip`` or ``model.hidden`` gives rows that can be told apart. What
is not in a pooled row (runs not finished, a seed run twice) is said in one warning line
per kind, in ``table.attrs["warnings"]``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import store
from benchmarks.stats import wilson_interval

STATUSES = ("finished", "unfinished", "failed", "unreadable")
MARKERS = ("config.yaml", "summary.json", "error.json")
SEED_KEYS = ("seeds", "seed_offset")  # which seeds ran, not which experiment
# always columns, even when the same everywhere: the config key and its column's name
ALWAYS = {"model.name": "model", "task.name": "task", "task.variant": "variant", "task.length": "length"}
RESULT_COLUMNS = (
    "jobs",
    "seeds",
    "solved",
    "diverged",
    "success_rate",
    "ci95_low",
    "ci95_high",
    "median_steps_to_solve",
    "wall_time_s",
    "seed_list",
    "error",
    "runs",
)
SKIPPED_DIRS = ("wandb",)  # a W&B run directory holds a config.yaml of W&B's own
LISTED = 3  # run directories named in one warning line before "and N more"
ERROR_CHARS = 200  # an error text is cut to this length in the table


@dataclasses.dataclass
class Run:
    """One run directory as read: its status, flattened config (dotted keys), summary and
    error text (the failure, the unreadable file's reason, or a stale error.json beside a
    finished summary)."""

    path: Path
    status: str = "unfinished"
    config: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None


def find_runs(root: Path) -> list[Path]:
    """Every run directory under ``root`` (``root`` itself included), sorted: a directory
    holding config.yaml, summary.json or error.json. The search does not descend into a run
    directory (its ``wandb/`` holds a config.yaml of W&B's own) nor into a hidden directory
    (Hydra's ``.hydra/config.yaml`` of a job that has not written its own yet)."""
    runs = []
    for dirpath, dirnames, filenames in os.walk(root):
        if any(name in filenames for name in MARKERS):
            runs.append(Path(dirpath))
            dirnames.clear()
        else:
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in SKIPPED_DIRS]
    return sorted(runs)


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one mapping of dotted keys (``model.init.recurrent_scale``)."""
    if not isinstance(config, dict) or (prefix and not config):
        return {prefix.removesuffix("."): config}
    return {k: v for key, val in config.items() for k, v in flatten(val, f"{prefix}{key}.").items()}


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 3] + "..."


def _read_config(run: Run, path: Path) -> None:
    config = store.read_yaml_strict(path)
    if not isinstance(config, dict):
        raise store.UnreadableFile("config.yaml: not a mapping of config keys")
    run.config = flatten(config)


def _is_seed_result(s: Any) -> bool:
    steps = s.get("steps_to_solve") if isinstance(s, dict) else None
    return (
        isinstance(s, dict)
        and type(s.get("seed")) is int
        and isinstance(s.get("solved"), bool)
        and (steps is None or isinstance(steps, int | float))
    )


def _read_summary(run: Run, path: Path) -> None:
    summary = store.read_json_strict(path)
    seeds = summary.get("seeds") if isinstance(summary, dict) else None
    if not isinstance(seeds, list) or not seeds or not all(_is_seed_result(s) for s in seeds):
        raise store.UnreadableFile("summary.json: no per-seed results (seeds: [{seed, solved, ...}])")
    run.summary = summary


def _read_error(run: Run, path: Path) -> None:
    err = store.read_json_strict(path)
    if not isinstance(err, dict) or not isinstance(err.get("error"), str):
        raise store.UnreadableFile('error.json: not {"error": ..., "type": ...}')
    kind = err.get("type")
    run.error = _one_line(f"{kind}: {err['error']}" if isinstance(kind, str) and kind else err["error"])


READERS = {"config.yaml": _read_config, "summary.json": _read_summary, "error.json": _read_error}


def read_run(path: Path) -> Run:
    """One run directory's status and contents. Never raises for what its files hold: a
    file that cannot be read makes the run ``unreadable``, with the reasons in ``error``."""
    run = Run(Path(path))
    present = [name for name in MARKERS if (run.path / name).is_file()]
    problems = []
    for name in present:
        try:
            READERS[name](run, run.path / name)
        except store.UnreadableFile as e:
            problems.append(_one_line(str(e)))
    if "summary.json" in present and "config.yaml" not in present:
        problems.append("summary.json without config.yaml: which config ran is unknown")
    if problems:
        run.status, run.error = "unreadable", "; ".join(problems)
    elif run.summary is not None:
        run.status = "finished"
    elif "error.json" in present:
        run.status = "failed"
    return run


def _value_id(config: dict[str, Any], key: str) -> str:
    """A config value as a comparable string; a missing key differs from every value."""
    return json.dumps(config[key], sort_keys=True, default=str) if key in config else "<missing>"


def _is_seed_key(key: str) -> bool:
    return key.partition(".")[0] in SEED_KEYS


def config_columns(runs: list[Run]) -> list[str]:
    """The config keys that become columns: model, task, variant and length always, and
    every other key (seeds aside) whose value differs between the runs, or that some runs
    lack."""
    configs = [r.config for r in runs if r.config is not None]
    keys = sorted({k for c in configs for k in c if k not in ALWAYS and not _is_seed_key(k)})
    varying = [k for k in keys if len({_value_id(c, k) for c in configs}) > 1]
    return [*ALWAYS, *varying]


def _experiment(config: dict[str, Any]) -> str:
    """What makes runs one experiment: the whole config but its seeds."""
    return json.dumps({k: v for k, v in config.items() if not _is_seed_key(k)}, sort_keys=True, default=str)


Repeat = tuple[int, Path, Path]  # a seed, the job whose result counts, a job that ran it again


def _pool(runs: list[Run]) -> tuple[dict[str, Any], list[Repeat]]:
    """One row from the finished runs of one experiment, each seed counted once (the first
    job's result, in path order); and every seed found again in a later job."""
    first: dict[int, Run] = {}
    results: list[dict[str, Any]] = []
    repeated: list[Repeat] = []
    for run in runs:
        assert run.summary is not None
        for s in run.summary["seeds"]:
            if s["seed"] in first:
                repeated.append((s["seed"], first[s["seed"]].path, run.path))
                continue
            first[s["seed"]] = run
            results.append(s)
    k, n = sum(s["solved"] for s in results), len(results)  # n >= 1: a summary has a seed
    lo, hi = wilson_interval(k, n)
    steps = [s["steps_to_solve"] for s in results if s["steps_to_solve"] is not None]
    walls = [w for r in runs if isinstance(w := (r.summary or {}).get("wall_time_s"), int | float)]
    errors = [r.error for r in runs if r.error]
    row = {
        "jobs": len(runs),
        "seeds": n,
        "solved": k,
        "diverged": sum(s.get("diverged_at") is not None for s in results),
        "success_rate": k / n,
        "ci95_low": lo,
        "ci95_high": hi,
        "median_steps_to_solve": float(np.median(steps)) if steps else math.nan,
        "wall_time_s": float(sum(walls)) if walls else math.nan,
        "seed_list": sorted(first),
        "error": "; ".join(errors) if errors else None,
        "runs": [str(r.path) for r in runs],
    }
    return row, repeated


def _single(run: Run) -> dict[str, Any]:
    """The row of a run that is not finished: the seeds its config asked for, no results."""
    planned = (run.config or {}).get("seeds")
    seed_list = sorted(s for s in planned if type(s) is int) if isinstance(planned, list) else []
    return {
        "jobs": 1,
        "seeds": len(seed_list) if seed_list else None,
        "seed_list": seed_list,
        "error": run.error,
        "runs": [str(run.path)],
    }


def _typed(values: list[Any]) -> Any:
    """A config column as one type, so Parquet can store it and missing values stay
    missing: nullable integers, booleans or floats, text, or else every value as text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int}:
        return pd.array(values, dtype="Int64")
    if kinds == {bool}:
        return pd.array(values, dtype="boolean")
    if kinds in ({float}, {int, float}):
        return pd.array([None if v is None else float(v) for v in values], dtype="Float64")
    if kinds <= {str}:
        return values
    return [None if v is None else json.dumps(v, default=str) for v in values]


def _named(path: Path, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return str(path) if rel == "." else rel


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more


def _runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def sweep_warnings(runs: list[Run], repeated: list[Repeat], root: Path) -> list[str]:
    """One line per kind of run that is not in a pooled row as a plain result, with the
    count and the first few run directories (relative to ``root``)."""
    by = {s: [r for r in runs if r.status == s] for s in STATUSES}
    out = []
    if by["unfinished"]:
        names = [_named(r.path, root) for r in by["unfinished"]]
        out.append(
            f"{_runs(len(names))} unfinished (config.yaml, no summary.json: still running or stopped): "
            + _listed(names)
        )
    for status, what in (("failed", "failed (error.json)"), ("unreadable", "unreadable")):
        if by[status]:
            names = [f"{_named(r.path, root)} ({r.error})" for r in by[status]]
            out.append(f"{_runs(len(names))} {what}: {_listed(names)}")
    stale = [_named(r.path, root) for r in by["finished"] if r.error]
    if stale:
        out.append(f"{_runs(len(stale))} finished but also holding an error.json: {_listed(stale)}")
    if repeated:
        n = len(repeated)
        shown = [f"seed {s} in {_named(a, root)} and {_named(b, root)}" for s, a, b in repeated]
        out.append(
            f"{n} seed{'' if n == 1 else 's'} run again by another job of its config, counted once: "
            + _listed(shown)
        )
    return out


def collect(root: Path) -> pd.DataFrame:
    """One table of the sweep under ``root``: a row per experiment (finished runs of one
    config, seeds pooled) and a row per run that is not finished, with ``status``, the
    config columns (:func:`config_columns`) and the results (:data:`RESULT_COLUMNS`).
    ``table.attrs["warnings"]`` holds one line per kind of run not finished and per
    repeated seed. Empty (no rows) when ``root`` holds no run directory."""
    root = Path(root)
    runs = [read_run(p) for p in find_runs(root)]
    columns = config_columns(runs)
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.status == "finished":
            assert run.config is not None
            groups.setdefault(_experiment(run.config), []).append(run)
    rows: list[tuple[Run, dict[str, Any]]] = []
    repeated: list[Repeat] = []
    for group in groups.values():
        row, seen_twice = _pool(group)
        rows.append((group[0], row))
        repeated += seen_twice
    rows += [(run, _single(run)) for run in runs if run.status != "finished"]
    rows.sort(key=lambda pair: (STATUSES.index(pair[0].status), str(pair[0].path)))
    data: dict[str, Any] = {"status": [run.status for run, _ in rows]}
    for key in columns:
        data[ALWAYS.get(key, key)] = _typed([(run.config or {}).get(key) for run, _ in rows])
    for col in RESULT_COLUMNS:
        data[col] = [row.get(col) for _, row in rows]
    table = pd.DataFrame(data)
    for col in ("jobs", "seeds", "solved", "diverged"):
        table[col] = table[col].astype("Int64")
    for col in ("success_rate", "ci95_low", "ci95_high", "median_steps_to_solve", "wall_time_s"):
        table[col] = table[col].astype(float)
    table.attrs["warnings"] = sweep_warnings(runs, repeated, root)
    return table


def _ranges(seeds: list[int]) -> str:
    """Seeds (sorted) as ranges: ``0-7,12``."""
    spans: list[list[int]] = []
    for s in seeds:
        if spans and spans[-1][1] == s - 1:
            spans[-1][1] = s
        else:
            spans.append([s, s])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans) or "-"


def format_table(table: pd.DataFrame) -> str:
    """The table for a terminal: rates and intervals in percent, seeds as ranges, a missing
    value as ``-`` (NaN where the column is of floats), without the run directories (they
    are in the Parquet file); the error column only when one is set."""
    show = table.drop(columns=["runs", "ci95_low", "ci95_high", "error", "seed_list"])
    for col in show.columns:
        if show[col].dtype != np.float64:
            show[col] = pd.Series(["-" if pd.isna(v) else v for v in show[col]], dtype=object)
    show["success_rate"] = [f"{v:.0%}" if v == v else "-" for v in table["success_rate"]]
    ci = [
        f"[{lo:.0%}, {hi:.0%}]" if lo == lo else "-"
        for lo, hi in zip(table.ci95_low, table.ci95_high, strict=True)
    ]
    show.insert(show.columns.get_loc("success_rate") + 1, "ci95", ci)
    show["seed_list"] = [_ranges(list(s)) for s in table["seed_list"]]
    if table["error"].notna().any():
        show["error"] = table["error"].fillna("-")
    return show.to_string(index=False)
