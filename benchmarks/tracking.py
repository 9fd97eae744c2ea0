"""What one experiment sends to the experiment tracker (W&B), as plain values.

Layout: **one W&B run per seed**, so W&B's own UI aggregates seeds as it does for any
repeated run: ``group`` is the experiment (:func:`experiment_group`: model, task, length
and a hash of the resolved config without its seeds, so the same config run again, or
more seeds of it from another job with ``seed_offset``, joins the same group),
``job_type`` is the model preset (grouping by it compares architectures), ``name`` is
``<model>-<task>-T<length>-s<seed>``. The stock line plots grouped by group or job type
then draw the seeds' mean with a min-max or standard-error band.

Each seed run gets the resolved config plus ``seed`` and ``run_dir``; its history holds
plain keys (:func:`eval_metrics`, :func:`diagnostic_metrics`, :func:`grad_histograms`);
its summary the seed's result (:func:`seed_summary`) and the experiment's success rate with
its 95% Wilson interval under ``experiment/`` (:func:`experiment_summary`): the same
values on every seed run of the job, so a grouped bar or scatter plot of
``experiment/success_rate`` shows the job's rate, with no extra run in the group to skew
counts or aggregates. The first seed's run also carries the result table and the figures.
Nothing here imports W&B: :mod:`benchmarks.run.logger` sends what these functions return.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

EVAL_KEYS = {
    "train_loss": "train/loss",
    "eval_loss": "eval/loss",
    "eval_correct": "eval/correct",
    "grad_norm_mean": "grad_norm/mean",
    "grad_norm_max": "grad_norm/max",
    "streams": "train/streams",  # train.schedule=stream: training streams ended so far
    "symbols": "train/symbols",  # and symbols trained on
}
TABLE_COLUMNS = (
    "seed",
    "solved",
    "steps_to_solve",
    "sequences_to_solve",
    "diverged_at",
    "final_loss",
    "final_eval_loss",
    "final_correct",
    "explode_events",
)
FLOOR = 1e-30  # gradient norms are histogrammed as log10(max(norm, FLOOR))


@dataclasses.dataclass(frozen=True)
class SeedRun:
    """One W&B run: a seed of one experiment."""

    seed: int
    id: str
    name: str
    group: str
    job_type: str
    config: dict[str, Any]


def experiment_group(config: dict[str, Any]) -> str:
    """``<model>-<task>-T<length>-<8 hex>``: readable, and a hash of the resolved config
    without its seeds, so equal configs share a group whichever job ran which seeds."""
    rest = {k: v for k, v in config.items() if k not in ("seeds", "seed", "run_dir")}
    digest = hashlib.sha1(json.dumps(rest, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{_prefix(config)}-{digest}"


def run_id(out: Path, seed: int) -> str:
    """The W&B run id of one seed of the run in ``out``: a hash of the directory's absolute
    path and the seed, so the same run started again (resumed after a preemption) logs
    under the same id, and its offline directories sync into one W&B run."""
    return hashlib.sha1(f"{Path(out).resolve()}\0{seed}".encode()).hexdigest()[:16]


def _prefix(config: dict[str, Any]) -> str:
    """``<model>-<task>-T<length>``; a task without a fixed length (the embedded Reber
    grammar: ``max_length``; the digits: their data's) is named by what it has."""
    task = config["task"]
    length = task.get("length", task.get("max_length"))
    return f"{config['model']['name']}-{task['name']}" + ("" if length is None else f"-T{length}")


def seed_runs(config: dict[str, Any], out: Path, group: str | None = None) -> list[SeedRun]:
    """The W&B runs of one experiment (``config``: :meth:`Experiment.describe`), one per
    seed; ``group`` replaces the experiment's own group (``logger.group``)."""
    group = group or experiment_group(config)
    base = {k: v for k, v in config.items() if k != "seeds"}
    return [
        SeedRun(
            seed=seed,
            id=run_id(out, seed),
            name=f"{_prefix(config)}-s{seed}",
            group=group,
            job_type=config["model"]["name"],
            config={**base, "seed": seed, "n_seeds": len(config["seeds"]), "run_dir": str(out)},
        )
        for seed in config["seeds"]
    ]


def eval_metrics(row: dict[str, Any]) -> dict[str, Any]:
    """One seed's evaluation row (:meth:`Recorder.record_eval`) under plain keys. A training
    value is NaN where the seed did not train (before the first chunk, once solved and
    stopped, after diverging): it is left out rather than drawn as a gap."""
    out = {new: float(row[old]) for old, new in EVAL_KEYS.items() if old in row}
    out = {k: v for k, v in out.items() if k.startswith("eval/") or math.isfinite(v)}
    out["eval/solved"] = int(bool(row["solved"]))
    out["eval/diverged"] = int(bool(row["diverged"]))
    return out


def diagnostic_metrics(arrays: dict[str, np.ndarray], i: int) -> dict[str, float]:
    """Seed ``i``'s scalars from a full diagnostics measurement: spectral radius and largest
    singular value per recurrent matrix, the Lyapunov exponents (``lyapunov/max`` and
    each ``lyapunov/<k>``), the gradient-over-time decay rate, and for LSTMs the norm of
    each part of dL/dc_t at the first step (the longest lag, T-1) under ``path/``."""
    out: dict[str, float] = {}
    for key, value in arrays.items():
        if key.startswith(("spectral_radius.", "sigma_max.")):
            out[key.replace(".", "/", 1)] = float(value[i])
        elif key.startswith("path.") and key != "path.residual":
            out[key.replace(".", "/", 1)] = float(value[i][0])
    if "lyapunov" in arrays:
        exponents = np.asarray(arrays["lyapunov"][i])
        out["lyapunov/max"] = float(exponents[0])
        out.update({f"lyapunov/{k}": float(v) for k, v in enumerate(exponents)})
    if "grad_h_decay_rate" in arrays:
        out["grad_h/decay_rate"] = float(arrays["grad_h_decay_rate"][i])
    return out


def chunk_norms(series: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    """Seed ``i``'s per-step gradient norms over one chunk, per parameter matrix
    (``series``: a :class:`~benchmarks.run.history.TrainedChunk`'s, [steps, seeds] each), as
    log10; a matrix whose seed did not train in the chunk (solved or diverged: NaN) is
    left out."""
    out = {}
    for key, value in series.items():
        if key in ("step", "loss", "global", "explode"):
            continue
        norms = np.asarray(value)[:, i]
        norms = norms[np.isfinite(norms)]
        if norms.size:
            out[f"grad_norm_log10/{key}"] = np.log10(np.maximum(norms, FLOOR))
    return out


def seed_summary(seed: dict[str, Any]) -> dict[str, Any]:
    """One seed's result (:meth:`SeedResult.as_dict`) for its run's summary."""
    return {
        "solved": bool(seed["solved"]),
        "steps_to_solve": seed["steps_to_solve"],
        "sequences_to_solve": seed["sequences_to_solve"],
        "diverged_at": seed["diverged_at"],
        "explode_events": seed["explode_events"],
        "final/train_loss": seed["final_loss"],
        "final/eval_loss": seed["final_eval_loss"],
        "final/correct": seed["final_correct"],
    }


def experiment_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The experiment's result (``summary.json``) under ``experiment/``."""
    low, high = summary["ci95"]
    steps = [s["steps_to_solve"] for s in summary["seeds"] if s["steps_to_solve"] is not None]
    return {
        "experiment/success_rate": summary["success_rate"],
        "experiment/ci95_low": low,
        "experiment/ci95_high": high,
        "experiment/n_solved": summary["n_solved"],
        "experiment/n_seeds": summary["n_seeds"],
        "experiment/n_diverged": summary["n_diverged"],
        "experiment/median_steps_to_solve": float(np.median(steps)) if steps else None,
        "experiment/wall_time_s": summary["wall_time_s"],
    }


def table_rows(summary: dict[str, Any]) -> list[list[Any]]:
    """The per-seed result table, one row per seed in :data:`TABLE_COLUMNS` order."""
    return [[s.get(c) for c in TABLE_COLUMNS] for s in summary["seeds"]]
