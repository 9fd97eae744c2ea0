"""Run one experiment into its result directory: store, logger, progress bar, summary."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from benchmarks import store
from benchmarks.config import Experiment
from benchmarks.logger import make_logger
from benchmarks.trainer import init_params, train


def format_summary(summary: dict[str, Any], label: str) -> str:
    lo, hi = summary["ci95"]
    steps = [s["steps_to_solve"] for s in summary["seeds"] if s["steps_to_solve"] is not None]
    med = f"{np.median(steps):.0f}" if steps else "-"
    return (
        f"{label}: solved {summary['n_solved']}/{summary['n_seeds']} = "
        f"{summary['success_rate']:.0%} (95% CI {lo:.0%}-{hi:.0%}), "
        f"median steps to solve {med}, diverged {summary['n_diverged']}, "
        f"{summary['wall_time_s']:.1f} s [{summary['strategy']}]"
    )


def run_experiment(
    exp: Experiment, out: Path, *, params_init: Any = None, progress: bool = True
) -> dict[str, Any]:
    """Train ``exp`` and write every result file under ``out``; returns the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = exp.describe()
    store.write_yaml(out / "config.yaml", config)
    if params_init is None:
        params_init = init_params(exp.trainer.model, exp.seeds)
    store.write_npz(out / "params_init.npz", params_init)
    task = exp.trainer.task
    label = f"{exp.model_name} on {exp.task_name}/{task.variant} T={task.length}"
    logger = make_logger(exp.logger, out, config, name=f"{exp.model_name}-{exp.task_name}-{out.name}")
    rows: list[dict[str, Any]] = []
    bar = tqdm(
        total=exp.trainer.spec.steps, desc=label, disable=not progress, unit="step", dynamic_ncols=True
    )

    def on_eval(step: int, chunk_rows: list[dict[str, Any]]) -> None:
        rows.extend(chunk_rows)
        store.write_table(out / "metrics.parquet", rows)
        solved = sum(r["solved"] for r in chunk_rows)
        loss = np.nanmean([r["train_loss"] for r in chunk_rows]) if step else float("nan")
        metrics: dict[str, Any] = {
            "seeds_solved": solved,
            "eval_loss_mean": float(np.mean([r["eval_loss"] for r in chunk_rows])),
        }
        for r in chunk_rows:
            for key in ("train_loss", "eval_loss", "eval_correct", "grad_norm_mean", "grad_norm_max"):
                if key in r:
                    metrics[f"seed{r['seed']}/{key}"] = r[key]
        logger.log(metrics, step)
        bar.update(step - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}", solved=f"{solved}/{len(chunk_rows)}")

    try:
        result = train(exp.trainer, exp.seeds, params_init=params_init, on_eval=on_eval)
    finally:
        bar.close()
    store.write_npz(out / "params_final.npz", result.params_final)
    summary = result.summary(exp.trainer.spec.batch_size)
    summary["model"], summary["task"] = exp.model_name, exp.task_name
    summary["task_variant"], summary["task_length"] = task.variant, task.length
    summary["criterion"] = task.describe()
    summary["train"] = dataclasses.asdict(exp.trainer.spec)
    store.write_json(out / "summary.json", summary)
    logger.log({"success_rate": summary["success_rate"]}, result.steps_run)
    logger.finish()
    print(format_summary(summary, label), flush=True)
    print(f"results: {out}", flush=True)
    return summary
