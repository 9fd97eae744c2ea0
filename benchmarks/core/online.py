"""Online learning as the 1997 and 2000 LSTM papers did it: a weight update after every
time step, from the truncated gradient in its forward-in-time form.

Under the truncated rule (:mod:`models.lstm_fast`, ``truncated=True``) the error of h_t is
the readout's alone, and the cell state carries it back unchanged but for the forget
gates. So the gradient of the loss at step t needs nothing from later steps, and can be
computed going forward (Hochreiter & Schmidhuber 1997, App. A.1; Gers et al. 2000: the
truncated RTRL form, O(1) per weight and step). For each gate g that writes the cell state
(z, i and, with a forget gate, f) an eligibility trace keeps dc_t/dw for the weights w of
unit j's net input a_g,j, with u_t = [x_t, h_{t-1}, 1] the inputs of every net input:

    E_g(t) = f_t * E_g(t-1) + u_t (x) delta_g(t),
    delta_z = i (1 - z^2),  delta_i = z i (1 - i),  delta_f = c_{t-1} f (1 - f)

and with e_y(t) = dL/dy_t (the loss is a sum over steps), dh_t = e_y(t) W_out^T and
e_c(t) = dh_t o_t tanh'(c_t), the gradient of the step's loss is

    dL_t/dw_g = sum_b e_c(t) E_g(t)           (the gates that write c),
    dL_t/dw_o = sum_b u_t (x) dh_t tanh(c_t) o (1 - o),
    dL_t/dW_out = h_t^T e_y(t),  dL_t/db_out = sum_b e_y(t).

``train.schedule=step`` applies plain SGD with it after every step (the next step runs on
the new weights; the traces go on, as in RTRL); ``per_step=False`` adds the steps'
gradients up and applies them once at the end, which is exactly the truncated gradient of
the whole sequence (a test holds the two equal). The traces hold (D + H + 1) x H numbers per
gate and sequence: fine at the papers' sizes and batch 1, not meant for large H.

Supported: one LSTM layer of the fused kinds :func:`models.lstm_fast.supports` accepts
(``lstm``, ``lstm_nofg``) with a linear readout, plain SGD; not yet H&S 1997's own cell
(``lstm1997``: blocks of cells sharing gates, its squashing and sigmoid output units).
Every task's loss is a sum over steps of per-step terms (masked), so e_y(t) is the loss's
gradient with respect to y_t alone.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array

from benchmarks.core.diagnostics import carousel
from models import lstm_fast
from models.linalg import norm
from models.lstm import LSTMCell, lstm_gates
from models.scan import Params, RecurrentNet
from tasks.base import Batch, Task

# train.schedule: one weight update per batch from its whole gradient, or one after every
# time step (this module)
SCHEDULES = ("batch", "step")


def check_online(model: RecurrentNet, gradient: str, optimizer: str, clip: str) -> None:
    """A one-line error for a run the online rule does not cover."""
    spec = model.spec
    where = "train.schedule=step (a weight update after every time step, the 1997 rule)"
    if not (lstm_fast.supports(spec) and spec.layers == 1):
        raise ValueError(
            f"{where} is implemented for one layer of lstm or lstm_nofg (one gate set per cell,"
            f" tanh squashing, none of Greff et al.'s variants), not this {spec.cell!r} model with"
            f" {spec.layers} layer(s); valid here: train.schedule=batch"
        )
    if spec.readout != "linear":
        raise ValueError(f"{where} is implemented for a linear readout; set model.readout=linear")
    if gradient != "truncated":
        raise ValueError(f"{where} computes the truncated gradient; set train.gradient=truncated")
    if optimizer != "sgd" or clip != "none":
        raise ValueError(f"{where} is plain SGD; set optim.name=sgd and optim.clip=none")


def _split(spec: Any, fused: Array) -> dict[str, Array]:
    """A gradient of the fused [K, G*H] matrix [W; R; b] back to W_g, R_g, b_g by name."""
    gates = lstm_gates(spec)
    hidden = spec.hidden
    d_in = fused.shape[0] - hidden - 1
    out = {}
    for k, g in enumerate(gates):
        block = fused[:, k * hidden : (k + 1) * hidden]
        out[f"W_{g}"], out[f"R_{g}"], out[f"b_{g}"] = block[:d_in], block[d_in:-1], block[-1]
    return out


def online_sequence(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, lr: Array, per_step: bool = True
) -> tuple[Params, Array, Params, dict[str, Array]]:
    """One pass over the batch's sequences with a weight update after every time step
    (``per_step``), or once at the end. Returns the new parameters, the
    loss of the outputs the pass produced, the sum of the steps' gradients, and the per-step
    norms of the truncated dL/dh_t and dL/dc_t ([T, B], as the probes record them)."""
    spec = model.spec
    gates = lstm_gates(spec)
    n_write = len(gates) - 1  # z, i[, f]: the blocks that write the cell state
    hidden = spec.hidden
    fused = LSTMCell.fuse(spec, params)
    M = jnp.concatenate([fused["W"], fused["R"], fused["b"][None]], axis=0)  # [K, G*H]
    x_TBD = jnp.swapaxes(batch.x, 0, 1)
    T, B = x_TBD.shape[:2]
    K = M.shape[0]

    def step_error(t: Array, y_t: Array) -> Array:
        outputs = jnp.zeros((B, T, y_t.shape[-1]), y_t.dtype).at[:, t].set(y_t)
        return jax.grad(lambda o: task.loss(o, batch))(outputs)[:, t]

    def body(carry, inputs):
        w, h, c, E, total = carry
        t, x_t = inputs
        M, W_out, b_out = w
        u = jnp.concatenate([x_t, h, jnp.ones((B, 1), x_t.dtype)], axis=-1)  # [B, K]
        a = jnp.split(u @ M, len(gates), axis=-1)
        z, i, o = jnp.tanh(a[0]), jax.nn.sigmoid(a[1]), jax.nn.sigmoid(a[-1])
        f = jax.nn.sigmoid(a[2]) if spec.forget_gate else jnp.ones_like(c)
        c_new = f * c + i * z
        tc = jnp.tanh(c_new) if spec.output_activation else c_new
        h_new = o * tc
        y = h_new @ W_out + b_out
        e_y = step_error(t, y)
        deltas = [i * (1.0 - z * z), z * i * (1.0 - i)] + ([c * f * (1.0 - f)] if spec.forget_gate else [])
        delta = jnp.stack(deltas, axis=1)  # [B, n_write, H]
        E = f[:, None, None, :] * E + u[:, :, None, None] * delta[:, None]  # [B, K, n_write, H]
        dh = e_y @ W_out.T
        e_c = dh * (o * (1.0 - tc * tc) if spec.output_activation else o)
        g_write = jnp.einsum("bh,bkgh->kgh", e_c, E).reshape(K, n_write * hidden)
        g_o = u.T @ (dh * tc * o * (1.0 - o))
        grads = (jnp.concatenate([g_write, g_o], axis=-1), h_new.T @ e_y, jnp.sum(e_y, axis=0))
        total = jax.tree.map(jnp.add, total, grads)
        if per_step:
            w = jax.tree.map(lambda p, g: p - lr * g, w, grads)
        return (w, h_new, c_new, E, total), (y, dh, e_c, f)

    w0 = (M, params["W_out"], params["b_out"])
    zeros = jnp.zeros((B, hidden), M.dtype)
    E0 = jnp.zeros((B, K, n_write, hidden), M.dtype)
    total0 = jax.tree.map(jnp.zeros_like, w0)
    steps = jnp.arange(T)
    (w, _, _, _, total), (y, dh, e_c, f) = jax.lax.scan(body, (w0, zeros, zeros, E0, total0), (steps, x_TBD))
    if not per_step:
        w = jax.tree.map(lambda p, g: p - lr * g, w0, total)

    f_next = jnp.concatenate([f[1:], jnp.zeros_like(f[:1])])  # dc_t = e_c(t) + f_{t+1} dc_{t+1}
    new = {**params, **_split(spec, w[0]), "W_out": w[1], "b_out": w[2]}
    summed = {**_split(spec, total[0]), "W_out": total[1], "b_out": total[2]}
    loss = task.loss(jnp.swapaxes(y, 0, 1), batch)
    return new, loss, summed, {"grad_h": norm(dh, axis=-1), "grad_c": norm(carousel(e_c, f_next), axis=-1)}
