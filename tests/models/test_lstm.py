"""The LSTM cell and its Greff et al. 2015 variants against a NumPy re-implementation (with
H&S 1997's blocks of cells sharing gates and their squashing, alone and combined with each
variant), the removed gates exactly 1, and the CEC identity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models import MODELS, make_model, make_spec
from models.lstm import LSTMCell

LSTM_PRESETS = sorted(n for n, p in MODELS.items() if p["cell"] == "lstm")
# at hidden 6: lstm1997's three blocks of two cells need three input-gate biases
SIZED = {"lstm1997": {"input_gate_biases": (-1.0, -2.0, -3.0)}}
# presets plus combinations no preset covers (FGR without peepholes, Greff's NFG with
# peepholes, CIFG with FGR, FGR with a single gate), and H&S 1997's blocks and squashing
# with each kind of extra input of a block's gates (peepholes, FGR, CIFG, NOAF, NIAF)
VARIANTS = [(n, SIZED.get(n, {})) for n in LSTM_PRESETS] + [
    ("lstm", {"full_gate_recurrence": True}),
    ("lstm_nofg", {"peepholes": True, "full_gate_recurrence": True}),
    ("lstm_cifg", {"full_gate_recurrence": True, "input_activation": False}),
    ("lstm_nig", {"output_gate": False, "full_gate_recurrence": True, "output_activation": False}),
    (
        "lstm_nofg",
        {"block_size": 2, "squashing": "hochreiter1997", "peepholes": True, "full_gate_recurrence": True},
    ),
    ("lstm_peephole", {"block_size": 2}),
    ("lstm_fgr", {"block_size": 3, "squashing": "hochreiter1997"}),
    ("lstm_cifg", {"block_size": 2, "squashing": "hochreiter1997"}),
    ("lstm_noaf", {"block_size": 3, "squashing": "hochreiter1997"}),
    ("lstm_niaf", {"block_size": 2, "squashing": "hochreiter1997"}),
    ("lstm_nog", {"block_size": 6}),
]


def variant_id(v):
    return v[0] + "".join(f"+{k}" for k in v[1])


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_lstm_step(s, p, h, c, g_prev, x):
    """Greff et al. 2015's equations written out per gate from the spec's flags; a gate has
    one unit per block of ``s.block_size`` cells (H&S 1997), reads the sum of its block's
    peephole terms and multiplies each of its cells; returns the gates per block."""
    gates = [
        g
        for g, on in (("i", s.input_gate), ("f", s.forget_gate and not s.coupled), ("o", s.output_gate))
        if on
    ]
    size = s.block_size

    def cells(v):  # a block's value at each of its cells
        return np.repeat(v, size, axis=-1) if isinstance(v, np.ndarray) else v

    def pre(g):
        a = x @ p[f"W_{g}"] + h @ p[f"R_{g}"] + p[f"b_{g}"]
        if s.full_gate_recurrence and g != "z":
            a = a + sum(g_prev[src] @ p[f"Q_{src}_{g}"] for src in gates)
        return a

    def peep(g, cell):
        if not s.peepholes:
            return 0.0
        per_cell = p[f"p_{g}"] * cell
        return per_cell.reshape(*per_cell.shape[:-1], -1, size).sum(-1)

    squash_in, squash_out = np.tanh, np.tanh
    if s.squashing == "hochreiter1997":
        squash_in, squash_out = (lambda a: 4.0 * sigmoid(a) - 2.0), (lambda a: 2.0 * sigmoid(a) - 1.0)
    z = squash_in(pre("z")) if s.input_activation else pre("z")
    i = sigmoid(pre("i") + peep("i", c)) if s.input_gate else 1.0
    f = 1.0 - i if s.coupled else (sigmoid(pre("f") + peep("f", c)) if s.forget_gate else 1.0)
    c_new = cells(f) * c + cells(i) * z
    o = sigmoid(pre("o") + peep("o", c_new)) if s.output_gate else 1.0
    h_new = cells(o) * (squash_out(c_new) if s.output_activation else c_new)
    return h_new, c_new, {"i": i, "f": f, "o": o}, gates


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_step_matches_numpy(variant):
    name, extra = variant
    model = make_model(
        name,
        3,
        1,
        hidden=6,
        init={"recurrent": "normal", "recurrent_scale": 0.5, "peephole_scale": 0.8},
        bias=0.3,
        **extra,
    )
    s = model.spec
    p = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(1)).items()}
    rng = np.random.default_rng(0)
    h, c, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    g_prev = {g: rng.uniform(size=(4, s.blocks)) for g in "ifo"}
    h_ref, c_ref, g_ref, gates = numpy_lstm_step(s, p, h, c, g_prev, x)
    carry = (h, c) + ((np.concatenate([g_prev[g] for g in gates], -1),) if s.full_gate_recurrence else ())
    w = LSTMCell.fuse(s, {k: jnp.asarray(v, jnp.float32) for k, v in p.items()})
    out = LSTMCell.step(s, w, tuple(jnp.asarray(a, jnp.float32) for a in carry), jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(out[0], h_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[1], c_ref, rtol=1e-5, atol=1e-6)
    if s.full_gate_recurrence:
        np.testing.assert_allclose(
            out[2], np.concatenate([g_ref[g] for g in gates], -1), rtol=1e-5, atol=1e-6
        )
    else:
        assert len(out) == 2


def gate_values(name, **extra):
    model = make_model(name, 3, 1, hidden=5, **extra)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (4, 3))
    carry = model.cell_class.zero_carry(model.spec, 4)
    carry = (jnp.full((4, 5), 0.3), jnp.full((4, 5), -0.7)) + carry[2:]
    return params, LSTMCell.gate_values(model.spec, LSTMCell.fuse(model.spec, params), carry, x)


def test_cifg_forget_gate_is_exactly_one_minus_input_gate_and_has_no_parameters():
    params, v = gate_values("lstm_cifg")
    np.testing.assert_array_equal(v["f"], 1.0 - v["i"])
    assert np.all((v["i"] > 0) & (v["i"] < 1)) and np.std(np.asarray(v["i"])) > 0
    assert not any(k.endswith("_f") for k in params)
    assert {"p_i", "p_o"} <= set(params)


@pytest.mark.parametrize(("name", "gate", "removed"), [("lstm_nofg", "f", "_f"), ("lstm_nig", "i", "_i")])
def test_removed_gate_is_exactly_one_and_has_no_parameters(name, gate, removed):
    params, v = gate_values(name)
    np.testing.assert_array_equal(v[gate], np.ones((4, 5), np.float32))
    assert not any(k.endswith(removed) for k in params)


def test_no_output_gate_is_exactly_one_and_h_is_tanh_c():
    params, v = gate_values("lstm_nog")
    np.testing.assert_array_equal(v["o"], np.ones((4, 5), np.float32))
    np.testing.assert_array_equal(v["h"], jnp.tanh(v["c"]))
    assert not any(k.endswith("_o") for k in params)
    _, v = gate_values("lstm_niaf")  # z = a_z: no squashing, values beyond [-1, 1]
    assert np.max(np.abs(np.asarray(v["z"]))) > 1.0


def test_full_gate_recurrence_has_nine_recurrent_gate_matrices():
    model = make_model("lstm_fgr", 3, 1, hidden=4, layers=2)
    params = model.init(jax.random.key(0))
    q = [f"Q_{s}_{g}" for s in "ifo" for g in "ifo"]
    assert model.cell_class.recurrent_names(model.spec) == ("R_z", "R_i", "R_f", "R_o", *q)
    assert set(model.recurrent_names()) == {
        n for k in ("", "layer1.") for n in (k + r for r in ("R_z", "R_i", "R_f", "R_o", *q))
    }
    assert all(params[n].shape == (4, 4) for n in model.recurrent_names())
    assert {"p_i", "p_f", "p_o", "layer1.p_o"} <= set(params)
    cell = LSTMCell(model.spec, 3, rngs=nnx.Rngs(0))
    assert sorted(cell.recurrent_kernels()) == sorted(["R_z", "R_i", "R_f", "R_o", *q])
    carry, h = cell(cell.initialize_carry(2), jnp.ones((2, 3)))
    assert h.shape == (2, 4) and carry[2].shape == (2, 12)
    # one gate left: one Q
    one = make_spec("lstm_nig", output_gate=False, full_gate_recurrence=True)
    assert LSTMCell.recurrent_names(one) == ("R_z", "R_f", "Q_f_f")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"coupled": True, "forget_gate": False},
            "model.coupled=true (CIFG, f = 1 - i) needs model.forget_gate=true",
        ),
        ({"coupled": True, "input_gate": False}, "needs model.input_gate=true"),
        (
            {"full_gate_recurrence": True, "input_gate": False, "forget_gate": False, "output_gate": False},
            "needs at least one of input_gate, forget_gate, output_gate",
        ),
    ],
)
def test_invalid_combinations_are_one_line_errors(overrides, message):
    with pytest.raises(ValueError, match="needs") as info:
        make_spec("lstm", **overrides)
    assert message in str(info.value) and "\n" not in str(info.value)
    make_spec("rnn", **overrides)  # fields a family does not use are ignored by it


def test_no_forget_gate_has_no_forget_parameters_and_forget_bias_is_set():
    nofg = make_model("lstm_nofg", 2, 1, hidden=4).init(jax.random.key(0))
    assert not any(k.endswith("_f") for k in nofg)
    for name in ("lstm", "lstm_peephole", "lstm_fgr"):
        fg = make_model(name, 2, 1, hidden=4, forget_bias=2.5, bias=-0.5).init(jax.random.key(0))
        np.testing.assert_array_equal(fg["b_f"], np.full(4, 2.5, np.float32))
        np.testing.assert_array_equal(fg["b_i"], np.full(4, -0.5, np.float32))


def test_cec_jacobian_is_identity_without_forget_gate():
    """With the gate recurrences zeroed and f == 1, dc_T/dc_0 = I exactly."""
    model = make_model("lstm_nofg", 2, 1, hidden=5)
    p = model.init(jax.random.key(3))
    p = {k: (jnp.zeros_like(v) if k.startswith("R_") else v) for k, v in p.items()}
    w = LSTMCell.fuse(model.spec, p)
    xs = jax.random.normal(jax.random.key(4), (30, 1, 2))

    def c_T(c0):
        carry = (jnp.zeros((1, 5)), c0[None])
        for t in range(xs.shape[0]):
            carry = LSTMCell.step(model.spec, w, carry, xs[t])
        return carry[1][0]

    jac = jax.jacobian(c_T)(jnp.zeros(5))
    np.testing.assert_allclose(jac, np.eye(5), atol=1e-6)


def test_forget_gate_jacobian_is_product_of_forget_gates():
    """Same setting with a forget gate: dc_T/dc_0 = diag(prod_t f_t)."""
    model = make_model("lstm", 2, 1, hidden=5)
    p = model.init(jax.random.key(3))
    p = {k: (jnp.zeros_like(v) if k.startswith("R_") else v) for k, v in p.items()}
    w = LSTMCell.fuse(model.spec, p)
    xs = jax.random.normal(jax.random.key(4), (10, 1, 2))

    def c_T(c0):
        carry = (jnp.zeros((1, 5)), c0[None])
        for t in range(xs.shape[0]):
            carry = LSTMCell.step(model.spec, w, carry, xs[t])
        return carry[1][0]

    forget = jax.nn.sigmoid(xs[:, 0] @ p["W_f"] + p["b_f"])
    np.testing.assert_allclose(
        jax.jacobian(c_T)(jnp.zeros(5)), np.diag(np.prod(forget, 0)), rtol=1e-5, atol=1e-7
    )


def test_recurrent_kernels_by_name():
    cell = LSTMCell(make_model("lstm", 2, 1, hidden=3).spec, 2, rngs=nnx.Rngs(0))
    assert sorted(cell.recurrent_kernels()) == ["R_f", "R_i", "R_o", "R_z"]
    carry, h = cell(cell.initialize_carry(2), jnp.ones((2, 2)))
    assert h.shape == (2, 3) and carry[1].shape == (2, 3)
