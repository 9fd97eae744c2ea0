"""Vanilla (Elman) RNN cell.

    h_t = act(W_xh x_t + W_hh h_{t-1} + b)

with act in {tanh, relu, sigmoid, identity} (``ModelSpec.activation``); identity gives
the linear RNN of Pascanu et al. 2013's analysis, relu with an identity recurrence the
IRNN of Le et al. 2015. Kernels are used as x @ W_xh ([in, hidden]) and h @ W_hh
([hidden, hidden]), so column j of W_hh holds unit j's incoming weights. The presets with
the initialisations of Pascanu et al. 2013 and Le et al. 2015 are in :data:`models.MODELS`.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from models.base import ACTIVATIONS, ModelSpec, input_kernel, recurrent_kernel

Carry = tuple[Float[Array, "batch hidden"]]


class RNNCell(nnx.Module):
    """One vanilla RNN layer; see the module docstring for the equation.

    What trains: not the Flax ``__call__`` (one step, for interactive use) but
    :func:`models.scan.scan_cell`, which for every activation runs
    :func:`models.rnn_fast.rnn_scan` on the weights :meth:`fuse` joins (:meth:`step`'s
    numbers, a hand-written backward pass); :meth:`step` itself runs only where the
    diagnostics call it (the step Jacobians). Tests keep them equal:
    ``tests/models/test_scan.py::test_each_cells_flax_call_gives_what_training_computes``
    (``__call__`` against the training path) and ``tests/models/test_fast_backward.py``
    (the fast scan's states and gradients against autodiff of :meth:`step`)."""

    def __init__(self, spec: ModelSpec, in_features: int, *, rngs: nnx.Rngs):
        self.spec = spec
        hidden = spec.hidden
        self.W_xh = nnx.Param(input_kernel(spec.init, rngs.params(), (in_features, hidden)))
        self.W_hh = nnx.Param(recurrent_kernel(spec.init, rngs.params(), hidden))
        self.b_h = nnx.Param(jnp.full((hidden,), spec.bias, jnp.float32))

    def recurrent_kernels(self) -> dict[str, Array]:
        return {"W_hh": self.W_hh[...]}

    def initialize_carry(self, batch: int) -> Carry:
        return self.zero_carry(self.spec, batch)

    def __call__(self, carry: Carry, x: Array) -> tuple[Carry, Array]:
        params = nnx.to_pure_dict(nnx.state(self, nnx.Param))
        carry = self.step(self.spec, self.fuse(self.spec, params), carry, x)
        return carry, carry[0]

    @staticmethod
    def recurrent_names(spec: ModelSpec) -> tuple[str, ...]:
        return ("W_hh",)

    @staticmethod
    def zero_carry(spec: ModelSpec, batch: int) -> Carry:
        return (jnp.zeros((batch, spec.hidden), jnp.float32),)

    @staticmethod
    def fuse(spec: ModelSpec, p: dict[str, Array]) -> dict[str, Array]:
        return {"W": p["W_xh"], "R": p["W_hh"], "b": p["b_h"]}

    @staticmethod
    def step(
        spec: ModelSpec, w: dict[str, Array], carry: Carry, x: Array, probe: Carry | None = None
    ) -> Carry:
        """One time step; ``probe`` is added to h_t (its gradient is dL/dh_t)."""
        (h,) = carry
        h = ACTIVATIONS[spec.activation](x @ w["W"] + h @ w["R"] + w["b"])
        return (h if probe is None else h + probe[0],)
