"""The trainer: the pure per-seed program every seed strategy runs, and its compiled form.

A *chunk* is a span of training steps run as one compiled call: ``Trainer.train_chunk(state,
data_key, steps)`` runs ``len(steps)`` optimizer steps for ONE seed inside one ``lax.scan``
(the chunk ends at the next evaluation, every ``train.eval_every`` steps);
``Trainer.evaluate`` and ``Trainer.full_diagnostics`` measure one seed. :func:`compiled`
jits them (vmapped over seeds or not), once per program in this process. The strategies in
:mod:`benchmarks.run.strategies` run these same functions for all seeds (vmapped, looped, or in
worker processes); nothing here knows about more than one seed.

Per-seed randomness comes from one root key per seed, split into named streams with
``fold_in``: ``params`` (initialisation), ``data`` (training batch of step s is drawn from
``fold_in(data, s)``, so results do not depend on the chunk size) and ``eval`` (a fixed
evaluation set). A seed diverges at the first step whose loss, gradient or updated
parameters hold a non-finite number: it is recorded as diverged at that step, its parameters
keep their last finite values, and the other seeds are unaffected. A norm is never the test:
the global gradient norm is recorded (scaled, :func:`models.linalg.tree_norm`, so a finite
gradient of norm 1e25 reads 1e25, not inf), but divergence means a non-finite *element*.

Every matrix product of these functions runs at the matmul precision ``train.precision``
(:data:`PRECISIONS`): true float32 by default on every backend, where JAX's own default
is TF32 on recent NVIDIA GPUs and bfloat16 passes on TPUs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import optax

from benchmarks.core import diagnostics as dg
from benchmarks.core import online
from benchmarks.core import regulariser as reg
from benchmarks.core.diagnostics import DiagnosticsSpec
from benchmarks.core.optim import Hyper, OptimSpec, hyper, make_optimizer
from carousel_checks import check_choice, check_positive
from models.base import ModelSpec
from models.linalg import tree_all_finite, tree_norm
from models.scan import GRADIENTS, Params, RecurrentNet
from tasks import TASKS, make_task
from tasks.base import Batch, Task

STRATEGIES = ("auto", "vmap", "loop", "processes")
STREAM_PARAMS, STREAM_DATA, STREAM_EVAL, STREAM_DIAG = 0, 1, 2, 3
EVAL_BATCH = 1000  # evaluation runs in batches of at most this many sequences (bounded memory)

# train.precision -> the value of JAX's ``jax_default_matmul_precision`` it sets while the
# training chunk, the evaluation and the diagnostics are traced. The first three are
# precision levels (what each means per chip: JAX's "Matmul precision" documentation);
# the others are dot algorithms by name, which fix the computation exactly and are
# refused by a backend that lacks them (the CPU has no TF32).
PRECISIONS: dict[str, str] = {
    "float32": "highest",  # true float32 on CPUs and GPUs; 6 bfloat16 passes on TPUs
    "tensorfloat32": "tensorfloat32",  # Precision.HIGH: TF32 on NVIDIA tensor cores, 3 bf16 passes on TPUs
    "default": "default",  # Precision.DEFAULT, JAX's own: TF32 on recent NVIDIA GPUs, 1 bf16 pass on TPUs
    "F32_F32_F32": "F32_F32_F32",
    "TF32_TF32_F32": "TF32_TF32_F32",
    "TF32_TF32_F32_X3": "TF32_TF32_F32_X3",
    "BF16_BF16_F32": "BF16_BF16_F32",
    "BF16_BF16_F32_X3": "BF16_BF16_F32_X3",
    "BF16_BF16_F32_X6": "BF16_BF16_F32_X6",
}


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """steps: optimizer steps per seed; eval_every: steps per jitted chunk, after each of
    which every seed is evaluated; eval_size: evaluation sequences (None: the task's
    published size); strategy: how seeds are run (:mod:`benchmarks.run.strategies`);
    workers: worker processes of the ``processes`` strategy (default: one per usable core);
    checkpoint_every: steps between checkpoints of a run written to a store (rounded up to
    whole chunks; 0: only when a preemption signal asks, see :mod:`benchmarks.run.checkpoint`);
    stop_when_solved: a seed stops training (its parameters freeze) once solved, and the
    run ends when every seed is solved or diverged; so a seed's results never depend on
    the other seeds or on the strategy; precision: the matmul precision of training,
    evaluation and diagnostics (:data:`PRECISIONS`; default true float32 everywhere);
    gradient: what trains the weights (:data:`models.scan.GRADIENTS`): ``full``
    backpropagation through time, or ``truncated``, Hochreiter & Schmidhuber 1997's rule
    for LSTMs (error reaches the past only along the cell state; :func:`models.scan.scan_cell`).
    The per-step gradient norms recorded during training are those of the gradient that
    trains; the full diagnostics measure the network itself and stay full BPTT;
    schedule: when the weights change (:data:`benchmarks.core.online.SCHEDULES`): ``batch``,
    once per batch from its whole gradient; ``step``, after every time step of the
    sequences, the 1997 and 2000 papers' online learning (:mod:`benchmarks.core.online`;
    truncated gradient, plain SGD); or ``stream``, the same rule on continual streams
    that end at their first error (Gers et al. 2000; ``task=continual_reber``): a training
    step is then the next ``task.length`` symbols of ``batch_size`` independent streams,
    whose state, traces and position carry over from step to step (:class:`TrainState`'s
    ``stream``); devices: how many of the default backend's local devices the ``vmap``
    strategy shards its models over (None: all of them;
    :class:`benchmarks.run.strategies.VmapStrategy`); the other strategies run on one
    device and accept only None or 1."""

    steps: int = 2000
    batch_size: int = 20
    eval_every: int = 100
    eval_size: int | None = None
    strategy: str = "auto"
    stop_when_solved: bool = True
    workers: int | None = None
    checkpoint_every: int = 1000
    precision: str = "float32"
    gradient: str = "full"
    schedule: str = "batch"
    devices: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 0:
            raise ValueError(f"train.steps must be a non-negative integer, got {self.steps!r}")
        check_positive("train.batch_size", self.batch_size)
        check_positive("train.eval_every", self.eval_every)
        if self.eval_size is not None:
            check_positive("train.eval_size", self.eval_size)
        check_choice("seed strategy", self.strategy, STRATEGIES)
        check_choice("train.precision", self.precision, tuple(PRECISIONS))
        check_choice("train.gradient", self.gradient, GRADIENTS)
        check_choice("train.schedule", self.schedule, online.SCHEDULES)
        if self.workers is not None:
            check_positive("train.workers", self.workers)
        if self.devices is not None:
            check_positive("train.devices", self.devices)
            if self.devices > 1 and self.strategy in ("loop", "processes"):
                raise ValueError(
                    f"train.devices={self.devices} shards the vmap strategy's models over devices;"
                    f" train.strategy={self.strategy} runs on one device; valid with it: null or 1"
                )
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0:
            raise ValueError(
                f"train.checkpoint_every must be a non-negative integer, got {self.checkpoint_every!r}"
            )


class Stream(NamedTuple):
    """``train.schedule=stream``: where each lane's data stream stands (the task's
    ``sample_stream`` position) and what its training stream carries (:class:`online.StreamCarry`)."""

    position: Any
    carry: online.StreamCarry


class TrainState(NamedTuple):
    params: Params
    opt_state: Any
    diverged_at: jax.Array  # int32, -1 while finite
    stopped: jax.Array  # bool: solved with stop_when_solved; parameters frozen
    hyper: Hyper  # this model's optimizer numbers (an input of the program, not a constant)
    stream: Stream | None = None  # train.schedule=stream only: carried from chunk to chunk


class ChunkMetrics(NamedTuple):
    loss: jax.Array  # [steps] training loss per step
    grad_norm: jax.Array  # [steps] global gradient norm per step
    extra: dict[str, jax.Array]  # diagnostics: grad_h/grad_c [steps, T], param.<name> [steps]
    # train.schedule=stream: per step ``ended`` [steps, L, B] and ``trained`` [steps, B]
    # (:func:`online.stream_chunk`); empty otherwise
    streams: dict[str, jax.Array] = {}  # never mutated


class Update(NamedTuple):
    """What one training step computed (not yet checked for divergence)."""

    params: Params
    opt_state: Any
    stream: Stream | None
    loss: jax.Array
    grads: Params
    state_norms: dict[str, jax.Array]  # the probes' per-step norms, [T, B] each
    streams: dict[str, jax.Array]  # train.schedule=stream's records


class EvalMetrics(NamedTuple):
    loss: jax.Array
    correct: jax.Array  # fraction of evaluation sequences correct
    solved: jax.Array


def seed_keys(seed: int) -> tuple[jax.Array, ...]:
    """The named streams of one seed: params, data, eval, diagnostics."""
    root = jax.random.key(seed)
    return tuple(jax.random.fold_in(root, s) for s in (STREAM_PARAMS, STREAM_DATA, STREAM_EVAL, STREAM_DIAG))


def at_precision(method: Callable[..., Any]) -> Callable[..., Any]:
    """The method traced under the trainer's ``train.precision`` (see :data:`PRECISIONS`):
    every dot product inside the jitted program carries that precision or algorithm."""

    @functools.wraps(method)
    def traced(self: Trainer, *args: Any) -> Any:
        with jax.default_matmul_precision(PRECISIONS[self.spec.precision]):
            return method(self, *args)

    return traced


def _in_unit_interval(task: Task) -> bool:
    span = task.target_range
    return span is not None and span[0] >= 0.0 and span[1] <= 1.0


@functools.cache
def sigmoid_readout_tasks() -> str:
    """Every task and variant a sigmoid readout can serve, as ``task (variant, ...)``; a
    variant that cannot be built from its defaults (a data file to give) is left out."""
    out = []
    for name, cls in sorted(TASKS.items()):
        ok = []
        for variant in cls.VARIANTS:
            try:
                task = make_task(name, variant=variant)
            except ValueError:
                continue
            if _in_unit_interval(task):
                ok.append(variant)
        if ok:
            out.append(f"{name} ({', '.join(ok)})")
    return ", ".join(out)


def check_readout(model: ModelSpec, task: Task) -> None:
    """A one-line error for a sigmoid readout (H&S 1997's output units, every output in
    (0, 1)) with a task it cannot serve: one whose loss reads the outputs as logits
    (cross-entropy would squash them a second time, and could never reach its optimum), or
    a squared error on targets outside [0, 1], which no output could reach."""
    if model.readout != "sigmoid" or _in_unit_interval(task):
        return
    span = task.target_range
    why = "reads the outputs as logits" if span is None else f"has targets in [{span[0]:g}, {span[1]:g}]"
    raise ValueError(
        "model.readout=sigmoid puts every output in (0, 1), for a squared error on targets in [0, 1];"
        f" task {task.name} (variant {task.variant}) {why}; valid tasks: {sigmoid_readout_tasks()};"
        " or model.readout=linear"
    )


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Pure training functions for one (model, task, optimizer, schedule)."""

    model: RecurrentNet
    task: Task
    optim: OptimSpec
    spec: TrainSpec
    diagnostics: DiagnosticsSpec = DiagnosticsSpec()

    def __post_init__(self) -> None:
        reg.check_model(self.model, self.optim.regulariser)
        if self.spec.gradient == "truncated" and self.model.spec.cell != "lstm":
            raise ValueError(
                "train.gradient=truncated is the LSTM's 1997 rule (error flows back in time only"
                f" along the cell state), and a {self.model.spec.cell!r} cell has no cell state;"
                " valid here: full"
            )
        if self.spec.schedule in online.ONLINE:
            online.check_online(
                self.model, self.spec.gradient, self.optim.name, self.optim.clip, self.spec.schedule
            )
        if self.spec.schedule == "stream":
            online.check_stream(self.task)
        check_readout(self.model.spec, self.task)

    @property
    def learner(self) -> RecurrentNet:
        """The model as the training step differentiates it (``train.gradient``)."""
        return dataclasses.replace(self.model, gradient=self.spec.gradient)

    def optimizer(self, h: Hyper | None = None) -> optax.GradientTransformation:
        """The optimizer with the numbers ``h`` (default: this trainer's own)."""
        return make_optimizer(self.optim, h)

    def program(self) -> Trainer:
        """This trainer with every number that is an input of the compiled programs (the
        optimizer's :class:`~benchmarks.core.optim.Hyper`) or used only to initialise
        (``model.init``, ``model.forget_bias``, ``model.bias``, ``model.*_gate_biases``)
        set to its default: the
        same programs, so trainers that differ only there share their compiled functions.
        The regulariser stays on or off (its pass is part of the program)."""
        optim = OptimSpec(
            name=self.optim.name,
            regulariser=1.0 if self.optim.regulariser else 0.0,
            clip="none" if self.spec.schedule in online.ONLINE else OptimSpec.clip,  # online: never clipped
        )
        defaults = ModelSpec()
        spec = dataclasses.replace(
            self.model.spec,
            init=defaults.init,
            forget_bias=defaults.forget_bias,
            bias=defaults.bias,
            input_gate_biases=defaults.input_gate_biases,
            forget_gate_biases=defaults.forget_gate_biases,
            output_gate_biases=defaults.output_gate_biases,
        )
        model = dataclasses.replace(self.model, spec=spec)
        return dataclasses.replace(self, model=model, optim=optim)

    @property
    def eval_size(self) -> int:
        """Evaluation sequences: the config's, else the task's published size."""
        return self.spec.eval_size or self.task.eval_size

    def init_state(self, params: Params, h: Hyper | None = None) -> TrainState:
        """A model's state before training, with the optimizer numbers ``h`` (default:
        this trainer's own)."""
        h = hyper(self.optim) if h is None else h
        opt_state = self.optimizer(h).init(params)
        stream = self.stream_start() if self.spec.schedule == "stream" else None
        return TrainState(params, opt_state, jnp.array(-1, jnp.int32), jnp.array(False), h, stream)

    def stream_start(self) -> Stream:
        """``train.batch_size`` fresh streams: the data at a string's start, the lanes
        waiting for it with zero state and traces."""
        lanes = self.spec.batch_size
        position = cast(Any, self.task).stream_position(lanes)  # a stream task (checked at build)
        return Stream(position, online.stream_carry(self.model.spec, self.task.input_size, lanes))

    @at_precision
    def train_chunk(
        self, state: TrainState, data_key: jax.Array, steps: jax.Array
    ) -> tuple[TrainState, ChunkMetrics]:
        optimizer = self.optimizer(state.hyper)
        diag = self.diagnostics

        def one_step(state: TrainState, step: jax.Array):
            up = self._update(state, jax.random.fold_in(data_key, step), optimizer)
            grad_norm = tree_norm(up.grads)  # the true norm: finite for any finite gradient below 3.4e38
            finite = jnp.isfinite(up.loss) & tree_all_finite(up.grads) & tree_all_finite(up.params)
            live = finite & (state.diverged_at < 0) & ~state.stopped
            keep = lambda new, old: jnp.where(live, new, old)  # noqa: E731
            diverged_at = jnp.where((state.diverged_at < 0) & ~finite, step, state.diverged_at)
            new = TrainState(
                jax.tree.map(keep, up.params, state.params),
                jax.tree.map(keep, up.opt_state, state.opt_state),
                diverged_at.astype(jnp.int32),
                state.stopped,
                state.hyper,
                jax.tree.map(keep, up.stream, state.stream),
            )
            extra: dict[str, jax.Array] = {}
            if diag.probes:  # per-step norms: batch means over time, and every parameter's
                extra = {k: jnp.mean(v, axis=1) for k, v in up.state_norms.items()}
                extra.update({f"param.{k}": v for k, v in dg.param_grad_norms(up.grads).items()})
            return new, ChunkMetrics(up.loss, grad_norm, extra, up.streams)

        return jax.lax.scan(one_step, state, steps)

    def _update(self, state: TrainState, key: jax.Array, optimizer: optax.GradientTransformation) -> Update:
        """One training step's new parameters and what it measured, on the data of ``key``."""
        schedule, lr = self.spec.schedule, state.hyper.lr
        if schedule == "stream":  # the next chunk of every lane's continual stream
            assert state.stream is not None
            chunk = cast(Any, self.task).sample_stream(key, self.spec.batch_size, state.stream.position)
            params, carry, loss, grads, records = online.stream_chunk(
                self.model, self.task, state.params, state.stream.carry, chunk.batch, chunk.starts, lr
            )
            stream = Stream(chunk.position, carry)
            return Update(params, state.opt_state, stream, loss, grads, {}, records)
        batch = self.task.sample(key, self.spec.batch_size)
        if schedule == "step":  # the weights change inside the sequences
            params, loss, grads, norms = online.online_sequence(
                self.model, self.task, state.params, batch, lr
            )
            return Update(params, state.opt_state, None, loss, grads, norms, {})
        layer = self.diagnostics.layer if self.diagnostics.probes else None
        if self.optim.regulariser > 0:  # the pass is in the program; its weight is not
            loss, grads, probe_grads, _ = reg.loss_and_grads(
                self.model, self.task, state.params, batch, state.hyper.regulariser, layer
            )
        else:
            loss, grads, probe_grads = dg.loss_and_grads(
                self.learner, self.task, state.params, batch, layer, norms=True
            )
        norms = dg.state_grad_norms(probe_grads) if self.diagnostics.probes else {}
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return Update(optax.apply_updates(state.params, updates), opt_state, None, loss, grads, norms, {})

    @at_precision
    def evaluate(self, params: Params, eval_key: jax.Array) -> EvalMetrics:
        """Loss, fraction correct and the task's criterion on the fixed evaluation set.

        A task with a held-out split (``task.held_out``) is evaluated on it
        (``task.eval_batch()``); the others on ``eval_size`` fresh sequences from the seed's
        eval stream (rounded up to whole batches of at most :data:`EVAL_BATCH` sequences).
        Evaluation runs batch by batch to bound memory.
        """
        if self.task.held_out:
            batches, valid = _in_batches(self.task.eval_batch(), EVAL_BATCH)
        else:
            size = min(self.eval_size, EVAL_BATCH)
            keys = jax.random.split(eval_key, math.ceil(self.eval_size / size))
            batches = jax.vmap(lambda k: self.task.sample(k, size))(keys)
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

    def diagnostics_batch(self, diag_key: jax.Array) -> Batch:
        return self.task.sample(diag_key, self.diagnostics.batch_size)

    @at_precision
    def full_diagnostics(self, params: Params, diag_key: jax.Array) -> dict[str, jax.Array]:
        return dg.full_diagnostics(
            self.model, self.task, self.diagnostics, params, self.diagnostics_batch(diag_key)
        )


def _in_batches(batch, size: int):
    """Split a batch into equal batches of at most ``size`` sequences; padding sequences
    have a zero mask and a zero ``valid`` flag, so they count in no metric."""
    n = batch.x.shape[0]
    size = min(size, n)
    n_batches = math.ceil(n / size)
    pad = n_batches * size - n

    def split(a):
        a = jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]) if pad else a
        return a.reshape(n_batches, size, *a.shape[1:])

    valid = split(jnp.ones((n,), jnp.float32))
    return jax.tree.map(split, batch), valid


class Compiled(NamedTuple):
    """The jitted training chunk, evaluation and full diagnostics of one trainer."""

    train_chunk: Any
    evaluate: Any
    full_diagnostics: Any


def compiled(trainer: Trainer, batched: bool) -> Compiled:
    """One set of compiled functions per (program, vmapped over seeds or not), reused by
    every run in this process whose trainer differs from this one only in numbers the
    programs take as inputs (:meth:`Trainer.program`). A jitted function compiles once per
    device it is called on: a run sharded over several devices
    (:class:`benchmarks.run.strategies.VmapStrategy`) runs this one-device program on each."""
    return _compiled(trainer.program(), batched)


@functools.lru_cache(maxsize=32)
def _compiled(trainer: Trainer, batched: bool) -> Compiled:
    fns = (trainer.train_chunk, trainer.evaluate, trainer.full_diagnostics)
    if batched:
        return Compiled(
            jax.jit(jax.vmap(fns[0], in_axes=(0, 0, None))),
            jax.jit(jax.vmap(fns[1])),
            jax.jit(jax.vmap(fns[2])),
        )
    return Compiled(*(jax.jit(f) for f in fns))
