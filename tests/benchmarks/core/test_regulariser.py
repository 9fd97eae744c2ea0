"""Pascanu et al. 2013's regulariser against a float64 NumPy computation written here:
forward RNN, BPTT for dE/dh_k, the squared-norm ratio, and central finite differences of
Omega with respect to W_hh with dE/dh_k and act'(a_k) held at their values."""

import forked_train
import jax
import numpy as np
import pytest

from benchmarks.core import diagnostics as dg
from benchmarks.core import regulariser as reg
from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec, seed_keys
from models import make_model
from tasks.temporal_order import TemporalOrderTask

ALPHA = 2.0


def _setup(length, preset, hidden=6, batch=3, seed=0):
    task = TemporalOrderTask(variant="pascanu2013", length=length)
    model = make_model(preset, task.input_size, task.output_size, hidden=hidden)
    params = model.init(jax.random.key(seed))
    return task, model, params, task.sample(jax.random.key(seed + 1), batch)


def _numpy_reference(params, batch, activation):
    """States h_k [T, B, H], the total dE/dh_k [T, B, H] of the mean last-step softmax
    cross-entropy, and the slopes act'(a_k), all float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x = np.asarray(batch.x, np.float64).transpose(1, 0, 2)
    act = {"tanh": np.tanh, "sigmoid": lambda a: 1 / (1 + np.exp(-a))}[activation]
    hs, h = [], np.zeros((x.shape[1], p["W_hh"].shape[0]))
    for x_t in x:
        h = act(x_t @ p["W_xh"] + h @ p["W_hh"] + p["b_h"])
        hs.append(h)
    hs = np.stack(hs)
    slope = 1 - hs**2 if activation == "tanh" else hs * (1 - hs)
    logits = hs[-1] @ p["W_out"] + p["b_out"]
    prob = np.exp(logits - logits.max(-1, keepdims=True))
    prob /= prob.sum(-1, keepdims=True)
    y = np.eye(prob.shape[-1])[np.asarray(batch.y)[:, -1]]
    dh = np.zeros_like(hs)
    dh[-1] = (prob - y) @ p["W_out"].T / x.shape[1]
    for k in range(len(hs) - 2, -1, -1):
        dh[k] = (dh[k + 1] * slope[k + 1]) @ p["W_hh"].T
    return hs, dh, slope


def _omega_np(W, dh, slope):
    back = (((dh * slope) @ W.T) ** 2).sum(-1)
    norm = (dh**2).sum(-1)
    ok = norm >= 1e-20
    return float(np.sum(np.where(ok, (back / np.where(ok, norm, 1) - 1) ** 2, 0)) / max(ok.sum(), 1)), int(
        ok.sum()
    )


def _fd_grad(W, dh, slope, eps=1e-6):
    g = np.zeros_like(W)
    for idx in np.ndindex(W.shape):
        up, down = W.copy(), W.copy()
        up[idx] += eps
        down[idx] -= eps
        g[idx] = (_omega_np(up, dh, slope)[0] - _omega_np(down, dh, slope)[0]) / (2 * eps)
    return g


@pytest.mark.parametrize(
    ("length", "preset", "all_counted"),
    [(10, "rnn_tanh_basic", True), (200, "rnn_tanh_basic", False), (200, "rnn_sigmoid_pascanu", False)],
)
def test_omega_and_its_gradient_match_numpy_bptt_and_finite_differences(length, preset, all_counted):
    """At T=200 the early steps' dE/dh_k is below the 1e-20 bound: the mask must drop
    them (counted < T * B), and Omega and dOmega/dW_hh still agree with NumPy."""
    task, model, params, batch = _setup(length, preset)
    hs, dh, slope = _numpy_reference(params, batch, model.spec.activation)
    W = np.asarray(params["W_hh"], np.float64)
    want, n_want = _omega_np(W, dh, slope)
    assert (n_want == length * 3) == all_counted
    assert n_want > 0

    loss, grads, _, value = jax.jit(lambda p: reg.loss_and_grads(model, task, p, batch, ALPHA, None))(params)
    _, plain, _ = dg.loss_and_grads(model, task, params, batch, None)
    value_j, n_j = reg.omega(
        params["W_hh"], dh.astype(np.float32), hs.astype(np.float32), model.spec.activation
    )
    assert int(n_j) == n_want
    np.testing.assert_allclose(float(value), want, rtol=2e-4)
    extra = (np.asarray(grads["W_hh"], np.float64) - np.asarray(plain["W_hh"], np.float64)) / ALPHA
    np.testing.assert_allclose(extra, _fd_grad(W, dh, slope), rtol=2e-3, atol=1e-6 * np.abs(extra).max())
    for name in ("W_xh", "b_h", "W_out", "b_out"):  # only W_hh's gradient changes
        np.testing.assert_allclose(grads[name], plain[name], rtol=1e-6, atol=1e-9)


def test_omega_is_zero_for_an_orthogonal_linear_step_and_ignores_vanished_errors():
    """With act' = 1 and W_hh orthogonal every ratio is exactly 1; a pair with ||v||^2 below
    the bound counts for nothing, and with none above it Omega is 0, not NaN."""
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))
    v = np.random.default_rng(1).normal(size=(4, 2, 5)).astype(np.float32)
    h = np.zeros_like(v)
    value, n = reg.omega(q.astype(np.float32), v, h, "identity")
    assert abs(float(value)) < 1e-10 and int(n) == 8
    half = reg.omega(0.5 * q.astype(np.float32), v, h, "identity")[0]
    assert float(half) == pytest.approx((0.25 - 1) ** 2, rel=1e-5)
    tiny = np.full_like(v, 1e-11)  # ||v||^2 = 5e-22 < 1e-20
    assert tuple(map(float, reg.omega(0.5 * q.astype(np.float32), tiny, h, "identity"))) == (0.0, 0.0)


def _train(regulariser, steps=8):
    task = TemporalOrderTask(variant="pascanu2013", length=12)
    model = make_model("rnn_tanh_basic", task.input_size, task.output_size, hidden=8)
    optim = OptimSpec(name="sgd", lr=0.01, clip="global_norm", clip_value=1.0, regulariser=regulariser)
    trainer = Trainer(model, task, optim, TrainSpec(steps=steps, batch_size=8, stop_when_solved=False))
    params_key, data_key, _, _ = seed_keys(0)
    state = trainer.init_state(model.init(params_key))
    state, metrics = jax.jit(trainer.train_chunk)(state, data_key, np.arange(steps))
    return trainer, model.init(params_key), data_key, state, metrics


def test_alpha_zero_trains_as_the_plain_step():
    """regulariser=0 is the plain step: the parameters of plain SGD with clipping written
    here from dg.loss_and_grads (to float32 rounding: the chunk fuses its scan differently;
    bit identity with the engine before the field existed was checked by hashing the
    parameters and losses of 60-step chunks at both commits); a nonzero alpha changes W_hh."""
    trainer, params, data_key, state, _ = _train(0.0)
    opt = trainer.optimizer()

    @jax.jit
    def step(params, opt_state, s):
        batch = trainer.task.sample(jax.random.fold_in(data_key, s), 8)
        _, grads, _ = dg.loss_and_grads(trainer.model, trainer.task, params, batch, 0)
        updates, opt_state = opt.update(grads, opt_state, params)
        return jax.tree.map(lambda p, u: p + u, params, updates), opt_state

    opt_state = opt.init(params)
    for s in range(8):
        params, opt_state = step(params, opt_state, s)
    for name in params:
        np.testing.assert_allclose(
            np.asarray(state.params[name]), np.asarray(params[name]), rtol=1e-5, atol=1e-9
        )
    other = _train(4.0)[3]
    assert not np.array_equal(np.asarray(other.params["W_hh"]), np.asarray(state.params["W_hh"]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1.0, "optim.regulariser must be >= 0 (0: off), got -1.0"),
        (float("inf"), "optim.regulariser must be a finite number, got inf"),
    ],
)
def test_bad_weights_are_refused_in_one_line(value, message):
    with pytest.raises(ValueError) as err:
        OptimSpec(regulariser=value)
    assert str(err.value) == message


def test_a_model_without_w_hh_is_refused_naming_the_models_that_accept_it():
    task = TemporalOrderTask(variant="pascanu2013", length=12)
    model = make_model("lstm", task.input_size, task.output_size, hidden=8)
    with pytest.raises(ValueError, match=r"cell 'lstm' has not; models that accept it: irnn, rnn, "):
        Trainer(model, task, OptimSpec(regulariser=2.0), TrainSpec())
    Trainer(model, task, OptimSpec(regulariser=0.0), TrainSpec())  # off: any model


def _cli(*args):
    return forked_train.run(*args, "logger=none", "task=temporal_order", "seeds=1")


@pytest.mark.slow
def test_the_config_field_reaches_the_trainer(tmp_path):
    """``optim.regulariser=2`` runs from the command line and is recorded with the run;
    a negative value or an LSTM is one line, exit 2."""
    ok = _cli(
        "model=rnn_tanh_basic",
        "optim.regulariser=2",
        "train.steps=4",
        "train.eval_every=2",
        "train.eval_size=16",
        "task.length=10",
        f"hydra.run.dir={tmp_path / 'ok'}",
    )
    assert ok.returncode == 0, ok.stderr
    config = (tmp_path / "ok" / "config.yaml").read_text()
    assert "regulariser: 2.0" in config
    for args, start in (
        (("model=rnn", "optim.regulariser=-2"), "error: optim.regulariser must be >= 0"),
        (("model=lstm", "optim.regulariser=2"), "error: optim.regulariser (Pascanu et al. 2013) needs"),
    ):
        bad = _cli(*args, f"hydra.run.dir={tmp_path / 'bad'}")
        assert bad.returncode == 2
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(start)
