"""Hochreiter & Schmidhuber 1997's cell (the ``lstm1997`` preset and its fields) against a
float64 NumPy implementation of the paper's equations written here, cell by cell and block
by block: memory-cell blocks whose cells share one input and one output gate, no forget
gate, g(x) = 4 sigmoid(x) - 2 on the cell input, h(x) = 2 sigmoid(x) - 1 on the cell
state, per-block input-gate biases and sigmoid output units. Forward states and outputs,
the full gradient against finite differences of the reference, and the truncated gradient
against the 1997 rule written out; then the one-line errors of bad input."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models import lstm_fast, make_model, make_spec
from models.lstm import LSTMCell

T, B, D, OUT = 12, 3, 2, 2
BIASES = (-1.0, -2.0, -3.0)  # three blocks of two cells: hidden 6


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def forward_1997(p, x, S):
    """The 1997 cell in float64, one cell and one block at a time. x: [T, B, D]; S cells per
    block, cell j in block j // S. Returns per step the cell states c, the cell outputs h,
    the outputs y and the block gates (input, output) and per-cell net inputs, for
    :func:`truncated_1997`."""
    H = p["R_z"].shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    steps = []
    for t in range(x.shape[0]):
        u = x[t]
        net = {g: u @ p[f"W_{g}"] + h @ p[f"R_{g}"] + p[f"b_{g}"] for g in ("z", "i", "o")}
        y_in = sig(net["i"])  # one input gate per block
        y_out = sig(net["o"])  # one output gate per block
        g_z = 4.0 * sig(net["z"]) - 2.0  # the cell input squashed into [-2, 2]
        c_new, h_new = np.zeros((B, H)), np.zeros((B, H))
        for j in range(H):
            block = j // S
            c_new[:, j] = c[:, j] + y_in[:, block] * g_z[:, j]  # f == 1: the carousel
            h_new[:, j] = y_out[:, block] * (2.0 * sig(c_new[:, j]) - 1.0)
        y = sig(h_new @ p["W_out"] + p["b_out"])  # sigmoid output units
        steps.append(
            {"u": u, "h_prev": h, "net": net, "i": y_in, "o": y_out, "g": g_z, "c": c_new, "h": h_new, "y": y}
        )
        h, c = h_new, c_new
    return steps


def loss_1997(p, x, g_y, S):
    """L = sum over steps, sequences and outputs of g_y * y: any linear functional of the outputs."""
    return sum(float(np.sum(s["y"] * g_y[t])) for t, s in enumerate(forward_1997(p, x, S)))


def truncated_1997(p, x, g_y, S):
    """Gradients of :func:`loss_1997` by H&S's truncated rule (their App. A.1): the error
    of h_t is the output units' alone; it reaches the output gate of each block (summed
    over the block's cells) and the cell state, where it flows back along the carousel
    unchanged (f == 1); from the cell state it reaches the cell input and the input gate
    (summed over the block's cells); nothing is sent from a net input back into h_{t-1}."""
    steps = forward_1997(p, x, S)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    H = p["R_z"].shape[0]
    dc_next = np.zeros((B, H))
    for t in reversed(range(len(steps))):
        s = steps[t]
        d_out = g_y[t] * s["y"] * (1.0 - s["y"])
        grads["W_out"] += s["h"].T @ d_out
        grads["b_out"] += d_out.sum(0)
        dh = d_out @ p["W_out"].T
        hc = 2.0 * sig(s["c"]) - 1.0
        d_o = np.zeros_like(s["o"])
        d_i = np.zeros_like(s["i"])
        d_z = np.zeros((B, H))
        dc = np.zeros((B, H))
        for j in range(H):
            block = j // S
            d_o[:, block] += dh[:, j] * hc[:, j]
            dc[:, j] = (
                dh[:, j] * s["o"][:, block] * 2.0 * sig(s["c"][:, j]) * (1.0 - sig(s["c"][:, j]))
                + dc_next[:, j]
            )
            d_i[:, block] += dc[:, j] * s["g"][:, j]
            d_z[:, j] = (
                dc[:, j]
                * s["i"][:, block]
                * 4.0
                * sig(s["net"]["z"][:, j])
                * (1.0 - sig(s["net"]["z"][:, j]))
            )
        da = {"z": d_z, "i": d_i * s["i"] * (1.0 - s["i"]), "o": d_o * s["o"] * (1.0 - s["o"])}
        for g in ("z", "i", "o"):
            grads[f"W_{g}"] += s["u"].T @ da[g]
            grads[f"R_{g}"] += s["h_prev"].T @ da[g]
            grads[f"b_{g}"] += da[g].sum(0)
        dc_next = dc
    return grads


def finite_differences(p, x, g_y, S, eps=1e-6):
    out = {}
    for k, v in p.items():
        d = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            up, down = dict(p), dict(p)
            up[k], down[k] = v.copy(), v.copy()
            up[k][idx] += eps
            down[k][idx] -= eps
            d[idx] = (loss_1997(up, x, g_y, S) - loss_1997(down, x, g_y, S)) / (2 * eps)
        out[k] = d
    return out


def net(scale=0.5, **fields):
    """lstm1997 at hidden 6 (three blocks), weights drawn wider than the preset's U[-0.1, 0.1]
    so that every nonlinearity works away from its linear middle."""
    init = {"input_scale": scale, "recurrent_scale": scale, "readout_scale": scale}
    model = make_model("lstm1997", D, OUT, hidden=6, input_gate_biases=BIASES, init=init, **fields)
    params = model.init(jax.random.key(0))
    x = np.asarray(jax.random.normal(jax.random.key(1), (B, T, D)), np.float64)
    g_y = np.asarray(jax.random.normal(jax.random.key(2), (T, B, OUT)), np.float64)
    return model, params, x, g_y


def as64(params):
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def model_loss(model, x, g_y):
    def loss(p):
        outputs, _ = model.apply(p, jnp.asarray(x, jnp.float32))
        return jnp.sum(jnp.swapaxes(outputs, 0, 1) * jnp.asarray(g_y, jnp.float32))

    return loss


def test_the_preset_is_the_1997_cell():
    spec = make_spec("lstm1997")
    assert (spec.forget_gate, spec.block_size, spec.squashing, spec.readout) == (
        False,
        2,
        "hochreiter1997",
        "sigmoid",
    )
    assert spec.hidden == 4 and spec.blocks == 2 and spec.input_gate_biases == (-3.0, -6.0)
    params = make_model("lstm1997", D, 1).init(jax.random.key(0))
    assert {k: v.shape for k, v in params.items() if k[0] in "RWb" and k != "W_out"} == {
        "W_z": (D, 4), "R_z": (4, 4), "b_z": (4,),
        "W_i": (D, 2), "R_i": (4, 2), "b_i": (2,),
        "W_o": (D, 2), "R_o": (4, 2), "b_o": (2,),
        "b_out": (1,),
    }  # fmt: skip
    np.testing.assert_array_equal(params["b_i"], [-3.0, -6.0])
    np.testing.assert_array_equal(params["b_o"], [0.0, 0.0])
    for k in ("W_z", "R_z", "W_i", "R_i", "W_o", "R_o", "W_out"):  # U[-0.1, 0.1]
        assert 0.0 < np.max(np.abs(params[k])) <= 0.1, k
    assert not lstm_fast.supports(spec)  # blocks and squashing: the generic scan


@pytest.mark.parametrize("scale", [0.1, 1.0])
def test_states_and_outputs_equal_the_float64_equations(scale):
    model, params, x, _ = net(scale)
    ref = forward_1997(as64(params), np.swapaxes(x, 0, 1), S=2)
    outputs, states = model.apply(params, jnp.asarray(x, jnp.float32))
    h, c = (np.asarray(s, np.float64) for s in states[0])
    for t, s in enumerate(ref):
        np.testing.assert_allclose(c[t], s["c"], rtol=1e-5, atol=1e-6, err_msg=f"c at {t}")
        np.testing.assert_allclose(h[t], s["h"], rtol=1e-5, atol=1e-6, err_msg=f"h at {t}")
        np.testing.assert_allclose(outputs[:, t], s["y"], rtol=1e-5, atol=1e-6, err_msg=f"y at {t}")
    # the 1997 functions, not tanh: h(c) = 2 sigmoid(c) - 1 = tanh(c / 2), and with
    # o < 1, |h| < 1; at scale 1 some cell states leave [-1, 1], where tanh would differ
    if scale == 1.0:
        assert np.max(np.abs(c)) > 1.0
        assert np.max(np.abs(np.asarray(h) - ref[-1]["o"].repeat(2, axis=1) * np.tanh(c[-1]))) > 1e-2


def test_cells_of_one_block_get_identical_gate_values():
    model, params, x, _ = net(1.0)
    spec = model.spec
    rng = np.random.default_rng(0)
    carry = tuple(jnp.asarray(rng.normal(size=(B, 6)), jnp.float32) for _ in range(2))
    v = LSTMCell.gate_values(spec, LSTMCell.fuse(spec, params), carry, jnp.asarray(x[:, 0], jnp.float32))
    p = as64(params)
    h, x0 = np.asarray(carry[0], np.float64), x[:, 0]
    for g in ("i", "o"):
        gate = np.asarray(v[g]).reshape(B, 3, 2)
        np.testing.assert_array_equal(gate[..., 0], gate[..., 1])  # one value per block, exactly
        assert np.min(np.abs(gate[:, 0, 0] - gate[:, 1, 0])) > 0  # and the blocks differ
        np.testing.assert_allclose(
            gate[..., 0], sig(x0 @ p[f"W_{g}"] + h @ p[f"R_{g}"] + p[f"b_{g}"]), rtol=1e-5
        )
    np.testing.assert_array_equal(v["f"], np.ones((B, 6), np.float32))  # no forget gate
    assert (
        np.max(np.abs(np.asarray(v["z"]))) <= 2.0 and np.max(np.abs(np.asarray(v["z"]))) > 1.0
    )  # g in [-2, 2]
    # the preset's input-gate biases: block k starts more closed than block k - 1
    x_zero = jnp.zeros((1, D))
    zero = LSTMCell.zero_carry(spec, 1)
    start = LSTMCell.gate_values(spec, LSTMCell.fuse(spec, params), zero, x_zero)["i"][0, ::2]
    np.testing.assert_allclose(start, sig(np.asarray(BIASES)), rtol=1e-6)


def test_the_full_gradient_equals_finite_differences_of_the_float64_equations():
    model, params, x, g_y = net(1.0)
    got = jax.grad(model_loss(model, x, g_y))(params)
    ref = finite_differences(as64(params), np.swapaxes(x, 0, 1), g_y, S=2)
    assert set(got) == set(ref)
    for k in ref:
        scale = np.max(np.abs(ref[k]))
        assert scale > 1e-3, k
        np.testing.assert_allclose(
            np.asarray(got[k], np.float64), ref[k], rtol=0, atol=1e-4 * scale, err_msg=k
        )


def test_the_truncated_gradient_is_the_1997_rule_for_blocks():
    model, params, x, g_y = net(1.0)
    truncated = dataclasses.replace(model, gradient="truncated")
    got = jax.grad(model_loss(truncated, x, g_y))(params)
    ref = truncated_1997(as64(params), np.swapaxes(x, 0, 1), g_y, S=2)
    full = finite_differences(as64(params), np.swapaxes(x, 0, 1), g_y, S=2)
    for k in ref:
        scale = np.max(np.abs(ref[k]))
        assert scale > 1e-3, k
        np.testing.assert_allclose(
            np.asarray(got[k], np.float64), ref[k], rtol=0, atol=2e-5 * scale, err_msg=k
        )
    # the rule is not the full gradient: the recurrent matrices' gradients differ
    for k in ("R_z", "R_i", "R_o"):
        assert np.max(np.abs(full[k] - ref[k])) > 1e-2 * np.max(np.abs(ref[k])), k


def test_each_1997_piece_alone_against_the_equations():
    """Each field on today's LSTM by itself: tanh squashing with blocks, the 1997 squashing
    with one gate per cell, and a sigmoid readout on the fast scan (the readout is outside
    the layer, and the input-gate biases only initialise: both keep the fast backward pass)."""
    x = jax.random.normal(jax.random.key(1), (B, T, D))
    blocks = make_model(
        "lstm_nofg", D, OUT, hidden=6, block_size=3, init={"recurrent": "normal", "recurrent_scale": 0.5}
    )
    p = blocks.init(jax.random.key(0))
    w = LSTMCell.fuse(blocks.spec, p)
    hb, cb = np.zeros((B, 6)), np.zeros((B, 6))
    q = as64(p)
    for t in range(T):
        u = np.asarray(x[:, t], np.float64)
        net = {g: u @ q[f"W_{g}"] + hb @ q[f"R_{g}"] + q[f"b_{g}"] for g in ("z", "i", "o")}
        cb = cb + np.repeat(sig(net["i"]), 3, axis=1) * np.tanh(net["z"])
        hb = np.repeat(sig(net["o"]), 3, axis=1) * np.tanh(cb)
    np.testing.assert_allclose(blocks.apply(p, x)[1][0][0][-1], hb, rtol=1e-5, atol=1e-6)
    assert w["R"].shape == (6, 6 + 2 + 2)  # z per cell, then one column per block for i and o

    squash = make_model("lstm", D, OUT, hidden=4, squashing="hochreiter1997")
    p = squash.init(jax.random.key(0))
    q = as64(p)
    hs, cs = np.zeros((B, 4)), np.zeros((B, 4))
    for t in range(T):
        u = np.asarray(x[:, t], np.float64)
        net = {g: u @ q[f"W_{g}"] + hs @ q[f"R_{g}"] + q[f"b_{g}"] for g in ("z", "i", "f", "o")}
        cs = sig(net["f"]) * cs + sig(net["i"]) * (4.0 * sig(net["z"]) - 2.0)
        hs = sig(net["o"]) * (2.0 * sig(cs) - 1.0)
    np.testing.assert_allclose(squash.apply(p, x)[1][0][0][-1], hs, rtol=1e-5, atol=1e-6)

    fast = make_model(
        "lstm_nofg", D, OUT, hidden=4, readout="sigmoid", input_gate_biases=[-1.0, -2.0, -3.0, -4.0]
    )
    assert lstm_fast.supports(fast.spec)
    p = fast.init(jax.random.key(0))
    np.testing.assert_array_equal(p["b_i"], [-1.0, -2.0, -3.0, -4.0])
    outputs, states = fast.apply(p, x)
    np.testing.assert_allclose(
        outputs, jax.nn.sigmoid(states[0][0].swapaxes(0, 1) @ p["W_out"] + p["b_out"]), rtol=1e-6
    )
    g_y = np.asarray(jax.random.normal(jax.random.key(2), (T, B, OUT)))
    generic = dataclasses.replace(fast, spec=dataclasses.replace(fast.spec, peepholes=True))
    p_generic = {**p, **{f"p_{g}": jnp.zeros(4) for g in "io"}}  # zero peepholes: the same net
    for gradient in ("full", "truncated"):
        a = jax.grad(model_loss(dataclasses.replace(fast, gradient=gradient), x, g_y))(p)
        b = jax.grad(model_loss(dataclasses.replace(generic, gradient=gradient), x, g_y))(p_generic)
        for k in p:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=f"{gradient} {k}")


def test_the_flax_cell_has_one_gate_set_per_block():
    spec = make_spec("lstm1997", hidden=6, input_gate_biases=BIASES, full_gate_recurrence=True)
    cell = LSTMCell(spec, D, rngs=nnx.Rngs(0))
    assert {k: v.shape for k, v in cell.recurrent_kernels().items()} == {
        "R_z": (6, 6), "R_i": (6, 3), "R_o": (6, 3),
        "Q_i_i": (3, 3), "Q_i_o": (3, 3), "Q_o_i": (3, 3), "Q_o_o": (3, 3),
    }  # fmt: skip
    carry, h = cell(cell.initialize_carry(2), jnp.ones((2, D)))
    assert h.shape == (2, 6) and carry[2].shape == (2, 6)  # FGR's carry: i and o per block


def test_gers_block_wise_biases_start_each_blocks_gates():
    """Gers et al. 2000's initialisation: block k's input and output gates at -0.5 k, its
    forget gate at +0.5 k; the z biases keep ``bias``."""
    down, up = (-0.5, -1.0, -1.5, -2.0), (0.5, 1.0, 1.5, 2.0)
    fields = {"hidden": 8, "forget_gate": True, "input_gate_biases": down}
    params = make_model("lstm1997", D, 1, **fields, forget_gate_biases=up, output_gate_biases=down).init(
        jax.random.key(0)
    )
    for name, want in (("b_i", down), ("b_f", up), ("b_o", down), ("b_z", (0.0,) * 8)):
        np.testing.assert_array_equal(params[name], want, err_msg=name)
    # without them every forget gate starts at forget_bias and every output gate at bias
    params = make_model("lstm1997", D, 1, **fields, forget_bias=0.25, bias=0.125).init(jax.random.key(0))
    np.testing.assert_array_equal(params["b_f"], [0.25] * 4)
    np.testing.assert_array_equal(params["b_o"], [0.125] * 4)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"hidden": 5},
            "model.hidden=5 is not a whole number of blocks of model.block_size=2 cells (a block's"
            " cells share its gates); valid block sizes here: 1, 5",
        ),
        (
            {"input_gate_biases": (-1.0,)},
            "model.input_gate_biases has 1 value(s), one per block, and model.hidden=4 /"
            " model.block_size=2 makes 2 block(s); valid: 2 values, or [] for model.bias on every input gate",
        ),
        (
            {"hidden": 8},
            "model.input_gate_biases has 2 value(s), one per block, and model.hidden=8 /"
            " model.block_size=2 makes 4 block(s); valid: 4 values, or [] for model.bias on every input gate",
        ),
        (
            {"input_gate_biases": (-1.0, float("nan"))},
            "model.input_gate_biases[1] must be a finite number, got nan",
        ),
        ({"input_gate_biases": -1.0}, "model.input_gate_biases must be a list of numbers, got -1.0"),
        (
            {"input_gate": False},
            "model.input_gate_biases needs model.input_gate=true (there is no input gate)",
        ),
        (
            {"forget_gate_biases": (1.0, 2.0)},
            "model.forget_gate_biases needs model.forget_gate=true (there is no forget gate)",
        ),
        (
            {"forget_gate": True, "forget_gate_biases": (1.0, 2.0, 3.0)},
            "model.forget_gate_biases has 3 value(s), one per block, and model.hidden=4 /"
            " model.block_size=2 makes 2 block(s); valid: 2 values, or [] for model.forget_bias on"
            " every forget gate",
        ),
        (
            {"output_gate_biases": (float("inf"), 0.0)},
            "model.output_gate_biases[0] must be a finite number, got inf",
        ),
        ({"squashing": "logistic"}, "unknown model squashing 'logistic'; valid: hochreiter1997, tanh"),
        ({"readout": "softmax"}, "unknown model readout 'softmax'; valid: linear, sigmoid"),
        ({"block_size": 0}, "model.block_size must be a positive integer, got 0"),
    ],
)
def test_bad_fields_are_one_line_errors(fields, message):
    with pytest.raises(ValueError) as info:
        make_spec("lstm1997", **fields)
    assert str(info.value) == message
