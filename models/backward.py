"""What the hand-written backward passes (:mod:`models.lstm_fast`, :mod:`models.rnn_fast`,
:mod:`models.gru_fast`) share: reading saved states in place and skipping zero cotangents.

They are registered with ``symbolic_zeros=True``, so a cotangent that autodiff knows is zero
(e.g. dL/dc_t when only h reaches the loss) arrives as a ``SymbolicZero`` and costs nothing,
instead of a [T, B, H] array of zeros read at every step.

Memory is time here: XLA's CPU runtime allocates a step's temporary buffer afresh on every
call, and glibc serves an allocation above its mmap threshold (at most 32 MB) with new pages
that fault on first touch. The LSTM step with [T, B, H] probe gradients needed 32.2 MB at
B=64, T=200, H=128 and ran 22-28% slower than without (one core, measured); with norm probes
(:func:`is_norm_probe`) and states read in place (:func:`previous`) it needs 19.7 MB.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero

from models.linalg import norm


def previous(states: jax.Array, t: jax.Array) -> jax.Array:
    """states[t - 1], zero at t = 0, read in place: a shifted copy of the [T, B, H] states
    would add one more such array to the backward pass's memory."""
    prev = jax.lax.dynamic_index_in_dim(states, jnp.maximum(t - 1, 0), keepdims=False)
    return jnp.where(t > 0, prev, 0.0)


def primal_values(tree: Any) -> Any:
    """The values of a ``symbolic_zeros`` forward rule's arguments."""
    return jax.tree.map(lambda p: p.value, tree, is_leaf=lambda p: isinstance(p, CustomVJPPrimal))


def nonzero(g: Any) -> jax.Array | None:
    """A cotangent, or None where autodiff knows it is zero."""
    return None if isinstance(g, SymbolicZero) else g


def is_norm_probe(probes: Any) -> bool:
    """Norm probes are zeros shaped [T, B] per state (not [T, B, H]): they add nothing to the
    states, and their cotangent is ||dL/dh_t|| over the hidden units, per step and sequence."""
    return probes is not None and probes[0].ndim == 2


def per_step_norm(g: jax.Array) -> jax.Array:
    """The norm over the hidden units, exact from float32's smallest normal number to its
    largest (:func:`models.linalg.norm`): the long lags where these norms fall to 1e-30 or
    rise to 1e21 are what the probes exist to measure."""
    return norm(g, axis=-1)


@partial(jax.custom_vjp, nondiff_argnums=(1,))
def expand_norm_probe(q: jax.Array, hidden: int) -> jax.Array:
    """Zeros [T, B, hidden] from a norm probe q [T, B]; the cotangent that reaches q is the
    norm over the hidden units of the one that reaches the zeros. The generic scan adds these
    zeros as ordinary probes, so its norm probes give what the fast paths compute in-loop."""
    return jnp.zeros((*q.shape, hidden), q.dtype)


def _expand_fwd(q, hidden):
    return expand_norm_probe(q, hidden), None


def _expand_bwd(hidden, _, g):
    return (per_step_norm(g),)


expand_norm_probe.defvjp(_expand_fwd, _expand_bwd)
