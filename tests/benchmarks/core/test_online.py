"""Online learning (``train.schedule=step``): the truncated gradient's forward-in-time
form, and a weight update after every time step."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.core import online
from models import make_model
from tasks import make_task

TASKS = {  # error at the last step only; at every step (next-symbol prediction)
    "adding": ("adding", {"variant": "hochreiter1997", "length": 20}),
    "reber": ("reber", {}),
}


def _setup(model_name, task_name, batch_size=3, hidden=5):
    name, fields = TASKS[task_name]
    task = make_task(name, **fields)
    model = make_model(model_name, task.input_size, task.output_size, hidden=hidden)
    params = model.init(jax.random.key(0))
    batch = task.sample(jax.random.key(1), batch_size)
    return model, task, params, batch


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("model_name", ["lstm", "lstm_nofg"])
def test_the_forward_form_sums_to_the_truncated_gradient(model_name, task_name):
    """Added up over a sequence at fixed weights, the per-step gradients of the forward
    (eligibility-trace) form are the truncated backward pass's gradient of the whole loss."""
    model, task, params, batch = _setup(model_name, task_name)
    lr = jnp.float32(0.1)
    new, loss, summed, norms = online.online_sequence(model, task, params, batch, lr, per_step=False)
    truncated = dataclasses.replace(model, gradient="truncated")
    ref_loss, ref = jax.value_and_grad(lambda p: task.loss(truncated.apply(p, batch.x)[0], batch))(params)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    assert set(summed) == set(ref)
    for k in ref:
        scale = float(jnp.max(jnp.abs(ref[k])))
        assert scale > 0, k
        np.testing.assert_allclose(summed[k], ref[k], rtol=0, atol=1e-5 * scale, err_msg=k)
        np.testing.assert_allclose(new[k], params[k] - lr * summed[k], rtol=1e-6, atol=1e-7, err_msg=k)
    # the recorded per-step error norms are the truncated backward pass's probes
    probes = truncated.zero_probes(batch.x.shape[0], batch.x.shape[1], norms=True)
    grad_probes = jax.grad(lambda q: task.loss(truncated.apply(params, batch.x, q)[0], batch))(probes)[0]
    np.testing.assert_allclose(norms["grad_h"], grad_probes[0], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(norms["grad_c"], grad_probes[1], rtol=1e-4, atol=1e-12)


def test_per_step_updates_equal_one_update_when_the_error_comes_at_the_end():
    """On the adding problem only the last valid step carries an error, so updating after
    every step changes the weights once, exactly as the per-sequence update does; on the
    Reber grammar (an error at every step) the two differ."""
    model, task, params, batch = _setup("lstm", "adding", batch_size=1)
    lr = jnp.float32(0.5)
    step, *_ = online.online_sequence(model, task, params, batch, lr, per_step=True)
    seq, *_ = online.online_sequence(model, task, params, batch, lr, per_step=False)
    for k in params:
        np.testing.assert_array_equal(step[k], seq[k], err_msg=k)
    model, task, params, batch = _setup("lstm", "reber", batch_size=1)
    step, *_ = online.online_sequence(model, task, params, batch, lr, per_step=True)
    seq, *_ = online.online_sequence(model, task, params, batch, lr, per_step=False)
    assert not np.allclose(step["R_z"], seq["R_z"], rtol=1e-4, atol=0)


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def test_two_online_steps_by_hand():
    """One cell, one input, no forget gate, squared error 0.5 (y_t - d_t)^2 at both steps
    (a masked two-step regression), weights updated after step 1: every number below is
    the 1997 rule written out by hand in float64."""
    from tasks.base import Batch

    @dataclasses.dataclass(frozen=True)
    class TwoStep:  # a per-step squared error, as the tasks' losses are sums over steps
        input_size: int = 1
        output_size: int = 1

        def loss(self, outputs, batch):
            return 0.5 * jnp.sum(batch.mask[..., None] * (outputs - batch.y) ** 2)

    model = make_model("lstm_nofg", 1, 1, hidden=1)
    p = {k: np.asarray(v, np.float64) for k, v in model.init(jax.random.key(3)).items()}
    x, d, lr = np.array([0.7, -1.2]), np.array([0.3, -0.4]), 0.25
    batch = Batch(
        jnp.asarray(x, jnp.float32)[None, :, None],
        jnp.asarray(d, jnp.float32)[None, :, None],
        jnp.ones((1, 2)),
    )

    w = {k: float(v.reshape(-1)[0]) for k, v in p.items()}
    h = c = 0.0
    E = {"z": np.zeros(3), "i": np.zeros(3)}  # dc/d(W_g, R_g, b_g) for the cell-writing blocks
    for t in range(2):
        u = np.array([x[t], h, 1.0])
        a = {g: w[f"W_{g}"] * u[0] + w[f"R_{g}"] * u[1] + w[f"b_{g}"] for g in ("z", "i", "o")}
        z, i, o = np.tanh(a["z"]), _sig(a["i"]), _sig(a["o"])
        c = c + i * z  # f == 1
        h = o * np.tanh(c)
        y = w["W_out"] * h + w["b_out"]
        e_y = y - d[t]
        E = {"z": E["z"] + u * i * (1 - z * z), "i": E["i"] + u * z * i * (1 - i)}
        dh = e_y * w["W_out"]
        e_c = dh * o * (1 - np.tanh(c) ** 2)
        g = {"W_out": e_y * h, "b_out": e_y}
        for gate in ("z", "i"):
            g[f"W_{gate}"], g[f"R_{gate}"], g[f"b_{gate}"] = e_c * E[gate]
        g["W_o"], g["R_o"], g["b_o"] = u * dh * np.tanh(c) * o * (1 - o)
        w = {k: w[k] - lr * g[k] for k in w}  # the update after this step

    new, *_ = online.online_sequence(model, TwoStep(), model.init(jax.random.key(3)), batch, jnp.float32(lr))
    for k, v in w.items():
        np.testing.assert_allclose(float(np.asarray(new[k]).reshape(-1)[0]), v, rtol=1e-5, err_msg=k)


def test_a_run_the_rule_does_not_cover_is_one_line():
    model = make_model("gru", 2, 1, hidden=3)
    with pytest.raises(ValueError, match="one layer of lstm or lstm_nofg .*, not this 'gru' model"):
        online.check_online(model, "truncated", "sgd", "none")
    model = make_model("lstm", 2, 1, hidden=3)
    with pytest.raises(ValueError, match="set train.gradient=truncated"):
        online.check_online(model, "full", "sgd", "none")
    with pytest.raises(ValueError, match="set optim.name=sgd and optim.clip=none"):
        online.check_online(model, "truncated", "adam", "none")


def test_the_trainer_runs_the_online_rule(small_trainer):
    """``train.schedule=step`` in the training chunk: the parameters after one training
    step are the online pass's over that step's batch, and the optimizer state is untouched."""
    from benchmarks.core.optim import OptimSpec

    trainer = small_trainer("lstm_nofg")
    spec = dataclasses.replace(trainer.spec, gradient="truncated", schedule="step")
    trainer = dataclasses.replace(trainer, optim=OptimSpec(name="sgd", lr=0.3, clip="none"), spec=spec)
    params = trainer.model.init(jax.random.key(0))
    new, metrics = jax.jit(trainer.train_chunk)(trainer.init_state(params), jax.random.key(1), jnp.arange(1))
    batch = trainer.task.sample(jax.random.fold_in(jax.random.key(1), 0), trainer.spec.batch_size)
    want, loss, *_ = online.online_sequence(trainer.model, trainer.task, params, batch, jnp.float32(0.3))
    for k in params:
        np.testing.assert_allclose(new.params[k], want[k], rtol=1e-6, atol=1e-7, err_msg=k)
    np.testing.assert_allclose(metrics.loss[0], loss, rtol=1e-6)
    assert int(new.diverged_at) == -1
