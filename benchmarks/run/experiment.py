"""One experiment into its run directory: config, parameters, metrics as they come, results.

The entry point (:mod:`benchmarks.train`) builds an :class:`~benchmarks.config.Experiment`
from the config and calls :func:`run_experiment`, which hands it to the training loop
(:func:`benchmarks.run.training_loop.train`) with three listeners
(:class:`~benchmarks.run.history.Listener`): the store
(:class:`~benchmarks.run.history.StoreSink`), the tracker (:class:`Tracker`) and the progress
bar (:class:`ProgressBar`); then it writes the result files.

Progress goes two ways: a tqdm bar for the terminal, and one line per evaluation plus the
summary and the run directory on the ``carousel`` logger, which Hydra's job logging writes
to ``<run dir>/train.log`` (``conf/hydra/job_logging/carousel.yaml``: the terminal gets
warnings only, so the bar stays tidy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm.auto import tqdm

from benchmarks import store, tracking
from benchmarks.analysis.results import flatten
from benchmarks.config import Experiment
from benchmarks.run.checkpoint import Checkpointer
from benchmarks.run.history import Arrays, Listener, Listeners, Rows, StoreSink, TrainedChunk
from benchmarks.run.logger import make_logger
from benchmarks.run.training_loop import RunResult, init_params, train

log = logging.getLogger("carousel")


def report(line: str) -> None:
    """A line for the terminal (stdout) and for the log (``train.log`` under Hydra)."""
    print(line, flush=True)
    log.info(line)


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


def diagnostics_summary(diag: dict[str, np.ndarray], seeds: list[int]) -> dict[str, Any]:
    """At initialisation and at the end: per seed, the gradient-over-time decay rate and
    first/last ratio, the top Lyapunov exponent and each recurrent matrix's spectral radius."""
    if not diag:
        return {}
    out: dict[str, Any] = {"steps_measured": diag["step"].tolist()}
    for label, k in (("init", 0), ("final", -1)):
        entry: dict[str, Any] = {"step": int(diag["step"][k])}
        for key in ("grad_h_decay_rate", "grad_h_ratio_first_last"):
            entry[key] = diag[key][k].tolist()
        entry["lyapunov_max"] = diag["lyapunov"][k][:, 0].tolist()
        for key in diag:
            if key.startswith("spectral_radius."):
                entry[key] = diag[key][k].tolist()
        out[label] = entry
    return out


def mean_loss_and_solved(rows: Rows) -> tuple[float, int]:
    """An evaluation's mean training loss over the seeds that have one (NaN: none yet, or
    none training) and how many seeds are solved."""
    losses = [r["train_loss"] for r in rows if np.isfinite(r["train_loss"])]
    return (float(np.mean(losses)) if losses else float("nan")), sum(r["solved"] for r in rows)


class ProgressBar(Listener):
    """The run's tqdm bar for the terminal. Before any step is counted the evaluation and
    the first training chunk compile (seconds to minutes, silent otherwise), so the bar
    says ``compiling...`` until the second evaluation, the first after a trained chunk;
    while no seed has a training loss it shows ``loss=-``, never NaN (which reads as a
    divergence); and it sets its postfix before it advances, so the line printed after a
    jump (the only line a log file keeps) carries the new values."""

    def __init__(self, total: int, label: str, enabled: bool = True, **tqdm_args: Any):
        self.bar = tqdm(
            total=total,
            desc=label,
            disable=not enabled,
            unit="step",
            dynamic_ncols=True,
            postfix="compiling...",
            **tqdm_args,
        )
        self.evaluations = 0

    def on_eval(self, step: int, rows: Rows) -> None:
        loss, solved = mean_loss_and_solved(rows)
        self.evaluated(step, loss, solved, len(rows))

    def evaluated(self, step: int, loss: float, solved: int, seeds: int) -> None:
        """Show an evaluation at ``step``: mean training loss over seeds (NaN: none yet)."""
        self.evaluations += 1
        postfix = f"loss={loss:.4f}" if math.isfinite(loss) else "loss=-"
        postfix += f", solved={solved}/{seeds}"
        if self.evaluations == 1 and step < (self.bar.total or 0):
            postfix += ", compiling..."  # the first chunk compiles next
        self.bar.set_postfix_str(postfix, refresh=False)
        printed = getattr(self.bar, "last_print_t", None)
        self.bar.update(step - self.bar.n)
        if not self.bar.disable and self.bar.last_print_t == printed:
            self.bar.refresh()  # update() held the line back (mininterval): show it now

    def close(self) -> None:
        self.bar.close()


class Tracker(Listener):
    """The run's evaluations and measurements on their way out besides the store: to the
    experiment tracker, one W&B run per seed (:class:`~benchmarks.run.logger.Logger`, the W&B
    or the null backend; :mod:`benchmarks.tracking` says what each run holds), and one
    line per evaluation on the ``carousel`` logger (``train.log``)."""

    def __init__(self, exp: Experiment, out: Path, config: dict[str, Any]):
        self.out, self.seeds = out, exp.seeds
        self.logger = make_logger(exp.logger, out, tracking.seed_runs(config, out, exp.logger.group))

    def on_eval(self, step: int, rows: Rows) -> None:
        loss, solved = mean_loss_and_solved(rows)
        for i, row in enumerate(rows):
            self.logger.log(i, tracking.eval_metrics(row), step)
        train_loss = "-" if math.isnan(loss) else f"{loss:.4g}"  # NaN: no seed has trained
        eval_loss = float(np.mean([r["eval_loss"] for r in rows]))
        log.info(
            f"step {step}: train loss {train_loss} (mean over seeds), "
            f"eval loss {eval_loss:.4g}, solved {solved}/{len(rows)} seeds"
        )

    def on_chunk(self, chunk: TrainedChunk) -> None:
        """Per seed and parameter matrix, a histogram of the chunk's per-step gradient norms,
        at the chunk's last step."""
        if not self.logger.live:
            return
        step = int(chunk.series["step"][-1])
        for i in range(len(self.seeds)):
            norms = tracking.chunk_norms(chunk.series, i)
            if norms:
                self.logger.log(i, {k: self.logger.histogram(v) for k, v in norms.items()}, step)

    def on_diagnostics(self, step: int, arrays: Arrays) -> None:
        for i in range(len(self.seeds)):
            self.logger.log(i, tracking.diagnostic_metrics(arrays, i), step)

    def finish(self, summary: dict[str, Any]) -> None:
        """Every seed run's summary; the result table and the run's figures (rendered into
        ``<run dir>/figures``) on the first seed's run; then close every run."""
        shared = tracking.experiment_summary(summary)
        for i, seed in enumerate(summary["seeds"]):
            self.logger.summarise(i, {**tracking.seed_summary(seed), **shared})
        if self.logger.live:
            table = self.logger.table(tracking.TABLE_COLUMNS, tracking.table_rows(summary))
            images = {f"figures/{p.stem}": self.logger.image(p, p.stem) for p in _figures(self.out)}
            self.logger.summarise(0, {"experiment/results": table, **images})
        self.logger.finish()


def _figures(out: Path) -> list[Path]:
    """The run's figures (:func:`benchmarks.analysis.figures.render`), drawn now; a figure that
    fails is one warning line and no image, never a failed run."""
    from benchmarks.analysis.figures import render  # matplotlib: only when the figures are wanted

    try:
        return render(out, formats=("png",))  # W&B shows images: the vector files are not needed
    except Exception as exc:
        log.warning("figures for W&B failed (%s: %s); no images logged", type(exc).__name__, exc)
        return []


def write_result(
    out: Path, exp: Experiment, result: RunResult, pack: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every result file of a finished run; returns the summary (with ``pack``: the run
    trained in a packed sweep, :mod:`benchmarks.run.pack`)."""
    store.write_npz(out / "params_final.npz", result.params_final)
    task = exp.trainer.task
    summary = result.summary(exp.trainer.spec.batch_size)
    summary["model"], summary["task"] = exp.model_name, exp.task_name
    summary["task_variant"], summary["task_length"] = task.variant, task.length
    summary["criterion"] = task.describe()
    summary["eval_size"] = exp.trainer.eval_size
    summary["train"] = dataclasses.asdict(exp.trainer.spec)
    summary["diagnostics"] = diagnostics_summary(store.read_arrays(out, "diagnostics"), exp.seeds)
    if pack is not None:
        summary["pack"] = pack
    store.write_json(out / "summary.json", summary)
    return summary


class RunDirConflict(ValueError):
    """The run directory holds a different run, or another run is writing it (``path``, set
    by :class:`RunLock`); nothing is written to it, no error.json either. ``reason`` says
    which in a few words."""

    reason = "holds a different run"
    path: Path | None = None


FAILED: list[Path] = []  # run directories of this process's sweep jobs that failed
HELD: dict[Path, str] = {}  # those of FAILED without an error.json, and why


def record_failure(out: Path, e: BaseException) -> None:
    """A sweep job that failed: one line and the exception's type in ``out/error.json``
    (with the last lines of its stderr when its process died), the line printed, and the
    job named at the end. No error.json where the directory belongs to another run, or
    where it cannot be written (a read-only or full disk): :data:`HELD` says why."""
    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    record = {"error": message, "type": type(e).__name__}
    if isinstance(e, RunDirConflict):  # that directory belongs to another run
        HELD[out] = e.reason
    else:
        try:
            store.write_json(
                out / "error.json", {**record, **({"stderr_tail": e.tail} if hasattr(e, "tail") else {})}
            )
        except OSError as write_error:
            HELD[out] = f"error.json not written ({write_error.strerror or write_error})"
    print(f"error: job failed ({type(e).__name__}): {message} [{out}]", file=sys.stderr, flush=True)
    FAILED.append(out)


def finished_summary(out: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The stored summary when ``out`` already holds this very run, finished; None when the
    directory is new or the run is unfinished. A directory holding another config raises
    :class:`RunDirConflict` naming the keys that differ, so no result is mixed or lost."""
    if not (out / "config.yaml").exists():
        return None
    stored = flatten(store.read_yaml_strict(out / "config.yaml"))
    wanted = flatten(yaml.safe_load(yaml.safe_dump(store.jsonable(config))))
    differ = sorted(k for k in stored.keys() | wanted.keys() if stored.get(k) != wanted.get(k))
    if differ:
        raise RunDirConflict(
            f"{out} holds a different run (config differs in {', '.join(differ[:5])}); "
            "choose another hydra.run.dir or remove it"
        )
    return store.read_summary(out) if (out / "summary.json").exists() else None


class RunLock:
    """An exclusive lock on a run directory while a run writes it (``fcntl.flock`` on
    ``.lock``, released by the kernel if the process dies), so two runs given the same
    directory cannot both write it."""

    def __init__(self, out: Path):
        self.path = out / ".lock"
        self.file: Any = None

    def __enter__(self) -> RunLock:
        self.file = open(self.path, "a+")  # noqa: SIM115 - held for the run's lifetime
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.seek(0)
            holder = self.file.read().strip() or "?"
            self.file.close()
            conflict = RunDirConflict(f"{self.path.parent} is being written by another run (pid {holder})")
            conflict.reason, conflict.path = f"held by another run (pid {holder})", self.path.parent
            raise conflict from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(str(os.getpid()))
        self.file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


@contextlib.contextmanager
def stopped_by_ctrl_c(where: str, checkpoint: Checkpointer) -> Iterator[None]:
    """While it lasts, a Ctrl-C (KeyboardInterrupt) comes out saying where it stopped and
    whether the same command resumes it from a checkpoint (at which step) or starts again."""
    try:
        yield
    except KeyboardInterrupt:
        step = checkpoint.last_saved
        resume = (
            f"resumes it from its checkpoint at step {step}"
            if step
            else "starts it again (no checkpoint yet)"
        )
        raise KeyboardInterrupt(f"interrupted: {where} stopped; the same command {resume}") from None


def run_experiment(
    exp: Experiment, out: Path, *, params_init: Any = None, progress: bool = True
) -> dict[str, Any]:
    """Train ``exp`` and write every result file under ``out``; returns the summary.

    A run already finished in ``out`` with the same config is not trained again; an
    unfinished one resumes from its last checkpoint (the parts it wrote after that
    checkpoint are written again, identically); a directory holding another config, or
    being written by another run, is refused."""
    out = Path(out)
    config = exp.describe()
    done = finished_summary(out, config)
    if done is not None:
        report(f"already finished: {out}")
        return done
    out.mkdir(parents=True, exist_ok=True)
    with (
        RunLock(out),
        stopped_by_ctrl_c(str(out), checkpoint := Checkpointer(out, exp.trainer.spec.checkpoint_every)),
    ):
        resume_from = checkpoint.saved_step()
        store.drop_parts_from(out, resume_from or 0)
        if resume_from:
            print(f"resuming from the checkpoint at step {resume_from}: {out}", flush=True)
        store.write_yaml(out / "config.yaml", config)
        if params_init is None:
            params_init = init_params(exp.trainer.model, exp.seeds)
        store.write_npz(out / "params_init.npz", params_init)
        summary = _train_into(exp, out, config, params_init, checkpoint, progress)
        checkpoint.remove()
    return summary


def run_job(cfg: Any, out: Path) -> dict[str, Any]:
    """One job of a sweep from its composed config (what :mod:`benchmarks.run.isolation` runs
    in a child process): built, then run into ``out``."""
    from benchmarks.config import build

    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)  # "no TPU" notices
    return run_experiment(build(cfg), out)


def _train_into(
    exp: Experiment,
    out: Path,
    config: dict[str, Any],
    params_init: Any,
    checkpoint: Checkpointer,
    progress: bool,
) -> dict[str, Any]:
    task, spec, diag = exp.trainer.task, exp.trainer.spec, exp.trainer.diagnostics
    label = f"{exp.model_name} on {exp.task_name}/{task.variant} T={task.length}"
    tracker = Tracker(exp, out, config)
    bar = ProgressBar(spec.steps, label, progress)
    history = StoreSink(out, diag.exact_steps, diag.bin_steps)
    try:
        with checkpoint:
            result = train(
                exp.trainer,
                exp.seeds,
                params_init=params_init,
                listener=Listeners([history, tracker, bar]),
                keep_history=False,
                checkpoint=checkpoint,
            )
    finally:
        bar.close()
    history.finish()
    summary = write_result(out, exp, result)
    tracker.finish(summary)
    report(format_summary(summary, label))
    report(f"results: {out}")
    return summary
