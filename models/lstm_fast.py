"""A hand-written backward pass (custom VJP) for a whole LSTM layer scanned over time.

Why: autodiff of ``lax.scan`` over the LSTM step ran the backward pass about 5x slower
than the forward on XLA's CPU backend, and 1.5x slower than this hand-written one
(measured, B=64, T=200, H=128). Two things differ here:

- the matmul layouts are chosen: dL/dh_{t-1} = da_t R^T is written as a contraction over
  the last axes of both operands (``bg,hg->bh``), which XLA's CPU dot ran about 1.8x
  faster than the transposed product autodiff emits, and the weight gradients accumulate
  in the loop carry from cache-resident per-step products;
- nothing but the states is saved: each backward step recomputes its gates from
  (x_t, h_{t-1}, c_{t-1}) instead of writing all gates to memory in the forward pass.

It computes exactly the gradient of :meth:`models.lstm.LSTMCell.step` scanned over time
(fused gate layout z, i, [f], o; probes added to c_t before h_t reads it, and to h_t) for
the variants that differ only in the forget gate and the output activation; every other
variant and the hop ablation use autodiff of the generic scan (see :func:`supports`).
Backward equations (Greff et al. 2015, App. A.2), g_h and g_c the cotangents of the
returned h_t and c_t:

    dh_t = g_h[t] + da(t+1) R^T
    dc_t = g_c[t] + dh_t o_t tanh'(c_t) + f_{t+1} dc_{t+1}
    da_z = dc_t i (1 - z^2),  da_i = dc_t z i (1 - i),  da_f = dc_t c_{t-1} f (1 - f),
    da_o = dh_t tanh(c_t) o (1 - o)
    dW += x_t^T da_t,  dR += h_{t-1}^T da_t,  db += sum_b da_t,  dx_t = da_t W^T

The probe cotangents are dh_t and dc_t (the total dL/dh_t and dL/dc_t).

``truncated=True`` is Hochreiter & Schmidhuber 1997's learning rule (their App. A.1;
Gers et al. 2000 with forget gates): the error that arrives at the gates' net inputs a(t+1)
is not sent back to h_t, so the term da(t+1) R^T above is dropped and dh_t = g_h[t], the
error from the readout (and the layer above) at that step only. Within a cell the error
still flows back along the carousel, dc_t = ... + f_{t+1} dc_{t+1}, and every weight gets
its local gradient from da_t. It is the gradient :func:`benchmarks.core.diagnostics.hop_ablation`
computes with no hop open, and one matrix product per step cheaper than full BPTT.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from models.backward import is_norm_probe, nonzero, per_step_norm, previous, primal_values
from models.base import ModelSpec

# Fields whose non-default values this path does not implement. Not among them: the
# initial values (``bias``, ``forget_bias``, ``*_gate_biases``), which the step does not
# read, and ``readout``, which acts on the layer's h outside it (autodiff differentiates it).
_DEFAULTS = {
    "peepholes": False,
    "coupled": False,
    "full_gate_recurrence": False,
    "input_gate": True,
    "output_gate": True,
    "input_activation": True,
    "block_size": 1,
    "squashing": "tanh",
}


def supports(spec: ModelSpec) -> bool:
    return spec.cell == "lstm" and all(getattr(spec, k, v) == v for k, v in _DEFAULTS.items())


def _gates(spec: ModelSpec, a: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array | None, jax.Array]:
    parts = jnp.split(a, 4 if spec.forget_gate else 3, axis=-1)
    z, i, o = jnp.tanh(parts[0]), jax.nn.sigmoid(parts[1]), jax.nn.sigmoid(parts[-1])
    f = jax.nn.sigmoid(parts[2]) if spec.forget_gate else None
    return z, i, f, o


def _out(spec: ModelSpec, c: jax.Array) -> jax.Array:
    return jnp.tanh(c) if spec.output_activation else c


def lstm_scan(
    spec: ModelSpec, w: dict[str, jax.Array], x: jax.Array, probes: Any, truncated: bool = False
) -> tuple[jax.Array, jax.Array]:
    """States (h, c), each [T, B, H], of one LSTM layer over time-major inputs x [T, B, D];
    ``w`` is :meth:`models.lstm.LSTMCell.fuse`'s {W, R, b}; ``probes`` None, (p_h, p_c) or
    norm probes (:func:`models.backward.is_norm_probe`), whose cotangents are the per-step
    norms of dL/dh_t and dL/dc_t, computed in the backward loop. ``truncated``: the
    backward pass is the 1997 truncated gradient (module docstring); the states are the same."""
    return _lstm_scan(spec, truncated, w, x, probes)


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _lstm_scan(
    spec: ModelSpec, truncated: bool, w: dict[str, jax.Array], x: jax.Array, probes: Any
) -> tuple[jax.Array, jax.Array]:
    zeros = jnp.zeros((x.shape[1], w["R"].shape[0]), x.dtype)

    def body(carry, inputs):
        h, c = carry
        x_t, p_t = inputs
        z, i, f, o = _gates(spec, x_t @ w["W"] + h @ w["R"] + w["b"])
        c = (c if f is None else f * c) + i * z
        if p_t is not None:
            c = c + p_t[1]
        h = o * _out(spec, c)
        if p_t is not None:
            h = h + p_t[0]
        return (h, c), (h, c)

    added = None if is_norm_probe(probes) else probes
    return jax.lax.scan(body, (zeros, zeros), (x, added))[1]


def _fwd(spec, truncated, w, x, probes):
    w, x, probes = primal_values((w, x, probes))
    states = _lstm_scan(spec, truncated, w, x, probes)
    return states, (w, x, states, probes)


def _bwd(spec, truncated, residuals, cotangents):
    w, x, (h, c), probes = residuals
    g_h, g_c = (nonzero(g) for g in cotangents)
    norms = is_norm_probe(probes)
    W, R, b = w["W"], w["R"], w["b"]

    def body(carry, inputs):
        dh_next, dc_next, dW, dR, db = carry
        t, x_t, c_t, gh, gc = inputs
        hp, cp = previous(h, t), previous(c, t)
        z, i, f, o = _gates(spec, x_t @ W + hp @ R + b)
        tc = _out(spec, c_t)
        dh = dh_next if gh is None else gh + dh_next
        dc = dh * (o * (1.0 - tc * tc) if spec.output_activation else o) + dc_next
        if gc is not None:
            dc = dc + gc
        parts = [dc * i * (1.0 - z * z), dc * z * i * (1.0 - i)]
        if f is not None:
            parts.append(dc * cp * f * (1.0 - f))
        parts.append(dh * tc * o * (1.0 - o))
        da = jnp.concatenate(parts, axis=-1)
        carry = (
            jnp.zeros_like(dh) if truncated else jnp.einsum("bg,hg->bh", da, R),
            dc if f is None else dc * f,
            dW + jnp.einsum("bd,bg->dg", x_t, da),
            dR + jnp.einsum("bh,bg->hg", hp, da),
            db + jnp.sum(da, axis=0),
        )
        probe_out = (per_step_norm(dh), per_step_norm(dc)) if norms else (dh, dc)
        return carry, (jnp.einsum("bg,dg->bd", da, W), *probe_out)

    zeros = jnp.zeros_like(h[0])
    init = (zeros, zeros, jnp.zeros_like(W), jnp.zeros_like(R), jnp.zeros_like(b))
    steps = jnp.arange(x.shape[0])
    (_, _, dW, dR, db), (dx, dh, dc) = jax.lax.scan(body, init, (steps, x, c, g_h, g_c), reverse=True)
    return {"W": dW, "R": dR, "b": db}, dx, None if probes is None else (dh, dc)


_lstm_scan.defvjp(_fwd, _bwd, symbolic_zeros=True)
