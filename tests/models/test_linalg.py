"""Gram-Schmidt QR, orthogonal init and power-iteration norms against NumPy."""

import jax
import numpy as np
import pytest

from models import linalg


def test_gram_schmidt_matches_numpy_qr():
    a = np.asarray(jax.random.normal(jax.random.key(0), (12, 5)))
    q, r = linalg.gram_schmidt(a)
    np.testing.assert_allclose(np.asarray(q).T @ np.asarray(q), np.eye(5), atol=1e-5)
    q_np, r_np = np.linalg.qr(a.astype(np.float64))
    np.testing.assert_allclose(np.asarray(r), np.abs(np.diag(r_np)), rtol=1e-4)
    np.testing.assert_allclose(np.abs(np.asarray(q)), np.abs(q_np), atol=1e-4)


@pytest.mark.parametrize("shape", [(8, 8), (10, 4), (4, 10)])
def test_orthogonal_init(shape):
    w = np.asarray(linalg.orthogonal(jax.random.key(1), shape))
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
    assert not np.array_equal(w, np.asarray(linalg.orthogonal(jax.random.key(2), shape)))


def test_spectral_norm_matches_numpy():
    a = np.asarray(jax.random.normal(jax.random.key(3), (9, 7)))
    assert float(linalg.spectral_norm(a)) == pytest.approx(np.linalg.norm(a.astype(np.float64), 2), rel=1e-4)
    q = np.asarray(linalg.orthogonal(jax.random.key(4), (6, 6)))
    assert float(linalg.spectral_norm(0.7 * q)) == pytest.approx(0.7, rel=1e-5)


# ---------------------------------------------------------------------------- the scaled norm


def _f64_norm(x, axis=-1):
    return np.sqrt(np.sum(np.asarray(x, np.float64) ** 2, axis=axis))


@pytest.mark.parametrize("scale", [1e-37, 1e-30, 1e-20, 1.0, 1e19, 1e25, 1e36])
def test_norm_is_exact_over_float32s_range(scale):
    """At 1e-20 raw squares underflow (sqrt(sum x^2) reads 0), at 1e19 they overflow
    (inf); the scaled norm matches float64 NumPy at every magnitude float32 holds. Entries
    below the smallest normal number (1.2e-38, subnormals) count as 0: XLA's CPU backend
    flushes them, and at 1e-37 a few of the Gaussian entries are that small."""
    x = np.asarray(jax.random.normal(jax.random.key(5), (6, 40)), np.float64) * scale
    x32 = x.astype(np.float32)
    x32[np.abs(x32) < np.finfo(np.float32).tiny] = 0.0
    got = np.asarray(linalg.norm(x32, axis=-1), np.float64)
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(got, _f64_norm(x32), rtol=2e-6)
    np.testing.assert_allclose(float(linalg.norm(x32, axis=None)), _f64_norm(x32, None), rtol=2e-6)
    tree = {"a": x32[:2], "b": x32[2:]}
    np.testing.assert_allclose(float(linalg.tree_norm(tree)), _f64_norm(x32, None), rtol=2e-6)


def test_raw_squares_would_fail_where_the_scaled_norm_does_not():
    """The premise of the scaled norm, checked on this backend: jnp.linalg.norm loses both ends."""
    tiny, huge = np.full(8, 1e-25, np.float32), np.full(8, 1e25, np.float32)
    assert float(jax.numpy.linalg.norm(tiny)) == 0.0 and np.isinf(float(jax.numpy.linalg.norm(huge)))
    assert float(linalg.norm(tiny)) == pytest.approx(1e-25 * np.sqrt(8), rel=1e-6)
    assert float(linalg.norm(huge)) == pytest.approx(1e25 * np.sqrt(8), rel=1e-6)


def test_norm_is_zero_only_for_zero_and_inf_or_nan_only_for_non_finite_entries():
    x = np.zeros((3, 5), np.float32)
    x[1, 2] = np.float32(2e-38)  # a normal number near the floor
    x[2, 0], x[2, 1] = np.inf, 1.0
    got = np.asarray(linalg.norm(x))
    assert got[0] == 0.0 and got[1] == pytest.approx(2e-38, rel=1e-6) and np.isinf(got[2])
    y = np.array([1.0, np.nan, 3.0], np.float32)
    assert np.isnan(float(linalg.norm(y))) and np.isnan(float(linalg.tree_norm({"y": y})))
    assert float(linalg.tree_norm({"a": np.zeros(4, np.float32)})) == 0.0
    assert np.isinf(float(linalg.tree_norm({"a": np.array([np.inf], np.float32), "b": np.ones(2)})))
    assert not bool(linalg.tree_all_finite({"a": np.ones(2), "b": np.array([np.nan])}))
    assert bool(linalg.tree_all_finite({"a": np.full(2, 3e38, np.float32)}))


def test_norm_gradient_is_the_unit_vector():
    x = np.array([3e-30, -4e-30], np.float32)
    g = np.asarray(jax.grad(lambda v: linalg.norm(v))(x))
    np.testing.assert_allclose(g, [0.6, -0.8], rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-30, 1e25])
def test_spectral_norm_at_float32s_ends(scale):
    """A^T A of raw entries would underflow at 1e-30 and overflow at 1e25."""
    a = np.asarray(jax.random.normal(jax.random.key(3), (9, 7)), np.float64)
    a32 = (a * scale).astype(np.float32)
    expect = np.linalg.norm(a32.astype(np.float64), 2)
    assert float(linalg.spectral_norm(a32)) == pytest.approx(expect, rel=1e-4)
