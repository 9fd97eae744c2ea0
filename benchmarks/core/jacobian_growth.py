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

from benchmarks.core.diagnostics import lyapunov_exponents, step_jacobians
from benchmarks.stats import wilson_interval


class Growth(NamedTuple):
    """Per draw, the largest Lyapunov exponent (per step, natural log; the mean over the
    input sequences); the share of draws above 0 and its 95% Wilson interval."""

    exponents: np.ndarray
    growing: int
    draws: int
    lo: float
    hi: float


def largest_exponent(net: Any, params: dict[str, Any], x_BTD: jax.Array, layer: int = 0) -> jax.Array:
    """The largest Lyapunov exponent of the step Jacobians along each sequence [B]."""
    jacs = step_jacobians(net, params, x_BTD, layer)
    return jax.vmap(lambda j: lyapunov_exponents(j, 1)[0])(jacs)


def growth_share(
    net: Any, seeds: int, length: int, key: jax.Array, sequences: int = 4, layer: int = 0
) -> Growth:
    """``seeds`` initialisations of ``net``, each run over ``sequences`` white-noise input
    sequences of ``length`` steps: their largest exponents and the share above 0."""
    if seeds < 1 or length < 2 or sequences < 1:
        raise ValueError(
            f"seeds and sequences must be >= 1 and length >= 2, got {seeds}, {sequences}, {length}"
        )
    k_init, k_data = jax.random.split(key)
    x = jax.random.normal(k_data, (sequences, length, net.input_size), jnp.float32)

    @jax.jit
    def one(k: jax.Array) -> jax.Array:
        return jnp.mean(largest_exponent(net, net.init(k), x, layer))

    exponents = np.asarray(jax.lax.map(one, jax.random.split(k_init, seeds)), np.float64)
    growing = int(np.sum(exponents > 0.0))
    lo, hi = wilson_interval(growing, seeds)
    return Growth(exponents, growing, seeds, float(lo), float(hi))
