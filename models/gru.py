"""GRU cell (Cho et al. 2014).

With update gate u, reset gate r and candidate n:

    r_t = sigmoid(W_r x_t + R_r h + b_r)
    u_t = sigmoid(W_u x_t + R_u h + b_u)
    n_t = tanh(W_n x_t + R_n (r_t * h) + b_n)          reset before the matmul (Cho et al.)
    n_t = tanh(W_n x_t + r_t * (R_n h) + b_n)          reset_after=True (cuDNN / PyTorch style)
    h_t = u_t * h + (1 - u_t) * n_t

The default is Cho et al.'s placement (reset applied to h before R_n). Recurrent
matrices R_r, R_u, R_n ([hidden, hidden], used as h @ R) are parameters by name.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from models.base import ModelSpec, input_kernel, recurrent_kernel

Carry = tuple[Float[Array, "batch hidden"]]
GATES = ("r", "u", "n")


class GRUCell(nnx.Module):
    """One GRU layer; see the module docstring for the equations.

    What trains: not the Flax ``__call__`` (one step, for interactive use) but
    :func:`models.scan.scan_cell`, which for both reset placements runs
    :func:`models.gru_fast.gru_scan` on the weights :meth:`fuse` joins (:meth:`step`'s
    numbers, a hand-written backward pass); :meth:`step` itself runs only where the
    diagnostics call it (the step Jacobians). Tests keep them equal:
    ``tests/models/test_scan.py::test_each_cells_flax_call_gives_what_training_computes``
    (``__call__`` against the training path) and ``tests/models/test_fast_backward.py``
    (the fast scan's states and gradients against autodiff of :meth:`step`)."""

    def __init__(self, spec: ModelSpec, in_features: int, *, rngs: nnx.Rngs):
        self.spec = spec
        hidden = spec.hidden
        for g in GATES:
            w = input_kernel(spec.init, rngs.params(), (in_features, hidden))
            r = recurrent_kernel(spec.init, rngs.params(), hidden)
            setattr(self, f"W_{g}", nnx.Param(w))
            setattr(self, f"R_{g}", nnx.Param(r))
            setattr(self, f"b_{g}", nnx.Param(jnp.full((hidden,), spec.bias, jnp.float32)))

    def recurrent_kernels(self) -> dict[str, Array]:
        return {f"R_{g}": getattr(self, f"R_{g}")[...] for g in GATES}

    def initialize_carry(self, batch: int) -> Carry:
        return self.zero_carry(self.spec, batch)

    def __call__(self, carry: Carry, x: Array) -> tuple[Carry, Array]:
        params = nnx.to_pure_dict(nnx.state(self, nnx.Param))
        carry = self.step(self.spec, self.fuse(self.spec, params), carry, x)
        return carry, carry[0]

    @staticmethod
    def recurrent_names(spec: ModelSpec) -> tuple[str, ...]:
        return tuple(f"R_{g}" for g in GATES)

    @staticmethod
    def zero_carry(spec: ModelSpec, batch: int) -> Carry:
        return (jnp.zeros((batch, spec.hidden), jnp.float32),)

    @staticmethod
    def fuse(spec: ModelSpec, p: dict[str, Array]) -> dict[str, Array]:
        fused = {
            "W": jnp.concatenate([p[f"W_{g}"] for g in GATES], axis=1),
            "b": jnp.concatenate([p[f"b_{g}"] for g in GATES]),
        }
        if spec.reset_after:
            fused["R"] = jnp.concatenate([p[f"R_{g}"] for g in GATES], axis=1)
        else:
            fused["R"] = jnp.concatenate([p["R_r"], p["R_u"]], axis=1)
            fused["R_n"] = p["R_n"]
        return fused

    @staticmethod
    def step(
        spec: ModelSpec, w: dict[str, Array], carry: Carry, x: Array, probe: Carry | None = None
    ) -> Carry:
        """One time step; ``probe`` is added to h_t (its gradient is dL/dh_t)."""
        (h,) = carry
        ax = x @ w["W"] + w["b"]
        ax_r, ax_u, ax_n = jnp.split(ax, 3, axis=-1)
        ah = h @ w["R"]
        if spec.reset_after:
            ah_r, ah_u, ah_n = jnp.split(ah, 3, axis=-1)
            r = jax.nn.sigmoid(ax_r + ah_r)
            n = jnp.tanh(ax_n + r * ah_n)
        else:
            ah_r, ah_u = jnp.split(ah, 2, axis=-1)
            r = jax.nn.sigmoid(ax_r + ah_r)
            n = jnp.tanh(ax_n + (r * h) @ w["R_n"])
        u = jax.nn.sigmoid(ax_u + ah_u)
        h = u * h + (1.0 - u) * n
        return (h if probe is None else h + probe[0],)
