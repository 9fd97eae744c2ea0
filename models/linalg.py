"""Small dense linear algebra in plain JAX operations, without LAPACK custom calls, and the
one vector norm every norm carousel computes or stores goes through (:func:`norm`).

Why plain operations: jaxlib's CPU QR/SVD kernels split a batch of matrices over XLA's intra-op thread
pool and wait for it; two such calls running at once on a 2-core machine were seen to
deadlock (every pool thread waiting, the program hung forever in ``jit(vmap(init))`` and
in the vmapped diagnostics). The matrices here are small (at most a few hundred rows), so
Gram-Schmidt and power iteration in ordinary ops cost little and never block.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def _scale(x: Array, axis: int | tuple[int, ...] | None, keepdims: bool = True) -> Array:
    """The largest magnitude along ``axis``, or 1 where that is 0 or not finite (so that
    dividing by it neither makes a zero vector NaN nor hides a non-finite element). Held
    constant under differentiation: the norm's gradient is then x / ||x||, exactly."""
    m = jnp.max(jnp.abs(x), axis=axis, keepdims=keepdims)
    return jax.lax.stop_gradient(jnp.where((m > 0) & jnp.isfinite(m), m, jnp.ones_like(m)))


def norm(x: Array, axis: int | tuple[int, ...] | None = -1) -> Array:
    """The Euclidean norm along ``axis`` (None: of every entry), exact over float32's range.

    sqrt(sum x^2) of raw float32 values (``jnp.linalg.norm``, ``optax.tree.norm``) reads 0
    once every entry is below ~1e-19 (x^2 falls under the smallest normal number, 1.2e-38)
    and inf once one entry is above ~1.8e19 (x^2 passes float32's largest, 3.4e38). Here
    the entries are divided by the largest magnitude m first, as LAPACK's nrm2 scales: the
    squares lie in [0, 1], and m * sqrt(sum (x/m)^2) is the norm to float32's relative
    precision from 1.2e-38 up to 3.4e38. It is 0 only for a zero vector, inf where an
    entry is infinite (NaN where one is NaN), and inf for finite entries only when the norm
    itself passes 3.4e38, which needs an entry above 3.4e38 / sqrt(n)."""
    largest = jnp.max(jnp.abs(x), axis=axis)  # NaN if an entry is NaN, inf if one is inf
    m = _scale(x, axis)
    out = jnp.squeeze(m, axis) * jnp.sqrt(jnp.sum(jnp.square(x / m), axis=axis))
    return jnp.where(jnp.isfinite(largest), out, largest)


def _tree_largest(leaves: list[Array]) -> Array:
    """The largest magnitude over every entry of every leaf (NaN if one is NaN)."""
    return jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))


def tree_scaled(tree: Any) -> tuple[Array, Array]:
    """(m, r) with ||tree|| = m * r: m the largest magnitude over every leaf (1 where that is
    0 or not finite) and r = sqrt(sum over leaves of sum (x/m)^2), in [1, sqrt(n)] for a
    finite non-zero tree. :func:`tree_norm` is their product; clipping uses the two
    factors, so that it scales a gradient exactly even where the product overflows."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.ones((), jnp.float32), jnp.zeros((), jnp.float32)
    m = _tree_largest(leaves)
    m = jax.lax.stop_gradient(jnp.where((m > 0) & jnp.isfinite(m), m, jnp.ones_like(m)))
    r = jnp.sqrt(sum(jnp.sum(jnp.square(x / m)) for x in leaves))
    return m, r


def tree_norm(tree: Any) -> Array:
    """The Euclidean norm of every entry of every leaf, exact over float32's range (see
    :func:`norm`): the global gradient norm."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.zeros((), jnp.float32)
    largest = _tree_largest(leaves)
    m, r = tree_scaled(tree)
    return jnp.where(jnp.isfinite(largest), m * r, largest)


def tree_all_finite(tree: Any) -> Array:
    """True when every entry of every leaf is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)] or [jnp.array(True)]))


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
        r = norm(v)
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
    error shrinks like (sigma_2 / sigma_1)^(2 * iterations). The iteration runs on A divided
    by its largest magnitude, so A^T A neither underflows nor overflows float32 whatever
    A's scale; the scale multiplies the result back."""
    m = a.shape[-1]
    scale = _scale(a, None, keepdims=False)
    b = a / scale
    v0 = jnp.ones((m,), a.dtype) + 0.01 * jnp.arange(m, dtype=a.dtype) / m

    def body(v, _):
        w = b.T @ (b @ v)
        n = norm(w)
        return w / jnp.where(n > 0, n, 1.0), None

    v, _ = jax.lax.scan(body, v0 / norm(v0), None, length=iterations)
    return scale * norm(b @ v)
