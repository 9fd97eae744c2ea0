"""How probable it is that a random net's products of step Jacobians grow.

"The bigger the net, the more probable an explosion" is a statement about random
initialisations: at a given size, in what share of draws does the product of the step
Jacobians ds_t/ds_{t-1} along a trajectory grow rather than shrink? Its exponential rate is
the largest Lyapunov exponent (:func:`benchmarks.core.diagnostics.lyapunov_exponents`), so
the share asked for is the share of draws whose largest exponent is above 0, with its
Wilson interval. :func:`growth_share` draws ``seeds`` initialisations of one model (each
with its own parameter key), runs each over white-noise inputs and reports the exponents
and the share; sizes and initialisations are swept by calling it per configuration.

``tests/benchmarks/core/test_jacobian_growth.py`` holds it to a closed form: a linear RNN
whose recurrent matrix is s times an orthogonal one has every step Jacobian equal to that
matrix, so its largest exponent is log s exactly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.core.diagnostics import flat_step
from benchmarks.stats import wilson_interval
from models.linalg import norm


class Growth(NamedTuple):
    """Per draw, the largest Lyapunov exponent (per step, natural log; the mean over the
    input sequences); the share of draws above 0 and its 95% Wilson interval."""

    exponents: np.ndarray
    growing: int
    draws: int
    lo: float
    hi: float


def largest_exponent(net: Any, params: dict[str, Any], x_BTD: jax.Array, layer: int = 0) -> jax.Array:
    """The largest Lyapunov exponent of the step Jacobians along each sequence [B]: one
    tangent vector v carried forward, v_t = J_t v_{t-1} / ||J_t v_{t-1}|| from
    v_0 = (1, ..., 1) / sqrt(S), the exponent the mean of log ||J_t v_{t-1}|| over the T steps
    (the QR method of :func:`benchmarks.core.diagnostics.lyapunov_exponents` with k = 1,
    without forming the S x S Jacobians: a Jacobian-vector product per step, so a
    1,024-wide LSTM state costs a step's work, not a million-entry matrix). A step that maps
    v to 0 makes the exponent -inf (nothing grows)."""
    _, states = net.apply(params, x_BTD)
    inputs = net.layer_inputs(x_BTD, states, layer)  # [T, B, D]
    s = jnp.concatenate(states[layer], axis=-1)  # [T, B, S]
    s_prev = jnp.concatenate([jnp.zeros_like(s[:1]), s[:-1]], axis=0)
    step = flat_step(net, params, layer)
    v0 = jnp.full(s.shape[-1], 1.0 / np.sqrt(s.shape[-1]), s.dtype)

    def along(prev_T: jax.Array, in_T: jax.Array) -> jax.Array:
        def forward(carry, xs):
            v, total = carry
            sp, x_t = xs
            _, jv = jax.jvp(lambda q: step(q, x_t), (sp,), (v,))
            n = norm(jv)  # scaled: exact from 1e-38 to 3e38, where J v of a saturated or huge step lies
            return (jv / jnp.where(n > 0, n, 1.0), total + jnp.log(n)), None

        (_, total), _ = jax.lax.scan(forward, (v0, jnp.zeros((), s.dtype)), (prev_T, in_T))
        return total / prev_T.shape[0]

    return jax.vmap(along, in_axes=(1, 1))(s_prev, inputs)


def draw_keys(key: jax.Array, seeds: int) -> jax.Array:
    """The parameter keys of :func:`growth_share`'s draws (``net.init(keys[i])`` is draw i)."""
    return jax.random.split(jax.random.split(key)[0], seeds)


def growth_share(
    net: Any, seeds: int, length: int, key: jax.Array, sequences: int = 4, layer: int = 0
) -> Growth:
    """``seeds`` initialisations of ``net``, each run over ``sequences`` white-noise input
    sequences of ``length`` steps: their largest exponents and the share above 0."""
    if seeds < 1 or length < 2 or sequences < 1:
        raise ValueError(
            f"seeds and sequences must be >= 1 and length >= 2, got {seeds}, {sequences}, {length}"
        )
    x = jax.random.normal(jax.random.split(key)[1], (sequences, length, net.input_size), jnp.float32)

    @jax.jit
    def one(k: jax.Array) -> jax.Array:
        return jnp.mean(largest_exponent(net, net.init(k), x, layer))

    exponents = np.asarray(jax.lax.map(one, draw_keys(key, seeds)), np.float64)
    growing = int(np.sum(exponents > 0.0))
    lo, hi = wilson_interval(growing, seeds)
    return Growth(exponents, growing, seeds, float(lo), float(hi))
