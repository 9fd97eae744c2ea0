"""The LSTM cell against a NumPy re-implementation, and the CEC identity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import make_model
from models.lstm import LSTMCell


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_lstm_step(p, h, c, x, forget_gate, output_activation):
    a = {g: x @ p[f"W_{g}"] + h @ p[f"R_{g}"] + p[f"b_{g}"] for g in "zio"}
    f = sigmoid(x @ p["W_f"] + h @ p["R_f"] + p["b_f"]) if forget_gate else 1.0
    c = f * c + sigmoid(a["i"]) * np.tanh(a["z"])
    h = sigmoid(a["o"]) * (np.tanh(c) if output_activation else c)
    return h, c


@pytest.mark.parametrize("name", ["lstm", "lstm_nofg"])
@pytest.mark.parametrize("output_activation", [True, False])
def test_step_matches_numpy(name, output_activation):
    model = make_model(
        name,
        3,
        1,
        hidden=6,
        output_activation=output_activation,
        init={"recurrent": "normal", "recurrent_scale": 0.5},
        bias=0.3,
    )
    p = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(1)).items()}
    rng = np.random.default_rng(0)
    h, c, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    w = LSTMCell.fuse(model.spec, {k: jnp.asarray(v, jnp.float32) for k, v in p.items()})
    h1, c1 = LSTMCell.step(
        model.spec, w, (jnp.asarray(h, jnp.float32), jnp.asarray(c, jnp.float32)), jnp.asarray(x, jnp.float32)
    )
    h_ref, c_ref = numpy_lstm_step(p, h, c, x, name == "lstm", output_activation)
    np.testing.assert_allclose(h1, h_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c1, c_ref, rtol=1e-5, atol=1e-6)


def test_no_forget_gate_has_no_forget_parameters_and_forget_bias_is_set():
    nofg = make_model("lstm_nofg", 2, 1, hidden=4).init(jax.random.key(0))
    assert not any(k.endswith("_f") for k in nofg)
    fg = make_model("lstm", 2, 1, hidden=4, forget_bias=2.5).init(jax.random.key(0))
    np.testing.assert_array_equal(fg["b_f"], np.full(4, 2.5, np.float32))


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
    from flax import nnx

    cell = LSTMCell(make_model("lstm", 2, 1, hidden=3).spec, 2, rngs=nnx.Rngs(0))
    assert sorted(cell.recurrent_kernels()) == ["R_f", "R_i", "R_o", "R_z"]
    carry, h = cell(cell.initialize_carry(2), jnp.ones((2, 2)))
    assert h.shape == (2, 3) and carry[1].shape == (2, 3)
