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
