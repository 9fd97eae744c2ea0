"""The share of random nets whose step-Jacobian products grow, against a closed form: a
linear RNN with W_hh = s Q (Q orthogonal) has every step Jacobian equal to W_hh^T, so every
draw's largest Lyapunov exponent is log s exactly."""

import math

import jax
import numpy as np
import pytest
from scipy.stats import binomtest

from benchmarks.core.jacobian_growth import growth_share
from models import make_model


@pytest.mark.parametrize("scale", [0.9, 1.1])
def test_a_scaled_orthogonal_linear_rnn_grows_at_log_s(scale):
    net = make_model(
        "rnn",
        2,
        1,
        hidden=8,
        activation="identity",
        init={"recurrent": "orthogonal", "recurrent_scale": scale},
    )
    got = growth_share(net, seeds=6, length=30, key=jax.random.key(0))
    np.testing.assert_allclose(got.exponents, math.log(scale), rtol=0, atol=1e-5)
    assert got.growing == (6 if scale > 1 else 0) and got.draws == 6
    ci = binomtest(got.growing, 6).proportion_ci(method="wilson")
    assert (got.lo, got.hi) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_the_share_counts_draws_whose_exponent_is_above_zero():
    """A tanh RNN with a fan-in draw at s = 1.5 (radius about 1.5) grows in some draws;
    the share is exactly the count of positive exponents returned."""
    net = make_model("rnn", 2, 1, hidden=16, init={"recurrent": "fan_in", "recurrent_scale": 1.5})
    got = growth_share(net, seeds=8, length=60, key=jax.random.key(1))
    assert got.growing == int(np.sum(got.exponents > 0)) and len(set(np.round(got.exponents, 6))) == 8
    with pytest.raises(ValueError, match="^seeds and sequences must be >= 1 and length >= 2, got 0, 4, 10$"):
        growth_share(net, seeds=0, length=10, key=jax.random.key(0))


def test_the_tangent_exponent_is_a_float64_tanh_rnn_written_out():
    """A tanh RNN, h_t = tanh(x_t W + h_{t-1} R + b), has J_t = diag(1 - h_t^2) R^T. The
    exponent is the mean log growth of one tangent vector started at (1, ..., 1) / sqrt(H)
    and renormalised each step, written out here in float64 on the same parameters."""
    from benchmarks.core.jacobian_growth import largest_exponent

    net = make_model("rnn", 2, 1, hidden=12, init={"recurrent": "fan_in", "recurrent_scale": 1.3})
    params = net.init(jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (3, 50, 2))
    got = np.asarray(largest_exponent(net, params, x))

    W, R, b = (np.asarray(params[k], np.float64) for k in ("W_xh", "W_hh", "b_h"))
    want = []
    for seq in np.asarray(x, np.float64):
        h, v, total = np.zeros(12), np.full(12, 12**-0.5), 0.0
        for x_t in seq:
            h = np.tanh(x_t @ W + h @ R + b)
            v = (1 - h**2) * (v @ R)
            total += np.log(np.linalg.norm(v))
            v /= np.linalg.norm(v)
        want.append(total / len(seq))
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
    assert np.ptp(want) > 1e-3  # the three sequences differ: the test reads each one
