"""A hand-written backward pass (custom VJP) for a whole GRU layer over time.

Why: the same as :mod:`models.lstm_fast`: autodiff of ``lax.scan`` over
:meth:`models.gru.GRUCell.step` saves every gate of every step (the GRU step's saved
intermediates were 3.5x the memory of the states alone at B=64, T=200, H=128) and computes
dL/dh_{t-1} in a layout XLA's CPU dot runs slowly. Here only the states are saved, each
backward step recomputes its gates from (x_t, h_{t-1}), the layouts are chosen and the
weight gradients accumulate in the loop carry. Both placements of the reset gate.

Backward equations (fused layout r, u, n as in :meth:`models.gru.GRUCell.fuse`; dh_t the
total dL/dh_t, i.e. the cotangent g[t] of the returned h_t plus what flows back from t+1):

    dn = dh_t (1 - u),  du = dh_t (h_{t-1} - n),  da_n = dn (1 - n^2)
    da_u = du u (1 - u),  da_r = dr r (1 - r)
    reset after:  dr = da_n (h_{t-1} R_n),  d(h R)_n = da_n r
                  dh_{t-1} = dh_t u + [da_r, da_u, da_n r] R^T
    reset before: d(r h) = da_n R_n^T,  dr = d(r h) h_{t-1},  dR_n += (r h_{t-1})^T da_n
                  dh_{t-1} = dh_t u + [da_r, da_u] R^T + d(r h) r
    dW += x_t^T [da_r, da_u, da_n],  db += sum_b [da_r, da_u, da_n],  dx_t = [...] W^T
    dR += h_{t-1}^T (the blocks of R's product)
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from models.backward import is_norm_probe, nonzero, per_step_norm, previous, primal_values
from models.base import ModelSpec


def supports(spec: ModelSpec) -> bool:
    return spec.cell == "gru"


def _gates(spec: ModelSpec, w: dict[str, jax.Array], x_t: jax.Array, h: jax.Array):
    """r, u, n and the reset gate's operand ((h R)_n after, r h before the matmul)."""
    ax_r, ax_u, ax_n = jnp.split(x_t @ w["W"] + w["b"], 3, axis=-1)
    ah = h @ w["R"]
    if spec.reset_after:
        ah_r, ah_u, operand = jnp.split(ah, 3, axis=-1)
        r = jax.nn.sigmoid(ax_r + ah_r)
        n = jnp.tanh(ax_n + r * operand)
    else:
        ah_r, ah_u = jnp.split(ah, 2, axis=-1)
        r = jax.nn.sigmoid(ax_r + ah_r)
        operand = r * h
        n = jnp.tanh(ax_n + operand @ w["R_n"])
    u = jax.nn.sigmoid(ax_u + ah_u)
    return r, u, n, operand


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def gru_scan(spec: ModelSpec, w: dict[str, jax.Array], x: jax.Array, probes: Any) -> tuple[jax.Array]:
    """States (h,), [T, B, H], of one GRU layer over time-major inputs x [T, B, D];
    ``w`` is :meth:`models.gru.GRUCell.fuse`'s dict; ``probes`` None, (p_h,) or norm probes
    (see :func:`models.lstm_fast.lstm_scan`)."""

    def body(h, inputs):
        x_t, p_t = inputs
        _, u, n, _ = _gates(spec, w, x_t, h)
        h = u * h + (1.0 - u) * n
        if p_t is not None:
            h = h + p_t[0]
        return h, h

    zeros = jnp.zeros((x.shape[1], w["W"].shape[1] // 3), x.dtype)
    added = None if is_norm_probe(probes) else probes
    return (jax.lax.scan(body, zeros, (x, added))[1],)


def _fwd(spec, w, x, probes):
    w, x, probes = primal_values((w, x, probes))
    states = gru_scan(spec, w, x, probes)
    return states, (w, x, states[0], probes)


def _bwd(spec, residuals, cotangents):
    w, x, h, probes = residuals
    g = nonzero(cotangents[0])
    norms = is_norm_probe(probes)

    def body(carry, inputs):
        dh_next, grads = carry
        t, x_t, g_t = inputs
        hp = previous(h, t)
        r, u, n, operand = _gates(spec, w, x_t, hp)
        dh = dh_next if g_t is None else g_t + dh_next
        da_n = dh * (1.0 - u) * (1.0 - n * n)
        da_u = dh * (hp - n) * u * (1.0 - u)
        new = dict(grads)
        if spec.reset_after:
            da_r = da_n * operand * r * (1.0 - r)
            dah = jnp.concatenate([da_r, da_u, da_n * r], axis=-1)
            dh_prev = dh * u + jnp.einsum("bg,hg->bh", dah, w["R"])
        else:
            d_rh = jnp.einsum("bg,hg->bh", da_n, w["R_n"])
            da_r = d_rh * hp * r * (1.0 - r)
            dah = jnp.concatenate([da_r, da_u], axis=-1)
            dh_prev = dh * u + jnp.einsum("bg,hg->bh", dah, w["R"]) + d_rh * r
            new["R_n"] = grads["R_n"] + jnp.einsum("bh,bg->hg", operand, da_n)
        dax = jnp.concatenate([da_r, da_u, da_n], axis=-1)
        new["W"] = grads["W"] + jnp.einsum("bd,bg->dg", x_t, dax)
        new["R"] = grads["R"] + jnp.einsum("bh,bg->hg", hp, dah)
        new["b"] = grads["b"] + jnp.sum(dax, axis=0)
        return (dh_prev, new), (jnp.einsum("bg,dg->bd", dax, w["W"]), per_step_norm(dh) if norms else dh)

    init = (jnp.zeros_like(h[0]), jax.tree.map(jnp.zeros_like, w))
    steps = jnp.arange(x.shape[0])
    (_, grads), (dx, dh) = jax.lax.scan(body, init, (steps, x, g), reverse=True)
    return grads, dx, None if probes is None else (dh,)


gru_scan.defvjp(_fwd, _bwd, symbolic_zeros=True)
