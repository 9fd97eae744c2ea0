"""Gradient-flow diagnostics: pure functions of (parameters, batch), jitted.

Cheap, on every training step (``level=basic`` and ``full``), in the training step's own
backward pass:

- **gradient over time**: ||dL/dh_t|| (and ||dL/dc_t|| for LSTMs) for every step t, from
  zero probes added to the states inside the scan (:meth:`models.scan.RecurrentNet.apply`);
- **parameter gradients**: the norm of every named parameter's gradient.

Expensive, every ``every`` steps (``level=full``), on a fixed diagnostics batch:

- the gradient-over-time profile per sequence, its decay rate per step and first/last ratio;
- **spectra**: spectral radius and largest singular value of each recurrent matrix
  (computed on the host with NumPy: nonsymmetric eigenvalues have no GPU kernel in XLA);
- **Jacobians through time** along the actual trajectory: the one-step state Jacobian
  J_t = ds_t/ds_{t-1}, its spectral norm, ||ds_{T-1}/ds_t|| for every t (s = h, or (h, c)
  for the LSTM; also the h-to-h block ||dh_{T-1}/dh_t||), and the top-k **Lyapunov
  exponents** by QR re-orthonormalisation of the Jacobian products;
- the **LSTM path split** of dL/dc_t (see :func:`lstm_paths`) and the hop ablation;
- **cell-state growth** ||c_t|| (LSTMs).

Every norm here is :func:`models.linalg.norm`, exact from float32's smallest normal number
(1.2e-38) to its largest (3.4e38): 0 only for a zero vector, inf only for a non-finite
entry or a norm past 3.4e38. Values (gradient entries, path parts) below 1.2e-38 are exactly
0 (:func:`flush_underflow`) and flagged where that loses a non-zero value (:func:`underflow`).
Products of Jacobians are kept as logs (``jacobian_log_norm``, ``lyapunov``), which have no
such range; ``jacobian_norm`` is exp of the first and does.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from benchmarks.stats import decay_rate
from carousel_checks import check_choice, check_finite_fields, check_positive
from models.base import ACTIVATION_DERIVATIVE_BOUND, hop_matrix
from models.linalg import gram_schmidt, norm, spectral_norm
from models.lstm import block_sum, expand, input_slope, lstm_gates, output_slope, peephole_gates, per_block
from models.scan import Params, RecurrentNet
from tasks.base import Batch, Task

LEVELS = ("none", "basic", "full")


@dataclasses.dataclass(frozen=True)
class DiagnosticsSpec:
    """level: none | basic (per-step probes and parameter-gradient norms) | full (basic plus
    the expensive diagnostics every ``every`` training steps, at initialisation and at the
    end); batch_size: sequences of the fixed diagnostics batch; jacobian_sequences: how many
    of them the Jacobians and Lyapunov exponents use; lyapunov_k: exponents kept;
    explode_factor / explode_window: a gradient-norm event is a norm above factor x the
    median of the preceding window steps, or a non-finite norm; layer: the layer probed;
    exact_steps / bin_steps: a run written to a store keeps its per-step series exactly for
    the first exact_steps steps and as bin_steps-step bins (mean and max) beyond
    (:mod:`benchmarks.run.history`), so a long run's memory and store stay bounded."""

    level: str = "basic"
    every: int = 1000
    batch_size: int = 32
    jacobian_sequences: int = 4
    lyapunov_k: int = 8
    explode_factor: float = 10.0
    explode_window: int = 100
    layer: int = 0
    exact_steps: int = 10_000
    bin_steps: int = 100

    def __post_init__(self) -> None:
        check_choice("diagnostics level", self.level, LEVELS)
        check_finite_fields(self, "diagnostics")
        for name in (
            "every",
            "batch_size",
            "jacobian_sequences",
            "lyapunov_k",
            "explode_window",
            "exact_steps",
            "bin_steps",
        ):
            check_positive(f"diagnostics.{name}", getattr(self, name))
        if self.jacobian_sequences > self.batch_size:
            raise ValueError("diagnostics.jacobian_sequences must be <= diagnostics.batch_size")
        if not isinstance(self.layer, int) or self.layer < 0:
            raise ValueError(f"diagnostics.layer must be a non-negative integer, got {self.layer!r}")

    @property
    def probes(self) -> bool:
        return self.level != "none"


# ---------------------------------------------------------------------------- cheap


def loss_and_grads(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, layer: int | None, norms: bool = False
) -> tuple[Array, Params, Any]:
    """Loss, parameter gradients and (if ``layer`` is not None) the probe gradients
    (dL/dh_t[, dL/dc_t] of that layer, each [T, B, H]; with ``norms`` their norms over the
    hidden units, [T, B], computed inside the backward pass) from ONE backward pass."""
    if layer is None:

        def plain(p):
            outputs, _ = model.apply(p, batch.x)
            return task.loss(outputs, batch)

        loss, grads = jax.value_and_grad(plain)(params)
        return loss, grads, None

    def probed(p, probes):
        outputs, _ = model.apply(p, batch.x, probes)
        return task.loss(outputs, batch)

    probes = model.zero_probes(batch.x.shape[0], batch.x.shape[1], layers=(layer,), norms=norms)
    loss, (grads, probe_grads) = jax.value_and_grad(probed, argnums=(0, 1))(params, probes)
    return loss, grads, probe_grads[layer]


def state_grad_norms(probe_grads: Any) -> dict[str, Float[Array, "time batch"]]:
    """||dL/dh_t|| (and ||dL/dc_t||) per step and sequence from the probe gradients (norm
    probes' gradients are these norms already)."""
    names = ("grad_h", "grad_c")
    return {names[i]: g if g.ndim == 2 else norm(g, axis=-1) for i, g in enumerate(probe_grads)}


def param_grad_norms(grads: Params) -> dict[str, Array]:
    """The norm of every named parameter's gradient (scaled: exact over float32's range)."""
    return {name: norm(g, axis=None) for name, g in grads.items()}


class ExplodeDetector:
    """Exploding-gradient events, streamed chunk by chunk with bounded memory.

    A step is an event for a seed when the seed trained at that step and its global
    gradient norm is non-finite, or (from the 11th step on) above ``factor`` times the
    median of the finite norms of its preceding ``window`` trained steps. A seed that is not
    training (diverged, or solved and stopped) has no events, so the count stops at
    divergence identically under every strategy. The window is the detector's whole state
    (``state``/``load``), so a resumed run counts exactly as an uninterrupted one."""

    def __init__(self, factor: float, window: int, n_seeds: int):
        self.factor = factor
        self.past = np.full((window, n_seeds), np.nan)  # ring of the last norms, oldest first
        self.seen = 0

    def update(self, norms: np.ndarray, trained: np.ndarray) -> np.ndarray:
        """Events [steps, seeds] for the next ``steps`` norms; ``trained`` says which count."""
        norms, trained = np.asarray(norms, np.float64), np.asarray(trained, bool)
        events = np.zeros(norms.shape, bool)
        for s in range(norms.shape[0]):
            finite = np.isfinite(norms[s])
            events[s] = trained[s] & ~finite
            if self.seen >= 10:
                with warnings.catch_warnings():  # all-NaN windows (frozen seeds) have no median
                    warnings.simplefilter("ignore", RuntimeWarning)
                    med = np.nanmedian(self.past, axis=0)
                events[s] |= trained[s] & np.isfinite(med) & (norms[s] > self.factor * med)
            self.past = np.concatenate([self.past[1:], np.where(trained[s] & finite, norms[s], np.nan)[None]])
            self.seen += 1
        return events

    def state(self) -> dict[str, np.ndarray]:
        return {"past": self.past, "seen": np.asarray(self.seen)}

    def load(self, state: dict[str, np.ndarray]) -> None:
        self.past, self.seen = np.asarray(state["past"], np.float64), int(state["seen"])


def explode_events(norms: np.ndarray, factor: float, window: int) -> np.ndarray:
    """Boolean [steps, ...] events of a whole series whose every step trained (see
    :class:`ExplodeDetector`)."""
    norms = np.asarray(norms, np.float64)
    flat = norms.reshape(norms.shape[0], -1)
    detector = ExplodeDetector(factor, window, flat.shape[1])
    return detector.update(flat, np.ones(flat.shape, bool)).reshape(norms.shape)


# ---------------------------------------------------------------------------- spectra


def spectra(model: RecurrentNet, params: Params) -> dict[str, np.ndarray]:
    """Spectral radius and largest singular value of every recurrent matrix (host NumPy,
    leading seed axis allowed), plus Pascanu et al.'s sufficient condition for vanishing:
    sigma_max < 1/gamma, gamma the bound on the activation's derivative.

    An LSTM gate shared by the cells of a block (``model.block_size`` > 1) has a non-square
    R_g [hidden, blocks], which has no eigenvalues; it is measured as the hop it makes,
    h_{t-1} -> the gate's value at each cell: R_g with each column repeated block_size times
    (:func:`models.base.hop_matrix`), whose singular values are sqrt(block_size) times R_g's."""
    gamma = ACTIVATION_DERIVATIVE_BOUND[model.spec.activation] if model.spec.cell == "rnn" else 1.0
    out: dict[str, np.ndarray] = {}
    for name in model.recurrent_names():
        w = hop_matrix(np.asarray(params[name], np.float64), xp=np)
        radius = np.max(np.abs(np.linalg.eigvals(w)), axis=-1)
        sigma = np.linalg.svd(w, compute_uv=False)[..., 0]
        out[f"spectral_radius.{name}"] = radius.astype(np.float32)
        out[f"sigma_max.{name}"] = sigma.astype(np.float32)
        out[f"vanishing_sufficient.{name}"] = sigma < 1.0 / gamma
    return out


# ---------------------------------------------------------------------------- Jacobians


def flat_step(model: RecurrentNet, params: Params, layer: int):
    """The layer's step as a map of one flat state vector (h, or [h, c], or [h, c, gates] for
    an LSTM with full gate recurrence) and one input."""
    cls, spec = model.cell_class, model.spec
    weights = cls.fuse(spec, model.layer_params(params, layer))
    sizes = [part.shape[-1] for part in cls.zero_carry(spec, 1)]  # e.g. (h, c, gates) under FGR
    splits = [sum(sizes[: k + 1]) for k in range(len(sizes) - 1)]

    def step(s, x):
        carry = tuple(part[None] for part in jnp.split(s, splits))
        new = cls.step(spec, weights, carry, x[None])
        return jnp.concatenate([part[0] for part in new])

    return step


def step_jacobians(
    model: RecurrentNet, params: Params, x_BTD: Array, layer: int
) -> Float[Array, "batch time d d"]:
    """J_t = d s_t / d s_{t-1} along each sequence's own trajectory (s_{-1} = 0)."""
    _, states = model.apply(params, x_BTD)
    inputs = model.layer_inputs(x_BTD, states, layer)  # [T, B, D]
    s = jnp.concatenate(states[layer], axis=-1)  # [T, B, S]
    s_prev = jnp.concatenate([jnp.zeros_like(s[:1]), s[:-1]], axis=0)
    jac = jax.jacfwd(flat_step(model, params, layer))
    return jax.vmap(jax.vmap(jac), in_axes=(1, 1))(s_prev, inputs)  # [B, T, S, S]


def jacobian_products(jacs: Float[Array, "time d d"], hidden: int) -> dict[str, Array]:
    """For one sequence: log ||ds_{T-1}/ds_t||_2 and log ||dh_{T-1}/dh_t||_2 for every t
    (0 at t = T-1), with the running product renormalised to avoid overflow."""
    d = jacs.shape[-1]

    def back(carry, j_next):
        prod, log_scale = carry  # prod * exp(log_scale) = ds_{T-1}/ds_{t+1}
        prod = prod @ j_next
        norm = spectral_norm(prod)
        safe = jnp.where(norm > 0, norm, 1.0)
        log_full = jnp.log(safe) + log_scale
        log_hh = jnp.log(spectral_norm(prod[:hidden, :hidden]) / safe) + log_full
        return (prod / safe, log_full), (log_full, log_hh)

    init = (jnp.eye(d, dtype=jacs.dtype), jnp.zeros((), jacs.dtype))
    _, (log_state, log_h) = jax.lax.scan(back, init, jacs[1:], reverse=True)
    zero = jnp.zeros((1,), jacs.dtype)
    return {
        "log_state": jnp.concatenate([log_state, zero]),
        "log_h": jnp.concatenate([log_h, zero]),
    }


def lyapunov_exponents(
    jacs: Float[Array, "time d d"], k: int, n_steps: Array | None = None
) -> Float[Array, " k"]:
    """Top-k Lyapunov exponents (per step, natural log) of the Jacobian sequence by QR
    re-orthonormalisation: Q_t R_t = J_t Q_{t-1}, lambda_i = sum_t log |R_t[i, i]| / n_steps
    (n_steps: the steps that count, default all; identity steps add nothing to the sum)."""
    d = jacs.shape[-1]
    k = min(k, d)

    def fwd(q, j):
        q, r = gram_schmidt(j @ q)
        return q, jnp.log(r)

    _, logs = jax.lax.scan(fwd, jnp.eye(d, k, dtype=jacs.dtype), jacs)
    n = jacs.shape[0] if n_steps is None else n_steps
    return jnp.sort(jnp.sum(logs, axis=0) / n)[::-1]


# ---------------------------------------------------------------------------- LSTM paths


def flush_underflow(v: Array) -> Array:
    """``v`` with every entry below the dtype's smallest normal number in magnitude set to
    exactly 0. XLA's CPU backend flushes such subnormal results itself, a GPU need not: the
    stored arrays are then the same on both, and a value that float32 cannot represent
    with its full precision never shows up as a tiny number (see :func:`underflow`)."""
    return jnp.where(jnp.abs(v) < jnp.finfo(v.dtype).tiny, jnp.zeros_like(v), v)


def underflow(part: Float[Array, "time ..."]) -> Array:
    """True where a backward-accumulated gradient is exactly 0 although a later step
    holds a non-zero value: P_t = s_t + f_{t+1} P_{t+1} only loses a non-zero P_{t+1} when
    the product (or f_{t+1} itself) falls below float32's range, or cancels the source
    exactly, which has probability 0. Parts that are zero everywhere (a zeroed matrix),
    or after the loss's last step (right padding), are not flagged: they are exact zeros."""
    nonzero = (part != 0).astype(jnp.int32)
    later = jnp.flip(jnp.cumsum(jnp.flip(nonzero, 0), axis=0), 0)  # non-zero entries at s >= t
    later = jnp.concatenate([later[1:], jnp.zeros_like(later[:1])])  # at s > t
    return (part == 0) & (later > 0)


def carousel(source: Float[Array, "time ..."], f_next: Float[Array, "time ..."]) -> Array:
    """P_t = s_t + f_{t+1} P_{t+1} (P_T = 0), accumulated backwards over time.

    Each step multiplies by a gate in [0, 1] and adds the step's own source: the only
    cancellation is between sources of opposite sign, as in dL/dc_t itself, so P_t keeps
    float32's relative precision however small it gets, down to the smallest normal
    number, below which it is stored as exactly 0 (:func:`flush_underflow`)."""

    def back(acc, inputs):
        s_t, f_t = inputs
        acc = flush_underflow(s_t + f_t * acc)
        return acc, acc

    _, out = jax.lax.scan(back, jnp.zeros_like(source[0]), (source, f_next), reverse=True)
    return out


def direct_error(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, states: Any, layer: int
) -> Float[Array, "time batch hidden"]:
    """e_t, the error reaching layer ``layer``'s h_t from everything but its own recurrence:
    from the readout at step t, or for a lower layer from the next layer's input at step t
    (and everything that follows from it). Its own backward pass through
    :meth:`models.scan.RecurrentNet.apply_above`, with the layer's h sequence held fixed.

    Why not dh_t - sum_g da_g(t+1) R_g^T: dh_t is the total, and once the CEC part of dc_t
    falls below ~1e-7 of it that difference is float32 rounding noise."""

    def loss(h):
        return task.loss(model.apply_above(params, h, layer), batch)

    return jax.grad(loss)(states[layer][0])


def _gate_errors(spec: Any, w: Params, v: dict[str, Array], dh: Array, dc: Array, c_prev: Array):
    """da_g(t) for every step and gate from the total dh_t, dc_t and the forward values v
    (see :func:`lstm_paths`), and dq_g(t), the FGR error on each gate value (``{}``
    without FGR). A gate's errors are per block ([..., blocks]): the sums over the block's
    cells, whose values it sets; the cell input's, da_z, are per cell."""
    sig = lstm_gates(spec)[1:]
    slope = {g: per_block(spec, v[g]) * (1 - per_block(spec, v[g])) for g in sig}  # sigmoid' at each gate

    def errors(dh_t, dc_t, c_prev_t, z_t, i_t, slope_t, tc_t, dq):
        dgate = {
            "i": block_sum(spec, dc_t * ((z_t - c_prev_t) if spec.coupled else z_t)),
            "f": block_sum(spec, dc_t * c_prev_t),
            "o": block_sum(spec, dh_t * tc_t),
        }
        da = {"z": dc_t * i_t * input_slope(spec, z_t)}
        da.update({g: (dgate[g] + dq.get(g, 0.0)) * slope_t[g] for g in sig})
        return da

    inputs = (dh, dc, c_prev, v["z"], v["i"], slope, v["tc"])
    if not spec.full_gate_recurrence:
        return errors(*inputs, {}), {}
    q_t = w["Q"].T

    def back(da_next, step_inputs):  # da_next: the next step's [B, k H] gate errors
        dq = dict(zip(sig, jnp.split(da_next @ q_t, len(sig), axis=-1), strict=True))
        da = errors(*step_inputs, dq)
        return jnp.concatenate([da[g] for g in sig], axis=-1), (da, dq)

    da0 = jnp.zeros(dh.shape[1:-1] + (len(sig) * spec.blocks,), dh.dtype)
    _, (da, dq) = jax.lax.scan(back, da0, inputs, reverse=True)
    return da, dq


def lstm_paths(
    model: RecurrentNet,
    task: Task,
    params: Params,
    batch: Batch,
    probe_grads: Any,
    states: Any,
    layer: int,
) -> dict[str, Float[Array, "time batch hidden"]]:
    """Split the total dL/dc_t of an LSTM layer (any variant) exactly into path families.

    Backward through one step (Greff et al. 2015, App. A.2, with the variants' local
    derivatives), the cell-state error obeys

        dc_t = dh_t * l_t + f_{t+1} * dc_{t+1}
               + da_i(t+1) * p_i + da_f(t+1) * p_f          (peepholes from c_t)
               + dq_o(t) * o_t (1 - o_t) * p_o               (FGR hops into o_t, see below)

    with l_t = dh_t/dc_t within step t = o_t h'(c_t) + h(c_t) o_t (1 - o_t) p_o (h the
    output squashing, tanh or H&S 1997's 2 sigmoid - 1; the p_o peephole reads c_t in the
    same step: local, not a hop; h -> identity under NOAF, o -> 1 under NOG), and
    dh_t = e_t + sum_g da_g(t+1) @ R_g^T: the direct error e_t from the loss (or the layer
    above; :func:`direct_error`) plus one recurrent hop per gate. A path from the loss to
    c_t is classified by its recurrent hop nearest to t:

    - ``cec``: no hop at all: loss -> h_s -> c_s, then c_s -> ... -> c_t along the
      carousel, scaled by the forget gates: cec_t = e_t l_t + f_{t+1} * cec_{t+1};
    - ``R_g``: the last hop went h_t <- a_g(t+1) through R_g, then along the carousel:
      P^g_t = (da_g(t+1) @ R_g^T) l_t + f_{t+1} * P^g_{t+1};
    - ``peephole`` (``peepholes=True`` with an input or forget gate): the last hop went
      c_t <- a_i(t+1), a_f(t+1) through p_i, p_f;
    - ``Q`` (FGR with peepholes and an output gate): the last hop went o_t <- a_g(t+1)
      through Q_o_g, dq_o(t) = sum_g da_g(t+1) @ Q_o_g^T, and reached c_t through the p_o
      peephole. Hops through Q_i_g or Q_f_g end on i_t or f_t, which c_t does not feed:
      they reach c_{t-1} only by a further R, peephole or Q hop, and are counted there.
      One family for all Q's (without peepholes it is identically zero and left out).

    Every part is accumulated from its own source (:func:`carousel`), never as the
    difference of larger terms, so each is as accurate as dc_t itself, however many
    orders of magnitude smaller; an entry below float32's range is exactly 0
    (:func:`underflow` finds them). The parts obey dc_t's recurrence and their sources add
    up to dc_t's, so cec + sum of the families = dc_t up to rounding. The gate errors da_g
    are read off the total dh_t and dc_t (``probe_grads``) and the forward ``states``:
    with the local factors dL/di_t = dc_t z_t (dc_t (z_t - c_{t-1}) under CIFG, where
    f = 1 - i), dL/df_t = dc_t c_{t-1}, dL/do_t = dh_t tanh(c_t), plus under FGR the error
    dq_g(t) from the next step's gates, which makes them a backward recurrence.

    Blocks of cells sharing their gates (``model.block_size`` S > 1, H&S 1997): a gate's
    error da_g(t) is per block, the sum over the block's cells of their local factors times
    sigma'(a_g); the hop da_g(t+1) @ R_g^T (R_g [hidden, blocks]) reaches every cell, and a
    peephole hop reaches cell j as da_g(t+1) of its block times p_g[j]. The in-step output
    peephole then couples the cells of a block, so l_t is no longer a factor per cell but
    the map e -> e o_t h'(c_t) + p_o o_t (1 - o_t) sum_{k in block} e_k h(c_k), applied
    to each family's hop error in the same way (it is linear): the parts still add up to dc_t.
    """
    spec, cls = model.spec, model.cell_class
    gates = lstm_gates(spec)
    p = model.layer_params(params, layer)
    w = cls.fuse(spec, p)
    dh, dc = probe_grads  # totals, [T, B, H]
    x = model.layer_inputs(batch.x, states, layer)

    def prev_step(v):  # value at t-1, zero before the first step
        return jnp.concatenate([jnp.zeros_like(v[:1]), v[:-1]])

    def next_step(v):  # value at t+1, zero after the last step
        return jnp.concatenate([v[1:], jnp.zeros_like(v[:1])])

    carry = tuple(prev_step(s) for s in states[layer])  # (h, c[, gates]) at t-1
    v = cls.gate_values(spec, w, carry, x)
    da, dq = _gate_errors(spec, w, v, dh, dc, carry[1])
    cell_factor = v["o"] * output_slope(spec, v["tc"])  # through h(c_t), per cell
    o_peep = v["o"] * (1 - v["o"]) * p["p_o"] if "o" in gates and spec.peepholes else None

    def local(err):  # dL/dc_t within step t from an error err on h_t
        if o_peep is None:
            return err * cell_factor
        if spec.block_size == 1:
            return err * (cell_factor + v["tc"] * o_peep)
        return err * cell_factor + o_peep * expand(spec, block_sum(spec, err * v["tc"]))

    e = direct_error(model, task, params, batch, states, layer)
    hops = {g: next_step(da[g]) @ p[f"R_{g}"].T for g in gates}
    sources = {"cec": local(e), **{f"R_{g}": local(hops[g]) for g in gates}}
    peep = [expand(spec, next_step(da[g])) * p[f"p_{g}"] for g in ("i", "f") if g in peephole_gates(spec)]
    if peep:
        sources["peephole"] = sum(peep)
    if spec.full_gate_recurrence and o_peep is not None:
        sources["Q"] = expand(spec, dq["o"]) * o_peep
    f_next = next_step(v["f"])
    parts = {name: carousel(src, f_next) for name, src in sources.items()}
    parts["total"] = flush_underflow(dc)
    return parts


def hop_ablation(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, layer: int, through: tuple[str, ...]
) -> Float[Array, "time batch hidden"]:
    """dL/dc_t when only the recurrent hops named in ``through`` are differentiable: gate
    names for R_g, ``"peephole"`` for p_i, p_f, ``"Q"`` for FGR's matrices (see
    :meth:`models.lstm.LSTMCell.gate_values`). ``()``: none, leaving exactly the CEC part;
    ``("o",)``: only R_o, which then multiplies the error step after step like a vanilla
    RNN's W_hh. Autodiff accumulates it like :func:`carousel`, from the sources the
    unblocked paths leave (no difference of larger terms); entries below float32's range
    are exactly 0 (:func:`flush_underflow`)."""

    def loss(probes):
        outputs, _ = model.apply(params, batch.x, probes, step_options={layer: {"through": through}})
        return task.loss(outputs, batch)

    probes = model.zero_probes(batch.x.shape[0], batch.x.shape[1], layers=(layer,))
    return flush_underflow(jax.grad(loss)(probes)[layer][1])


# ---------------------------------------------------------------------------- all of it


def _mean_norm(v: Float[Array, "time batch hidden"]) -> Float[Array, " time"]:
    return jnp.mean(norm(v, axis=-1), axis=1)


def lstm_path_diagnostics(
    model: RecurrentNet, task: Task, params: Params, batch: Batch, probe_grads: Any, states: Any, layer: int
) -> dict[str, Array]:
    """Per step [T], batch means of the norm over units:

    - ``path.<family>``, ``path.total``: ||part_t|| of :func:`lstm_paths`' split and ||dc_t||;
    - ``path.residual`` (scalar): max |sum of the parts - dc_t| / max |dc_t|;
    - ``ablation.none``, ``ablation.R_<g>``: ||dc_t|| with no hop, or only R_g's,
      differentiable (:func:`hop_ablation`);
    - ``path_underflow.<name>``, ``ablation_underflow.<name>``: the fraction of the
      batch's entries (sequence x unit) of that array at step t that are 0 only because
      the value fell below float32's range (:func:`underflow`). 1 where the whole part
      underflowed: its norm there is 0, not a measured small value."""
    out: dict[str, Array] = {}
    parts = lstm_paths(model, task, params, batch, probe_grads, states, layer)
    for name, v in parts.items():
        out[f"path.{name}"] = _mean_norm(v)
        out[f"path_underflow.{name}"] = jnp.mean(underflow(v), axis=(1, 2))
    out["path.residual"] = jnp.max(
        jnp.abs(sum(v for k, v in parts.items() if k != "total") - parts["total"])
    ) / jnp.maximum(jnp.max(jnp.abs(parts["total"])), 1e-30)
    for name, through in [("none", ())] + [(f"R_{g}", (g,)) for g in lstm_gates(model.spec)]:
        ablated = hop_ablation(model, task, params, batch, layer, through)
        out[f"ablation.{name}"] = _mean_norm(ablated)
        out[f"ablation_underflow.{name}"] = jnp.mean(underflow(ablated), axis=(1, 2))
    return out


def full_diagnostics(
    model: RecurrentNet, task: Task, spec: DiagnosticsSpec, params: Params, batch: Batch
) -> dict[str, Array]:
    """Every expensive diagnostic for one seed on one batch (jit with model, task, spec
    static). Arrays are per time step [T] (batch means) unless named otherwise."""
    layer = spec.layer
    _, grads, probe_grads = loss_and_grads(model, task, params, batch, layer)
    _, states = model.apply(params, batch.x)
    norms = state_grad_norms(probe_grads)
    out: dict[str, Array] = {
        "grad_h": jnp.mean(norms["grad_h"], axis=1),
        "grad_h_seq": norms["grad_h"].T,  # [B, T]
    }
    out["grad_h_decay_rate"] = decay_rate(out["grad_h"], xp=jnp)  # every lag, never NaN
    # the last step that reaches the loss: right-padded steps after a sequence's end have none
    g = out["grad_h"]
    last = jnp.max(jnp.where(g > 0, jnp.arange(g.shape[0]), 0))
    out["grad_h_ratio_first_last"] = g[0] / jnp.where(g[last] > 0, g[last], jnp.nan)
    for name, g in param_grad_norms(grads).items():
        out[f"param_grad_norm.{name}"] = g
    n_jac = spec.jacobian_sequences
    jacs = step_jacobians(model, params, batch.x[:n_jac], layer)  # [B, T, S, S]
    # Steps after a sequence's last loss step (right padding) cannot reach the loss: they
    # count as identity Jacobians, so the products run from the last step that matters.
    t = jnp.arange(jacs.shape[1])
    last = jnp.max(jnp.where(batch.mask[:n_jac] > 0, t[None, :], 0), axis=1)  # [B]
    eye = jnp.eye(jacs.shape[-1], dtype=jacs.dtype)
    jacs = jnp.where((t[None, :] > last[:, None])[..., None, None], eye, jacs)
    logs = jax.vmap(jacobian_products, in_axes=(0, None))(jacs, model.spec.hidden)
    out["jacobian_log_norm"] = jnp.mean(logs["log_h"], axis=0)
    out["jacobian_norm"] = jnp.exp(out["jacobian_log_norm"])
    out["jacobian_norm_state"] = jnp.exp(jnp.mean(logs["log_state"], axis=0))
    out["step_jacobian_norm"] = jnp.mean(jax.vmap(jax.vmap(spectral_norm))(jacs), axis=0)
    lyap = jax.vmap(lyapunov_exponents, in_axes=(0, None, 0))(jacs, spec.lyapunov_k, last + 1)
    out["lyapunov"] = jnp.mean(lyap, 0)
    if model.spec.cell == "lstm":
        out["grad_c"] = jnp.mean(norms["grad_c"], axis=1)
        out["cell_norm"] = jnp.mean(norm(states[layer][1], axis=-1), axis=1)
        out.update(lstm_path_diagnostics(model, task, params, batch, probe_grads, states, layer))
    return out
