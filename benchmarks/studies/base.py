"""What a study is, and how one runs: grids, scales, the comparison with a published claim.

A :class:`Study` is one published result (or one question) turned into Hydra multiruns.
Each named scale (``smoke`` for CI, ``cpu`` for about half an hour on 2 cores, ``faithful``
for the published protocol on the rows whose runs fit about three hours on 2 cores,
``paper`` for the published protocol on every row, a GPU or a cluster) lists its
:class:`Grid`s; a study has the scales it can fill (``scripts/reproduce.py --list``); a grid is a
set of ``-m`` overrides that the ordinary entry point (``python -m benchmarks.train -m``)
runs as one Hydra multirun, a sweep, so the same study runs on a laptop, one GPU or SLURM
(``hydra/launcher=...``) unchanged.
A run that already finished in its directory is not trained again, so a study started
again after an interruption picks up where it stopped.

After the sweeps, :func:`load_runs` reads every run from the store (no JAX) and the study's
own ``analyse`` reduces them to a JSON-able result; its ``claims`` compare that result
with the paper's statements, each with a verdict: ``agrees``, ``disagrees`` or
``not comparable`` (with the reason, e.g. a scale too small to tell).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks import store
from benchmarks.analysis.results import find_runs

SCALES = ("smoke", "cpu", "faithful", "paper")
DEFAULT_SEEDS, DEFAULT_STEPS = 4, 2000  # the entry point's ``seeds`` and ``train.steps``
VERDICTS = ("agrees", "disagrees", "not comparable")


@dataclasses.dataclass(frozen=True)
class Grid:
    """The overrides of one Hydra multirun (one sweep): ``name`` is its sweep directory under
    the study's, ``overrides`` the ``-m`` arguments (a comma list is swept)."""

    name: str
    overrides: tuple[str, ...]


def jobs(grid: Grid) -> list[list[str]]:
    """Each job's overrides, in the order Hydra's basic sweeper runs them (its own parser and
    expansion: a comma list is swept, a bracketed list is one value, a key given twice takes
    its last value); the launcher's ``hydra...`` settings are not the jobs'."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    own = [o for o in grid.overrides if not o.startswith("hydra")]
    (batch,) = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(own), None)
    return batch


def grid_cost(grid: Grid) -> tuple[int, int]:
    """Jobs and model-steps (seeds x ``train.steps`` summed over jobs) of a grid, read
    from its overrides with the entry point's defaults. An upper bound: a seed that solves
    stops early when ``train.stop_when_solved`` is on."""
    model_steps = 0
    listed = jobs(grid)
    for overrides in listed:
        job = dict(o.split("=", 1) for o in overrides)
        model_steps += int(job.get("seeds", DEFAULT_SEEDS)) * int(job.get("train.steps", DEFAULT_STEPS))
    return len(listed), model_steps


def scale_cost(grids: tuple[Grid, ...]) -> tuple[int, int]:
    """Jobs and model-steps of a whole scale (:func:`grid_cost` summed)."""
    costs = [grid_cost(g) for g in grids]
    return sum(c[0] for c in costs), sum(c[1] for c in costs)


@dataclasses.dataclass(frozen=True)
class Claim:
    """One published statement and ours beside it."""

    claim: str
    source: str
    paper: str
    ours: str
    verdict: str
    reason: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclasses.dataclass
class RunRecord:
    """One finished run as the store holds it."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    grad_norms: dict[str, np.ndarray]
    diagnostics: dict[str, np.ndarray]

    def metrics(self) -> pd.DataFrame:
        """The evaluation rows (``metrics.parquet``: step, seed, train_loss, eval_loss,
        eval_correct, solved, diverged), read when asked; empty when the run has none."""
        path = self.path / "metrics.parquet"
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()

    def get(self, dotted: str, default: Any = None) -> Any:
        """A config value by dotted key (``model.hidden``)."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


@dataclasses.dataclass(frozen=True)
class Study:
    """A published result as grids per scale, an analysis, claims, a figure and a text."""

    name: str
    title: str
    source: str
    scales: dict[str, tuple[Grid, ...]]
    scale_notes: dict[str, str]
    analyse: Callable[[list[RunRecord]], dict[str, Any]]
    claims: Callable[[dict[str, Any], str], list[Claim]]
    figure: Callable[[dict[str, Any], Path], list[Path]]
    paragraph: Callable[[dict[str, Any]], str]
    # A scale the study cannot fill (``faithful`` where no row of the published protocol fits
    # about three hours on 2 cores) holds its cheapest row here instead: ``scripts/reproduce.py
    # --costs NAME --scale S`` measures it, so the reason is a measurement, and asking to run S
    # is a one-line error with ``scale_notes[S]``. An empty tuple: nothing to measure (the
    # reason is not the cost, e.g. data that cannot be shipped).
    unfit: dict[str, tuple[Grid, ...]] = dataclasses.field(default_factory=dict)
    # Measurements that train nothing (random initialisations, closed forms, a net's
    # sensitivity at initialisation), as ``measure(scale)``: a JSON-able dict, which
    # :func:`reproduce` keeps in ``measured.json`` beside the sweeps (a study analysed again
    # reads it back instead of measuring again) and hands to the claims, the figure and
    # the text as ``result["measured"]``.
    measure: Callable[[str], dict[str, Any]] | None = None


def load_runs(root: Path) -> list[RunRecord]:
    """Every finished run (a directory with summary.json) under ``root``."""
    records = []
    for run in find_runs(root):
        if not (run / "summary.json").is_file():
            continue
        records.append(
            RunRecord(
                path=run,
                config=store.read_yaml_strict(run / "config.yaml"),
                summary=store.read_summary(run),
                grad_norms=store.read_arrays(run, "grad_norms"),
                diagnostics=store.read_arrays(run, "diagnostics"),
            )
        )
    return records


def launch(command: list[str]) -> int:
    """Run one sweep's command (``python -m benchmarks.train -m ...``) in a process of its
    own, its output passing through; its exit status. (The tests swap in a forked one.)"""
    return subprocess.run(command, check=False).returncode


def run_grids(
    grids: tuple[Grid, ...], out: Path, overrides: list[str], echo: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    """Run each grid as one multirun, a sweep, into ``out/<name>``; a failed sweep is
    recorded and the others still run. Returns one entry per sweep: name (``sweep``),
    command, exit status, seconds."""
    done = []
    for grid in grids:
        command = [
            sys.executable,
            "-m",
            "benchmarks.train",
            "-m",
            *grid.overrides,
            *overrides,
            f"hydra.sweep.dir={out / grid.name}",
        ]
        echo(f"sweep {grid.name}: {' '.join(command[3:])}")
        start = time.perf_counter()
        status = launch(command)
        seconds = time.perf_counter() - start
        done.append({"sweep": grid.name, "command": command[1:], "status": status, "seconds": seconds})
        if status != 0:
            echo(f"sweep {grid.name} failed (exit status {status}); going on with the others")
    return done


def reproduce(
    study: Study, scale: str, out: Path, overrides: list[str], echo: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run, analyse, compare, draw and write one study at one scale; returns the report
    also written to ``out/reproduction.json``."""
    if scale in study.unfit:
        raise ValueError(
            f"{study.name} has no {scale} scale: {study.scale_notes.get(scale, '')}; valid:"
            f" {', '.join(study.scales)}"
        )
    if scale not in study.scales:
        raise ValueError(f"unknown scale {scale!r}; valid: {', '.join(study.scales)}")
    start = time.perf_counter()
    sweeps = run_grids(study.scales[scale], out, overrides, echo)
    records = load_runs(out)
    if not records:
        raise RuntimeError(f"no finished run under {out}; see the sweeps' errors above")
    measured = measurements(study, scale, out, echo)
    # the runs' own wall times (compiling included) summed, with the measurements' time: the
    # same when a finished study is analysed again, unlike this call's time, which then holds
    # no training
    run_time = float(sum(r.summary.get("wall_time_s", 0.0) for r in records))
    run_time += measured["seconds"] if measured else 0.0  # and the measurements' own time
    model_steps = int(sum(r.summary["steps_run"] * r.summary["n_seeds"] for r in records))
    result = study.analyse(records)
    result["scale"] = scale  # the text states verdicts, which depend on the scale
    if measured is not None:
        result["measured"] = measured
    claims = study.claims(result, scale)
    figures = study.figure(result, out / "figures")
    text = study.paragraph(result)
    report = {
        "study": study.name,
        "title": study.title,
        "source": study.source,
        "scale": scale,
        "scale_note": study.scale_notes.get(scale, ""),
        "overrides": overrides,
        "runs": len(records),
        "seeds": int(sum(r.summary["n_seeds"] for r in records)),
        "model_steps": model_steps,
        "model_steps_per_s": model_steps / max(run_time, 1e-9),
        "planned": dict(zip(("jobs", "model_steps"), scale_cost(study.scales[scale]), strict=True)),
        "wall_time_s": time.perf_counter() - start,
        "run_time_s": run_time,
        "sweep_time_s": float(sum(s["seconds"] for s in sweeps)),
        "sweeps": sweeps,
        "claims": [dataclasses.asdict(c) for c in claims],
        "result": result,
        "answer": text,
        "figures": [str(p.relative_to(out)) for p in figures],
        "command": f"scripts/reproduce.py {study.name} --scale {scale}",
    }
    store.write_json(out / "reproduction.json", report)
    store.atomic_write(out / "answer.md", (text + "\n").encode())
    store.atomic_write(out / "readme_rows.md", readme_rows(report).encode())
    return report


def measurements(study: Study, scale: str, out: Path, echo: Callable[[str], None] = print) -> dict | None:
    """The study's measurements at ``scale`` (None if it has none): read from
    ``out/measured.json`` when they were taken at this scale before, else taken and written
    there (so an interrupted study does not take them twice)."""
    if study.measure is None:
        return None
    path = out / "measured.json"
    if path.is_file():
        kept = store.read_json_strict(path)
        if kept.get("scale") == scale:
            echo(f"measurements: already taken ({path})")
            return kept
    echo("measurements: taking them (no training)")
    start = time.perf_counter()
    measured = {**study.measure(scale), "scale": scale}
    measured["seconds"] = time.perf_counter() - start
    store.write_json(path, measured)
    return measured


def readme_rows(report: dict[str, Any]) -> str:
    """Markdown rows for the per-claim Reproductions table (benchmarks/studies/README.md): one
    per claim; the time is the runs' own wall times summed."""
    minutes = report["run_time_s"] / 60
    lines = []
    for c in report["claims"]:
        lines.append(
            f"| {report['title']} | {c['claim']} ({c['source']}) | {c['paper']} | {c['ours']} "
            f"({report['scale']}) | {c['verdict']}: {c['reason']} | {minutes:.0f} min | "
            f"`{report['command']}` |"
        )
    return "\n".join(lines) + "\n"
