"""LSTM cell with the variants of Greff et al. 2015 ("LSTM: A Search Space Odyssey") and the
pieces of Hochreiter & Schmidhuber 1997's cell as fields.

With input x_t, previous state (h, c) and, under FGR, the previous gate activations
g_{t-1} = (i_{t-1}, f_{t-1}, o_{t-1}), each gate's pre-activation is

    a_g = W_g x_t + R_g h + b_g  [+ p_g * c_{t-1} for g in i, f]  [+ sum_g' Q_g'_g g'_{t-1}]

and (Greff et al. 2015, Sec. 2; Hochreiter & Schmidhuber 1997; Gers et al. 2000)

    z_t = g(a_z)            (z_t = a_z when input_activation=False: NIAF)
    i_t = sigmoid(a_i)      (i_t == 1 when input_gate=False: NIG)
    f_t = sigmoid(a_f)      (f_t == 1 when forget_gate=False: NFG, the 1997 CEC;
                             f_t = 1 - i_t when coupled=True: CIFG, no forget parameters)
    c_t = f_t * c_{t-1} + i_t * z_t
    o_t = sigmoid(a_o + p_o * c_t)   (the peephole reads the new c_t; o_t == 1 when
                                      output_gate=False: NOG)
    h_t = o_t * h(c_t)      (h_t = o_t * c_t when output_activation=False: NOAF)

with the squashing functions g = h = tanh (``squashing="tanh"``, today's LSTM) or, with
``squashing="hochreiter1997"``, those of H&S 1997's experiments (their App. A):
g(x) = 4 sigmoid(x) - 2, range [-2, 2], and h(x) = 2 sigmoid(x) - 1, range [-1, 1]
(h(x) = tanh(x / 2)).

**Memory-cell blocks** (``block_size=S``, H&S 1997 Sec. 4): the hidden cells form
hidden / S blocks of S consecutive cells, and the cells of one block share one input gate,
one output gate and (with a forget gate, Gers et al. 2000) one forget gate. A gate then has
one unit per block: a_i, a_f, a_o are [..., blocks], W_g is [in, blocks], R_g [hidden,
blocks], b_g and the FGR matrices Q [blocks, blocks], and each gate's value is copied to
its block's S cells before it multiplies them (the equations above, per cell). A peephole
keeps one weight per cell, and a block's gate reads the sum over its cells,
a_g += sum_{j in block} p_g[j] c_j (our reading of Gers et al. 2002, whose peepholes run
from each cell's state to its block's gates). The cell input z has one unit per cell, as
ever. S = 1 is today's LSTM, to the bit.

``input_gate_biases`` gives b_i per block (H&S 1997 start the blocks' input gates at
increasingly negative biases, so that the blocks are switched on one after another and
the cell states do not drift at the start of learning); see :mod:`models` for the preset.
``forget_gate_biases`` and ``output_gate_biases`` do the same for b_f and b_o (Gers et al.
2000 start block k's input and output gates at -0.5 k and its forget gate at +0.5 k).

``peepholes=False`` is Greff et al.'s NP variant (and this package's default); with
``peepholes=True`` the diagonal peephole weights are the parameters p_i, p_f, p_o
([hidden], elementwise). ``full_gate_recurrence=True`` (FGR) adds a matrix Q_{g'}_{g}
(used as g'_{t-1} @ Q) from each gate g' of the previous step into each gate g (9
matrices with all three gates, named like ``W_xh``: source first); the carry then holds
the previous gate activations too (one value per block), zero at t = 0. Greff et al. feed
the gates' activations of the previous step, as here; the cell input z gets no such input.
The gates that exist (``lstm_gates``) are the ones fed back.

Every recurrent matrix is its own parameter (R_z, R_i, R_f, R_o and the Q's, used as
h @ R), as are the input kernels W_g and biases b_g. The step concatenates them once per
sequence (:meth:`LSTMCell.fuse`), so each time step costs one fused matmul per operand;
gradients still reach every named matrix.

Two code paths: the default ``lstm`` and ``lstm_nofg`` (and any spec that
:func:`models.lstm_fast.supports`: no peepholes, CIFG, FGR, NIG, NOG, NIAF, blocks or 1997
squashing) do NOT train through :meth:`LSTMCell.step`: :func:`models.scan.scan_cell`
routes them to :mod:`models.lstm_fast`, which has its own forward scan and a hand-written
backward pass (1.45x autodiff on the CPU). Editing the equations here changes those models
only in the diagnostics that call ``step``/``gate_values`` directly (Jacobians, path split,
hop ablation). ``tests/models/test_lstm_fast.py`` keeps the two paths equal: states and
every gradient (parameters, inputs, probes) against autodiff of ``LSTMCell.step``. Neither
path calls the cell's Flax ``__call__``; ``tests/models/test_scan.py`` holds it to them.
``tests/models/test_lstm1997.py`` checks the 1997 pieces against a float64 NumPy
implementation of H&S's equations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jaxtyping import Array, Float

from models.base import ModelSpec, input_kernel, recurrent_kernel

# (h, c), or (h, c, g) under FGR with g the previous gate activations [batch, k * blocks]
Carry = tuple[Float[Array, "batch _"], ...]


def lstm_gates(spec: ModelSpec) -> tuple[str, ...]:
    """The parts with their own parameters W_g, R_g, b_g: always z, then the gates."""
    gates = ["z"]
    if spec.input_gate:
        gates.append("i")
    if spec.forget_gate and not spec.coupled:
        gates.append("f")
    if spec.output_gate:
        gates.append("o")
    return tuple(gates)


def peephole_gates(spec: ModelSpec) -> tuple[str, ...]:
    """The gates with a peephole weight p_g."""
    return lstm_gates(spec)[1:] if spec.peepholes else ()


def units(spec: ModelSpec, g: str) -> int:
    """The units of part ``g``: one per cell for the cell input z, one per block for a gate."""
    return spec.hidden if g == "z" else spec.blocks


def expand(spec: ModelSpec, v: Float[Array, "... blocks"]) -> Float[Array, "... hidden"]:
    """Each block's value copied to its ``block_size`` cells (the identity for one cell per block)."""
    return v if spec.block_size == 1 else jnp.repeat(v, spec.block_size, axis=-1)


def block_sum(spec: ModelSpec, v: Float[Array, "... hidden"]) -> Float[Array, "... blocks"]:
    """The sum over each block's cells (the transpose of :func:`expand`)."""
    if spec.block_size == 1:
        return v
    return jnp.sum(v.reshape(*v.shape[:-1], spec.blocks, spec.block_size), axis=-1)


def per_block(spec: ModelSpec, v: Float[Array, "... hidden"]) -> Float[Array, "... blocks"]:
    """One value per block of a gate's per-cell copies (its first cell's)."""
    return v if spec.block_size == 1 else v[..., :: spec.block_size]


def _hochreiter_g(a: Array) -> Array:
    return 4.0 * jax.nn.sigmoid(a) - 2.0


def _hochreiter_h(a: Array) -> Array:
    return 2.0 * jax.nn.sigmoid(a) - 1.0


def squash_input(spec: ModelSpec, a: Array) -> Array:
    """g(a_z): tanh, or H&S 1997's 4 sigmoid - 2 (``squashing``); a_z itself under NIAF."""
    if not spec.input_activation:
        return a
    return _hochreiter_g(a) if spec.squashing == "hochreiter1997" else jnp.tanh(a)


def squash_output(spec: ModelSpec, c: Array) -> Array:
    """h(c): tanh, or H&S 1997's 2 sigmoid - 1 (``squashing``); c itself under NOAF."""
    if not spec.output_activation:
        return c
    return _hochreiter_h(c) if spec.squashing == "hochreiter1997" else jnp.tanh(c)


def input_slope(spec: ModelSpec, z: Array) -> Array | float:
    """g'(a_z) written with the value z = g(a_z): 1 - z^2 for tanh, 1 - z^2 / 4 for
    4 sigmoid - 2 (= 4 s (1 - s) with s = (z + 2) / 4), 1 under NIAF."""
    if not spec.input_activation:
        return 1.0
    return 1.0 - z**2 / 4.0 if spec.squashing == "hochreiter1997" else 1.0 - z**2


def output_slope(spec: ModelSpec, hc: Array) -> Array | float:
    """h'(c) written with the value hc = h(c): 1 - hc^2 for tanh, (1 - hc^2) / 2 for
    2 sigmoid - 1 (= 2 s (1 - s) with s = (hc + 1) / 2), 1 under NOAF."""
    if not spec.output_activation:
        return 1.0
    return (1.0 - hc**2) / 2.0 if spec.squashing == "hochreiter1997" else 1.0 - hc**2


def gate_recurrence_names(spec: ModelSpec) -> tuple[str, ...]:
    """FGR's matrices Q_{source}_{target}, source-major (the row blocks of the fused Q)."""
    if not spec.full_gate_recurrence:
        return ()
    gates = lstm_gates(spec)[1:]
    return tuple(f"Q_{s}_{g}" for s in gates for g in gates)


def split_points(spec: ModelSpec) -> list[int]:
    """Where the fused columns (z, then each gate) split: ``jnp.split``'s indices."""
    widths = [units(spec, g) for g in lstm_gates(spec)]
    return [sum(widths[: k + 1]) for k in range(len(widths) - 1)]


class LSTMCell(nnx.Module):
    """One LSTM layer; see the module docstring for the equations.

    What trains: not the Flax ``__call__`` (one step, for interactive use) but
    :func:`models.scan.scan_cell`: :meth:`fuse` once per sequence, then
    :func:`models.lstm_fast.lstm_scan` for the specs it supports (the default ``lstm`` and
    ``lstm_nofg``: :meth:`step`'s numbers, a hand-written backward pass), ``lax.scan``
    over :meth:`step` for the others. Tests keep them equal:
    ``tests/models/test_scan.py::test_each_cells_flax_call_gives_what_training_computes``
    (``__call__`` against the training path) and ``tests/models/test_lstm_fast.py`` (the
    fast scan's states and gradients against autodiff of :meth:`step`)."""

    def __init__(self, spec: ModelSpec, in_features: int, *, rngs: nnx.Rngs):
        self.spec = spec
        hidden = spec.hidden
        for g in lstm_gates(spec):
            n = units(spec, g)
            w = input_kernel(spec.init, rngs.params(), (in_features, n))
            r = recurrent_kernel(spec.init, rngs.params(), hidden, n)
            per_block_biases = {
                "i": spec.input_gate_biases,
                "f": spec.forget_gate_biases,
                "o": spec.output_gate_biases,
            }
            if per_block_biases.get(g):
                b = jnp.asarray(per_block_biases[g], jnp.float32)
            else:
                b = jnp.full((n,), spec.forget_bias if g == "f" else spec.bias, jnp.float32)
            setattr(self, f"W_{g}", nnx.Param(w))
            setattr(self, f"R_{g}", nnx.Param(r))
            setattr(self, f"b_{g}", nnx.Param(b))
        s = spec.init.peephole_scale
        for g in peephole_gates(spec):
            setattr(
                self, f"p_{g}", nnx.Param(jax.random.uniform(rngs.params(), (hidden,), jnp.float32, -s, s))
            )
        for name in gate_recurrence_names(spec):
            setattr(self, name, nnx.Param(recurrent_kernel(spec.init, rngs.params(), spec.blocks)))

    def recurrent_kernels(self) -> dict[str, Array]:
        return {name: getattr(self, name)[...] for name in self.recurrent_names(self.spec)}

    def initialize_carry(self, batch: int) -> Carry:
        return self.zero_carry(self.spec, batch)

    def __call__(self, carry: Carry, x: Array) -> tuple[Carry, Array]:
        params = nnx.to_pure_dict(nnx.state(self, nnx.Param))
        carry = self.step(self.spec, self.fuse(self.spec, params), carry, x)
        return carry, carry[0]

    @staticmethod
    def recurrent_names(spec: ModelSpec) -> tuple[str, ...]:
        return tuple(f"R_{g}" for g in lstm_gates(spec)) + gate_recurrence_names(spec)

    @staticmethod
    def zero_carry(spec: ModelSpec, batch: int) -> Carry:
        zeros = jnp.zeros((batch, spec.hidden), jnp.float32)
        if spec.full_gate_recurrence:
            k = len(lstm_gates(spec)) - 1
            return (zeros, zeros, jnp.zeros((batch, k * spec.blocks), jnp.float32))
        return (zeros, zeros)

    @staticmethod
    def fuse(spec: ModelSpec, p: dict[str, Array]) -> dict[str, Array]:
        """W, R, b concatenated over z and the gates (columns: hidden for z, then blocks
        per gate, :func:`split_points`); under FGR the Q's as one block matrix
        [k * blocks, k * blocks] (row block: source gate, column block: target gate); the
        peephole vectors as they are."""
        gates = lstm_gates(spec)
        fused = {
            "W": jnp.concatenate([p[f"W_{g}"] for g in gates], axis=1),
            "R": jnp.concatenate([p[f"R_{g}"] for g in gates], axis=1),
            "b": jnp.concatenate([p[f"b_{g}"] for g in gates]),
        }
        fused.update({f"p_{g}": p[f"p_{g}"] for g in peephole_gates(spec)})
        if spec.full_gate_recurrence:
            sig = gates[1:]
            fused["Q"] = jnp.concatenate(
                [jnp.concatenate([p[f"Q_{s}_{g}"] for g in sig], axis=1) for s in sig], axis=0
            )
        return fused

    @staticmethod
    def gate_values(
        spec: ModelSpec,
        w: dict[str, Array],
        carry: Carry,
        x: Array,
        probe: Carry | None = None,
        through: tuple[str, ...] | None = None,
    ) -> dict[str, Array]:
        """Everything one step computes: z, i, f, o, the new c (probe included), tc (the
        output squashing h(c)) and h (probe included), each [..., hidden]: a block's gate
        value is copied to each of its cells (:func:`per_block` takes one per block back);
        a gate that a variant removes is exactly 1 (f = 1 - i under CIFG). Leading axes
        are free, so this also evaluates a whole time-major sequence at once (the
        diagnostics).

        ``through`` (names, e.g. ``("o",)``) keeps only the named recurrent hops
        differentiable: a gate name g for h_{t-1} -> a_g through R_g, ``"peephole"`` for
        c_{t-1} -> a_i, a_f through p_i, p_f, ``"Q"`` for g_{t-1} -> a through the Q's
        (the path ablation of the diagnostics). The carousel c_{t-1} -> c_t and the
        in-step peephole c_t -> o_t are never blocked. ``None`` is the ordinary, fused step."""
        h, c_prev = carry[0], carry[1]
        gates = lstm_gates(spec)
        points = split_points(spec)
        if through is None:
            fused = x @ w["W"] + h @ w["R"] + w["b"]
        else:
            blocked = jax.lax.stop_gradient(h)
            r_parts = jnp.split(w["R"], points, axis=1)
            fused = (
                x @ w["W"]
                + w["b"]
                + jnp.concatenate(
                    [(h if g in through else blocked) @ r for g, r in zip(gates, r_parts, strict=True)],
                    axis=-1,
                )
            )
        if spec.full_gate_recurrence:
            g_prev = carry[2] if through is None or "Q" in through else jax.lax.stop_gradient(carry[2])
            hidden = c_prev.shape[-1]
            fused = jnp.concatenate([fused[..., :hidden], fused[..., hidden:] + g_prev @ w["Q"]], axis=-1)
        a = dict(zip(gates, jnp.split(fused, points, axis=-1), strict=True))
        c_peep = c_prev if through is None or "peephole" in through else jax.lax.stop_gradient(c_prev)
        for g in ("i", "f"):
            if f"p_{g}" in w:
                a[g] = a[g] + block_sum(spec, w[f"p_{g}"] * c_peep)
        ones = jnp.ones_like(c_prev)
        z = squash_input(spec, a["z"])
        i = expand(spec, jax.nn.sigmoid(a["i"])) if spec.input_gate else ones
        f = 1.0 - i if spec.coupled else (expand(spec, jax.nn.sigmoid(a["f"])) if spec.forget_gate else ones)
        c = f * c_prev + i * z
        if probe is not None:
            c = c + probe[1]
        peep_o = block_sum(spec, w["p_o"] * c) if "p_o" in w else 0.0  # reads the new c_t
        o = expand(spec, jax.nn.sigmoid(a["o"] + peep_o)) if spec.output_gate else ones
        tc = squash_output(spec, c)
        h = o * tc
        if probe is not None:
            h = h + probe[0]
        return {"z": z, "i": i, "f": f, "o": o, "c": c, "tc": tc, "h": h}

    @staticmethod
    def step(
        spec: ModelSpec,
        w: dict[str, Array],
        carry: Carry,
        x: Array,
        probe: Carry | None = None,
        through: tuple[str, ...] | None = None,
    ) -> Carry:
        """One time step. ``probe`` (zeros shaped like (h, c)) is added to c_t before h_t
        and o_t's peephole read it and to h_t, so d loss / d probe is the total dL/dc_t and
        dL/dh_t. ``through``: see :meth:`gate_values`."""
        v = LSTMCell.gate_values(spec, w, carry, x, probe, through)
        if spec.full_gate_recurrence:
            g = jnp.concatenate([per_block(spec, v[name]) for name in lstm_gates(spec)[1:]], axis=-1)
            return (v["h"], v["c"], g)
        return (v["h"], v["c"])
