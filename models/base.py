"""What every cell family shares: the model spec, initialisers and activations.

A model is described by one frozen :class:`ModelSpec` (hashable, a static jit argument).
Variants are fields of the spec, never subclasses: the LSTM without a forget gate is
``forget_gate=False`` (f == 1 exactly), the ReLU RNN is ``activation="relu"``, the
coupled input-forget gate of Greff et al. 2015 is ``coupled=True``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from carousel_checks import check_choice, check_finite, check_finite_fields, check_positive
from models import linalg

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
INITIALIZERS = ("uniform", "normal", "fan_in", "orthogonal", "identity", "glorot", "sparse")
CELLS = ("rnn", "lstm", "gru")
# The LSTM's squashing functions g (cell input) and h (cell output): today's tanh for both,
# or Hochreiter & Schmidhuber 1997's logistic ones, g = 4 sigmoid - 2 and h = 2 sigmoid - 1
SQUASHINGS = ("tanh", "hochreiter1997")
# What the readout does with W_out h + b_out: nothing (the outputs are logits or values), or
# the logistic sigmoid of H&S 1997's output units (outputs in (0, 1), for squared errors)
READOUTS = ("linear", "sigmoid")


@dataclasses.dataclass(frozen=True)
class InitSpec:
    """Initialiser name and scale for the input, recurrent and readout kernels
    (``model.init.recurrent=orthogonal model.init.recurrent_scale=0.95``):
    uniform: U[-s, s]; normal: N(0, s^2); fan_in: N(0, s^2 / fan_in), so a square
    recurrent matrix's spectral radius is about s at any size (the circular law: a fixed
    spectral radius while the hidden size grows); orthogonal: s * Q; identity: s * I;
    glorot: s * Glorot-uniform; sparse: ``recurrent_nonzero`` N(0, 1) incoming weights per
    unit, the rest zero (Sutskever et al. 2013), then for a recurrent matrix rescaled to
    spectral radius s (the "smart" init of Pascanu et al. 2013), else multiplied by s.
    Every recurrent matrix is drawn separately. ``peephole_scale``: LSTM peephole weights
    are U[-s, s] (Gers et al. 2002 draw every weight from U[-0.1, 0.1])."""

    input: str = "glorot"
    input_scale: float = 1.0
    recurrent: str = "orthogonal"
    recurrent_scale: float = 1.0
    readout: str = "glorot"
    readout_scale: float = 1.0
    recurrent_nonzero: int = 15
    peephole_scale: float = 0.1

    def __post_init__(self) -> None:
        for field in ("input", "recurrent", "readout"):
            check_choice(f"model.init.{field} initializer", getattr(self, field), INITIALIZERS)
        check_positive("model.init.recurrent_nonzero", self.recurrent_nonzero)
        check_finite_fields(self, "model.init")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Every knob of every cell family; fields a family does not use are ignored by it.

    cell:                 "rnn" | "lstm" | "gru"
    hidden:               hidden units per layer
    layers:               stacked recurrent layers (layer k reads layer k-1's h)
    activation:           RNN nonlinearity ("tanh", "relu", "sigmoid", "identity")
    forget_gate:          LSTM: False gives f == 1 exactly (Hochreiter & Schmidhuber 1997; NFG)
    forget_bias:          LSTM: initial forget-gate bias (1.0 following Jozefowicz et al. 2015)
    output_activation:    LSTM: h = o * tanh(c) if True, else h = o * c (NOAF)
    input_gate:           LSTM: False gives i == 1 exactly (NIG)
    output_gate:          LSTM: False gives o == 1 exactly (NOG)
    input_activation:     LSTM: z = tanh(a_z) if True, else z = a_z (NIAF)
    peepholes:            LSTM: diagonal peepholes p_i, p_f from c_{t-1} and p_o from c_t
                          (Gers & Schmidhuber 2000); False is Greff et al.'s NP
    coupled:              LSTM: f = 1 - i, no forget-gate parameters (CIFG)
    full_gate_recurrence: LSTM: every gate also reads all gates of the previous step (FGR)
    reset_after:          GRU: apply the reset gate after the recurrent matmul (cuDNN style)
                          instead of before it (Cho et al. 2014)
    init:                 the initialisers (:class:`InitSpec`)
    bias:                 initial value of every bias except the forget gate's (and the
                          input gates' when ``input_gate_biases`` is given)
    block_size:           LSTM: memory cells per block; the cells of one block share one
                          input and one output gate (H&S 1997 Sec. 4, "memory cell blocks")
                          and one forget gate where there is one (Gers et al. 2000), so each
                          gate has hidden / block_size units; 1: one gate set per cell
                          (today's LSTM). hidden must be a multiple of it
    input_gate_biases:    LSTM: the initial input-gate bias of each block, one value per
                          block (H&S 1997 start blocks at increasingly negative values);
                          empty: every input gate starts at ``bias``
    forget_gate_biases:   LSTM: the initial forget-gate bias of each block (Gers et al. 2000:
                          +0.5, +1.0, ... by block); empty: every forget gate at ``forget_bias``
    output_gate_biases:   LSTM: the initial output-gate bias of each block (Gers et al. 2000:
                          -0.5, -1.0, ... by block); empty: every output gate at ``bias``
    squashing:            LSTM: "tanh" (g = h = tanh) or "hochreiter1997": the cell input
                          z = g(a_z) = 4 sigmoid(a_z) - 2 in [-2, 2] and the cell output
                          h = o * h(c) with h(c) = 2 sigmoid(c) - 1 in [-1, 1] (the functions
                          of H&S 1997's experiments, written out in their App. A)
    readout:              every family: "linear" (y = W_out h + b_out) or "sigmoid"
                          (y = sigmoid(W_out h + b_out), H&S 1997's output units); a sigmoid
                          readout suits a squared error on targets in [0, 1] only, and a task
                          whose loss reads logits refuses it (:class:`benchmarks.core.trainer.Trainer`)

    The LSTM variants are those of Greff et al. 2015, "LSTM: A Search Space Odyssey"
    (see :mod:`models.lstm` for the equations); ``block_size``, ``input_gate_biases``,
    ``squashing`` and ``readout`` are the pieces of Hochreiter & Schmidhuber 1997's cell
    that today's LSTM dropped (the ``lstm1997`` preset assembles them).
    """

    cell: str = "lstm"
    hidden: int = 50
    layers: int = 1
    activation: str = "tanh"
    forget_gate: bool = True
    forget_bias: float = 1.0
    output_activation: bool = True
    input_gate: bool = True
    output_gate: bool = True
    input_activation: bool = True
    peepholes: bool = False
    coupled: bool = False
    full_gate_recurrence: bool = False
    reset_after: bool = False
    init: InitSpec = InitSpec()
    bias: float = 0.0
    block_size: int = 1
    input_gate_biases: tuple[float, ...] = ()
    forget_gate_biases: tuple[float, ...] = ()
    output_gate_biases: tuple[float, ...] = ()
    squashing: str = "tanh"
    readout: str = "linear"

    def __post_init__(self) -> None:
        check_choice("model cell", self.cell, CELLS)
        check_positive("model.hidden", self.hidden)
        check_positive("model.layers", self.layers)
        check_choice("model activation", self.activation, tuple(ACTIVATIONS))
        check_positive("model.block_size", self.block_size)
        check_choice("model squashing", self.squashing, SQUASHINGS)
        check_choice("model readout", self.readout, READOUTS)
        check_finite_fields(self, "model")
        # a list from YAML or the command line becomes a tuple: the spec stays hashable
        for gate in GATE_BIASES:
            name = f"{gate}_gate_biases"
            object.__setattr__(self, name, _numbers(f"model.{name}", getattr(self, name)))
        if not isinstance(self.init, InitSpec):
            raise ValueError(f"model.init must be an InitSpec, got {self.init!r}")
        if self.cell == "lstm":
            self._check_blocks()
            for gate in ("forget_gate", "input_gate"):
                if self.coupled and not getattr(self, gate):
                    raise ValueError(f"model.coupled=true (CIFG, f = 1 - i) needs model.{gate}=true")
            if self.full_gate_recurrence and not (self.input_gate or self.forget_gate or self.output_gate):
                raise ValueError(
                    "model.full_gate_recurrence=true needs at least one of"
                    " input_gate, forget_gate, output_gate"
                )

    @property
    def blocks(self) -> int:
        """LSTM memory-cell blocks per layer: the units of each gate."""
        return self.hidden // self.block_size

    def _check_blocks(self) -> None:
        if self.hidden % self.block_size:
            sizes = ", ".join(str(d) for d in range(1, self.hidden + 1) if self.hidden % d == 0)
            raise ValueError(
                f"model.hidden={self.hidden} is not a whole number of blocks of model.block_size="
                f"{self.block_size} cells (a block's cells share its gates); valid block sizes here: {sizes}"
            )
        for gate, default in GATE_BIASES.items():
            name = f"{gate}_gate_biases"
            biases = getattr(self, name)
            if biases and not getattr(self, f"{gate}_gate"):
                raise ValueError(f"model.{name} needs model.{gate}_gate=true (there is no {gate} gate)")
            if biases and gate == "forget" and self.coupled:
                raise ValueError(
                    f"model.{name} needs model.coupled=false (CIFG has no forget-gate parameters)"
                )
            if biases and len(biases) != self.blocks:
                raise ValueError(
                    f"model.{name} has {len(biases)} value(s), one per block, and model.hidden="
                    f"{self.hidden} / model.block_size={self.block_size} makes {self.blocks} block(s);"
                    f" valid: {self.blocks} values, or [] for model.{default} on every {gate} gate"
                )


# the gates whose initial biases can be set per block, and the field used otherwise
GATE_BIASES = {"input": "bias", "forget": "forget_bias", "output": "bias"}


def _numbers(name: str, values: object) -> tuple[float, ...]:
    """``values`` (any sequence of finite numbers) as a tuple of floats, else a one-line error."""
    if isinstance(values, str) or not isinstance(values, tuple | list):
        raise ValueError(f"{name} must be a list of numbers, got {values!r}")
    for k, v in enumerate(values):
        check_finite(f"{name}[{k}]", v)
    return tuple(float(v) for v in values)


def spectral_radius(w: Float[Array, "*batch n n"]) -> Float[Array, "*batch"]:
    """max |eigenvalue| of each square matrix, on the host in float64 NumPy: XLA has no GPU
    kernel for nonsymmetric eigenvalues, and this is only needed at initialisation."""

    def host(a: np.ndarray) -> np.ndarray:
        return np.max(np.abs(np.linalg.eigvals(np.asarray(a, np.float64))), axis=-1).astype(np.float32)

    out = jax.ShapeDtypeStruct(w.shape[:-2], jnp.float32)
    return jax.pure_callback(host, out, w, vmap_method="expand_dims")


def sparse(key: Array, shape: tuple[int, int], nonzero: int) -> Float[Array, "m n"]:
    """``nonzero`` N(0, 1) entries in each column, at random rows, zeros elsewhere (all of
    the column when it is shorter). Kernels are used as ``x @ W``, so column j holds unit
    j's incoming weights: every unit gets exactly ``nonzero`` inputs (Sutskever et al. 2013)."""
    k_pos, k_val = jax.random.split(key)
    rank = jnp.argsort(jnp.argsort(jax.random.uniform(k_pos, shape), axis=0), axis=0)
    return jnp.where(rank < nonzero, jax.random.normal(k_val, shape, jnp.float32), 0.0)


def initialize(
    kind: str, scale: float, key: Array, shape: tuple[int, int], *, nonzero: int = 15, recurrent: bool = False
) -> Float[Array, "m n"]:
    """Draw a kernel of ``shape`` with the named initialiser (see :class:`InitSpec`);
    ``recurrent`` marks a recurrent matrix, which ``sparse`` rescales to spectral radius
    ``scale`` (of its :func:`hop_matrix` when it is an LSTM block gate's [hidden, blocks])."""
    fan_in, fan_out = shape
    if kind == "uniform":
        return jax.random.uniform(key, shape, jnp.float32, -scale, scale)
    if kind == "normal":
        return scale * jax.random.normal(key, shape, jnp.float32)
    if kind == "fan_in":
        return (scale / math.sqrt(fan_in)) * jax.random.normal(key, shape, jnp.float32)
    if kind == "glorot":
        limit = scale * math.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(key, shape, jnp.float32, -limit, limit)
    if kind == "orthogonal":
        return scale * linalg.orthogonal(key, shape)
    if kind == "identity":
        return scale * jnp.eye(fan_in, fan_out, dtype=jnp.float32)
    if kind == "sparse":
        w = sparse(key, shape, nonzero)
        if not recurrent:
            return scale * w
        radius = spectral_radius(hop_matrix(w))
        return w * jnp.where(radius > 0, scale / jnp.where(radius > 0, radius, 1.0), 1.0)
    raise ValueError(f"unknown initializer {kind!r}; valid: {', '.join(INITIALIZERS)}")


def input_kernel(init: InitSpec, key: Array, shape: tuple[int, int]) -> Float[Array, "m n"]:
    return initialize(init.input, init.input_scale, key, shape, nonzero=init.recurrent_nonzero)


def recurrent_kernel(
    init: InitSpec, key: Array, hidden: int, units: int | None = None
) -> Float[Array, "n m"]:
    """A recurrent matrix from ``hidden`` states into ``units`` units (default ``hidden``:
    square; fewer for an LSTM's block gates, see :func:`hop_matrix`)."""
    return initialize(
        init.recurrent,
        init.recurrent_scale,
        key,
        (hidden, hidden if units is None else units),
        nonzero=init.recurrent_nonzero,
        recurrent=True,
    )


Matrix = TypeVar("Matrix", Array, np.ndarray)  # [*batch, n, m], JAX or NumPy


def hop_matrix(w: Matrix, xp: Any = jnp) -> Matrix:
    """A recurrent matrix as the square map of the state it is one hop of: [n, m] with m
    dividing n (an LSTM gate shared by the n / m cells of each block, :mod:`models.lstm`)
    has each column repeated n / m times, as the block's gate value reaches each of its
    cells; a square matrix as it is. Its eigenvalues are the hop's; the nonzero ones are
    those of the m x m matrix of block sums, and its singular values are sqrt(n / m) times
    w's. ``xp``: ``jnp`` or ``np``."""
    n, m = w.shape[-2:]
    return w if n == m else xp.repeat(w, n // m, axis=-1)
