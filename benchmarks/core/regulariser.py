"""The vanishing-gradient regulariser of Pascanu, Mikolov & Bengio 2013 (Sec. 3.3, eq. 9-10).

For a vanilla RNN h_{k+1} = act(x_{k+1} W_xh + h_k W_hh + b) (row vectors, ``h @ W_hh``),
the error dE/dh_{k+1} = v_{k+1} carried one step back is

    v_{k+1} dh_{k+1}/dh_k = (v_{k+1} * act'(a_{k+1})) W_hh^T

and the regulariser asks that this step neither shrink nor grow the error:

    Omega = mean_{(k, b) : ||v_{k+1}||^2 >= 1e-20} ( ||(v_{k+1} * act'(a_{k+1})) W_hh^T||^2
                                                    / ||v_{k+1}||^2  -  1 )^2

over every transition k -> k+1 of the sequence (the first one leaves the zero initial
state) and every sequence b of the batch. As the paper differentiates it (eq. 10) and as
the authors' code (``pascanur/trainingRNNs``) computes it: the ratio of *squared* norms;
v_{k+1} (the total dE/dh_{k+1}) and act'(a_{k+1}) are held constant, so only the
immediate dependence on W_hh is differentiated; the mean runs over the (step, sequence)
pairs whose ||v||^2 reaches the bound 1e-20 (a vanished error has no direction to keep);
and alpha * dOmega/dW_hh is added to W_hh's gradient only, before clipping. Weight alpha:
4 in the paper, 2 in the code. With no pair above the bound Omega is 0 here (the code
divides by zero).

A multi-layer RNN gets the term on every layer's W_hh (the sum of the layers' Omegas);
the paper's networks have one layer.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from models import MODELS
from models.linalg import norm as norm_of
from models.scan import Params, RecurrentNet
from tasks.base import Batch, Task

BOUND = 1e-20
CELLS = ("rnn",)  # cell families with a vanilla recurrent matrix W_hh

# act'(a) written with the activation's output h = act(a), as the code computes it.
SLOPES = {
    "tanh": lambda h: 1.0 - h**2,
    "sigmoid": lambda h: h * (1.0 - h),
    "relu": lambda h: (h > 0).astype(h.dtype),
    "identity": jnp.ones_like,
}


def check_model(model: RecurrentNet, alpha: float) -> None:
    """A one-line error when the regulariser is on for a model without W_hh."""
    if alpha and model.spec.cell not in CELLS:
        accept = ", ".join(sorted(n for n, preset in MODELS.items() if preset["cell"] in CELLS))
        raise ValueError(
            f"optim.regulariser (Pascanu et al. 2013) needs a vanilla RNN's recurrent matrix W_hh,"
            f" which cell {model.spec.cell!r} has not; models that accept it: {accept}"
        )


def omega(
    W_hh: Float[Array, "hidden hidden"],
    dE_dh_TBH: Float[Array, "time batch hidden"],
    h_TBH: Float[Array, "time batch hidden"],
    activation: str,
) -> tuple[Array, Array]:
    """Omega for one layer and the number of (step, sequence) pairs it averages over.

    ``dE_dh_TBH[k]`` is the total dE/dh_k and ``h_TBH[k]`` the state h_k (k = 0 the first
    state after the zero initial state); both are held constant (stop_gradient)."""
    v = jax.lax.stop_gradient(dE_dh_TBH)
    u = v * jax.lax.stop_gradient(SLOPES[activation](h_TBH))
    back_v = u @ W_hh.T
    # Both squared norms with v's own largest magnitude divided out (held constant), so the
    # ratio neither underflows for a tiny error nor overflows for an exploding one (raw
    # squares are 0 below ~1e-19 and inf above ~1.8e19); the bound is on the true norm.
    m = jnp.max(jnp.abs(v), axis=-1, keepdims=True)
    m = jnp.where((m > 0) & jnp.isfinite(m), m, 1.0)
    back = jnp.sum((back_v / m) ** 2, axis=-1)
    norm = jnp.sum((v / m) ** 2, axis=-1)
    counted = norm_of(v) >= np.sqrt(BOUND)
    ratio = back / jnp.where(counted, norm, 1.0)
    n = jnp.sum(counted)
    return jnp.sum(jnp.where(counted, (ratio - 1.0) ** 2, 0.0)) / jnp.maximum(n, 1), n


def total_omega(model: RecurrentNet, params: Params, probe_grads: list[Any], states: list[Any]) -> Array:
    """The sum over layers of each layer's Omega, a function of the W_hh in ``params``."""
    names = model.recurrent_names()
    return sum(
        (
            omega(params[name], probe_grads[k][0], states[k][0], model.spec.activation)[0]
            for k, name in enumerate(names)
        ),
        start=jnp.zeros((), jnp.float32),
    )


def loss_and_grads(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, alpha: float | Array, layer: int | None
) -> tuple[Array, Params, Any, Array]:
    """As :func:`benchmarks.core.diagnostics.loss_and_grads`, with alpha * dOmega/dW_hh added to
    each W_hh's gradient; also returns Omega. Probes on every layer give the dE/dh_k that
    Omega holds constant, from the same backward pass as the parameter gradient."""

    def probed(p, probes):
        outputs, states = model.apply(p, batch.x, probes)
        return task.loss(outputs, batch), states

    probes = model.zero_probes(batch.x.shape[0], batch.x.shape[1])
    (loss, states), (grads, probe_grads) = jax.value_and_grad(probed, argnums=(0, 1), has_aux=True)(
        params, probes
    )
    states = jax.lax.stop_gradient(states)
    recurrent = model.recurrent_kernels(params)
    value, g = jax.value_and_grad(lambda r: total_omega(model, {**params, **r}, probe_grads, states))(
        recurrent
    )
    # alpha may be an input of the program (a packed sweep mixes weights, 0 included):
    # a weight of 0 leaves the gradient exactly as the plain step computes it
    grads = {
        name: jnp.where(alpha > 0, grads[name] + alpha * g[name], grads[name]) if name in g else grads[name]
        for name in grads
    }
    return loss, grads, None if layer is None else probe_grads[layer], value
