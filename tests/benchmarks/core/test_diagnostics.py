"""Diagnostics against references that could disagree: jax.grad, finite differences,
closed forms for linear RNNs, NumPy, and the LSTM path algebra."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.core import diagnostics as dg
from benchmarks.stats import decay_rate
from models import MODELS, make_model
from tasks.adding import AddingTask

TASK = AddingTask(variant="arjovsky2016", length=16)
LSTM_PRESETS = sorted(n for n, p in MODELS.items() if p["cell"] == "lstm")
ALL_HOPS = ("z", "i", "f", "o", "peephole", "Q")


def batch(n=6, key=0):
    return TASK.sample(jax.random.key(key), n)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_probe_gradients_equal_grad_of_unrolled_loss_and_finite_differences(name):
    model = make_model(name, 2, 1, hidden=4)
    params = model.init(jax.random.key(1))
    b = batch()
    _, grads, probe = dg.loss_and_grads(model, TASK, params, b, layer=0)
    w = model.cell_class.fuse(model.spec, params)
    _, states = model.apply(params, b.x)

    def loss_from(t, carry):  # a separate unrolled function from the state after step t
        outs = []
        for s in range(t + 1, b.x.shape[1]):
            carry = model.cell_class.step(model.spec, w, carry, b.x[:, s])
            outs.append(carry[0])
        hs = jnp.stack([jnp.zeros_like(carry[0])] * (t + 1) + outs, axis=1)
        return TASK.loss(hs @ params["W_out"] + params["b_out"], b)

    for t in (0, 7, 14):  # the loss is at the last step only, so h_t reaches it via the future
        carry = tuple(s[t] for s in states[0])
        ref = jax.grad(loss_from, 1)(t, carry)[0]
        np.testing.assert_allclose(probe[0][t], ref, rtol=2e-4, atol=1e-7)
    # finite differences on one coordinate of h_3
    t, i, j, eps = 3, 2, 1, 1e-2
    carry = tuple(s[t] for s in states[0])
    bump = lambda d: tuple(c.at[i, j].add(d) if k == 0 else c for k, c in enumerate(carry))  # noqa: E731
    fd = (loss_from(t, bump(eps)) - loss_from(t, bump(-eps))) / (2 * eps)
    assert float(probe[0][t][i, j]) == pytest.approx(float(fd), rel=2e-2, abs=1e-6)
    # and the parameter gradient is the ordinary one
    plain = jax.grad(lambda p: TASK.loss(model.apply(p, b.x)[0], b))(params)
    for k in params:
        np.testing.assert_allclose(grads[k], plain[k], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("s", [0.9, 1.1])
def test_linear_rnn_scaled_orthogonal_closed_forms(s):
    """W_hh = s Q: ||dh_{T-1}/dh_t|| = s^(T-1-t) and every Lyapunov exponent is log s."""
    model = make_model(
        "rnn", 2, 1, hidden=6, activation="identity", init={"recurrent": "orthogonal", "recurrent_scale": s}
    )
    params = model.init(jax.random.key(0))
    jacs = dg.step_jacobians(model, params, batch(2).x, layer=0)
    logs = dg.jacobian_products(jacs[0], 6)
    T = jacs.shape[1]
    np.testing.assert_allclose(logs["log_h"], (T - 1 - np.arange(T)) * np.log(s), atol=1e-4)
    np.testing.assert_allclose(dg.lyapunov_exponents(jacs[0], 6), np.full(6, np.log(s)), atol=1e-5)
    # with tanh the norms and exponents are at most the linear ones
    tanh = make_model(
        "rnn", 2, 1, hidden=6, activation="tanh", init={"recurrent": "orthogonal", "recurrent_scale": s}
    )
    jt = dg.step_jacobians(tanh, tanh.init(jax.random.key(0)), batch(2).x, layer=0)
    assert np.all(np.asarray(dg.jacobian_products(jt[0], 6)["log_h"]) <= logs["log_h"] + 1e-4)
    assert np.all(np.asarray(dg.lyapunov_exponents(jt[0], 6)) <= np.log(s) + 1e-5)


def test_spectra_match_numpy():
    model = make_model("lstm", 2, 1, hidden=7, init={"recurrent": "normal", "recurrent_scale": 0.3})
    params = jax.vmap(model.init)(jax.random.split(jax.random.key(0), 3))
    out = dg.spectra(model, params)
    for name in ("R_z", "R_i", "R_f", "R_o"):
        for seed in range(3):
            w = np.asarray(params[name][seed], np.float64)
            assert out[f"spectral_radius.{name}"][seed] == pytest.approx(
                max(abs(np.linalg.eigvals(w))), rel=1e-5
            )
            assert out[f"sigma_max.{name}"][seed] == pytest.approx(np.linalg.norm(w, 2), rel=1e-5)


@functools.partial(jax.jit, static_argnums=0)
def paths_and_ablations(model, params, b):
    """The path split, and dL/dc_t with no hop and with every hop differentiable; one
    compilation per model, whatever the parameter values."""
    _, _, probe = dg.loss_and_grads(model, TASK, params, b, layer=0)
    _, states = model.apply(params, b.x)
    parts = dg.lstm_paths(model, TASK, params, b, probe, states, 0)
    return parts, [dg.hop_ablation(model, TASK, params, b, 0, through) for through in ((), ALL_HOPS)]


def lstm_parts(name, zero=(), **kw):
    model = make_model(name, 2, 1, **{"hidden": 5, **kw})
    params = model.init(jax.random.key(2))
    params = {k: (jnp.zeros_like(v) if k in zero else v) for k, v in params.items()}
    b = batch()
    parts, ablations = paths_and_ablations(model, params, b)
    return model, params, b, parts, ablations


def expected_families(spec):
    gates = ["z"] + [
        g
        for g, on in (
            ("i", spec.input_gate),
            ("f", spec.forget_gate and not spec.coupled),
            ("o", spec.output_gate),
        )
        if on
    ]
    families = {"cec", *(f"R_{g}" for g in gates)}
    if spec.peepholes and (spec.input_gate or (spec.forget_gate and not spec.coupled)):
        families.add("peephole")
    if spec.peepholes and spec.full_gate_recurrence and spec.output_gate:
        families.add("Q")
    return families


# H&S 1997's blocks of cells sharing their gates, at hidden 6: the preset (three blocks, one
# input-gate bias each) and blocks with every extra hop into a block's gates
BLOCKS = [
    ("lstm1997", {"hidden": 6, "input_gate_biases": (-1.0, -2.0, -3.0)}),
    (
        "lstm_nofg",
        {
            "hidden": 6,
            "block_size": 2,
            "squashing": "hochreiter1997",
            "peepholes": True,
            "full_gate_recurrence": True,
        },
    ),
    ("lstm_fgr", {"hidden": 6, "block_size": 3, "squashing": "hochreiter1997"}),
    ("lstm_cifg", {"hidden": 6, "block_size": 2}),
]


@pytest.mark.parametrize(
    ("name", "extra"),
    [(n, {}) for n in LSTM_PRESETS if n != "lstm1997"]  # sized in BLOCKS
    + [("lstm", {"full_gate_recurrence": True})]  # FGR, no Q family
    + BLOCKS,
)
def test_lstm_path_parts_sum_to_the_total_and_the_cec_part_is_the_hopless_gradient(name, extra):
    model, _, _, parts, (none, full) = lstm_parts(name, **extra)
    assert set(parts) == expected_families(model.spec) | {"total"}
    total = parts.pop("total")
    err = np.max(np.abs(sum(parts.values()) - total)) / np.max(np.abs(total))
    assert err < 1e-5
    assert all(np.max(np.abs(v)) > 0 for v in parts.values())
    scale = np.max(np.abs(total))
    np.testing.assert_allclose(none, parts["cec"], rtol=1e-4, atol=1e-6 * scale)
    np.testing.assert_allclose(full, total, rtol=1e-4, atol=1e-6 * scale)


@pytest.mark.parametrize("name", ["lstm", "lstm_fgr"])
def test_zeroing_R_o_removes_exactly_the_R_o_part(name):
    _, _, _, parts, _ = lstm_parts(name, zero=("R_o",))
    assert np.max(np.abs(parts["R_o"])) == 0.0
    others = sum(v for k, v in parts.items() if k not in ("total",))
    scale = np.max(np.abs(parts["total"]))
    np.testing.assert_allclose(others, parts["total"], rtol=1e-5, atol=1e-6 * scale)


def test_zeroing_the_peepholes_or_Q_o_removes_their_parts():
    _, _, _, parts, _ = lstm_parts("lstm_fgr", zero=("p_i", "p_f"))
    assert np.max(np.abs(parts["peephole"])) == 0.0 and np.max(np.abs(parts["Q"])) > 0
    _, _, _, parts, _ = lstm_parts("lstm_fgr", zero=("Q_o_i", "Q_o_f", "Q_o_o"))
    assert np.max(np.abs(parts["Q"])) == 0.0 and np.max(np.abs(parts["peephole"])) > 0


def test_cec_carries_everything_unchanged_without_forget_gate_and_zero_recurrences():
    """No forget gate, all R zero: dL/dc_t is all CEC and constant across steps until the
    last step's input (the loss reads h at the last step only)."""
    _, _, _, parts, _ = lstm_parts("lstm_nofg", zero=("R_z", "R_i", "R_o"))
    np.testing.assert_allclose(parts["cec"], parts["total"], rtol=1e-5, atol=1e-9)
    for g in ("R_z", "R_i", "R_o"):
        assert np.max(np.abs(parts[g])) == 0.0
    total = np.asarray(parts["total"])
    np.testing.assert_allclose(total[:-1], np.broadcast_to(total[-1], total[:-1].shape), rtol=1e-6)


def test_cec_decays_as_the_product_of_forget_gates():
    model, params, b, parts, _ = lstm_parts("lstm", zero=("R_z", "R_i", "R_f", "R_o"))
    w = model.cell_class.fuse(model.spec, params)
    f = jax.nn.sigmoid(jnp.swapaxes(b.x, 0, 1) @ params["W_f"] + params["b_f"])  # [T, B, H]
    T = f.shape[0]
    cec = np.asarray(parts["cec"])
    for t in range(T - 1):
        np.testing.assert_allclose(cec[t], cec[T - 1] * np.prod(f[t + 1 :], axis=0), rtol=1e-4, atol=1e-12)
    assert w["R"].shape == (5, 20)


def test_full_diagnostics_runs_for_every_cell_family():
    """rnn, gru, lstm, and the LSTM with every extra hop (peepholes, FGR: its state for the
    Jacobians and Lyapunov exponents is (h, c, previous gates), 5 x 4 wide)."""
    spec = dg.DiagnosticsSpec(level="full", batch_size=6, jacobian_sequences=2, lyapunov_k=30)
    for name, state_size in (("rnn", 4), ("lstm", 8), ("gru", 4), ("lstm_fgr", 20), ("lstm1997", 8)):
        model = make_model(name, 2, 1, hidden=4)
        params = model.init(jax.random.key(0))
        out = jax.jit(dg.full_diagnostics, static_argnums=(0, 1, 2))(model, TASK, spec, params, batch())
        assert out["grad_h"].shape == (16,) and out["lyapunov"].shape == (state_size,)
        assert float(out["jacobian_norm"][-1]) == pytest.approx(1.0)
        if name.startswith("lstm"):
            assert float(out["path.residual"]) < 1e-5 and out["cell_norm"].shape == (16,)
            families = {k[len("path.") :] for k in out if k.startswith("path.")} - {"total", "residual"}
            assert families == expected_families(model.spec)
        if name == "lstm_fgr":
            assert {"spectral_radius.Q_o_i", "sigma_max.Q_f_f"} <= set(dg.spectra(model, params))
        if name == "lstm1997":
            assert families == {"cec", "R_z", "R_i", "R_o"} and np.isfinite(out["lyapunov"]).all()


def test_a_block_gates_spectrum_is_its_hop_as_a_map_of_h():
    """R_i of blocks of 2 cells is [hidden, blocks]: measured as the map h_{t-1} -> the input
    gate's net input at every cell, R_i E with E [blocks, hidden] the 0/1 matrix copying each
    block to its cells (built here by hand); the square R_z as it is."""
    init = {"recurrent": "normal", "recurrent_scale": 0.5}
    model = make_model("lstm_nofg", 2, 1, hidden=6, block_size=2, init=init)
    params = model.init(jax.random.key(0))
    out = dg.spectra(model, params)
    copy = np.zeros((3, 6))
    for j in range(6):
        copy[j // 2, j] = 1.0
    for name in ("R_i", "R_o", "R_z"):
        w = np.asarray(params[name], np.float64)
        hop = w @ copy if w.shape[1] == 3 else w
        assert out[f"spectral_radius.{name}"] == pytest.approx(
            np.max(np.abs(np.linalg.eigvals(hop))), rel=1e-5
        )
        assert out[f"sigma_max.{name}"] == pytest.approx(np.linalg.norm(hop, 2), rel=1e-5)
    # the singular values of R_i E are sqrt(2) times R_i's own, its eigenvalues those of E R_i
    w = np.asarray(params["R_i"], np.float64)
    assert out["sigma_max.R_i"] == pytest.approx(np.sqrt(2) * np.linalg.norm(w, 2), rel=1e-5)
    assert out["spectral_radius.R_i"] == pytest.approx(np.max(np.abs(np.linalg.eigvals(copy @ w))), rel=1e-5)


def test_explode_events():
    norms = np.ones((50, 2))
    norms[30, 0], norms[40, 1] = 20.0, np.nan
    ev = dg.explode_events(norms, factor=10.0, window=20)
    assert ev[:, 0].nonzero()[0].tolist() == [30] and ev[:, 1].nonzero()[0].tolist() == [40]


def test_decay_rate_of_geometric_profile():
    T = 20
    profile = 0.8 ** (T - 1 - jnp.arange(T))
    assert float(decay_rate(profile, xp=jnp)) == pytest.approx(np.log(0.8), rel=1e-4)


def test_first_last_ratio_uses_the_last_step_that_reaches_the_loss():
    """Right-padded steps carry no gradient; the ratio is against the last one that does."""
    task = AddingTask(variant="pascanu2013", length=20)  # one length per batch, padded to 21
    spec = dg.DiagnosticsSpec(level="full", batch_size=4, jacobian_sequences=1, lyapunov_k=2)
    model = make_model("rnn", 2, 1, hidden=4)
    b = task.sample(jax.random.key(3), 4)
    out = dg.full_diagnostics(model, task, spec, model.init(jax.random.key(0)), b)
    last = int(np.nonzero(np.asarray(b.mask)[0])[0][-1])  # the loss step (one length per batch)
    g = np.asarray(out["grad_h"])
    assert np.all(g[last + 1 :] == 0) and g[last] > 0
    assert float(out["grad_h_ratio_first_last"]) == pytest.approx(g[0] / g[last], rel=1e-5)


def test_padded_steps_count_as_identity_in_jacobians_and_lyapunov_exponents():
    """Right padding after the last loss step cannot reach the loss: the linear-RNN closed
    forms hold from each sequence's own last step."""
    task = AddingTask(variant="hochreiter1997", length=20)  # per-sequence lengths 20..22
    spec = dg.DiagnosticsSpec(level="full", batch_size=6, jacobian_sequences=6, lyapunov_k=3)
    s = 0.8
    model = make_model(
        "rnn", 2, 1, hidden=5, activation="identity", init={"recurrent": "orthogonal", "recurrent_scale": s}
    )
    b = task.sample(jax.random.key(5), 6)
    lengths = np.asarray(b.mask).argmax(1) + 1
    assert len(set(lengths.tolist())) > 1  # the batch really mixes lengths
    out = dg.full_diagnostics(model, task, spec, model.init(jax.random.key(0)), b)
    np.testing.assert_allclose(out["lyapunov"], np.log(s), atol=1e-4)
    T = b.x.shape[1]
    expected = np.mean([[(L - 1 - t) * np.log(s) if t < L else 0.0 for t in range(T)] for L in lengths], 0)
    np.testing.assert_allclose(out["jacobian_log_norm"], expected, atol=1e-3)
