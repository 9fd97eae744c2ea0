"""The training loop: evaluate, train a chunk, measure, until every seed is done.

:func:`train` drives one seed strategy (:mod:`benchmarks.strategies`) over stacked
states; :class:`Recorder` turns what each evaluation, chunk and measurement returns into
per-seed results, metric rows and per-step series, and builds the :class:`RunResult`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import diagnostics as dg
from benchmarks.checkpoint import Checkpointer
from benchmarks.history import MemorySink, StoreSink
from benchmarks.optim import Hyper
from benchmarks.optim import hyper as optim_hyper
from benchmarks.stats import wilson_interval
from benchmarks.strategies import make_strategy, resolve_strategy
from benchmarks.trainer import STREAM_PARAMS, ChunkMetrics, EvalMetrics, Trainer, TrainState, seed_keys
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


Sink = MemorySink | StoreSink


class Recorder:
    """Accumulates per-model results and hands the history to the sinks
    (:mod:`benchmarks.history`); its own state is small and checkpointed whole.

    The models form ``groups`` (consecutive ranges; default: one group of all), each the
    run of one job with its own sink: a packed sweep (:mod:`benchmarks.pack`) trains
    several jobs' models side by side. A group *ends* at the evaluation where its own run
    would end alone (every seed solved or diverged, or the last step); its sink then gets
    nothing more, so each sink holds exactly the history of the job run by itself."""

    def __init__(
        self,
        trainer: Trainer,
        seeds: list[int],
        sink: Sink | Sequence[Sink] | None = None,
        groups: list[range] | None = None,
    ):
        self.trainer = trainer
        self.groups = [range(len(seeds))] if groups is None else list(groups)
        if sink is None:
            self.sinks: list[Sink] = [MemorySink() for _ in self.groups]
        else:
            self.sinks = [sink] if isinstance(sink, MemorySink | StoreSink) else list(sink)
        if len(self.sinks) != len(self.groups) or sorted(i for g in self.groups for i in g) != list(
            range(len(seeds))
        ):
            raise ValueError("groups must cover every model once, with one sink per group")
        self.ended: list[int | None] = [None] * len(self.groups)  # the step each group's run ended
        self.ended_s: list[float] = [math.nan] * len(self.groups)  # and the seconds it had taken
        self.results = [SeedResult(seed=s, explode_events=0) for s in seeds]
        none = {"train_loss": math.nan, "grad_norm_mean": math.nan, "grad_norm_max": math.nan}
        self.last_chunk: list[dict[str, float]] = [dict(none) for _ in seeds]  # loss/grad stats
        self.diverged = np.full(len(seeds), -1)  # updated after each chunk
        diag = trainer.diagnostics
        self.detector = dg.ExplodeDetector(diag.explode_factor, diag.explode_window, len(seeds))

    @property
    def finished(self) -> bool:
        return all(e is not None for e in self.ended)

    def running(self) -> list[int]:
        """The groups whose runs have not ended."""
        return [g for g, e in enumerate(self.ended) if e is None]

    def open_groups(self, step: int) -> list[int]:
        """The groups still running at ``step`` (one that ended at it gets its last rows
        and measurements there)."""
        return [g for g, e in enumerate(self.ended) if e is None or e == step]

    def close_groups(self, step: int, seconds: float) -> list[int]:
        """End every group whose run ends at this evaluation; returns those."""
        stop = self.trainer.spec.stop_when_solved
        closed = []
        for g, models in enumerate(self.groups):
            done = all(self.results[i].solved or self.results[i].diverged_at is not None for i in models)
            if self.ended[g] is None and (step >= self.trainer.spec.steps or (stop and done)):
                self.ended[g], self.ended_s[g] = step, seconds
                closed.append(g)
        return closed

    def _fan(self, step: int, groups: list[int], send: Callable[[Sink, range], None]) -> None:
        for g in groups:
            send(self.sinks[g], self.groups[g])

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
        self._fan(step, self.open_groups(step), lambda sink, m: sink.add_rows(step, rows[m.start : m.stop]))
        return rows, newly_solved

    def record_chunk(
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
        first = int(steps[0])
        at, seed = np.nonzero(events)
        raw = np.asarray(metrics.grad_norm).T[at, seed]

        def send(sink: Sink, m: range) -> None:
            sink.add_series(first, series_part(series, m))
            mine = (seed >= m.start) & (seed < m.stop)
            when = steps[at[mine]].astype(np.int64)
            sink.add_events(first, {"step": when, "seed": seed[mine] - m.start, "norm": raw[mine]})
            if means:
                sliced = {k: v[m.start : m.stop] for k, v in means.items()}
                sink.add_grad_time(first, {"step": np.asarray(int(steps[-1]) + 1), **sliced})

        self._fan(first, self.running(), send)
        return series

    def diagnostics(
        self, step: int, arrays: dict[str, Any], params: Params, groups: list[int] | None = None
    ) -> dict[str, np.ndarray]:
        """Store one full-diagnostics measurement (plus the host-side spectra) for the
        given groups (default: every group still running)."""
        out = {k: np.asarray(v) for k, v in jax.device_get(arrays).items()}
        out.update(dg.spectra(self.trainer.model, jax.device_get(params)))
        groups = self.open_groups(step) if groups is None else groups
        self._fan(
            step,
            groups,
            lambda sink, m: sink.add_diagnostics(
                step, {"step": np.asarray(step), **{k: v[m.start : m.stop] for k, v in out.items()}}
            ),
        )
        return out

    def state(self) -> dict[str, Any]:
        """Everything a resumed run needs to go on exactly as this one would."""
        return {
            "results": [dataclasses.asdict(r) for r in self.results],
            "last_chunk": self.last_chunk,
            "diverged": self.diverged.tolist(),
            "detector": {k: v.tolist() for k, v in self.detector.state().items()},
            "ended": self.ended,
            "ended_s": self.ended_s,
        }

    def load(self, state: dict[str, Any]) -> None:
        """The inverse of :meth:`state`."""
        self.results = [SeedResult(**r) for r in state["results"]]
        self.last_chunk = state["last_chunk"]
        self.diverged = np.asarray(state["diverged"])
        self.detector.load({k: np.asarray(v, np.float64) for k, v in state["detector"].items()})
        self.ended = state.get("ended", self.ended)
        self.ended_s = state.get("ended_s", self.ended_s)

    def result(self, strategy: str, params_init: Params, params_final: Params) -> list[RunResult]:
        """One result per group: its seeds, steps and seconds to its own end."""
        params_init, params_final = jax.device_get(params_init), jax.device_get(params_final)
        out = []
        for g, m in enumerate(self.groups):
            rows, step_series, grad_time, diagnostics = self.sinks[g].result()
            part = lambda tree, m=m: jax.tree.map(lambda x: x[m.start : m.stop], tree)  # noqa: E731
            out.append(
                RunResult(
                    seeds=self.results[m.start : m.stop],
                    strategy=strategy,
                    steps_run=int(self.ended[g] or 0),
                    params_init=part(params_init),
                    params_final=part(params_final),
                    metrics=rows,
                    wall_time_s=self.ended_s[g],
                    step_series=step_series,
                    grad_time=grad_time,
                    diagnostics=diagnostics,
                )
            )
        return out


def series_part(series: dict[str, np.ndarray], models: range) -> dict[str, np.ndarray]:
    """The per-step series ([steps, models] each, and ``step``) of some models."""
    return {k: v if k == "step" else v[:, models.start : models.stop] for k, v in series.items()}


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


class Listener(Protocol):
    """What a run shows while it trains besides its store: called with the group's own
    rows, series and measurements (see :func:`train_groups`)."""

    def on_eval(self, step: int, rows: list[dict[str, Any]]) -> None: ...
    def on_chunk(self, series: dict[str, np.ndarray]) -> None: ...
    def on_diagnostics(self, step: int, arrays: dict[str, np.ndarray]) -> None: ...


@dataclasses.dataclass
class Callbacks:
    """The three callbacks of :func:`train` as one :class:`Listener`."""

    eval: Callable[[int, list[dict[str, Any]]], None] | None = None
    chunk: Callable[[dict[str, np.ndarray]], None] | None = None
    diagnostics: Callable[[int, dict[str, np.ndarray]], None] | None = None

    def on_eval(self, step: int, rows: list[dict[str, Any]]) -> None:
        if self.eval is not None:
            self.eval(step, rows)

    def on_chunk(self, series: dict[str, np.ndarray]) -> None:
        if self.chunk is not None:
            self.chunk(series)

    def on_diagnostics(self, step: int, arrays: dict[str, np.ndarray]) -> None:
        if self.diagnostics is not None:
            self.diagnostics(step, arrays)


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
    (:meth:`Recorder.record_chunk`). ``sink``
    receives the history (default: kept in memory and returned); with ``checkpoint`` the
    run resumes from its last checkpoint, if any, and saves new ones as it goes.
    """
    if not seeds:
        raise ValueError("seeds must be at least 1")
    listener = Callbacks(on_eval, on_chunk, on_diagnostics)
    sinks = None if sink is None else [sink]
    return train_groups(
        trainer,
        seeds,
        params_init=params_init,
        strategy=strategy,
        listeners=[listener],
        sinks=sinks,
        checkpoint=checkpoint,
    )[0]


def train_groups(
    trainer: Trainer,
    seeds: list[int],
    *,
    groups: list[range] | None = None,
    params_init: Params | None = None,
    hyper: Hyper | None = None,
    strategy: str | None = None,
    listeners: Sequence[Listener] | None = None,
    sinks: Sequence[MemorySink | StoreSink] | None = None,
    checkpoint: Checkpointer | None = None,
) -> list[RunResult]:
    """Train the models of several runs side by side: :func:`train` for consecutive
    ``groups`` of the models (default: one group of all), each group a run of its own.

    Model i has seed ``seeds[i]`` (a seed may repeat across groups: each group is a
    different config), initial parameters ``params_init`` [i] and optimizer numbers
    ``hyper`` [i] (stacked; default: the trainer's own for every model). Every model runs
    exactly as in a run of its group alone (its keys come from its seed, its numbers from
    its state), and each group's listener and sink get only that group's models, until the
    evaluation at which that group's run would have ended alone, with the full
    diagnostics it would have measured there. Returns one result per group.
    """
    if not seeds:
        raise ValueError("seeds must be at least 1")
    spec, level = trainer.spec, trainer.diagnostics.level
    name = resolve_strategy(strategy or spec.strategy, len(seeds), spec.workers, spec.steps)
    params_init = init_params(trainer.model, seeds) if params_init is None else params_init
    if hyper is None:
        hyper = jax.tree.map(lambda x: jnp.broadcast_to(x, (len(seeds),)), optim_hyper(trainer.optim))
    record, start = Recorder(trainer, seeds, sinks, groups), time.perf_counter()
    listeners = listeners or [Callbacks() for _ in record.groups]
    states: TrainState = jax.vmap(trainer.init_state)(params_init, hyper)
    done, next_full = 0, 0
    if checkpoint is not None and (saved := checkpoint.load(states)) is not None:
        states, meta = saved
        done, next_full = meta["done"], meta["next_full"]
        record.load(meta["recorder"])
    part = lambda x, m: x[m.start : m.stop]  # noqa: E731
    with make_strategy(name, trainer, seeds) as runner:
        while True:
            if checkpoint is not None and done and checkpoint.due(done):
                checkpoint.save(states, done, next_full, record.state())
                checkpoint.after_save()
            running = record.open_groups(done)
            rows, newly_solved = record.evaluation(done, runner.evaluate(states))
            for g in running:
                listeners[g].on_eval(done, part(rows, record.groups[g]))
            ended = record.close_groups(done, time.perf_counter() - start)
            grid = done >= next_full
            if level == "full" and (grid or ended):
                takers = running if grid else ended  # a group's last measurement is at its end
                arrays = record.diagnostics(done, runner.full_diagnostics(states), states.params, takers)
                for g in takers:
                    m = record.groups[g]
                    listeners[g].on_diagnostics(done, {k: part(v, m) for k, v in arrays.items()})
                if grid:
                    next_full = done + trainer.diagnostics.every
            if record.finished:
                break
            if spec.stop_when_solved and newly_solved:
                states = states._replace(stopped=states.stopped.at[np.asarray(newly_solved)].set(True))
            active = record.active()
            steps = np.arange(done, done + min(spec.eval_every, spec.steps - done), dtype=np.int32)
            states, metrics = runner.train_chunk(states, jnp.asarray(steps))
            diverged_at = np.asarray(jax.device_get(states.diverged_at))
            series = record.record_chunk(steps, jax.device_get(metrics), diverged_at, active)
            for g in record.running():
                listeners[g].on_chunk(series_part(series, record.groups[g]))
            done += len(steps)
    return record.result(name, params_init, states.params)


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
