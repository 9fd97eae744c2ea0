"""The curse of memory (Zucchet & Orvieto, NeurIPS 2024): as a recurrence's memory nears 1,
the state's sensitivity to the parameter that sets the memory explodes, even where the
error propagated back through time does not.

The reference case is the diagonal linear recurrence with white inputs,

    h_t = lam h_{t-1} + c x_t,   x_t ~ N(0, 1) independent,   h_0 = 0,

so h_T = sum_{k=0}^{T-1} lam^k c x_{T-k} and, with c' = dc/dlam,

    dh_T/dlam = sum_{k=0}^{T-1} (k lam^{k-1} c + lam^k c') x_{T-k},
    E[(dh_T/dlam)^2] = sum_{k=0}^{T-1} (k lam^{k-1} c + lam^k c')^2.

Without normalisation (c = 1) the stationary limit T -> inf is (1 + lam^2) / (1 - lam^2)^3,
a power -3 of 1 - lam; with the input normalised as Orvieto et al. 2023's LRU does, c =
sqrt(1 - lam^2) and differentiated (c' = -lam / c), it is 1 / (1 - lam^2)^2, a power -2:
the normalisation tames the blow-up by one power but does not remove it.

:func:`sensitivity` estimates E[(dh_T/dlam)^2] by Monte Carlo (forward-mode derivative
through the recurrence, the same estimator the LSTM's carousel gets), with its 95% interval;
:func:`stationary` is the closed form; :func:`power_law` fits the exponent of a sensitivity
against 1 - lam with its interval; :func:`carousel_sensitivity` measures the LSTM's
counterpart, the parameters' sensitivity through the cell state alone (the truncated,
CEC-only gradient), where the forget gate plays lam's part.
``tests/benchmarks/core/test_memory_curse.py`` holds both to float64 NumPy written in the
test: the finite sum, and one LSTM cell's forget-gate recurrence.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.stats import mean_interval

LEVEL = 0.95


class Estimate(NamedTuple):
    """A mean with its two-sided :data:`LEVEL` interval (Student's t over the samples,
    :func:`benchmarks.stats.mean_interval`)."""

    mean: float
    lo: float
    hi: float
    samples: int


def _interval(values: np.ndarray) -> Estimate:
    v = np.asarray(values, np.float64)
    mean, lo, hi = mean_interval(v)
    return Estimate(float(mean), float(lo), float(hi), v.size)


def _check(lam: float, length: int, sequences: int) -> None:
    if not 0.0 <= lam < 1.0:
        raise ValueError(f"lam must be in [0, 1) (a stable recurrence), got {lam!r}")
    if length < 1 or sequences < 2:
        raise ValueError(f"length must be >= 1 and sequences >= 2, got {length} and {sequences}")


def _derivative(lam: jax.Array, x: jax.Array, normalise: bool) -> jax.Array:
    """dh_T/dlam for each sequence of ``x`` [T, n] (forward mode through the scan)."""

    def final_state(lam_: jax.Array) -> jax.Array:
        c = jnp.sqrt(1.0 - lam_**2) if normalise else jnp.ones_like(lam_)

        def step(h, x_t):
            return lam_ * h + c * x_t, None

        h, _ = jax.lax.scan(step, jnp.zeros(x.shape[1], x.dtype), x)
        return h

    _, tangent = jax.jvp(final_state, (lam,), (jnp.ones_like(lam),))
    return tangent


_derivative_jit = jax.jit(_derivative, static_argnums=2)


def sensitivity(lam: float, length: int, sequences: int, key: jax.Array, normalise: bool = False) -> Estimate:
    """E[(dh_T/dlam)^2] over ``sequences`` white-noise sequences of ``length`` steps, with its
    95% interval; ``normalise`` scales the input by sqrt(1 - lam^2) (and differentiates it)."""
    _check(lam, length, sequences)
    x = jax.random.normal(key, (length, sequences), jnp.float32)
    d = _derivative_jit(jnp.float32(lam), x, normalise)
    return _interval(np.asarray(d, np.float64) ** 2)


def stationary(lam: float | np.ndarray, normalise: bool = False) -> float | np.ndarray:
    """The closed form T -> inf: (1 + lam^2) / (1 - lam^2)^3, or 1 / (1 - lam^2)^2 normalised."""
    lam = np.asarray(lam, np.float64)
    one_minus = 1.0 - lam**2
    out = 1.0 / one_minus**2 if normalise else (1.0 + lam**2) / one_minus**3
    return float(out) if out.ndim == 0 else out


class PowerLaw(NamedTuple):
    """y ~ a x^exponent fitted in log-log, the exponent with its 95% interval."""

    exponent: float
    lo: float
    hi: float
    points: int


def power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
    """The exponent of ``y`` against ``x`` (least squares on the logs; t interval on the slope)."""
    from scipy import stats

    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.size < 3 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("power_law needs 3 or more points with x > 0 and y > 0, of the same shape")
    fit = stats.linregress(np.log(x), np.log(y))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 2) * fit.stderr)
    return PowerLaw(float(fit.slope), float(fit.slope) - half, float(fit.slope) + half, x.size)


def carousel_sensitivity(
    net: Any, params: dict[str, Any], x: jax.Array, of: str = "output"
) -> dict[str, Estimate]:
    """The gated nets' side of the curse of memory: per parameter, the mean over the
    sequences ``x`` [n, T, D] of ||dy_T/dtheta||^2 (summed over the outputs' units), with its
    95% interval. An LSTM's gradient is the truncated (CEC-only) one
    (``models.scan.RecurrentNet.gradient="truncated"``: error reaches the past along the cell
    state alone, so this is the carousel's share), where the forget gate plays lam's part in
    c_t = f c_{t-1} + i z; a GRU's is the full gradient, where the update gate plays it in
    h_t = u h_{t-1} + (1 - u) n (it has no truncated rule: its carousel is h itself).
    ``of="state"`` differentiates the memory's last state instead of the output, summed over
    its units: c_T for an LSTM, h_T for a GRU, the quantity the linear theory describes (the
    output adds the LSTM's tanh(c_T), whose slope falls as c_T grows)."""
    if of not in ("output", "state"):
        raise ValueError(f"of must be 'output' or 'state', got {of!r}")
    import dataclasses

    rule = dataclasses.replace(net, gradient="truncated") if net.spec.cell == "lstm" else net

    def last_output(p: dict[str, Any], seq: jax.Array) -> jax.Array:
        y, states = rule.apply(p, seq[None])
        if of == "output":
            return jnp.sum(y[0, -1])
        return jnp.sum(states[0][1 if net.spec.cell == "lstm" else 0][-1])  # c_T, or the GRU's h_T

    grads = jax.jit(jax.vmap(jax.grad(last_output), in_axes=(None, 0)))(params, x)
    # squares of float32 values summed in float64: no overflow or underflow at either end
    return {
        name: _interval(np.sum(np.asarray(g, np.float64).reshape(g.shape[0], -1) ** 2, axis=1))
        for name, g in grads.items()
    }
