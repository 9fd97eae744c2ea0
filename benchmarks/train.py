"""Hydra entry point: ``python -m benchmarks.train`` (console script ``carousel-train``).

    python -m benchmarks.train model=rnn task=adding task.variant=pascanu2013 \
        task.length=50 seeds=8 train.steps=2000 logger=none hydra.run.dir=runs/x

Writes the run directory (see :mod:`benchmarks.store`) and prints the success rate with
its 95% Wilson interval. Bad input (an unknown name, a bad value, an unknown key) ends
with one line on stderr naming the valid choices, exit status 2 (see :mod:`benchmarks.cli`).
``--cfg job`` prints the composed config, every default filled in.
"""

from __future__ import annotations

import logging
import os
import sys
import typing
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from benchmarks import cli

# Compiled programs are cached on disk (JAX's persistent cache), so a re-run, a sweep's
# later jobs and the seed worker processes skip recompilation. Set the variable to ""
# to turn it off. It must be set before JAX starts; worker processes inherit it.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cli.COMPILE_CACHE))
from benchmarks.config import build, register
from benchmarks.run.experiment import (
    FAILED,
    HELD,
    RunDirConflict,
    finished_summary,
    record_failure,
    report,
    run_experiment,
    run_job,
)
from benchmarks.run.isolation import run_in_child
from benchmarks.run.strategies.processes import WorkerFailed

register()


@hydra.main(version_base="1.3", config_path=str(cli.CONF_DIR), config_name="config")
def hydra_main(cfg: DictConfig) -> dict[str, Any] | None:
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU" notices
    out = Path(HydraConfig.get().runtime.output_dir)
    if HydraConfig.get().mode == RunMode.MULTIRUN:
        return _sweep_job(cfg, out)
    with cli.one_line_errors(ValueError):  # build's range checks
        experiment = build(cfg)
    # the directory holds another run; a worker died; a disk is full, read-only or not ours
    with cli.one_line_errors(RunDirConflict, WorkerFailed, OSError):
        return run_experiment(experiment, out)


def _sweep_job(cfg: DictConfig, out: Path) -> dict[str, Any] | None:
    """One job of a sweep, in a child process (:mod:`benchmarks.run.isolation`): a failure,
    whether it raised or killed the child, is recorded (:func:`record_failure`) and the
    sweep goes on with its other jobs; the process then exits with status 2 naming the
    failed jobs."""
    done = _already_finished(cfg, out)
    if done is not None:
        return done
    logging_config = typing.cast(
        dict[str, Any], OmegaConf.to_container(HydraConfig.get().job_logging, resolve=True)
    )
    try:
        return run_in_child(run_job, cfg, out, log_config=logging_config)
    except Exception as e:  # noqa: BLE001 - recorded, then the next job runs
        record_failure(out, e)
        return None


def _already_finished(cfg: DictConfig, out: Path) -> dict[str, Any] | None:
    """The summary of a job already finished in ``out`` with this config, read here in the
    sweep's process: a sweep launched again (a study resumed, a requeued array) then starts
    no child process for the jobs it has. Only a directory with a ``summary.json`` is looked
    at; anything else, and any doubt (a config that does not build, a directory holding
    another run), is left to the child, which reports it as usual."""
    if not (out / "summary.json").is_file():
        return None
    try:
        done = finished_summary(out, build(cfg).describe())
    except Exception:  # noqa: BLE001 - the child raises it again and records it
        return None
    if done is not None:
        report(f"already finished: {out}")
    return done


def main() -> None:
    # Hydra then raises its composition errors instead of printing them over several lines,
    # and cli turns them into one line each.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    with cli.one_line_errors(ValueError):  # ``+key=value`` for a key the schema lacks
        cli.check_additions(sys.argv[1:])
    # Hydra creates the run directory before the job: a path that is a file, lies under a
    # file, is read-only or not writable fails there, and is one line too. Ctrl-C is one
    # line saying where it stopped and how it resumes, exit status 130.
    try:
        with cli.one_line_errors(OSError):
            hydra_main()
    except KeyboardInterrupt as e:
        print(f"error: {e or 'interrupted'}", file=sys.stderr, flush=True)
        sys.exit(130)
    if FAILED:
        cli.fail(failed_line())


def failed_line() -> str:
    """How many sweep jobs failed and where each says why: its error.json, or, for a
    directory that belongs to another run (where none is written), the reason."""
    recorded = [str(p) for p in FAILED if p not in HELD]
    held: dict[str, list[str]] = {}
    for p in FAILED:
        if p in HELD:
            held.setdefault(HELD[p], []).append(str(p))
    parts = [f"see error.json in: {', '.join(recorded)}"] if recorded else []
    parts += [f"no error.json, {reason}: {', '.join(paths)}" for reason, paths in held.items()]
    return f"{len(FAILED)} sweep job(s) failed; {'; '.join(parts)}"


if __name__ == "__main__":
    main()
