"""The hand-written LSTM backward equals autodiff of the generic scan."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import lstm_fast, make_model
from models.lstm import LSTMCell


def generic_scan(spec, w, x, probes):
    def body(carry, inputs):
        carry = LSTMCell.step(spec, w, carry, inputs[0], inputs[1])
        return carry, carry

    return jax.lax.scan(body, LSTMCell.zero_carry(spec, x.shape[1]), (x, probes))[1]


@pytest.mark.parametrize("kw", [{}, {"forget_gate": False}, {"output_activation": False}])
def test_values_and_gradients_match_autodiff(kw):
    model = make_model("lstm", 3, 1, hidden=5, **kw)
    assert lstm_fast.supports(model.spec)
    w = LSTMCell.fuse(model.spec, model.init(jax.random.key(0)))
    x = jax.random.normal(jax.random.key(1), (9, 4, 3))
    probes = tuple(0.1 * jax.random.normal(jax.random.key(k), (9, 4, 5)) for k in (2, 3))

    def loss(scan):
        def f(w, x, probes):
            h, c = scan(model.spec, w, x, probes)
            return jnp.sum(jnp.sin(h) * jnp.arange(9.0)[:, None, None]) + 0.1 * jnp.sum(c**2)

        return f

    ref = generic_scan(model.spec, w, x, probes)
    out = lstm_fast.lstm_scan(model.spec, w, x, probes)
    for a, b in zip(ref, out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    g_ref = jax.grad(loss(generic_scan), argnums=(0, 1, 2))(w, x, probes)
    g_out = jax.grad(loss(lstm_fast.lstm_scan), argnums=(0, 1, 2))(w, x, probes)
    for a, b in zip(jax.tree.leaves(g_ref), jax.tree.leaves(g_out), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # without probes the probe cotangent is simply absent
    g = jax.grad(lambda w: jnp.sum(lstm_fast.lstm_scan(model.spec, w, x, None)[0]))(w)
    g2 = jax.grad(lambda w: jnp.sum(generic_scan(model.spec, w, x, None)[0]))(w)
    for k in w:
        np.testing.assert_allclose(g[k], g2[k], rtol=1e-4, atol=1e-6)


def test_other_variants_use_autodiff():
    for name in ("lstm_peephole", "lstm_cifg", "lstm_fgr", "lstm_nig", "lstm_nog", "lstm_niaf"):
        assert not lstm_fast.supports(make_model(name, 2, 1, hidden=3).spec)
    assert not lstm_fast.supports(make_model("gru", 2, 1, hidden=3).spec)
