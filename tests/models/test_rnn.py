"""The vanilla RNN cell against NumPy, and its initialisers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models import make_model
from models.rnn import RNNCell

NP_ACT = {
    "tanh": np.tanh,
    "relu": lambda a: np.maximum(a, 0),
    "identity": lambda a: a,
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
}


@pytest.mark.parametrize("activation", sorted(NP_ACT))
def test_step_matches_numpy(activation):
    model = make_model("rnn", 3, 2, hidden=7, activation=activation, bias=0.1)
    p = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(2)).items()}
    rng = np.random.default_rng(1)
    h, x = rng.normal(size=(5, 7)), rng.normal(size=(5, 3))
    w = RNNCell.fuse(model.spec, {k: jnp.asarray(v, jnp.float32) for k, v in p.items()})
    (h1,) = RNNCell.step(model.spec, w, (jnp.asarray(h, jnp.float32),), jnp.asarray(x, jnp.float32))
    ref = NP_ACT[activation](x @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
    np.testing.assert_allclose(h1, ref, rtol=1e-5, atol=1e-6)


def test_initialisers():
    def w_hh(**kw):
        return np.asarray(make_model("rnn", 2, 1, hidden=16, **kw).init(jax.random.key(0))["W_hh"])

    q = w_hh(init={"recurrent": "orthogonal", "recurrent_scale": 0.9})
    np.testing.assert_allclose(q @ q.T, 0.81 * np.eye(16), atol=1e-5)
    np.testing.assert_array_equal(w_hh(init={"recurrent": "identity"}), np.eye(16, dtype=np.float32))
    u = w_hh(init={"recurrent": "uniform", "recurrent_scale": 0.2})
    assert np.abs(u).max() <= 0.2 and np.abs(u).max() > 0.15
    n = make_model("rnn", 2, 1, hidden=200, init={"recurrent": "normal", "recurrent_scale": 0.1})
    assert abs(float(np.std(n.init(jax.random.key(0))["W_hh"])) - 0.1) < 0.005


def test_unknown_activation_and_initialiser_are_one_line_errors():
    with pytest.raises(ValueError, match="valid: identity, relu, sigmoid, tanh"):
        make_model("rnn", 2, 1, activation="swish")
    with pytest.raises(ValueError, match="valid:.*orthogonal"):
        make_model("rnn", 2, 1, init={"recurrent": "he"})
    with pytest.raises(ValueError, match="valid: gru, lstm, lstm_nofg, rnn"):
        make_model("transformer", 2, 1)
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        make_model("rnn", 2, 1, hidden=0)
