"""The training loop: evaluate, train a chunk, measure, until every seed is done.

:func:`train` drives one seed strategy (:mod:`benchmarks.strategies`) over stacked
states; :class:`Recorder` turns what each evaluation, chunk and measurement returns into
per-seed results, metric rows and per-step series, and builds the :class:`RunResult`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import diagnostics as dg
from benchmarks.checkpoint import Checkpointer
from benchmarks.chunk import STREAM_PARAMS, ChunkMetrics, EvalMetrics, Trainer, TrainState, seed_keys
from benchmarks.history import MemorySink, StoreSink
from benchmarks.stats import wilson_interval
from benchmarks.strategies import make_strategy, resolve_strategy
from models.scan import Params, RecurrentNet


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

    def as_dict(self, batch_size: int) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sequences_to_solve"] = None if self.steps_to_solve is None else self.steps_to_solve * batch_size
        return d


@dataclasses.dataclass(kw_only=True)
class RunResult:
    seeds: list[SeedResult]
    strategy: str
    steps_run: int
    params_init: Params  # stacked over seeds
    params_final: Params
    metrics: list[dict[str, Any]]  # one row per (evaluation, seed)
    wall_time_s: float
    step_series: dict[str, np.ndarray]  # per training step: loss, global and per-parameter grad norms
    grad_time: dict[str, np.ndarray]  # per chunk: step [C], grad_h / grad_c [C, seeds, T]
    diagnostics: dict[str, np.ndarray]  # full diagnostics: step [K], arrays [K, seeds, ...]

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


class Recorder:
    """Accumulates one run's per-seed results and hands its history to a sink
    (:mod:`benchmarks.history`); its own state is small and checkpointed whole."""

    def __init__(self, trainer: Trainer, seeds: list[int], sink: MemorySink | StoreSink | None = None):
        self.trainer = trainer
        self.sink = MemorySink() if sink is None else sink
        self.results = [SeedResult(seed=s, explode_events=0) for s in seeds]
        none = {"train_loss": math.nan, "grad_norm_mean": math.nan, "grad_norm_max": math.nan}
        self.last_chunk: list[dict[str, float]] = [dict(none) for _ in seeds]  # loss/grad stats
        self.diverged = np.full(len(seeds), -1)  # updated after each chunk
        diag = trainer.diagnostics
        self.detector = dg.ExplodeDetector(diag.explode_factor, diag.explode_window, len(seeds))

    @property
    def finished(self) -> bool:
        return all(r.solved or r.diverged_at is not None for r in self.results)

    def active(self) -> np.ndarray:
        """Seeds still training: neither diverged nor solved-and-stopped."""
        stop = self.trainer.spec.stop_when_solved
        return np.array([not (r.solved and stop) and r.diverged_at is None for r in self.results])

    def evaluation(self, step: int, evaluation: EvalMetrics) -> tuple[list[dict[str, Any]], list[int]]:
        """One metrics row per seed for this evaluation, and the seeds solved just now."""
        evaluation = jax.device_get(evaluation)
        rows, newly_solved = [], []
        for i, r in enumerate(self.results):
            r.diverged_at = int(self.diverged[i]) if self.diverged[i] >= 0 else None
            r.final_eval_loss = float(evaluation.loss[i])
            r.final_correct = float(evaluation.correct[i])
            if bool(evaluation.solved[i]) and r.diverged_at is None and not r.solved:
                r.solved, r.steps_to_solve = True, step
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
                }
            )
        self.sink.add_rows(step, rows)
        return rows, newly_solved

    def chunk(
        self, steps: np.ndarray, metrics: ChunkMetrics, diverged_at: np.ndarray, active: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The per-step values of one chunk; a frozen (solved or diverged) seed is not
        training, so its values are NaN and it has no events. Returns the per-step series
        ([steps, seeds] each: loss, global and per-parameter gradient norms, events)."""
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
        self.sink.add_series(int(steps[0]), series)
        at, seed = np.nonzero(events)
        raw = np.asarray(metrics.grad_norm).T[at, seed]
        self.sink.add_events(int(steps[0]), {"step": steps[at].astype(np.int64), "seed": seed, "norm": raw})
        if means:
            self.sink.add_grad_time(int(steps[0]), {"step": np.asarray(int(steps[-1]) + 1), **means})
        return series

    def diagnostics(self, step: int, arrays: dict[str, Any], params: Params) -> dict[str, np.ndarray]:
        """Store one full-diagnostics measurement (plus the host-side spectra)."""
        out = {k: np.asarray(v) for k, v in jax.device_get(arrays).items()}
        out.update(dg.spectra(self.trainer.model, jax.device_get(params)))
        self.sink.add_diagnostics(step, {"step": np.asarray(step), **out})
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

    def result(self, strategy: str, done: int, params_init: Params, params_final: Params, wall: float):
        rows, step_series, grad_time, diagnostics = self.sink.result()
        return RunResult(
            seeds=self.results,
            strategy=strategy,
            steps_run=done,
            params_init=jax.device_get(params_init),
            params_final=jax.device_get(params_final),
            metrics=rows,
            wall_time_s=wall,
            step_series=step_series,
            grad_time=grad_time,
            diagnostics=diagnostics,
        )


def init_params(model: RecurrentNet, seeds: list[int]) -> Params:
    """Initial parameters of every seed, stacked on a leading seed axis."""
    keys = jnp.stack([seed_keys(s)[STREAM_PARAMS] for s in seeds])
    return jax.jit(jax.vmap(model.init))(keys)


def train(
    trainer: Trainer,
    seeds: list[int],
    *,
    params_init: Params | None = None,
    strategy: str | None = None,
    on_eval: Callable[[int, list[dict[str, Any]]], None] | None = None,
    on_diagnostics: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    on_chunk: Callable[[dict[str, np.ndarray]], None] | None = None,
    sink: MemorySink | StoreSink | None = None,
    checkpoint: Checkpointer | None = None,
) -> RunResult:
    """Train one model per seed; evaluate every ``eval_every`` steps.

    ``params_init`` (stacked over seeds) replaces the seeds' own initialisation, e.g. to
    inject a fault into one seed. ``on_eval(step, rows)`` is called after every
    evaluation with one metrics row per seed (for progress bars, loggers, the store);
    ``on_diagnostics(step, arrays)`` after every full diagnostics measurement;
    ``on_chunk(series)`` after every trained chunk with its per-step series
    (:meth:`Recorder.chunk`). ``sink``
    receives the history (default: kept in memory and returned); with ``checkpoint`` the
    run resumes from its last checkpoint, if any, and saves new ones as it goes.
    """
    if not seeds:
        raise ValueError("seeds must be at least 1")
    spec, level = trainer.spec, trainer.diagnostics.level
    name = resolve_strategy(strategy or spec.strategy, len(seeds), spec.workers, spec.steps)
    params_init = init_params(trainer.model, seeds) if params_init is None else params_init
    record, start = Recorder(trainer, seeds, sink), time.perf_counter()
    states: TrainState = jax.vmap(trainer.init_state)(params_init)
    done, next_full = 0, 0
    if checkpoint is not None and (saved := checkpoint.load(states)) is not None:
        states, meta = saved
        done, next_full = meta["done"], meta["next_full"]
        record.load(meta["recorder"])
    with make_strategy(name, trainer, seeds) as runner:
        while True:
            if checkpoint is not None and done and checkpoint.due(done):
                checkpoint.save(states, done, next_full, record.state())
                checkpoint.after_save()
            rows, newly_solved = record.evaluation(done, runner.evaluate(states))
            if on_eval is not None:
                on_eval(done, rows)
            final = done >= spec.steps or (spec.stop_when_solved and record.finished)
            if level == "full" and (done >= next_full or final):
                arrays = record.diagnostics(done, runner.full_diagnostics(states), states.params)
                if on_diagnostics is not None:
                    on_diagnostics(done, arrays)
                next_full = done + trainer.diagnostics.every
            if final:
                break
            if spec.stop_when_solved and newly_solved:
                states = states._replace(stopped=states.stopped.at[np.asarray(newly_solved)].set(True))
            active = record.active()
            steps = np.arange(done, done + min(spec.eval_every, spec.steps - done), dtype=np.int32)
            states, metrics = runner.chunk(states, jnp.asarray(steps))
            diverged_at = np.asarray(jax.device_get(states.diverged_at))
            series = record.chunk(steps, jax.device_get(metrics), diverged_at, active)
            if on_chunk is not None:
                on_chunk(series)
            done += len(steps)
    return record.result(name, done, params_init, states.params, time.perf_counter() - start)


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
