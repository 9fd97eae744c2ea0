"""Small dense linear algebra in plain JAX operations, without LAPACK custom calls.

Why: jaxlib's CPU QR/SVD kernels split a batch of matrices over XLA's intra-op thread
pool and wait for it; two such calls running at once on a 2-core machine were seen to
deadlock (every pool thread waiting, the program hung forever in ``jit(vmap(init))`` and
in the vmapped diagnostics). The matrices here are small (at most a few hundred rows), so
Gram-Schmidt and power iteration in ordinary ops cost little and never block.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def gram_schmidt(a: Float[Array, "n k"]) -> tuple[Float[Array, "n k"], Float[Array, " k"]]:
    """Q with orthonormal columns and the diagonal of R (all positive) with A = Q R, by
    modified Gram-Schmidt with one re-orthogonalisation pass ("twice is enough")."""
    a = jnp.asarray(a)
    n, k = a.shape

    def column(q, j):
        v = a[:, j]
        for _ in range(2):  # two passes: orthogonality to float32 precision
            mask = (jnp.arange(k) < j).astype(a.dtype)
            v = v - q @ ((q.T @ v) * mask)
        r = jnp.linalg.norm(v)
        return q.at[:, j].set(v / jnp.where(r > 0, r, 1.0)), r

    q, r = jax.lax.scan(column, jnp.zeros_like(a), jnp.arange(k))
    return q, r


def orthogonal(key: Array, shape: tuple[int, int], dtype=jnp.float32) -> Array:
    """A Haar-distributed matrix with orthonormal columns (or rows, if wider than tall):
    the Q factor of a Gaussian matrix, R's diagonal positive."""
    n, m = shape
    a = jax.random.normal(key, (max(n, m), min(n, m)), dtype)
    q, _ = gram_schmidt(a)
    return q if n >= m else q.T


def spectral_norm(a: Float[Array, "n m"], iterations: int = 60) -> Float[Array, ""]:
    """Largest singular value by power iteration on A^T A from a fixed start vector.
    Exact when all singular values are equal (a scaled orthogonal matrix); otherwise the
    error shrinks like (sigma_2 / sigma_1)^(2 * iterations)."""
    m = a.shape[-1]
    v0 = jnp.ones((m,), a.dtype) + 0.01 * jnp.arange(m, dtype=a.dtype) / m

    def body(v, _):
        w = a.T @ (a @ v)
        return w / jnp.maximum(jnp.linalg.norm(w), 1e-30), None

    v, _ = jax.lax.scan(body, v0 / jnp.linalg.norm(v0), None, length=iterations)
    return jnp.linalg.norm(a @ v)
