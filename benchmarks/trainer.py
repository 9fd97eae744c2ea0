"""The trainer: a pure per-seed training chunk, and seed strategies around it.

``train_chunk(state, keys, steps)`` runs ``len(steps)`` optimizer steps for ONE seed inside
one ``lax.scan`` and is the same function for every strategy:

    vmap       all seeds in one compiled program (``jit(vmap(train_chunk))``): the GPU/TPU path
    loop       a jitted single-seed chunk called once per seed, in this process
    processes  seeds spread over one pinned, single-thread worker process per CPU core, each
               looping its share (:mod:`benchmarks.workers`): the fastest on a multi-core CPU

Per-seed randomness comes from one root key per seed, split into named streams with
``fold_in``: ``params`` (initialisation), ``data`` (training batch of step s is drawn from
``fold_in(data, s)``, so results do not depend on the chunk size) and ``eval`` (a fixed
evaluation set). A seed whose loss or gradient becomes non-finite is recorded as diverged
at that step and its parameters stop changing; the other seeds are unaffected.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import diagnostics as dg
from benchmarks.diagnostics import DiagnosticsSpec
from benchmarks.optim import OptimSpec, make_optimizer
from benchmarks.stats import wilson_interval
from benchmarks.workers import train_processes, usable_cores
from carousel_checks import check_choice, check_positive
from models.scan import Params, RecurrentNet

STRATEGIES = ("auto", "vmap", "loop", "processes")
STREAM_PARAMS, STREAM_DATA, STREAM_EVAL, STREAM_DIAG = 0, 1, 2, 3
EVAL_CHUNK = 1000


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """steps: optimizer steps per seed; eval_every: steps per jitted chunk, after each of
    which every seed is evaluated; eval_size: evaluation sequences (None: the task's
    published size); strategy: how seeds are run (see module docstring);
    stop_when_solved: a seed stops training (its parameters freeze) once solved, and the
    run ends when every seed is solved or diverged; so a seed's results never depend on
    the other seeds or on the strategy."""

    steps: int = 2000
    batch_size: int = 20
    eval_every: int = 100
    eval_size: int | None = None
    strategy: str = "auto"
    stop_when_solved: bool = True
    workers: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"train.steps must be a non-negative integer, got {self.steps!r}")
        check_positive("train.batch_size", self.batch_size)
        check_positive("train.eval_every", self.eval_every)
        if self.eval_size is not None:
            check_positive("train.eval_size", self.eval_size)
        check_choice("seed strategy", self.strategy, STRATEGIES)
        if self.workers is not None:
            check_positive("train.workers", self.workers)


class TrainState(NamedTuple):
    params: Params
    opt_state: Any
    diverged_at: jax.Array  # int32, -1 while finite
    stopped: jax.Array  # bool: solved with stop_when_solved; parameters frozen


class ChunkMetrics(NamedTuple):
    loss: jax.Array  # [steps] training loss per step
    grad_norm: jax.Array  # [steps] global gradient norm per step
    extra: dict[str, jax.Array]  # diagnostics: grad_h/grad_c [steps, T], param.<name> [steps]


class EvalMetrics(NamedTuple):
    loss: jax.Array
    correct: jax.Array  # fraction of evaluation sequences correct
    solved: jax.Array


def seed_keys(seed: int) -> tuple[jax.Array, ...]:
    """The named streams of one seed: params, data, eval, diagnostics."""
    root = jax.random.key(seed)
    return tuple(jax.random.fold_in(root, s) for s in (STREAM_PARAMS, STREAM_DATA, STREAM_EVAL, STREAM_DIAG))


# Below this many model-steps (seeds x steps) the worker processes' start-up (about 8 s of
# process start and compilation on 2 cores) costs more than their speed-up saves.
PROCESSES_MIN_MODEL_STEPS = 3000


def resolve_strategy(
    strategy: str, n_seeds: int, workers: int | None = None, steps: int | None = None
) -> str:
    """``auto``: vmap on accelerators; on the CPU, worker processes when there are several
    cores and seeds and enough work to repay their start-up, else the loop.
    ``processes`` with one worker is the loop."""
    if strategy == "auto":
        if jax.default_backend() != "cpu":
            return "vmap"
        enough = steps is None or n_seeds * steps >= PROCESSES_MIN_MODEL_STEPS
        strategy = "processes" if enough else "loop"
    if strategy == "processes" and min(workers or len(usable_cores()), n_seeds) <= 1:
        strategy = "loop"
    return strategy


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Pure training functions for one (model, task, optimizer, schedule)."""

    model: RecurrentNet
    task: Any
    optim: OptimSpec
    spec: TrainSpec
    diagnostics: DiagnosticsSpec = DiagnosticsSpec()

    @property
    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.optim)

    @property
    def eval_size(self) -> int:
        """Evaluation sequences: the config's, else the task's published size."""
        return self.spec.eval_size or self.task.eval_size

    def init_state(self, params: Params) -> TrainState:
        return TrainState(params, self.optimizer.init(params), jnp.array(-1, jnp.int32), jnp.array(False))

    def train_chunk(
        self, state: TrainState, data_key: jax.Array, steps: jax.Array
    ) -> tuple[TrainState, ChunkMetrics]:
        optimizer = self.optimizer

        diag = self.diagnostics
        layer = diag.layer if diag.probes else None

        def one_step(state: TrainState, step: jax.Array):
            batch = self.task.sample(jax.random.fold_in(data_key, step), self.spec.batch_size)
            loss, grads, probe_grads = dg.loss_and_grads(self.model, self.task, state.params, batch, layer)
            grad_norm = optax.tree.norm(grads)
            finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
            live = finite & (state.diverged_at < 0) & ~state.stopped
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            keep = lambda new, old: jnp.where(live, new, old)  # noqa: E731
            diverged_at = jnp.where((state.diverged_at < 0) & ~finite, step, state.diverged_at)
            new = TrainState(
                jax.tree.map(keep, params, state.params),
                jax.tree.map(keep, opt_state, state.opt_state),
                diverged_at.astype(jnp.int32),
                state.stopped,
            )
            extra: dict[str, jax.Array] = {}
            if diag.probes:  # per-step norms: batch means over time, and every parameter's
                extra = {k: jnp.mean(v, axis=1) for k, v in dg.state_grad_norms(probe_grads).items()}
                extra.update({f"param.{k}": v for k, v in dg.param_grad_norms(grads).items()})
            return new, ChunkMetrics(loss, grad_norm, extra)

        return jax.lax.scan(one_step, state, steps)

    def evaluate(self, params: Params, eval_key: jax.Array) -> EvalMetrics:
        """Loss, fraction correct and the task's criterion on the fixed evaluation set.

        Tasks with a held-out split (``task.eval_batch()``) are evaluated on it; the others
        on ``eval_size`` fresh sequences from the seed's eval stream (rounded up to whole
        chunks of at most 1,000 sequences). Evaluation runs in chunks to bound memory.
        """
        if hasattr(self.task, "eval_batch"):
            batches, valid = _chunked(self.task.eval_batch(), EVAL_CHUNK)
        else:
            chunk = min(self.eval_size, EVAL_CHUNK)
            keys = jax.random.split(eval_key, math.ceil(self.eval_size / chunk))
            batches = jax.vmap(lambda k: self.task.sample(k, chunk))(keys)
            valid = jnp.ones(batches.mask.shape[:2], jnp.float32)

        def one(inputs):
            batch, ok = inputs
            outputs, _ = self.model.apply(params, batch.x)
            weight = jnp.sum(ok)
            n_correct = jnp.sum(self.task.correct(outputs, batch) * ok)
            return self.task.loss(outputs, batch) * weight, n_correct, weight

        losses, correct, weights = jax.lax.map(one, (batches, valid))
        loss, frac = jnp.sum(losses) / jnp.sum(weights), jnp.sum(correct) / jnp.sum(weights)
        return EvalMetrics(loss, frac, self.task.solved(loss, frac))

    def diagnostics_batch(self, diag_key: jax.Array):
        return self.task.sample(diag_key, self.diagnostics.batch_size)

    def full_diagnostics(self, params: Params, diag_key: jax.Array) -> dict[str, jax.Array]:
        return dg.full_diagnostics(
            self.model, self.task, self.diagnostics, params, self.diagnostics_batch(diag_key)
        )


def _chunked(batch, size: int):
    """Split a batch into equal chunks of at most ``size`` sequences; padding sequences
    have a zero mask and a zero ``valid`` flag, so they count in no metric."""
    n = batch.x.shape[0]
    size = min(size, n)
    n_chunks = math.ceil(n / size)
    pad = n_chunks * size - n

    def split(a):
        a = jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]) if pad else a
        return a.reshape(n_chunks, size, *a.shape[1:])

    valid = split(jnp.ones((n,), jnp.float32))
    return jax.tree.map(split, batch), valid


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


@dataclasses.dataclass
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


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _unstack(tree: Any, n: int) -> list[Any]:
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(n)]


@functools.lru_cache(maxsize=32)
def seed_runner(trainer: Trainer, strategy: str) -> SeedRunner:
    """One compiled runner per (trainer, strategy), reused across runs in a process."""
    return SeedRunner(trainer, strategy)


class SeedRunner:
    """Runs a trainer's chunk and evaluation for all seeds with one strategy."""

    def __init__(self, trainer: Trainer, strategy: str):
        self.strategy = strategy
        chunk, evaluate = trainer.train_chunk, trainer.evaluate
        full = trainer.full_diagnostics
        if strategy == "vmap":
            self._chunk = jax.jit(jax.vmap(chunk, in_axes=(0, 0, None)))
            self._eval = jax.jit(jax.vmap(evaluate))
            self._full = jax.jit(jax.vmap(full))
        else:
            self._chunk = jax.jit(chunk)
            self._eval = jax.jit(evaluate)
            self._full = jax.jit(full)

    def chunk(self, states: Any, data_keys: Any, steps: jax.Array):
        if self.strategy == "vmap":
            return self._chunk(states, data_keys, steps)
        out = [self._chunk(s, k, steps) for s, k in zip(states, data_keys, strict=True)]
        return [o[0] for o in out], _stack([o[1] for o in out])

    def evaluate(self, states: Any, eval_keys: Any) -> EvalMetrics:
        if self.strategy == "vmap":
            return self._eval(states.params, eval_keys)
        return _stack([self._eval(s.params, k) for s, k in zip(states, eval_keys, strict=True)])

    def full_diagnostics(self, states: Any, diag_keys: Any) -> dict[str, jax.Array]:
        if self.strategy == "vmap":
            return self._full(states.params, diag_keys)
        return _stack([self._full(s.params, k) for s, k in zip(states, diag_keys, strict=True)])

    @staticmethod
    def params(states: Any) -> Params:
        return states.params if isinstance(states, TrainState) else _stack([s.params for s in states])


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
) -> RunResult:
    """Train one model per seed; evaluate every ``eval_every`` steps.

    ``params_init`` (stacked over seeds) replaces the seeds' own initialisation, e.g. to
    inject a fault into one seed. ``on_eval(step, rows)`` is called after every
    evaluation with one metrics row per seed (for progress bars, loggers, the store);
    ``on_diagnostics(step, arrays)`` after every full diagnostics measurement.
    """
    if not seeds:
        raise ValueError("seeds must be at least 1")
    strategy = resolve_strategy(
        strategy or trainer.spec.strategy, len(seeds), trainer.spec.workers, trainer.spec.steps
    )
    if params_init is None:
        params_init = init_params(trainer.model, seeds)
    if strategy == "processes":
        result = train_processes(trainer, seeds, jax.device_get(params_init), on_eval, trainer.spec.workers)
        if on_diagnostics is not None and result.diagnostics:
            for k, step in enumerate(result.diagnostics["step"]):
                on_diagnostics(
                    int(step), {key: v[k] for key, v in result.diagnostics.items() if key != "step"}
                )
        return result
    runner = seed_runner(trainer, strategy)
    n = len(seeds)
    keys = [seed_keys(s) for s in seeds]
    data_keys: Any
    eval_keys: Any
    diag_keys: Any
    data_keys, eval_keys, diag_keys = (
        jnp.stack([k[stream] for k in keys]) for stream in (STREAM_DATA, STREAM_EVAL, STREAM_DIAG)
    )
    states: Any = jax.vmap(trainer.init_state)(params_init)  # stacked, or a list per seed
    if strategy == "loop":
        states = _unstack(states, n)
        data_keys, eval_keys, diag_keys = list(data_keys), list(eval_keys), list(diag_keys)

    diag = trainer.diagnostics
    results = [SeedResult(seed=s) for s in seeds]
    rows: list[dict[str, Any]] = []
    series: dict[str, list[np.ndarray]] = {}  # per-step values, [steps, seeds] each
    grad_time: dict[str, list[np.ndarray]] = {"step": []}  # chunk means, [seeds, T] each
    measured: dict[str, list[np.ndarray]] = {"step": []}  # full diagnostics, [seeds, ...] each
    start = time.perf_counter()
    done, next_full = 0, 0
    last_chunk: list[dict[str, float]] = [{} for _ in seeds]  # loss/grad stats, last chunk
    diverged = np.full(n, -1)  # every seed starts finite (init_state); updated after each chunk
    while True:
        evaluation = jax.device_get(runner.evaluate(states, eval_keys))
        chunk_rows = []
        newly_solved = []
        for i, r in enumerate(results):
            r.diverged_at = int(diverged[i]) if diverged[i] >= 0 else None
            r.final_eval_loss = float(evaluation.loss[i])
            r.final_correct = float(evaluation.correct[i])
            if bool(evaluation.solved[i]) and r.diverged_at is None and not r.solved:
                r.solved, r.steps_to_solve = True, done
                newly_solved.append(i)
            chunk_rows.append(
                {
                    "step": done,
                    "seed": r.seed,
                    "train_loss": math.nan,
                    **last_chunk[i],
                    "eval_loss": r.final_eval_loss,
                    "eval_correct": r.final_correct,
                    "solved": r.solved,
                    "diverged": r.diverged_at is not None,
                }
            )
        rows.extend(chunk_rows)
        if on_eval is not None:
            on_eval(done, chunk_rows)
        finished = all(r.solved or r.diverged_at is not None for r in results)
        final = done >= trainer.spec.steps or (trainer.spec.stop_when_solved and finished)
        if diag.level == "full" and (done >= next_full or final):
            arrays = {
                k: np.asarray(v)
                for k, v in jax.device_get(runner.full_diagnostics(states, diag_keys)).items()
            }
            arrays.update(dg.spectra(trainer.model, jax.device_get(runner.params(states))))
            measured["step"].append(np.asarray(done))
            for k, v in arrays.items():
                measured.setdefault(k, []).append(v)
            if on_diagnostics is not None:
                on_diagnostics(done, arrays)
            next_full = done + diag.every
        if final:
            break
        if trainer.spec.stop_when_solved and newly_solved:
            states = _stop(states, newly_solved, strategy)
        active = np.array(
            [not (r.solved and trainer.spec.stop_when_solved) and r.diverged_at is None for r in results]
        )
        n_steps = min(trainer.spec.eval_every, trainer.spec.steps - done)
        steps = jnp.arange(done, done + n_steps, dtype=jnp.int32)
        states, metrics = runner.chunk(states, data_keys, steps)
        metrics = jax.device_get(metrics)
        # a frozen (solved or diverged) seed is not training: its per-step values are NaN
        diverged = np.asarray(  # fetched once per chunk, read by the next evaluation
            jax.device_get(
                states.diverged_at if strategy == "vmap" else jnp.stack([s.diverged_at for s in states])
            )
        )
        training = active[:, None] & (
            (diverged[:, None] < 0) | (np.asarray(steps)[None, :] <= diverged[:, None])
        )
        loss = np.where(training, np.asarray(metrics.loss), np.nan)  # [seeds, steps]
        grad = np.where(training, np.asarray(metrics.grad_norm), np.nan)
        last_chunk = [
            {
                "train_loss": _finite_mean(loss[i]),
                "grad_norm_mean": _finite_mean(grad[i]),
                "grad_norm_max": _finite_max(grad[i]),
            }
            for i in range(n)
        ]
        for i, r in enumerate(results):
            if active[i] and math.isfinite(last_chunk[i]["train_loss"]):
                r.final_loss = last_chunk[i]["train_loss"]
        series.setdefault("loss", []).append(loss.T)
        series.setdefault("global", []).append(grad.T)
        for k, v in metrics.extra.items():
            v = np.asarray(v)  # [seeds, steps] or [seeds, steps, T]
            v = np.where(training.reshape(training.shape + (1,) * (v.ndim - 2)), v, np.nan)
            if k.startswith("param."):
                series.setdefault(k[len("param.") :], []).append(v.T)
            else:
                grad_time.setdefault(k, []).append(_finite_mean_axis1(v))
        if metrics.extra:
            grad_time["step"].append(np.asarray(done + n_steps))
        done += n_steps
    step_series = {k: np.concatenate(v) for k, v in series.items()}
    if "global" in step_series:
        events = dg.explode_events(step_series["global"], diag.explode_factor, diag.explode_window)
        step_series["explode"] = events
        for i, r in enumerate(results):
            r.explode_events = int(events[:, i].sum())
    if step_series:
        step_series["step"] = np.arange(done)
    return RunResult(
        results,
        strategy,
        done,
        jax.device_get(params_init),
        jax.device_get(runner.params(states)),
        rows,
        time.perf_counter() - start,
        step_series,
        {k: np.stack(v) for k, v in grad_time.items() if v},
        {k: np.stack(v) for k, v in measured.items() if v},
    )


def _stop(states: Any, seeds: list[int], strategy: str) -> Any:
    """Freeze the parameters of the given seed positions (they were solved)."""
    if strategy == "vmap":
        return states._replace(stopped=states.stopped.at[np.asarray(seeds)].set(True))
    return [s._replace(stopped=jnp.array(True)) if i in seeds else s for i, s in enumerate(states)]


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
