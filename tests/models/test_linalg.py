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
