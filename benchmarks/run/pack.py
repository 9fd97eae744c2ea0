"""Packed sweeps: the jobs of a sweep that share a compiled program train side by side in it.

A job's compiled training program depends on its shapes and its code paths, not on the
optimizer's numbers (learning rate, momentum, clipping kind and threshold, regulariser
weight: a :class:`~benchmarks.core.optim.Hyper` in each model's state) nor on how the
parameters were initialised (``model.init.*``, ``model.forget_bias``, ``model.bias``,
``model.*_gate_biases``: the initial parameters are an input). :func:`plan` groups jobs by that program
(:func:`program_key`); :func:`run_pack` trains one group as the models of ONE run, each
model with its own seed, initial parameters and numbers, through the seed strategies
(``vmap`` puts every model of every job in one program on an accelerator; ``processes``
and ``loop`` run the same single-model program for each on the CPU), and writes each
job's usual run directory as it goes. Packing is a layer over the plain training loop
(:func:`benchmarks.run.training_loop.train`), which trains the pack's models as one run: its
listener (:class:`Jobs`) hands each job its share of every evaluation, chunk and
measurement, and ends each job's history where its run would have ended alone, so its
files hold the same numbers as the job run by itself with the same strategy (a test
checks it). Jobs with and without the regulariser share a program: a weight of 0 leaves
the gradient as it is.

A pack checkpoints into ``<sweep dir>/.pack/<hash of its jobs>/`` and resumes from there
when the same sweep is launched again; jobs already finished are not trained again.
The launcher ``hydra/launcher=pack`` (``hydra_plugins/carousel_pack``) does this for a
Hydra multirun; ``hydra/launcher=pack_slurm`` submits each pack as a SLURM job of its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import store
from benchmarks.config import Experiment
from benchmarks.core.optim import hyper
from benchmarks.core.trainer import Trainer
from benchmarks.run.checkpoint import Checkpointer
from benchmarks.run.experiment import (
    ProgressBar,
    RunDirConflict,
    RunLock,
    Tracker,
    finished_summary,
    format_summary,
    log,
    report,
    stopped_by_ctrl_c,
    write_result,
)
from benchmarks.run.history import Arrays, Listener, Listeners, Rows, StoreSink, TrainedChunk
from benchmarks.run.isolation import run_in_child
from benchmarks.run.strategies.base import stack
from benchmarks.run.training_loop import RunResult, init_params, run_ends, train

PACK_DIR = ".pack"


@dataclasses.dataclass
class Job:
    """One job of a sweep: its experiment and its run directory."""

    experiment: Experiment
    out: Path


def program_key(trainer: Trainer) -> Trainer:
    """What a job's compiled programs depend on: the trainer less its numbers and its
    initialisation, the regulariser off (the pack turns it on if any job needs it)."""
    program = trainer.program()
    return dataclasses.replace(program, optim=dataclasses.replace(program.optim, regulariser=0.0))


def plan(jobs: list[Job]) -> list[list[Job]]:
    """The jobs grouped by compiled program, each group in the jobs' order."""
    groups: dict[Trainer, list[Job]] = {}
    for job in jobs:
        groups.setdefault(program_key(job.experiment.trainer), []).append(job)
    return list(groups.values())


def pack_trainer(jobs: list[Job]) -> Trainer:
    """The trainer the pack runs: the shared program, with the regulariser's pass when any
    job has a nonzero weight."""
    trainer = program_key(jobs[0].experiment.trainer)
    weight = max(job.experiment.trainer.optim.regulariser for job in jobs)
    return dataclasses.replace(trainer, optim=dataclasses.replace(trainer.optim, regulariser=weight))


def pack_id(jobs: list[Job]) -> str:
    """A name for the pack from its jobs' directories and configs."""
    text = json.dumps(
        [[str(j.out), store.jsonable(j.experiment.describe())] for j in jobs], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextlib.contextmanager
def job_log(out: Path) -> Iterator[None]:
    """While it lasts, the ``carousel`` logger writes to ``out/train.log`` only (a pack's
    lines go to the log of the job they are about)."""
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    propagate = log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
        handler.close()


class Jobs(Listener):
    """The pack's listener: hands each job its share of what the pack's run is told (its
    own models' rows, chunks and measurements, renumbered from 0) through the job's own
    listeners, its store and its tracker (with its log lines in its own ``train.log``), as
    the job's run alone would have been told: from the first evaluation to the one at which
    that run ends (:func:`~benchmarks.run.training_loop.run_ends` on its own seeds), and the
    full diagnostics that run measures (every ``diagnostics.every`` steps while it runs,
    and at its end; :meth:`ends_at` asks the loop to measure there). Which jobs have ended
    goes into the pack's checkpoint (:meth:`on_checkpoint`)."""

    def __init__(self, todo: list[Job], trainer: Trainer):
        self.spec, diag = trainer.spec, trainer.diagnostics
        self.every, self.next_full = diag.every, 0  # the jobs' own measurement schedule
        bounds = np.cumsum([0] + [len(job.experiment.seeds) for job in todo])
        self.models = [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.outs = [job.out for job in todo]
        self.trackers = [Tracker(j.experiment, j.out, j.experiment.describe()) for j in todo]
        self.stores = [StoreSink(job.out, diag.exact_steps, diag.bin_steps) for job in todo]
        self.listeners = [Listeners([s, t]) for s, t in zip(self.stores, self.trackers, strict=True)]
        self.ended: list[int | None] = [None] * len(todo)  # the step each job's run ended
        self.ended_s = [math.nan] * len(todo)  # and the seconds it had taken
        self.start = time.perf_counter()

    def ends_at(self, step: int) -> bool:
        """Whether a job's run ends at this evaluation (it is measured there)."""
        return step in self.ended

    def on_eval(self, step: int, rows: Rows) -> None:
        for j, m in enumerate(self.models):
            if self.ended[j] is not None:
                continue
            mine = rows[m.start : m.stop]
            with job_log(self.outs[j]):
                self.listeners[j].on_eval(step, mine)
            if run_ends(self.spec, step, mine):
                self.ended[j], self.ended_s[j] = step, time.perf_counter() - self.start

    def on_chunk(self, chunk: TrainedChunk) -> None:
        for j, m in enumerate(self.models):
            if self.ended[j] is None:
                self.listeners[j].on_chunk(chunk.models(m))

    def on_diagnostics(self, step: int, arrays: Arrays) -> None:
        scheduled = step >= self.next_full
        if scheduled:
            self.next_full = step + self.every
        for j, m in enumerate(self.models):
            if (self.ended[j] is None and scheduled) or self.ended[j] == step:
                self.listeners[j].on_diagnostics(step, {k: v[m.start : m.stop] for k, v in arrays.items()})

    def on_checkpoint(self, step: int) -> Any:
        own = [listener.on_checkpoint(step) for listener in self.listeners]
        return {"ended": self.ended, "ended_s": self.ended_s, "next_full": self.next_full, "jobs": own}

    def on_resume(self, state: Any) -> None:
        if state is None:
            return
        self.ended, self.ended_s, self.next_full = state["ended"], state["ended_s"], state["next_full"]
        for listener, own in zip(self.listeners, state["jobs"], strict=True):
            listener.on_resume(own)

    def results(self, result: RunResult) -> list[RunResult]:
        """The pack's result split by job: its seeds and parameters, steps and seconds to
        its own end."""
        out = []
        for m, ended, seconds in zip(self.models, self.ended, self.ended_s, strict=True):
            part = lambda tree, m=m: jax.tree.map(lambda x: x[m.start : m.stop], tree)  # noqa: E731
            out.append(
                dataclasses.replace(
                    result,
                    seeds=result.seeds[m.start : m.stop],
                    steps_run=int(ended or 0),
                    wall_time_s=seconds,
                    params_init=part(result.params_init),
                    params_final=part(result.params_final),
                )
            )
        return out


class PackBar(Listener):
    """The pack's progress bar: at the furthest step any job has reached."""

    def __init__(self, bar: ProgressBar):
        self.bar = bar

    def on_eval(self, step: int, rows: Rows) -> None:
        if step > self.bar.bar.n:
            self.bar.bar.set_postfix_str("training", refresh=False)
            self.bar.bar.update(step - self.bar.bar.n)


def _start(todo: list[Job], stack_: contextlib.ExitStack, resume_from: int | None) -> tuple[Any, Any]:
    """Lock every job's run directory, then start each (its config and initial parameters;
    the parts written after the pack's checkpoint dropped); returns the models' initial
    parameters and optimizer numbers, stacked in the pack's order. A directory another run
    holds stops the pack before anything is written (its RunDirConflict)."""
    for job in todo:
        job.out.mkdir(parents=True, exist_ok=True)
        stack_.enter_context(RunLock(job.out))
    params, hypers = [], []
    for job in todo:
        exp = job.experiment
        store.drop_parts_from(job.out, resume_from or 0)
        store.write_yaml(job.out / "config.yaml", exp.describe())
        p = init_params(exp.trainer.model, exp.seeds)
        store.write_npz(job.out / "params_init.npz", p)
        params.append(p)
        hypers.extend([hyper(exp.trainer.optim)] * len(exp.seeds))
    return jax.tree.map(lambda *xs: jnp.concatenate(xs), *params), stack(hypers)


def _finish(todo: list[Job], jobs: Jobs, result: RunResult, pack: Any) -> dict[Path, dict[str, Any]]:
    """Every job's result files, trackers' summaries and log lines; returns the summaries."""
    summaries = {}
    for job, store_, tracker, own in zip(todo, jobs.stores, jobs.trackers, jobs.results(result), strict=True):
        store_.finish()
        summary = write_result(job.out, job.experiment, own, pack=pack)
        tracker.finish(summary)
        with job_log(job.out):
            report(format_summary(summary, f"{job.experiment.model_name} [{job.out.name}]"))
            report(f"results: {job.out}")
        summaries[job.out] = summary
    return summaries


def run_pack(todo: list[Job], root: Path, progress: bool = True) -> dict[Path, dict[str, Any]]:
    """Train unfinished jobs that share a program (one group of :func:`plan`) as one run
    and write each job's run directory; returns each job's summary by directory. ``root``
    holds the pack's checkpoint (``root/.pack/<id>``), removed once every job is written."""
    trainer = pack_trainer(todo)
    seeds = [s for job in todo for s in job.experiment.seeds]
    pack_dir = Path(root) / PACK_DIR / pack_id(todo)
    pack_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = Checkpointer(pack_dir, trainer.spec.checkpoint_every)
    resume_from = checkpoint.saved_step()
    label = f"pack of {len(todo)} jobs, {len(seeds)} models"
    print(f"{label}: {', '.join(str(j.out) for j in todo)}", flush=True)
    with contextlib.ExitStack() as stack_:
        stack_.enter_context(stopped_by_ctrl_c(f"the {label}", checkpoint))
        params_init, hypers = _start(todo, stack_, resume_from)
        if resume_from:
            print(f"resuming the {label} from its checkpoint at step {resume_from}", flush=True)
        bar = ProgressBar(trainer.spec.steps, label, progress)
        jobs = Jobs(todo, trainer)
        try:
            with checkpoint:
                result = train(
                    trainer,
                    seeds,
                    params_init=params_init,
                    hyper=hypers,
                    listener=Listeners([jobs, PackBar(bar)]),
                    keep_history=False,
                    checkpoint=checkpoint,
                    measure_also=jobs.ends_at,
                )
        finally:
            bar.close()
        seconds = time.perf_counter() - jobs.start
        pack = {"jobs": len(todo), "models": len(seeds), "id": pack_dir.name, "wall_time_s": seconds}
        summaries = _finish(todo, jobs, result, pack)
    shutil.rmtree(pack_dir, ignore_errors=True)
    return summaries


Outcome = dict[str, Any] | Exception  # a job's summary, or what stopped it


def unfinished(jobs: list[Job]) -> tuple[list[Job], dict[Path, Outcome]]:
    """The jobs still to train, and the outcome of each other one: its summary where it is
    already finished in its directory, the RunDirConflict where that directory holds
    another run."""
    out: dict[Path, Outcome] = {}
    todo = []
    for job in jobs:
        try:
            summary = finished_summary(job.out, job.experiment.describe())
        except RunDirConflict as e:  # that directory holds another run: left as it is
            out[job.out] = e
            continue
        if summary is None:
            todo.append(job)
        else:
            print(f"already finished: {job.out}", flush=True)
            out[job.out] = summary
    return todo, out


def run_jobs(
    jobs: list[Job], root: Path, *, progress: bool = True, isolate: bool = True
) -> dict[Path, Outcome]:
    """Every job not already finished in its directory, packed by program (:func:`plan`);
    returns each job's summary, or the exception that stopped it: a directory holding
    another run, or a failed pack (recorded for each of its jobs; the other packs go on).
    With ``isolate`` each pack trains in a child process (:mod:`benchmarks.run.isolation`), so
    a pack whose process dies (an XLA abort, the out-of-memory killer) fails alone."""
    todo, out = unfinished(jobs)
    packs = plan(todo)
    print(f"{len(todo)} jobs to train in {len(packs)} compiled program(s)", flush=True)
    for pack in packs:
        try:
            if isolate:
                out.update(run_in_child(run_pack, pack, root, progress))
            else:
                out.update(run_pack(pack, root, progress=progress))
        except RunDirConflict as e:  # a directory of the pack is another run's: the pack did not start
            out.update(_blocked(pack, e))
        except Exception as e:  # noqa: BLE001 - recorded for its jobs; the next pack runs
            out.update({job.out: e for job in pack})
    return out


def _blocked(pack: list[Job], held: RunDirConflict) -> dict[Path, Outcome]:
    """Each job's outcome when its pack did not start for a directory another run holds
    (``held``, naming it): that job's own conflict; for each other job a conflict saying so,
    a conflict too (so no error.json), as its directory may well be the other run's."""
    out: dict[Path, Outcome] = {}
    for job in pack:
        if held.path in (None, job.out):
            out[job.out] = held
            continue
        blocked = RunDirConflict(f"{job.out} was not started: {held}")
        blocked.reason = f"not started as its pack's {held.path} is {held.reason}"
        out[job.out] = blocked
    return out
