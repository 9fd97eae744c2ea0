"""LSTM cell, with or without a forget gate (Hochreiter & Schmidhuber 1997; Gers et al. 2000).

With input x_t, previous state (h, c) and gate pre-activations a_g = W_g x_t + R_g h + b_g:

    z_t = tanh(a_z)                      cell input
    i_t = sigmoid(a_i)                   input gate
    f_t = sigmoid(a_f)  (or f_t == 1)    forget gate; forget_gate=False is the 1997 CEC
    o_t = sigmoid(a_o)                   output gate
    c_t = f_t * c_{t-1} + i_t * z_t      the constant error carousel when f_t == 1
    h_t = o_t * tanh(c_t)  (or o_t * c_t when output_activation=False)

Every recurrent matrix is its own parameter (R_z, R_i, R_f, R_o: [hidden, hidden], used as
h @ R), as are the input kernels W_g: [in, hidden] and biases b_g. The step concatenates
them once per sequence (:meth:`LSTMCell.fuse`), so each time step costs one fused matmul
per operand; gradients still reach every named matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from models.base import ModelSpec, initialize

Carry = tuple[Float[Array, "batch hidden"], Float[Array, "batch hidden"]]


def lstm_gates(spec: ModelSpec) -> tuple[str, ...]:
    return ("z", "i", "f", "o") if spec.forget_gate else ("z", "i", "o")


class LSTMCell(nnx.Module):
    """One LSTM layer; see the module docstring for the equations."""

    def __init__(self, spec: ModelSpec, in_features: int, *, rngs: nnx.Rngs):
        self.spec = spec
        hidden = spec.hidden
        for g in lstm_gates(spec):
            w = initialize(spec.init.input, spec.init.input_scale, rngs.params(), (in_features, hidden))
            r = initialize(spec.init.recurrent, spec.init.recurrent_scale, rngs.params(), (hidden, hidden))
            b = jnp.full((hidden,), spec.forget_bias if g == "f" else spec.bias, jnp.float32)
            setattr(self, f"W_{g}", nnx.Param(w))
            setattr(self, f"R_{g}", nnx.Param(r))
            setattr(self, f"b_{g}", nnx.Param(b))

    def recurrent_kernels(self) -> dict[str, Array]:
        return {f"R_{g}": getattr(self, f"R_{g}")[...] for g in lstm_gates(self.spec)}

    def initialize_carry(self, batch: int) -> Carry:
        return self.zero_carry(self.spec, batch)

    def __call__(self, carry: Carry, x: Array) -> tuple[Carry, Array]:
        params = nnx.to_pure_dict(nnx.state(self, nnx.Param))
        carry = self.step(self.spec, self.fuse(self.spec, params), carry, x)
        return carry, carry[0]

    @staticmethod
    def recurrent_names(spec: ModelSpec) -> tuple[str, ...]:
        return tuple(f"R_{g}" for g in lstm_gates(spec))

    @staticmethod
    def zero_carry(spec: ModelSpec, batch: int) -> Carry:
        zeros = jnp.zeros((batch, spec.hidden), jnp.float32)
        return (zeros, zeros)

    @staticmethod
    def fuse(spec: ModelSpec, p: dict[str, Array]) -> dict[str, Array]:
        gates = lstm_gates(spec)
        return {
            "W": jnp.concatenate([p[f"W_{g}"] for g in gates], axis=1),
            "R": jnp.concatenate([p[f"R_{g}"] for g in gates], axis=1),
            "b": jnp.concatenate([p[f"b_{g}"] for g in gates]),
        }

    @staticmethod
    def step(
        spec: ModelSpec,
        w: dict[str, Array],
        carry: Carry,
        x: Array,
        probe: Carry | None = None,
        through: tuple[str, ...] | None = None,
    ) -> Carry:
        """One time step. ``probe`` (zeros shaped like the carry) is added to c_t before
        h_t is formed and to h_t, so d loss / d probe is the total dL/dc_t and dL/dh_t.
        ``through`` (gate names, e.g. ``("o",)``) keeps the recurrent hop h_{t-1} -> a_g
        differentiable only for those gates (the path ablation of the diagnostics);
        ``None`` is the ordinary, fused step."""
        h, c = carry
        if through is None:
            a = x @ w["W"] + h @ w["R"] + w["b"]
        else:
            gates = lstm_gates(spec)
            blocked = jax.lax.stop_gradient(h)
            r_blocks = jnp.split(w["R"], len(gates), axis=1)
            a = (
                x @ w["W"]
                + w["b"]
                + jnp.concatenate(
                    [(h if g in through else blocked) @ r for g, r in zip(gates, r_blocks, strict=True)],
                    axis=-1,
                )
            )
        if spec.forget_gate:
            a_z, a_i, a_f, a_o = jnp.split(a, 4, axis=-1)
            c = jax.nn.sigmoid(a_f) * c + jax.nn.sigmoid(a_i) * jnp.tanh(a_z)
        else:
            a_z, a_i, a_o = jnp.split(a, 3, axis=-1)
            c = c + jax.nn.sigmoid(a_i) * jnp.tanh(a_z)
        if probe is not None:
            c = c + probe[1]
        h = jax.nn.sigmoid(a_o) * (jnp.tanh(c) if spec.output_activation else c)
        if probe is not None:
            h = h + probe[0]
        return (h, c)
