"""The shape every task shares (:class:`Task`): a frozen config dataclass with pure JAX methods.

A task is a frozen (hashable) dataclass, so it can be passed to ``jax.jit`` as a
static argument. Its methods are pure functions of explicit PRNG keys:

- ``sample(key, batch_size) -> Batch``: a batch of sequences, batch-major.
- ``loss(outputs, batch) -> scalar``: the training loss, respecting ``batch.mask``.
- ``correct(outputs, batch) -> bool[batch]``: the paper's per-sequence criterion.
- ``solved(eval_loss, correct_fraction) -> bool``: the paper's success criterion,
  evaluated on ``eval_size`` fresh sequences, or on the task's own held-out split
  (``eval_batch()``) when it has one (``held_out``).

``outputs`` is always ``[batch, time, output_size]`` (a readout at every step); the mask
says which steps carry a target, so variable-length sequences (right-padded) and
last-step-only targets share one code path.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int


class Batch(NamedTuple):
    """A batch of sequences.

    x:    inputs, ``[batch, time, input_size]`` float32 (zero after a sequence's end).
    y:    targets, ``[batch, time, output_size]`` float32 for regression tasks, or
          ``[batch, time]`` int32 class labels for classification tasks.
    mask: ``[batch, time]`` float32, 1.0 where the step's target counts in the loss.
    """

    x: Float[Array, "batch time input"]
    y: Float[Array, "batch time output"] | Int[Array, "batch time"]
    mask: Float[Array, "batch time"]


@runtime_checkable
class Task(Protocol):
    """What carousel uses of a task, and nothing more: the trainer
    (:class:`benchmarks.core.trainer.Trainer`: sampling, loss, criterion, evaluation set), the
    gradient diagnostics and the regulariser (``loss``), the config (``name``,
    ``VARIANTS``, the dataclass fields, ``input_size``/``output_size``), the memory check
    (``target``, ``max_length``) and the run's summary (``variant``, ``length``,
    ``describe``). Every task of :data:`tasks.TASKS` subclasses it for the defaults of its
    one optional capability, a held-out evaluation split (``held_out``, ``eval_batch``);
    ``tests/tasks/test_protocol.py`` checks each registered task against it."""

    name: ClassVar[str]  # the config's ``task=<name>``
    VARIANTS: ClassVar[tuple[str, ...]]  # the published versions: ``task.variant=<one of them>``
    # evaluated on its own fixed split (``eval_batch()``, ``eval_size`` sequences) instead
    # of ``eval_size`` fresh sequences from each seed's eval stream
    held_out: ClassVar[bool] = False
    __dataclass_fields__: ClassVar[dict[str, Any]]  # a frozen dataclass: its fields are the ``task.*`` keys

    @property
    def variant(self) -> str: ...
    @property
    def length(self) -> int | None:
        """The nominal length T (None where the data fix it: digits)."""
        ...

    @property
    def target(self) -> str:
        """``"regression"`` (float targets ``[batch, time, output_size]``) or
        ``"classification"`` (int32 labels ``[batch, time]``)."""
        ...

    @property
    def target_range(self) -> tuple[float, float] | None:
        """(lo, hi) holding every target when the loss compares the outputs themselves with
        the targets (a squared error); None when it reads the outputs as logits (softmax
        cross-entropy, sigmoid binary cross-entropy). A readout squashed into (0, 1)
        (``model.readout=sigmoid``) can only serve a range inside [0, 1]."""
        ...

    @property
    def input_size(self) -> int: ...
    @property
    def output_size(self) -> int: ...
    @property
    def max_length(self) -> int:
        """The time axis of every batch (sequences are right-padded to it)."""
        ...

    @property
    def eval_size(self) -> int:
        """Evaluation sequences of the published criterion."""
        ...

    def sample(self, key: Array, batch_size: int) -> Batch: ...
    def loss(self, outputs: Array, batch: Batch) -> Array: ...
    def correct(self, outputs: Array, batch: Batch) -> Array: ...
    def solved(self, eval_loss: Any, correct_fraction: Any) -> Array: ...
    def describe(self) -> str:
        """One line: the variant, its lengths and its criterion (``summary.json``'s ``criterion``)."""
        ...

    def eval_batch(self) -> Batch:
        """The held-out evaluation split, in a fixed order; only a task with ``held_out`` has
        one. (TypeError rather than NotImplementedError: type checkers would take a default
        that raises NotImplementedError for an abstract method every task must define.)"""
        raise TypeError(f"task {self.name!r} has no held-out split (held_out is False)")


def masked_mse(outputs: Float[Array, "b t o"], batch: Batch) -> Float[Array, ""]:
    """Mean squared error over the masked steps (mean over output units)."""
    sq = jnp.mean((outputs - batch.y) ** 2, axis=-1)
    return jnp.sum(sq * batch.mask) / jnp.maximum(jnp.sum(batch.mask), 1.0)


def masked_cross_entropy(logits: Float[Array, "b t c"], batch: Batch) -> Float[Array, ""]:
    """Mean softmax cross-entropy over the masked steps."""
    logp = logits - jnp.max(logits, axis=-1, keepdims=True)
    logp = logp - jnp.log(jnp.sum(jnp.exp(logp), axis=-1, keepdims=True))
    nll = -jnp.take_along_axis(logp, batch.y[..., None], axis=-1)[..., 0]
    return jnp.sum(nll * batch.mask) / jnp.maximum(jnp.sum(batch.mask), 1.0)


def per_sequence_sq_error(outputs: Float[Array, "b t o"], batch: Batch) -> Float[Array, " b"]:
    """Squared error per sequence, summed over masked steps and output units."""
    sq = jnp.sum((outputs - batch.y) ** 2, axis=-1)
    return jnp.sum(sq * batch.mask, axis=-1)


def per_sequence_all_argmax_correct(logits: Float[Array, "b t c"], batch: Batch) -> Bool[Array, " b"]:
    """True for a sequence when the argmax is right at every masked step."""
    hit = jnp.argmax(logits, axis=-1) == batch.y
    return jnp.all(hit | (batch.mask == 0), axis=-1)
