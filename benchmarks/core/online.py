"""Online learning as the 1997 and 2000 LSTM papers did it: a weight update after every
time step, from the truncated gradient in its forward-in-time form.

Under the truncated rule (:mod:`models.lstm_fast`, ``truncated=True``) the error of h_t is
the readout's alone, and the cell state carries it back unchanged but for the forget
gates. So the gradient of the loss at step t needs nothing from later steps, and can be
computed going forward (Hochreiter & Schmidhuber 1997, App. A.1; Gers et al. 2000: the
truncated RTRL form, O(1) per weight and step). For each part g that writes the cell state
(z, i and, with a forget gate, f) an eligibility trace keeps dc_t/dw for the weights w of
its net input a_g, per cell j, with u_t = [x_t, h_{t-1}, 1] the inputs of every net input:

    E_g(t) = f_t * E_g(t-1) + u_t (x) delta_g(t),
    delta_z = i g'(a_z),  delta_i = z i (1 - i),  delta_f = c_{t-1} f (1 - f)

(g and h the squashing functions, :func:`models.lstm.squash_input` and ``squash_output``:
tanh, or H&S 1997's 4 sigmoid - 2 and 2 sigmoid - 1). With e_y(t) = dL/d(W_out h_t +
b_out) (the loss is a sum over steps; through the sigmoid under a sigmoid readout),
dh_t = e_y(t) W_out^T and e_c(t) = dh_t o_t h'(c_t), the gradient of the step's loss is

    dL_t/dw_g = sum_b e_c(t) E_g(t)           (the parts that write c),
    dL_t/dw_o = sum_b u_t (x) dh_t h(c_t) o (1 - o),
    dL_t/dW_out = h_t^T e_y(t),  dL_t/db_out = sum_b e_y(t).

In memory-cell blocks (``model.block_size``: H&S 1997's and Gers et al. 2000's cells share
their block's input, forget and output gates) a gate's unit is its block's, so its
gradient is the sum of those per-cell terms over the block's cells
(:func:`models.lstm.block_sum`); the traces stay per cell, since each cell's state depends
on the shared gate through its own z and c.

``train.schedule=step`` applies plain SGD with it after every step (the next step runs on
the new weights; the traces go on, as in RTRL); ``per_step=False`` adds the steps'
gradients up and applies them once at the end, which is exactly the truncated gradient of
the whole sequence (a test holds the two equal). The traces hold (D + H + 1) x H numbers per
gate and sequence: fine at the papers' sizes and batch 1, not meant for large H.

``train.schedule=stream`` (:func:`stream_chunk`) is Gers et al. 2000's protocol on the
continual embedded Reber grammar: a continual stream of strings, never reset while the net
predicts it right, the same rule with an update after every symbol, and a training stream
that ends at its first wrong prediction (the task's step criterion, ``task.correct`` of
that one symbol: the units with sigmoid(logit) > 0.5 are exactly the legal next symbols).
After an error the lane's h, c and traces are reset to zero and it waits for the data
stream's next string start (an outer ``B``, ``starts``), where a fresh training stream
begins: what follows a string start does not depend on what came before, so that is a
fresh stream without a second sampler; the symbols skipped while waiting (the rest of one
string at most) are neither trained on nor counted. The stream is processed in chunks of
``task.length`` symbols, one per training step, and everything it carries goes from one
chunk to the next (:class:`StreamCarry`: h, c, the traces, whether a training stream is
live and its correct predictions so far; and the task's automaton position,
:meth:`tasks.reber.ContinualReberTask.sample_stream`): a stream cut into chunks is the same
computation as in one piece, bit for bit (a test), and can be millions of symbols long in
bounded memory. The paper trained one stream; ``train.batch_size`` lanes are independent
streams, each with its own position, whose errors are averaged into every update (the same
program fills an accelerator). Each symbol's error is that of its own loss, ``task.loss``
of a one-step batch (the mean over the 7 units and over the live lanes), so the step size
per symbol does not depend on the chunk length (under ``step`` the error is that of the
whole sequence's mean loss, 1/T of it). Gers et al.'s lr 0.5 belongs to their own error
function (*uncertain* which: not the mean sigmoid cross-entropy used here), so the same
number here is not the same step. That a new stream starts from a reset state is this
module's reading (*uncertain*: the paper says a training stream stops at its first error
and a new one begins); the other protocol facts: :mod:`benchmarks.studies.gers2000` and
``tasks/README.md``.

Supported (:func:`supports`): one LSTM layer with input and output gates, a forget gate or
none, memory-cell blocks, either squashing, and a linear or sigmoid readout: ``lstm``,
``lstm_nofg`` and H&S 1997's ``lstm1997`` (Gers et al. 2000's net is ``lstm1997`` with
``model.forget_gate=true``); not peepholes, CIFG or FGR (a one-line error), plain SGD.
Every task's loss is a sum over steps of per-step terms (masked), so e_y(t) is the loss's
gradient with respect to y_t alone.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array

from benchmarks.core.diagnostics import carousel
from models.linalg import norm
from models.lstm import (
    LSTMCell,
    block_sum,
    expand,
    input_slope,
    lstm_gates,
    output_slope,
    split_points,
    squash_input,
    squash_output,
)
from models.scan import Params, RecurrentNet
from tasks import TASKS
from tasks.base import Batch, Task

# train.schedule: one weight update per batch from its whole gradient; one after every
# time step of the batch's sequences; or one after every symbol of continual streams that
# end at their first error (both online: this module)
SCHEDULES = ("batch", "step", "stream")
ONLINE = ("step", "stream")
_RULE = {
    "step": "train.schedule=step (a weight update after every time step, the 1997 rule)",
    "stream": "train.schedule=stream (continual streams, an update after every symbol, Gers et al. 2000)",
}


def stream_tasks() -> list[str]:
    """The tasks that sample continual streams in chunks (``sample_stream``)."""
    return sorted(name for name, cls in TASKS.items() if hasattr(cls, "sample_stream"))


def check_online(
    model: RecurrentNet, gradient: str, optimizer: str, clip: str, schedule: str = "step"
) -> None:
    """A one-line error for a run the online rule does not cover."""
    spec = model.spec
    where = _RULE[schedule]
    if not supports(spec):
        raise ValueError(
            f"{where} is implemented for one layer of lstm, lstm_nofg or lstm1997 (input and output"
            f" gates, a forget gate or none; blocks, either squashing; no peepholes, CIFG or FGR), not"
            f" this {spec.cell!r} model with {spec.layers} layer(s){_unsupported(spec)}; valid here:"
            f" train.schedule=batch"
        )
    if gradient != "truncated":
        raise ValueError(f"{where} computes the truncated gradient; set train.gradient=truncated")
    if optimizer != "sgd" or clip != "none":
        raise ValueError(f"{where} is plain SGD; set optim.name=sgd and optim.clip=none")


# LSTM fields the online rule does not implement, with the value it needs
_NEEDS = {
    "peepholes": False,
    "coupled": False,
    "full_gate_recurrence": False,
    "input_gate": True,
    "output_gate": True,
}


def supports(spec: Any) -> bool:
    """Whether the online rule covers the model: one LSTM layer with input and output gates
    (a forget gate or none), memory-cell blocks, either squashing, NIAF or NOAF, and a
    linear or sigmoid readout; no peepholes, CIFG or FGR."""
    return spec.cell == "lstm" and spec.layers == 1 and all(getattr(spec, k) == v for k, v in _NEEDS.items())


def _unsupported(spec: Any) -> str:
    wrong = [f"model.{k}={str(getattr(spec, k)).lower()}" for k, v in _NEEDS.items() if getattr(spec, k) != v]
    return f" ({', '.join(wrong)})" if spec.cell == "lstm" and wrong else ""


def check_stream(task: Task) -> None:
    """A one-line error for ``train.schedule=stream`` on a task without continual streams."""
    if not hasattr(task, "sample_stream"):
        valid = ", ".join(f"task={t}" for t in stream_tasks())
        raise ValueError(
            f"{_RULE['stream']} needs a task that samples continual streams, not task={task.name};"
            f" valid: {valid}, or train.schedule=batch or step"
        )


def _split(spec: Any, fused: Array) -> dict[str, Array]:
    """A gradient of the fused [K, H + gates x blocks] matrix [W; R; b] back to W_g, R_g,
    b_g by name."""
    d_in = fused.shape[0] - spec.hidden - 1
    out = {}
    for g, part in zip(lstm_gates(spec), jnp.split(fused, split_points(spec), axis=1), strict=True):
        out[f"W_{g}"], out[f"R_{g}"], out[f"b_{g}"] = part[:d_in], part[d_in:-1], part[-1]
    return out


Weights = tuple[Array, Array, Array]  # the fused [W; R; b] [K, G*H], W_out, b_out


def _weights(spec: Any, params: Params) -> Weights:
    fused = LSTMCell.fuse(spec, params)
    M = jnp.concatenate([fused["W"], fused["R"], fused["b"][None]], axis=0)  # [K, G*H]
    return M, params["W_out"], params["b_out"]


def _params(spec: Any, params: Params, w: Weights) -> Params:
    return {**params, **_split(spec, w[0]), "W_out": w[1], "b_out": w[2]}


class Forward(NamedTuple):
    """One step of the cell's forward pass, with what the step's gradient needs."""

    u: Array  # [B, K]: x_t, h_{t-1}, 1
    gates: tuple[Array, Array, Array, Array]  # z, i, f (ones without a forget gate), o; per cell
    c: Array  # c_t
    tc: Array  # h(c_t): the output squashing (c_t itself under NOAF)
    h: Array  # h_t
    y: Array  # the readout's outputs (sigmoid(W_out h + b_out) with a sigmoid readout)


def _forward(spec: Any, w: Weights, h: Array, c: Array, x_t: Array) -> Forward:
    M, W_out, b_out = w
    u = jnp.concatenate([x_t, h, jnp.ones((x_t.shape[0], 1), x_t.dtype)], axis=-1)
    a = dict(zip(lstm_gates(spec), jnp.split(u @ M, split_points(spec), axis=-1), strict=True))
    z = squash_input(spec, a["z"])
    i, o = (expand(spec, jax.nn.sigmoid(a[g])) for g in ("i", "o"))
    f = expand(spec, jax.nn.sigmoid(a["f"])) if spec.forget_gate else jnp.ones_like(c)
    c_new = f * c + i * z
    tc = squash_output(spec, c_new)
    h_new = o * tc
    y = h_new @ W_out + b_out
    return Forward(u, (z, i, f, o), c_new, tc, h_new, jax.nn.sigmoid(y) if spec.readout == "sigmoid" else y)


def _backward(
    spec: Any, w: Weights, fwd: Forward, c: Array, E: Array, e_y: Array
) -> tuple[Array, Weights, Array, Array]:
    """The traces after the step (``E`` [B, K, n_write, H] before it, ``c`` = c_{t-1}), the
    step's gradient from ``e_y`` = dL_t/dy_t, dh_t and e_c(t). The traces are per cell; a
    gate shared by a block gets the sum over its cells (:func:`models.lstm.block_sum`)."""
    z, i, f, o = fwd.gates
    u, tc = fwd.u, fwd.tc
    deltas = [i * input_slope(spec, z), z * i * (1.0 - i)] + ([c * f * (1.0 - f)] if spec.forget_gate else [])
    delta = jnp.stack(deltas, axis=1)  # [B, n_write, H]
    E = f[:, None, None, :] * E + u[:, :, None, None] * delta[:, None]  # [B, K, n_write, H]
    e_out = e_y * fwd.y * (1.0 - fwd.y) if spec.readout == "sigmoid" else e_y  # dL_t / d(W_out h + b_out)
    dh = e_out @ w[1].T
    e_c = dh * o * output_slope(spec, tc)
    g_write = jnp.einsum("bh,bkgh->kgh", e_c, E)  # [K, n_write, H]
    parts = [g_write[:, 0]] + [block_sum(spec, g_write[:, k]) for k in range(1, len(deltas))]
    parts.append(u.T @ block_sum(spec, dh * tc * o * (1.0 - o)))
    grads = (jnp.concatenate(parts, axis=-1), fwd.h.T @ e_out, jnp.sum(e_out, axis=0))
    return E, grads, dh, e_c


def _zero_traces(spec: Any, input_size: int, batch: int) -> Array:
    K = input_size + spec.hidden + 1
    return jnp.zeros((batch, K, len(lstm_gates(spec)) - 1, spec.hidden), jnp.float32)


def online_sequence(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, lr: Array, per_step: bool = True
) -> tuple[Params, Array, Params, dict[str, Array]]:
    """One pass over the batch's sequences with a weight update after every time step
    (``per_step``), or once at the end. Returns the new parameters, the
    loss of the outputs the pass produced, the sum of the steps' gradients, and the per-step
    norms of the truncated dL/dh_t and dL/dc_t ([T, B], as the probes record them)."""
    spec = model.spec
    x_TBD = jnp.swapaxes(batch.x, 0, 1)
    T, B = x_TBD.shape[:2]

    def step_error(t: Array, y_t: Array) -> Array:
        outputs = jnp.zeros((B, T, y_t.shape[-1]), y_t.dtype).at[:, t].set(y_t)
        return jax.grad(lambda o: task.loss(o, batch))(outputs)[:, t]

    def body(carry, inputs):
        w, h, c, E, total = carry
        t, x_t = inputs
        fwd = _forward(spec, w, h, c, x_t)
        E, grads, dh, e_c = _backward(spec, w, fwd, c, E, step_error(t, fwd.y))
        total = jax.tree.map(jnp.add, total, grads)
        if per_step:
            w = jax.tree.map(lambda p, g: p - lr * g, w, grads)
        return (w, fwd.h, fwd.c, E, total), (fwd.y, dh, e_c, fwd.gates[2])

    w0 = _weights(spec, params)
    zeros = jnp.zeros((B, spec.hidden), w0[0].dtype)
    total0 = jax.tree.map(jnp.zeros_like, w0)
    E0 = _zero_traces(spec, x_TBD.shape[-1], B)
    carry0 = (w0, zeros, zeros, E0, total0)
    (w, _, _, _, total), (y, dh, e_c, f) = jax.lax.scan(body, carry0, (jnp.arange(T), x_TBD))
    if not per_step:
        w = jax.tree.map(lambda p, g: p - lr * g, w0, total)

    f_next = jnp.concatenate([f[1:], jnp.zeros_like(f[:1])])  # dc_t = e_c(t) + f_{t+1} dc_{t+1}
    summed = {**_split(spec, total[0]), "W_out": total[1], "b_out": total[2]}
    loss = task.loss(jnp.swapaxes(y, 0, 1), batch)
    norms = {"grad_h": norm(dh, axis=-1), "grad_c": norm(carousel(e_c, f_next), axis=-1)}
    return _params(spec, params, w), loss, summed, norms


class StreamCarry(NamedTuple):
    """What a batch of training streams carries from one chunk to the next, per lane."""

    h: Array  # [B, H]
    c: Array  # [B, H]
    traces: Array  # [B, K, n_write, H]: the eligibility traces E_g
    live: Array  # bool[B]: inside a training stream (else waiting for a string's first symbol)
    run: Array  # int32[B]: the live stream's correct predictions so far


def stream_carry(spec: Any, input_size: int, batch: int) -> StreamCarry:
    """Lanes before their first stream: zero state and traces, waiting for a string start."""
    zeros = jnp.zeros((batch, spec.hidden), jnp.float32)
    traces = _zero_traces(spec, input_size, batch)
    return StreamCarry(zeros, zeros, traces, jnp.zeros(batch, bool), jnp.zeros(batch, jnp.int32))


def stream_chunk(
    model: RecurrentNet,
    task: Task,
    params: Params,
    carry: StreamCarry,
    batch: Batch,
    starts: Array,
    lr: Array,
) -> tuple[Params, StreamCarry, Array, Params, dict[str, Array]]:
    """Train on the next chunk of the lanes' continual streams (``batch`` [B, L, ...] and
    ``starts`` bool[B, L] from the task's ``sample_stream``), a weight update after every
    symbol, each training stream ending at its first wrong prediction (see the module's
    docstring). Returns the new parameters and carry, the mean loss per trained symbol (0
    when the chunk trained none), the sum of the steps' gradients, and the records:
    ``ended`` int32[L, B], at the symbol where a stream ended, its correct predictions
    before that first error (else -1), and ``trained`` int32[B], the symbols trained on."""
    spec = model.spec
    inputs = (jnp.swapaxes(batch.x, 0, 1), jnp.swapaxes(batch.y, 0, 1), starts.T)

    def body(state, inputs):
        w, h, c, E, live, run, total, loss_sum = state
        x_t, d_t, start_t = inputs
        live = live | start_t  # a waiting lane begins a fresh stream at a string's first symbol
        step = Batch(x_t[:, None], d_t[:, None], live.astype(x_t.dtype)[:, None])
        fwd = _forward(spec, w, h, c, x_t)
        loss, e_y = jax.value_and_grad(lambda y: task.loss(y[:, None], step))(fwd.y)
        E, grads, _, _ = _backward(spec, w, fwd, c, E, e_y)
        wrong = live & ~task.correct(fwd.y[:, None], step)
        ended = jnp.where(wrong, run, -1)
        go_on = live & ~wrong  # a stream ends at its first error: reset, wait for the next string
        reset = lambda a: jnp.where(go_on.reshape(-1, *[1] * (a.ndim - 1)), a, jnp.zeros_like(a))  # noqa: E731
        w = jax.tree.map(lambda p, g: p - lr * g, w, grads)
        total = jax.tree.map(jnp.add, total, grads)
        loss_sum = loss_sum + loss * jnp.sum(live)
        new = (w, reset(fwd.h), reset(fwd.c), reset(E), go_on, jnp.where(go_on, run + 1, 0), total, loss_sum)
        return new, (ended, live)

    w0 = _weights(spec, params)
    total0 = jax.tree.map(jnp.zeros_like, w0)
    state0 = (w0, *carry[:3], carry.live, carry.run, total0, jnp.zeros((), jnp.float32))
    (w, h, c, E, live, run, total, loss_sum), (ended, trained) = jax.lax.scan(body, state0, inputs)
    n = jnp.sum(trained)
    summed = {**_split(spec, total[0]), "W_out": total[1], "b_out": total[2]}
    records = {"ended": ended.astype(jnp.int32), "trained": jnp.sum(trained, axis=0, dtype=jnp.int32)}
    loss = loss_sum / jnp.maximum(n, 1)
    return _params(spec, params, w), StreamCarry(h, c, E, live, run), loss, summed, records
