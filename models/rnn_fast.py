"""A hand-written backward pass (custom VJP) for a whole vanilla RNN layer over time.

Why: the same as :mod:`models.lstm_fast`: autodiff of ``lax.scan`` over
:meth:`models.rnn.RNNCell.step` stores the pre-activations of every step and computes
dL/dh_{t-1} = da R^T in a layout XLA's CPU dot runs slowly; here the layouts are chosen,
the weight gradients accumulate in the loop carry, and only the states are saved (the
activation's derivative is read from y_t = h_t - p_t, the state before its probe).

Backward equations, g[t] the cotangent of the returned h_t, act' from y = act(a):

    dh_t = g[t] + da(t+1) R^T         (the probe cotangent: the total dL/dh_t)
    da_t = dh_t act'(a_t)             tanh: 1 - y^2, sigmoid: y (1 - y), relu: y > 0, identity: 1
    dW += x_t^T da_t,  dR += h_{t-1}^T da_t,  db += sum_b da_t,  dx_t = da_t W^T
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from models.backward import is_norm_probe, nonzero, per_step_norm, previous, primal_values
from models.base import ACTIVATIONS, ModelSpec


def supports(spec: ModelSpec) -> bool:
    return spec.cell == "rnn"


def _slope(activation: str, y: jax.Array) -> jax.Array | float:
    """act'(a) as a function of y = act(a)."""
    if activation == "tanh":
        return 1.0 - y * y
    if activation == "sigmoid":
        return y * (1.0 - y)
    if activation == "relu":
        return (y > 0).astype(y.dtype)
    return 1.0


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def rnn_scan(spec: ModelSpec, w: dict[str, jax.Array], x: jax.Array, probes: Any) -> tuple[jax.Array]:
    """States (h,), [T, B, H], of one RNN layer over time-major inputs x [T, B, D];
    ``w`` is :meth:`models.rnn.RNNCell.fuse`'s {W, R, b}; ``probes`` None, (p_h,) or norm probes
    (see :func:`models.lstm_fast.lstm_scan`)."""
    act = ACTIVATIONS[spec.activation]

    def body(h, inputs):
        x_t, p_t = inputs
        h = act(x_t @ w["W"] + h @ w["R"] + w["b"])
        if p_t is not None:
            h = h + p_t[0]
        return h, h

    zeros = jnp.zeros((x.shape[1], w["R"].shape[0]), x.dtype)
    added = None if is_norm_probe(probes) else probes
    return (jax.lax.scan(body, zeros, (x, added))[1],)


def _fwd(spec, w, x, probes):
    w, x, probes = primal_values((w, x, probes))
    states = rnn_scan(spec, w, x, probes)
    return states, (w, x, states[0], probes)


def _bwd(spec, residuals, cotangents):
    w, x, h, probes = residuals
    g = nonzero(cotangents[0])
    norms = is_norm_probe(probes)
    W, R = w["W"], w["R"]

    def body(carry, inputs):
        dh_next, dW, dR, db = carry
        t, x_t, h_t, g_t, p_t = inputs
        dh = dh_next if g_t is None else g_t + dh_next
        y = h_t if p_t is None else h_t - p_t[0]
        da = dh * _slope(spec.activation, y)
        hp = previous(h, t)
        carry = (
            jnp.einsum("bg,hg->bh", da, R),
            dW + jnp.einsum("bd,bg->dg", x_t, da),
            dR + jnp.einsum("bh,bg->hg", hp, da),
            db + jnp.sum(da, axis=0),
        )
        return carry, (jnp.einsum("bg,dg->bd", da, W), per_step_norm(dh) if norms else dh)

    init = (jnp.zeros_like(h[0]), jnp.zeros_like(W), jnp.zeros_like(R), jnp.zeros_like(w["b"]))
    steps = jnp.arange(x.shape[0])
    added = None if norms else probes
    (_, dW, dR, db), (dx, dh) = jax.lax.scan(body, init, (steps, x, h, g, added), reverse=True)
    return {"W": dW, "R": dR, "b": db}, dx, None if probes is None else (dh,)


rnn_scan.defvjp(_fwd, _bwd, symbolic_zeros=True)
