"""The hand-written RNN and GRU backward passes equal autodiff of the generic scan: states
and every gradient (parameters, inputs, probes) against ``jax.grad`` of
:meth:`RNNCell.step`/:meth:`GRUCell.step` scanned over time, against float64 central
differences, and on a long sequence whose early gradients are tiny.

(``jax.grad`` of the generic GRU scan under ``jax.enable_x64()`` disagreed with float64
finite differences and with float32 autodiff when these tests were written, for a reason
not found; float32 autodiff and float64 finite differences, which agree, are the
references.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import gru_fast, make_model, rnn_fast
from models.gru import GRUCell
from models.rnn import RNNCell

CASES = [
    ("rnn", {"activation": "tanh"}),
    ("rnn", {"activation": "relu"}),
    ("rnn", {"activation": "sigmoid"}),
    ("rnn", {"activation": "identity"}),
    ("gru", {}),
    ("gru_reset_after", {}),
]


def fast_scan(spec):
    return rnn_fast.rnn_scan if spec.cell == "rnn" else gru_fast.gru_scan


def generic_scan(cell):
    def scan(spec, w, x, probes):
        def body(carry, inputs):
            carry = cell.step(spec, w, carry, inputs[0], inputs[1])
            return carry, carry

        return jax.lax.scan(body, (jnp.zeros((x.shape[1], spec.hidden), x.dtype),), (x, probes))[1]

    return scan


def setup(name, kw, T, scale=1.0):
    model = make_model(name, 3, 1, hidden=5, **kw)
    cell = RNNCell if model.spec.cell == "rnn" else GRUCell
    w = cell.fuse(model.spec, model.init(jax.random.key(0)))
    w = {k: scale * v for k, v in w.items()}
    x = jax.random.normal(jax.random.key(1), (T, 4, 3))
    probes = (0.1 * jax.random.normal(jax.random.key(2), (T, 4, 5)),)
    return model.spec, cell, w, x, probes


def loss(scan, spec, T):
    def f(w, x, probes):
        (h,) = scan(spec, w, x, probes)
        return jnp.sum(jnp.sin(h) * jnp.arange(T, dtype=h.dtype)[:, None, None])

    return f


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_values_and_gradients_match_autodiff_and_finite_differences(name, kw):
    spec, cell, w, x, probes = setup(name, kw, T=9)
    f_fast, f_ref = loss(fast_scan(spec), spec, 9), loss(generic_scan(cell), spec, 9)
    (h,) = fast_scan(spec)(spec, w, x, probes)
    (h_ref,) = generic_scan(cell)(spec, w, x, probes)
    np.testing.assert_allclose(h, h_ref, rtol=1e-6, atol=1e-7)
    g = jax.grad(f_fast, argnums=(0, 1, 2))(w, x, probes)
    g_ref = jax.grad(f_ref, argnums=(0, 1, 2))(w, x, probes)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # independent of autodiff: central differences in float64 along a random direction
    leaves, tree = jax.tree.flatten((w, x, probes))
    rng = np.random.default_rng(0)
    v = [rng.normal(size=a.shape) for a in leaves]
    with jax.enable_x64():
        at = [np.asarray(a, np.float64) for a in leaves]
        shifted = lambda s: f_fast(*jax.tree.unflatten(tree, [a + s * d for a, d in zip(at, v, strict=True)]))  # noqa: E731
        fd = (shifted(1e-6) - shifted(-1e-6)) / 2e-6
    directional = sum(np.vdot(np.asarray(a), d) for a, d in zip(jax.tree.leaves(g), v, strict=True))
    np.testing.assert_allclose(directional, fd, rtol=1e-4)


@pytest.mark.parametrize(("name", "kw"), [CASES[0], CASES[4], CASES[5]])
def test_long_sequence_small_gradients_and_probes(name, kw):
    """T = 300 with contracting weights: dL/dh_t spans many orders of magnitude; every
    probe gradient (the total dL/dh_t) matches autodiff in relative terms."""
    T = 300
    spec, cell, w, x, probes = setup(name, kw, T, scale=0.5)
    probes = jax.tree.map(jnp.zeros_like, probes)

    def last(scan):
        return lambda w, x, p: jnp.sum(scan(spec, w, x, p)[0][-1] ** 2)

    g = jax.grad(last(fast_scan(spec)), argnums=(0, 2))(w, x, probes)
    g_ref = jax.grad(last(generic_scan(cell)), argnums=(0, 2))(w, x, probes)
    dh, dh_ref = np.asarray(g[1][0]), np.asarray(g_ref[1][0])
    norms, norms_ref = np.linalg.norm(dh, axis=-1), np.linalg.norm(dh_ref, axis=-1)
    assert norms_ref[0].max() < 1e-6 * norms_ref[-1].max()  # the gradient vanishes going back
    significant = norms_ref > 1e-30
    np.testing.assert_allclose(norms[significant], norms_ref[significant], rtol=1e-3)
    for k in w:
        np.testing.assert_allclose(g[0][k], g_ref[0][k], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["rnn", "gru", "gru_reset_after"])
def test_without_probes_and_through_the_model(name):
    """No probes: no probe cotangent; the model's gradient equals the generic path's."""
    model = make_model(name, 2, 1, hidden=4)
    params = model.init(jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (3, 7, 2))
    spec, cell = model.spec, model.cell_class
    w = cell.fuse(spec, model.layer_params(params, 0))
    got = jax.grad(lambda w: jnp.sum(fast_scan(spec)(spec, w, x.swapaxes(0, 1), None)[0]))(w)
    ref = jax.grad(lambda w: jnp.sum(generic_scan(cell)(spec, w, x.swapaxes(0, 1), None)[0]))(w)
    for k in w:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6)
    probes = model.zero_probes(3, 7)
    g = jax.grad(lambda p: jnp.sum(model.apply(params, x, p)[0] ** 2))(probes)
    assert g[0][0].shape == (7, 3, 4) and np.isfinite(np.asarray(g[0][0])).all()


def test_support():
    assert rnn_fast.supports(make_model("irnn", 2, 1).spec)
    assert gru_fast.supports(make_model("gru", 2, 1).spec)
    assert not rnn_fast.supports(make_model("lstm", 2, 1).spec)
    assert not gru_fast.supports(make_model("rnn", 2, 1).spec)


@pytest.mark.parametrize("name", ["lstm", "lstm_nofg", "lstm_peephole", "rnn", "gru", "gru_reset_after"])
def test_norm_probes_are_the_norms_of_the_probe_gradients(name):
    """Norm probes (computed in the hand-written backward loops, or through the generic
    scan for lstm_peephole) equal the norms of the full probes' gradients, for both layers
    of a two-layer net, on a long sequence where the early norms are tiny."""
    model = make_model(name, 2, 1, hidden=6, layers=2)
    params = model.init(jax.random.key(5))
    x = jax.random.normal(jax.random.key(6), (3, 120, 2))

    def grads(norms):
        def f(p):
            return jnp.sum(model.apply(params, x, p)[0][:, -1] ** 2)

        return jax.grad(f)(model.zero_probes(3, 120, norms=norms))

    full, norm = grads(False), grads(True)
    for layer_full, layer_norm in zip(full, norm, strict=True):
        for g, n in zip(layer_full, layer_norm, strict=True):
            assert n.shape == (120, 3)
            # float64 NumPy norms of the full gradient: exact where the early entries are
            # tiny (sqrt(sum x^2) in float32 read 0 there, below ~1e-19)
            expect = np.linalg.norm(np.asarray(g, np.float64), axis=-1)
            assert np.all((expect > 0) == (np.asarray(n) > 0))
            # two float32 backward passes of 120 steps each: their rounding may part by
            # about T float32 epsilons (1.4e-5 here), however XLA orders the arithmetic
            np.testing.assert_allclose(n, expect, rtol=4 * 120 * np.finfo(np.float32).eps, atol=0)
