"""What every cell family shares: the model spec, initialisers and activations.

A model is described by one frozen :class:`ModelSpec` (hashable, a static jit argument).
Variants are fields of the spec, never subclasses: the LSTM without a forget gate is
``forget_gate=False`` (f == 1 exactly), the ReLU RNN is ``activation="relu"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from tasks.base import check_choice, check_positive

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "identity": lambda a: a,
}
# Bound gamma on |activation'|, as used by Pascanu et al. 2013 (sigma_max < 1/gamma
# is sufficient for vanishing gradients).
ACTIVATION_DERIVATIVE_BOUND: dict[str, float] = {
    "tanh": 1.0,
    "relu": 1.0,
    "sigmoid": 0.25,
    "identity": 1.0,
}
INITIALIZERS = ("uniform", "normal", "orthogonal", "identity", "glorot")
CELLS = ("rnn", "lstm", "gru")


@dataclasses.dataclass(frozen=True)
class InitSpec:
    """Initialiser name and scale for the input, recurrent and readout kernels
    (``model.init.recurrent=orthogonal model.init.recurrent_scale=0.95``):
    uniform: U[-s, s]; normal: N(0, s^2); orthogonal: s * Q; identity: s * I;
    glorot: s * Glorot-uniform. Every recurrent matrix is drawn separately."""

    input: str = "glorot"
    input_scale: float = 1.0
    recurrent: str = "orthogonal"
    recurrent_scale: float = 1.0
    readout: str = "glorot"
    readout_scale: float = 1.0

    def __post_init__(self) -> None:
        for field in ("input", "recurrent", "readout"):
            check_choice(f"model.init.{field} initializer", getattr(self, field), INITIALIZERS)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Every knob of every cell family; fields a family does not use are ignored by it.

    cell:              "rnn" | "lstm" | "gru"
    hidden:            hidden units per layer
    layers:            stacked recurrent layers (layer k reads layer k-1's h)
    activation:        RNN nonlinearity ("tanh", "relu", "sigmoid", "identity")
    forget_gate:       LSTM: False gives f == 1 exactly (Hochreiter & Schmidhuber 1997)
    forget_bias:       LSTM: initial forget-gate bias (1.0 following Jozefowicz et al. 2015)
    output_activation: LSTM: h = o * tanh(c) if True, else h = o * c
    reset_after:       GRU: apply the reset gate after the recurrent matmul (cuDNN style)
                       instead of before it (Cho et al. 2014)
    init:              the initialisers (:class:`InitSpec`)
    bias:              initial value of every bias except the forget gate's
    """

    cell: str = "lstm"
    hidden: int = 50
    layers: int = 1
    activation: str = "tanh"
    forget_gate: bool = True
    forget_bias: float = 1.0
    output_activation: bool = True
    reset_after: bool = False
    init: InitSpec = InitSpec()
    bias: float = 0.0

    def __post_init__(self) -> None:
        check_choice("model cell", self.cell, CELLS)
        check_positive("model.hidden", self.hidden)
        check_positive("model.layers", self.layers)
        check_choice("model activation", self.activation, tuple(ACTIVATIONS))
        if not isinstance(self.init, InitSpec):
            raise ValueError(f"model.init must be an InitSpec, got {self.init!r}")


def initialize(kind: str, scale: float, key: Array, shape: tuple[int, int]) -> Float[Array, "m n"]:
    """Draw a kernel of ``shape`` with the named initialiser (see :class:`ModelSpec`)."""
    fan_in, fan_out = shape
    if kind == "uniform":
        return jax.random.uniform(key, shape, jnp.float32, -scale, scale)
    if kind == "normal":
        return scale * jax.random.normal(key, shape, jnp.float32)
    if kind == "glorot":
        limit = scale * math.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(key, shape, jnp.float32, -limit, limit)
    if kind == "orthogonal":
        return scale * jax.nn.initializers.orthogonal()(key, shape, jnp.float32)
    if kind == "identity":
        return scale * jnp.eye(fan_in, fan_out, dtype=jnp.float32)
    raise ValueError(f"unknown initializer {kind!r}; valid: {', '.join(INITIALIZERS)}")
