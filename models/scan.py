"""The scan wrapper: any cell family run over time, stacked, with a readout (linear or sigmoid).

:class:`RecurrentNet` is a frozen (hashable) description of a network; its parameters
are a flat ``dict[str, Array]`` whose keys are the cells' own parameter names
(``R_z``, ``W_hh``, ...; layer k > 0 prefixed ``layer{k}.``) plus the readout
``W_out`` / ``b_out``. A flat dict of named arrays is what optax, ``jax.vmap`` over
seeds, the ``.npz`` result store and the diagnostics all read without per-model code.

The input projection ``x_t @ W`` runs inside the scan together with ``h @ R``: on XLA's
CPU backend, precomputing it for all steps before the scan was measured slower (strided
per-step slices), and on a GPU the difference is small at these sizes.

What trains is :meth:`RecurrentNet.apply` -> :meth:`RecurrentNet.run_layer` ->
:func:`scan_cell`, never a cell's Flax ``__call__``: each layer's weights are fused once
(the cell's static ``fuse``), then :func:`scan_cell` runs a hand-written scan
(:data:`FAST_SCANS`: :func:`models.rnn_fast.rnn_scan` for every RNN,
:func:`models.gru_fast.gru_scan` for every GRU, :func:`models.lstm_fast.lstm_scan` for
the LSTMs its ``supports`` accepts, the default ``lstm`` and ``lstm_nofg`` among them)
or, for every other spec and whenever step options are given (the diagnostics' path
ablation), ``lax.scan`` over the cell's static ``step`` with autodiff.
``tests/models/test_scan.py`` keeps ``apply`` equal to a Python loop over ``step`` and to
each cell's ``__call__`` (``test_each_cells_flax_call_gives_what_training_computes``);
``tests/models/test_lstm_fast.py`` and ``tests/models/test_fast_backward.py`` keep the
hand-written scans' states and gradients equal to autodiff of ``step``.

``RecurrentNet.gradient`` chooses what the backward pass of ``apply`` computes: full
backpropagation through time, or the LSTM's 1997 truncated gradient (:data:`GRADIENTS`;
the trainer sets it from ``train.gradient``); the forward pass is the same.

``apply`` optionally takes additive *probes*, zeros shaped like the states, which each
cell adds where the state is formed (the LSTM adds the c probe before h_t = o tanh(c_t)
reads it); the gradient of the loss with respect to the probes is then the total dL/dh_t
(and dL/dc_t) in the same backward pass as the parameter gradient.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from models import gru_fast, lstm_fast, rnn_fast
from models.backward import expand_norm_probe, is_norm_probe
from models.base import ModelSpec, initialize
from models.gru import GRUCell
from models.lstm import LSTMCell
from models.rnn import RNNCell

Params = dict[str, Array]
States = tuple[Array, ...]  # per layer: (h,) or (h, c), each [time, batch, hidden]

# Cell families by name; each offers the static fuse/step/zero_carry/recurrent_names.
CELL_CLASSES: dict[str, Any] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
# Layers with a hand-written backward pass, each for the specs its ``supports`` accepts.
FAST_SCANS: dict[Any, Any] = {
    lstm_fast: lstm_fast.lstm_scan,
    rnn_fast: rnn_fast.rnn_scan,
    gru_fast: gru_fast.gru_scan,
}


# How the gradient reaches the past (``train.gradient``): ``full`` backpropagation through
# time, or ``truncated``, Hochreiter & Schmidhuber 1997's rule for LSTMs, where error flows
# back in time only along the cell state (see :func:`scan_cell`).
GRADIENTS = ("full", "truncated")


def layer_prefix(k: int) -> str:
    return "" if k == 0 else f"layer{k}."


def scan_cell(
    cell_class: Any,
    spec: ModelSpec,
    weights: dict[str, Array],
    x_TBD: Array,
    probes: States | None = None,
    truncated: bool = False,
    **step_options: Any,
) -> States:
    """Run one layer over time (time-major), returning its states at every step: through
    the first of :data:`FAST_SCANS` whose ``supports(spec)`` accepts the spec (the same
    numbers, a hand-written backward pass) unless ``step_options`` are given, else
    ``lax.scan`` over ``cell_class.step``.

    ``probes`` (time-major, shaped like the states) go to the cell's step, which adds
    them where each state is formed; ``step_options`` (e.g. the LSTM's ``through``) too.
    Norm probes ([T, B] per state, :func:`models.backward.is_norm_probe`) have the per-step
    norms of dL/dh_t (and dL/dc_t) as their gradient, without the [T, B, H] arrays.

    ``truncated`` (LSTM layers only): the same states, with the 1997 truncated gradient
    (:mod:`models.lstm_fast`): no error crosses a recurrent hop h_{t-1} -> a(t) (nor a
    peephole c_{t-1} -> a_i, a_f, nor FGR's Q), only the carousel c_{t-1} -> c_t. The
    fast scan's own backward pass where it supports the spec, else the step with every hop
    blocked (``through=()``, as the diagnostics' hop ablation)."""
    if truncated:
        if spec.cell != "lstm":
            raise ValueError(f"the truncated gradient is an LSTM's, not a {spec.cell!r} layer's")
        if lstm_fast.supports(spec) and not step_options:
            return lstm_fast.lstm_scan(spec, weights, x_TBD, probes, truncated=True)
        step_options = {**step_options, "through": ()}
    elif not step_options:  # same numbers, hand-written backward passes
        for fast, scan in FAST_SCANS.items():
            if fast.supports(spec):
                return scan(spec, weights, x_TBD, probes)
    if probes is not None and is_norm_probe(probes):
        probes = tuple(expand_norm_probe(q, spec.hidden) for q in probes)
    carry0 = cell_class.zero_carry(spec, x_TBD.shape[1])

    def body(carry, inputs):
        x_t, p_t = inputs
        carry = cell_class.step(spec, weights, carry, x_t, p_t, **step_options)
        return carry, carry

    _, states = jax.lax.scan(body, carry0, (x_TBD, probes))
    return states


@dataclasses.dataclass(frozen=True)
class RecurrentNet:
    """A stack of ``spec.layers`` recurrent layers and a readout at every step (linear, or
    sigmoid: ``spec.readout``)."""

    spec: ModelSpec
    input_size: int
    output_size: int
    gradient: str = "full"  # GRADIENTS: what the backward pass of apply computes

    @property
    def cell_class(self) -> Any:
        return CELL_CLASSES[self.spec.cell]

    @property
    def state_names(self) -> tuple[str, ...]:
        return ("h", "c") if self.spec.cell == "lstm" else ("h",)

    def init(self, key: Array) -> Params:
        """Initial parameters from one PRNG key (deterministic per key)."""
        rngs = nnx.Rngs(params=key)
        params: Params = {}
        in_features = self.input_size
        for k in range(self.spec.layers):
            cell = self.cell_class(self.spec, in_features, rngs=rngs)
            state = nnx.to_pure_dict(nnx.state(cell, nnx.Param))
            params.update({layer_prefix(k) + name: value for name, value in state.items()})
            in_features = self.spec.hidden
        params["W_out"] = initialize(
            self.spec.init.readout,
            self.spec.init.readout_scale,
            rngs.params(),
            (self.spec.hidden, self.output_size),
        )
        params["b_out"] = jnp.zeros((self.output_size,), jnp.float32)
        return params

    def layer_params(self, params: Params, k: int) -> Params:
        prefix = layer_prefix(k)
        names = [n for n in params if n not in ("W_out", "b_out")]
        if k == 0:
            return {n: params[n] for n in names if not n.startswith("layer")}
        return {n[len(prefix) :]: params[n] for n in names if n.startswith(prefix)}

    def recurrent_names(self) -> tuple[str, ...]:
        names = self.cell_class.recurrent_names(self.spec)
        return tuple(layer_prefix(k) + n for k in range(self.spec.layers) for n in names)

    def recurrent_kernels(self, params: Params) -> dict[str, Array]:
        return {name: params[name] for name in self.recurrent_names()}

    def zero_probes(
        self, batch: int, time: int, layers: tuple[int, ...] | None = None, norms: bool = False
    ) -> list[States | None]:
        """Zero probes for the given layers (all by default), ``None`` for the others;
        ``norms``: norm probes [T, B], whose gradient is ||dL/dh_t|| (see :func:`scan_cell`)."""
        shape = (time, batch) if norms else (time, batch, self.spec.hidden)
        return [
            tuple(jnp.zeros(shape, jnp.float32) for _ in self.state_names)
            if layers is None or k in layers
            else None
            for k in range(self.spec.layers)
        ]

    def layer_inputs(self, x_BTD: Array, states: list[States], k: int) -> Array:
        """The time-major input sequence of layer ``k``."""
        return jnp.swapaxes(x_BTD, 0, 1) if k == 0 else states[k - 1][0]

    def run_layer(
        self,
        params: Params,
        k: int,
        inputs: Array,
        probes: States | None = None,
        step_options: dict[str, Any] | None = None,
    ) -> States:
        """Layer ``k``'s states over the time-major ``inputs`` (see :func:`scan_cell`)."""
        weights = self.cell_class.fuse(self.spec, self.layer_params(params, k))
        if step_options:  # the diagnostics' hop ablation: its own choice of hops
            return scan_cell(self.cell_class, self.spec, weights, inputs, probes, **step_options)
        truncated = self.gradient == "truncated"
        return scan_cell(self.cell_class, self.spec, weights, inputs, probes, truncated)

    def apply_above(
        self, params: Params, h_TBH: Float[Array, "time batch hidden"], k: int
    ) -> Float[Array, "batch time output"]:
        """The outputs as a function of layer ``k``'s output sequence h: layers k+1, ... and
        the readout, with layer k's own recurrence held fixed. Its gradient is layer k's
        *direct* error e_t = dL/dh_t minus the hops back into layer k's next step."""
        for j in range(k + 1, self.spec.layers):
            h_TBH = self.run_layer(params, j, h_TBH)[0]
        return self.readout(params, h_TBH)

    def readout(self, params: Params, h_TBH: Array) -> Float[Array, "batch time output"]:
        """The readout of the top layer's h at every step, batch-major: y = W_out h + b_out,
        or with ``spec.readout="sigmoid"`` y = sigmoid(W_out h + b_out), Hochreiter &
        Schmidhuber 1997's sigmoid output units (for squared errors on targets in [0, 1])."""
        y = h_TBH @ params["W_out"] + params["b_out"]
        if self.spec.readout == "sigmoid":
            y = jax.nn.sigmoid(y)
        return jnp.swapaxes(y, 0, 1)

    def apply(
        self,
        params: Params,
        x_BTD: Float[Array, "batch time input"],
        probes: list[States | None] | None = None,
        step_options: dict[int, dict[str, Any]] | None = None,
    ) -> tuple[Float[Array, "batch time output"], list[States]]:
        """Outputs at every step and every layer's states (time-major).

        ``probes[k]`` are layer k's probes (see :func:`scan_cell`); ``step_options[k]``
        are extra keyword arguments for layer k's step."""
        inputs = jnp.swapaxes(x_BTD, 0, 1)
        all_states = []
        for k in range(self.spec.layers):
            probe = None if probes is None else probes[k]
            states = self.run_layer(params, k, inputs, probe, (step_options or {}).get(k))
            all_states.append(states)
            inputs = states[0]
        return self.readout(params, inputs), all_states
