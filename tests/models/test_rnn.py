"""The vanilla RNN cell against NumPy, its initialisers and the literature presets."""

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


def test_the_fan_in_draw_holds_the_spectral_radius_while_the_size_grows():
    """N(0, s^2 / H) entries: their standard deviation is s / sqrt(H), and by the circular law
    the spectral radius is near s at every H (NumPy's eigenvalues here), where a fixed-scale
    draw's radius grows like sqrt(H)."""
    s = 0.8
    for hidden in (32, 128, 512):
        init = {"recurrent": "fan_in", "recurrent_scale": s}
        w = np.asarray(make_model("rnn", 2, 1, hidden=hidden, init=init).init(jax.random.key(hidden))["W_hh"])
        assert abs(np.std(w) * np.sqrt(hidden) / s - 1) < 0.05, hidden
        radius = np.max(np.abs(np.linalg.eigvals(w.astype(np.float64))))
        assert abs(radius / s - 1) < (0.25 if hidden == 32 else 0.1), (hidden, radius)


def test_unknown_activation_and_initialiser_are_one_line_errors():
    with pytest.raises(ValueError, match="valid: identity, relu, sigmoid, tanh"):
        make_model("rnn", 2, 1, activation="swish")
    with pytest.raises(ValueError, match="valid:.*orthogonal"):
        make_model("rnn", 2, 1, init={"recurrent": "he"})
    with pytest.raises(
        ValueError, match="valid: gru, gru_reset_after, irnn, lstm, lstm1997, lstm_cifg, .*, rnn_tanh_smart$"
    ):
        make_model("transformer", 2, 1)
    with pytest.raises(ValueError, match="recurrent_nonzero must be a positive integer"):
        make_model("rnn", 2, 1, init={"recurrent_nonzero": 0})
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        make_model("rnn", 2, 1, hidden=0)


@pytest.mark.parametrize(
    ("name", "activation"),
    [
        ("rnn_sigmoid_pascanu", "sigmoid"),
        ("rnn_tanh_basic", "tanh"),
        ("rnn_tanh_smart", "tanh"),
        ("irnn", "relu"),
        ("rnn_orthogonal", "tanh"),
    ],
)
def test_preset_steps_match_numpy(name, activation):
    model = make_model(name, 3, 2, hidden=7, bias=0.1)
    assert model.spec.activation == activation
    p = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(2)).items()}
    rng = np.random.default_rng(1)
    h, x = rng.normal(size=(5, 7)), rng.normal(size=(5, 3))
    w = RNNCell.fuse(model.spec, {k: jnp.asarray(v, jnp.float32) for k, v in p.items()})
    (h1,) = RNNCell.step(model.spec, w, (jnp.asarray(h, jnp.float32),), jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(
        h1, NP_ACT[activation](x @ p["W_xh"] + h @ p["W_hh"] + p["b_h"]), rtol=1e-5, atol=1e-6
    )


def test_smart_tanh_init_is_sparse_with_spectral_radius_095():
    """15 non-zero incoming weights per unit: W_hh is used as h @ W_hh, so unit j's
    incoming weights are column j. Also under jit(vmap(init)), as the trainer runs it."""
    model = make_model("rnn_tanh_smart", 2, 1, hidden=40)
    keys = jax.random.split(jax.random.key(0), 2)
    for w in np.asarray(jax.jit(jax.vmap(model.init))(keys)["W_hh"], np.float64):
        assert (np.count_nonzero(w, axis=0) == 15).all()
        assert np.count_nonzero(w, axis=1).std() > 0  # rows are not constrained
        assert max(abs(np.linalg.eigvals(w))) == pytest.approx(0.95, abs=1e-4)
    other = make_model(
        "rnn",
        2,
        1,
        hidden=40,
        init={"recurrent": "sparse", "recurrent_nonzero": 3, "recurrent_scale": 1.2, "input": "sparse"},
    )
    p = other.init(jax.random.key(1))
    assert (np.count_nonzero(p["W_hh"], axis=0) == 3).all()
    assert max(abs(np.linalg.eigvals(np.asarray(p["W_hh"], np.float64)))) == pytest.approx(1.2, abs=1e-4)
    assert (np.count_nonzero(p["W_xh"], axis=0) == 2).all()  # a column shorter than 15 is full


def test_irnn_starts_at_identity_with_zero_biases():
    p = make_model("irnn", 50, 1, hidden=100).init(jax.random.key(0))
    np.testing.assert_array_equal(p["W_hh"], np.eye(100, dtype=np.float32))
    assert not np.any(p["b_h"]) and not np.any(p["b_out"])
    std = float(np.std(p["W_xh"]))  # 5000 samples: the sample std is within 3% (> 4 s.e.)
    assert std == pytest.approx(0.001, rel=0.03)


@pytest.mark.parametrize(("name", "std"), [("rnn_sigmoid_pascanu", 0.01), ("rnn_tanh_basic", 0.1)])
def test_pascanu_normal_inits_have_the_right_std(name, std):
    """10^4 recurrent and 5000 input samples: the relative standard error of a sample std
    is 1/sqrt(2n) (0.7% and 1%), so 4% is more than 4 standard errors."""
    p = make_model(name, 50, 100, hidden=100).init(jax.random.key(0))
    for k in ("W_hh", "W_xh", "W_out"):
        w = np.asarray(p[k], np.float64)
        assert np.std(w) == pytest.approx(std, rel=0.04), k
        assert abs(np.mean(w)) < 4 * std / np.sqrt(w.size), k
    smart = make_model("rnn_tanh_smart", 50, 100, hidden=100).init(jax.random.key(0))
    assert np.std(np.asarray(smart["W_xh"])) == pytest.approx(0.1, rel=0.04)


def test_orthogonal_preset():
    w = np.asarray(make_model("rnn_orthogonal", 2, 1, hidden=16).init(jax.random.key(3))["W_hh"])
    np.testing.assert_allclose(w @ w.T, np.eye(16), atol=1e-5)
