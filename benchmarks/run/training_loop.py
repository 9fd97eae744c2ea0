"""The training loop of one run: evaluate, train a chunk, measure, until every seed is done.

:func:`train` drives one seed strategy (:mod:`benchmarks.run.strategies`) over the stacked
states of the run's models, one per seed, and tells one
:class:`~benchmarks.run.history.Listener` what happens: the run's store, progress bar and
tracker (:mod:`benchmarks.run.experiment`), or by default a
:class:`~benchmarks.run.history.MemorySink` whose history the result holds.
:class:`Recorder` turns what each evaluation, chunk and measurement returns into per-seed
results, metric rows and :class:`~benchmarks.run.history.TrainedChunk` records, and builds the
:class:`RunResult`. The loop knows nothing of packed sweeps: a pack
(:mod:`benchmarks.run.pack`) trains its jobs' models as one run and splits what its listener
is told by job.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.core import diagnostics as dg
from benchmarks.core.optim import Hyper
from benchmarks.core.optim import hyper as optim_hyper
from benchmarks.core.trainer import (
    STREAM_PARAMS,
    ChunkMetrics,
    EvalMetrics,
    Trainer,
    TrainSpec,
    TrainState,
    seed_keys,
)
from benchmarks.run.checkpoint import Checkpointer
from benchmarks.run.history import Arrays, Listener, Listeners, MemorySink, Rows, TrainedChunk
from benchmarks.run.strategies import make_strategy, resolve_strategy
from benchmarks.stats import wilson_interval
from models.scan import Params, RecurrentNet


def train(
    trainer: Trainer,
    seeds: list[int],
    *,
    params_init: Params | None = None,
    hyper: Hyper | None = None,
    strategy: str | None = None,
    listener: Listener | None = None,
    keep_history: bool = True,
    checkpoint: Checkpointer | None = None,
    measure_also: Callable[[int], bool] | None = None,
) -> RunResult:
    """Train one model per seed; evaluate every ``eval_every`` steps until the last step
    or (``stop_when_solved``) until every seed is solved or diverged.

    ``params_init`` (stacked over seeds) replaces the seeds' own initialisation, e.g. to
    inject a fault into one seed; ``hyper`` (stacked) replaces each model's optimizer
    numbers (default: the trainer's own for every model). ``listener`` is told of every
    evaluation, chunk, measurement and checkpoint (:class:`~benchmarks.run.history.Listener`);
    with ``keep_history`` the result holds the whole history too (a run with a store says
    False). With ``checkpoint`` the run resumes from its last checkpoint, if any, and
    saves new ones as it goes. Full diagnostics (``diagnostics.level=full``) are measured
    every ``diagnostics.every`` steps, at the end, and where ``measure_also(step)`` says.
    """
    if not seeds:
        raise ValueError("seeds must be at least 1")
    spec, diag = trainer.spec, trainer.diagnostics
    name = resolve_strategy(strategy or spec.strategy, len(seeds), spec.workers, spec.steps)
    params_init = init_params(trainer.model, seeds) if params_init is None else params_init
    memory = MemorySink() if keep_history else None
    told = Listeners([x for x in (memory, listener) if x is not None])
    record, start = Recorder(trainer, seeds), time.perf_counter()
    states, done, next_full = _initial(trainer, seeds, params_init, hyper, checkpoint, record, told)
    with make_strategy(name, trainer, seeds) as runner:
        while True:
            if checkpoint is not None and done and checkpoint.due(done):
                checkpoint.save(states, done, next_full, record.state(), told.on_checkpoint(done))
                checkpoint.after_save()
            rows, newly_solved = record.record_eval(done, runner.evaluate(states))
            told.on_eval(done, rows)
            ended, elapsed = run_ends(spec, done, rows), time.perf_counter() - start
            scheduled = done >= next_full
            if diag.level == "full" and (scheduled or ended or (measure_also and measure_also(done))):
                arrays = record.record_diagnostics(done, runner.full_diagnostics(states), states.params)
                told.on_diagnostics(done, arrays)
                if scheduled:
                    next_full = done + diag.every
            if ended:
                break
            if spec.stop_when_solved and newly_solved:
                states = states._replace(stopped=states.stopped.at[np.asarray(newly_solved)].set(True))
            active = record.active()
            steps = np.arange(done, done + min(spec.eval_every, spec.steps - done), dtype=np.int32)
            states, metrics = runner.train_chunk(states, jnp.asarray(steps))
            diverged_at = np.asarray(jax.device_get(states.diverged_at))
            told.on_chunk(record.record_chunk(steps, jax.device_get(metrics), diverged_at, active))
            done += len(steps)
    if states.stream is not None:
        record.record_open(np.asarray(jax.device_get(states.stream.carry.run)))
    return record.result(name, (params_init, states.params), done, elapsed, memory)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _init_states(trainer: Trainer, n: int, params_init: Params, hyper: Hyper | None) -> TrainState:
    """Every model's state before training, in one compiled program (op by op, each leaf
    was a program of its own); ``hyper`` None: the trainer's own numbers for every seed."""
    if hyper is None:
        hyper = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,)), optim_hyper(trainer.optim))
    return jax.vmap(trainer.init_state)(params_init, hyper)


def _initial(
    trainer: Trainer,
    seeds: list[int],
    params_init: Params,
    hyper: Hyper | None,
    checkpoint: Checkpointer | None,
    record: Recorder,
    listener: Listener,
) -> tuple[TrainState, int, int]:
    """The models' states before training, the step reached and that of the next full
    diagnostics: at the start, or as the checkpoint left them (the recorder and the
    listener then resume from it too)."""
    states: TrainState = _init_states(trainer, len(seeds), params_init, hyper)
    if checkpoint is None or (saved := checkpoint.load(states)) is None:
        return states, 0, 0
    states, meta = saved
    record.load(meta["recorder"])
    listener.on_resume(meta.get("listener"))
    return states, meta["done"], meta["next_full"]


@dataclasses.dataclass
class SeedResult:
    seed: int
    solved: bool = False
    steps_to_solve: int | None = None
    diverged_at: int | None = None
    final_loss: float = math.nan
    final_eval_loss: float = math.nan
    final_correct: float = math.nan
    explode_events: int | None = None
    # train.schedule=stream only (else None, and left out of as_dict): training streams
    # ended (at their first error) and symbols trained on, in all and up to the solve
    streams: int | None = None
    symbols: int | None = None
    streams_to_solve: int | None = None
    symbols_to_solve: int | None = None
    open_streams: list[int] | None = None  # per lane, at the end: the unended stream's correct predictions

    def as_dict(self, batch_size: int) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sequences_to_solve"] = None if self.steps_to_solve is None else self.steps_to_solve * batch_size
        if self.streams is None:
            for key in STREAM_KEYS:
                del d[key]
        return d


STREAM_KEYS = ("streams", "symbols", "streams_to_solve", "symbols_to_solve", "open_streams")


@dataclasses.dataclass(kw_only=True)
class RunResult:
    seeds: list[SeedResult]
    strategy: str
    steps_run: int
    params_init: Params  # stacked over seeds
    params_final: Params
    wall_time_s: float
    # the history, with keep_history (else empty: the run's store holds it)
    metrics: list[dict[str, Any]]  # one row per (evaluation, seed)
    step_series: dict[str, np.ndarray]  # per training step: loss, global and per-parameter grad norms
    grad_time: dict[str, np.ndarray]  # per chunk: step [C], grad_h / grad_c [C, seeds, T]
    diagnostics: dict[str, np.ndarray]  # full diagnostics: step [K], arrays [K, seeds, ...]
    # train.schedule=stream: one entry per training stream ended (Recorder.record_streams)
    streams: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def summary(self, batch_size: int) -> dict[str, Any]:
        n = len(self.seeds)
        k = sum(s.solved for s in self.seeds)
        return {
            "success_rate": k / n,
            "ci95": list(wilson_interval(k, n)),
            "n_solved": k,
            "n_seeds": n,
            "n_diverged": sum(s.diverged_at is not None for s in self.seeds),
            "strategy": self.strategy,
            "steps_run": self.steps_run,
            "wall_time_s": self.wall_time_s,
            "seeds": [s.as_dict(batch_size) for s in self.seeds],
        }


def run_ends(spec: TrainSpec, step: int, rows: Rows) -> bool:
    """Whether a run ends at its evaluation at ``step``, which gave ``rows`` (one per seed):
    at the last step, or (``stop_when_solved``) once every seed is solved or diverged."""
    done = all(r["solved"] or r["diverged"] for r in rows)
    return step >= spec.steps or (spec.stop_when_solved and done)


class Recorder:
    """Per-seed results of one run, built from what each evaluation, chunk and measurement
    returns; its own state is small and checkpointed whole."""

    def __init__(self, trainer: Trainer, seeds: list[int]):
        self.trainer = trainer
        self.results = [SeedResult(seed=s, explode_events=0) for s in seeds]
        none = {"train_loss": math.nan, "grad_norm_mean": math.nan, "grad_norm_max": math.nan}
        self.last_chunk: list[dict[str, float]] = [dict(none) for _ in seeds]  # loss/grad stats
        self.diverged = np.full(len(seeds), -1)  # updated after each chunk
        diag = trainer.diagnostics
        self.detector = dg.ExplodeDetector(diag.explode_factor, diag.explode_window, len(seeds))
        self.streaming = trainer.spec.schedule == "stream"
        if self.streaming:
            for r in self.results:
                r.streams, r.symbols = 0, 0

    def active(self) -> np.ndarray:
        """Seeds still training: neither diverged nor solved-and-stopped."""
        stop = self.trainer.spec.stop_when_solved
        return np.array([not (r.solved and stop) and r.diverged_at is None for r in self.results])

    def record_eval(self, step: int, evaluation: EvalMetrics) -> tuple[Rows, list[int]]:
        """One metrics row per seed for this evaluation, and the seeds solved just now."""
        evaluation = jax.device_get(evaluation)
        rows, newly_solved = [], []
        for i, r in enumerate(self.results):
            r.diverged_at = int(self.diverged[i]) if self.diverged[i] >= 0 else None
            r.final_eval_loss = float(evaluation.loss[i])
            r.final_correct = float(evaluation.correct[i])
            if bool(evaluation.solved[i]) and r.diverged_at is None and not r.solved:
                r.solved, r.steps_to_solve = True, step
                r.streams_to_solve, r.symbols_to_solve = r.streams, r.symbols
                newly_solved.append(i)
            rows.append(
                {
                    "step": step,
                    "seed": r.seed,
                    "train_loss": math.nan,
                    **self.last_chunk[i],
                    "eval_loss": r.final_eval_loss,
                    "eval_correct": r.final_correct,
                    "solved": r.solved,
                    "diverged": r.diverged_at is not None,
                    **({"streams": r.streams, "symbols": r.symbols} if self.streaming else {}),
                }
            )
        return rows, newly_solved

    def record_chunk(
        self, steps: np.ndarray, metrics: ChunkMetrics, diverged_at: np.ndarray, active: np.ndarray
    ) -> TrainedChunk:
        """The per-step values of one chunk; a frozen (solved or diverged) seed is not
        training, so its values are NaN and it has no events."""
        self.diverged = diverged_at
        training = active[:, None] & ((diverged_at[:, None] < 0) | (steps[None, :] <= diverged_at[:, None]))
        loss = np.where(training, np.asarray(metrics.loss), np.nan)  # [seeds, steps]
        grad = np.where(training, np.asarray(metrics.grad_norm), np.nan)
        self.last_chunk = [
            {
                "train_loss": _finite_mean(x),
                "grad_norm_mean": _finite_mean(g),
                "grad_norm_max": _finite_max(g),
            }
            for x, g in zip(loss, grad, strict=True)
        ]
        events = self.detector.update(np.asarray(metrics.grad_norm).T, training.T)  # [steps, seeds]
        for i, r in enumerate(self.results):
            r.explode_events = (r.explode_events or 0) + int(events[:, i].sum())
            if active[i] and math.isfinite(self.last_chunk[i]["train_loss"]):
                r.final_loss = self.last_chunk[i]["train_loss"]
        series = {"step": steps.astype(np.int64), "loss": loss.T, "global": grad.T, "explode": events}
        means: dict[str, np.ndarray] = {}
        for k, value in metrics.extra.items():
            a = np.asarray(value)  # [seeds, steps] or [seeds, steps, T]
            a = np.where(training.reshape(training.shape + (1,) * (a.ndim - 2)), a, np.nan)
            if k.startswith("param."):
                series[k[len("param.") :]] = a.T
            else:
                means[k] = _finite_mean_axis1(a)
        at, seed = np.nonzero(events)
        raw = np.asarray(metrics.grad_norm).T[at, seed]
        grad_time = {"step": np.asarray(int(steps[-1]) + 1), **means} if means else None
        events_ = {"step": steps[at].astype(np.int64), "seed": seed, "norm": raw}
        # a stream's records count up to the step before a divergence (whose state is dropped)
        kept = active[:, None] & ((diverged_at[:, None] < 0) | (steps[None, :] < diverged_at[:, None]))
        streams = self.record_streams(steps, metrics.streams, kept) if self.streaming else None
        return TrainedChunk(series, events_, grad_time, streams)

    def record_streams(self, steps: np.ndarray, records: dict[str, Any], kept: np.ndarray) -> Arrays:
        """``train.schedule=stream``: count the chunk's ended streams and trained symbols
        into each seed's results, and return one entry per stream ended, in order of the
        symbol where it ended: ``seed`` (the model's index), ``lane`` (its stream of the
        batch), ``step`` (the training step), ``symbol`` (the erring symbol's index in the
        lane's data stream, from 0: step x task.length + position in the chunk) and
        ``length`` (its correct predictions before that first error)."""
        ended = np.asarray(records["ended"])  # [seeds, steps, L, B]
        trained = np.asarray(records["trained"])  # [seeds, steps, B]
        over = (ended >= 0) & kept[:, :, None, None]
        for i, r in enumerate(self.results):
            r.streams = (r.streams or 0) + int(over[i].sum())
            r.symbols = (r.symbols or 0) + int(trained[i][kept[i]].sum())
        seed, at, t, lane = np.nonzero(over)
        step = steps.astype(np.int64)[at]
        return {
            "seed": seed.astype(np.int64),
            "lane": lane.astype(np.int64),
            "step": step,
            "symbol": step * ended.shape[2] + t,
            "length": ended[seed, at, t, lane].astype(np.int64),
        }

    def record_open(self, run: np.ndarray) -> None:
        """At the end of a stream run: each lane's stream that has not ended yet, its correct
        predictions so far (``run`` [seeds, lanes]; 0 for a lane waiting for a string)."""
        for r, runs in zip(self.results, run, strict=True):
            r.open_streams = [int(x) for x in runs]

    def record_diagnostics(self, step: int, arrays: dict[str, Any], params: Params) -> dict[str, np.ndarray]:
        """One full-diagnostics measurement, plus the host-side spectra."""
        out = {k: np.asarray(v) for k, v in jax.device_get(arrays).items()}
        out.update(dg.spectra(self.trainer.model, jax.device_get(params)))
        return out

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs to go on exactly as this one would."""
        return {
            "results": [dataclasses.asdict(r) for r in self.results],
            "last_chunk": self.last_chunk,
            "diverged": self.diverged.tolist(),
            "detector": {k: v.tolist() for k, v in self.detector.state().items()},
        }

    def load(self, state: dict[str, Any]) -> None:
        """The inverse of :meth:`state`."""
        self.results = [SeedResult(**r) for r in state["results"]]
        self.last_chunk = state["last_chunk"]
        self.diverged = np.asarray(state["diverged"])
        self.detector.load({k: np.asarray(v, np.float64) for k, v in state["detector"].items()})

    def result(
        self,
        strategy: str,
        params: tuple[Params, Params],
        steps_run: int,
        seconds: float,
        memory: MemorySink | None,
    ) -> RunResult:
        """The run's result: ``params`` initial and final, its history from ``memory``."""
        rows, step_series, grad_time, diagnostics, streams = (
            memory.result() if memory else ([], {}, {}, {}, {})
        )
        return RunResult(
            seeds=self.results,
            strategy=strategy,
            steps_run=steps_run,
            params_init=jax.device_get(params[0]),
            params_final=jax.device_get(params[1]),
            metrics=rows,
            wall_time_s=seconds,
            step_series=step_series,
            grad_time=grad_time,
            diagnostics=diagnostics,
            streams=streams,
        )


def forget_compiled() -> None:
    """Drop every compiled program this process holds: JAX's caches and carousel's
    (:func:`benchmarks.core.trainer.compiled`'s, :func:`_batched_init`'s). The next run
    traces again and compiles or reads its programs back from the disk cache."""
    from benchmarks.core import trainer

    trainer._compiled.cache_clear()
    _batched_init.cache_clear()
    jax.clear_caches()


@functools.lru_cache(maxsize=64)
def _batched_init(model: RecurrentNet) -> Callable[[jax.Array], Params]:
    """One compiled initialiser per model in this process (a fresh ``jax.jit`` per call
    compiled again every time: about 2.5 s for an LSTM on 2 cores). Traced in true float32
    whatever ``train.precision`` says: the orthogonal initialisers' Gram-Schmidt is a chain
    of matrix products, and a run's initial weights are the same on every backend."""

    def init(key: jax.Array) -> Params:
        with jax.default_matmul_precision("highest"):
            return model.init(key)

    return jax.jit(jax.vmap(init))


def init_params(model: RecurrentNet, seeds: list[int]) -> Params:
    """Initial parameters of every seed, stacked on a leading seed axis."""
    keys = jnp.stack([seed_keys(s)[STREAM_PARAMS] for s in seeds])
    return _batched_init(model)(keys)


def _finite_mean_axis1(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    count = ok.sum(axis=1)
    total = np.where(ok, x, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _finite_mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else math.nan


def _finite_max(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.max()) if x.size else math.nan
