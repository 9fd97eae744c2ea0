"""The untrained nets' measurements: the memory gate read off a net whose weights are zero
(a closed form)."""

import math

import jax
import numpy as np
import pytest

from benchmarks.core import untrained


@pytest.mark.parametrize("name", list(untrained.CURSE_CELLS))
def test_the_memory_gate_of_a_net_with_zero_weights_is_the_sigmoid_of_its_bias(name):
    """With every weight 0 the memory gate is sigmoid(b) at every step (the CIFG's f = 1 - i
    with b_i = -b), and the slope sigmoid(b)(1 - sigmoid(b))."""
    from models import make_model

    preset, bias = untrained.CURSE_CELLS[name]
    net = make_model(preset, 1, 1, hidden=3)
    params = {k: np.zeros_like(v) for k, v in net.init(jax.random.key(0)).items()}
    b = 2.5
    params[bias] = np.full_like(params[bias], -b if name == "lstm_cifg" else b)
    x = np.asarray(jax.random.normal(jax.random.key(1), (4, 7, 1)), np.float32)
    gate, slope = untrained._memory_gate(name, net, params, x)
    s = 1 / (1 + math.exp(-b))
    assert gate == pytest.approx(s, rel=1e-6) and slope == pytest.approx(s * (1 - s), rel=1e-5)


def test_the_output_slope_is_tanhs_at_the_closed_form_cell_state():
    """Gates fixed by their biases (i = sigmoid(30) ~ 1, f = sigmoid(2)), z = tanh(0.1), no
    weights: c_T = z (1 - f^T) / (1 - f) exactly, and the slope is 1 - tanh(c_T)^2."""
    from models import make_model

    net = make_model("lstm", 1, 1, hidden=2)
    params = {k: np.zeros_like(v) for k, v in net.init(jax.random.key(0)).items()}
    params.update(b_i=np.full(2, 30.0, np.float32), b_f=np.full(2, 2.0, np.float32))
    params["b_z"] = np.full(2, 0.1, np.float32)
    x = np.zeros((3, 12, 1), np.float32)
    f, z = 1 / (1 + math.exp(-2.0)), math.tanh(0.1)
    c_T = z * (1 - f**12) / (1 - f)
    assert untrained._output_slope("lstm", net, params, x) == pytest.approx(1 - math.tanh(c_T) ** 2, rel=1e-5)
    assert untrained._output_slope("gru", make_model("gru", 1, 1, hidden=2), {}, x) is None
