"""The shape every task shares: a frozen config dataclass with pure JAX methods.

A task is a frozen (hashable) dataclass, so it can be passed to ``jax.jit`` as a
static argument. Its methods are pure functions of explicit PRNG keys:

- ``sample(key, batch_size) -> Batch``: a batch of sequences, batch-major.
- ``loss(outputs, batch) -> scalar``: the training loss, respecting ``batch.mask``.
- ``correct(outputs, batch) -> bool[batch]``: the paper's per-sequence criterion.
- ``solved(eval_loss, correct_fraction) -> bool``: the paper's success criterion,
  evaluated on ``eval_size`` fresh sequences.

``outputs`` is always ``[batch, time, output_size]`` (a readout at every step); the mask
says which steps carry a target, so variable-length sequences (right-padded) and
last-step-only targets share one code path.
"""

from __future__ import annotations

from typing import NamedTuple

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
