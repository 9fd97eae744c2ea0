"""The GRU cell (both reset-gate placements) against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import make_model
from models.gru import GRUCell


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


@pytest.mark.parametrize(("name", "reset_after"), [("gru", False), ("gru_reset_after", True)])
def test_step_matches_numpy(name, reset_after):
    model = make_model(name, 3, 1, hidden=6, bias=0.2, init={"recurrent": "normal", "recurrent_scale": 0.4})
    assert model.spec.reset_after == reset_after
    p = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(5)).items()}
    rng = np.random.default_rng(2)
    h, x = rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    r = sigmoid(x @ p["W_r"] + h @ p["R_r"] + p["b_r"])
    u = sigmoid(x @ p["W_u"] + h @ p["R_u"] + p["b_u"])
    if reset_after:
        n = np.tanh(x @ p["W_n"] + p["b_n"] + r * (h @ p["R_n"]))
    else:
        n = np.tanh(x @ p["W_n"] + (r * h) @ p["R_n"] + p["b_n"])
    ref = u * h + (1 - u) * n
    w = GRUCell.fuse(model.spec, {k: jnp.asarray(v, jnp.float32) for k, v in p.items()})
    (h1,) = GRUCell.step(model.spec, w, (jnp.asarray(h, jnp.float32),), jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(h1, ref, rtol=1e-5, atol=1e-6)
    assert model.recurrent_names() == ("R_r", "R_u", "R_n")
