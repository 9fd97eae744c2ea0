"""The 1997 truncated gradient (``RecurrentNet.gradient="truncated"``) against a float64
NumPy implementation of Hochreiter & Schmidhuber's rule written here, and against the
diagnostics' hop ablation with no hop open (the CEC part of dL/dc_t)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from lstm_reference import truncated_reference

from benchmarks.core.diagnostics import hop_ablation
from models import lstm_fast, make_model
from tasks import make_task

CASES = {
    # (preset, fields): the fast scan's backward pass (lstm, lstm_nofg), autodiff with every
    # hop blocked (the peephole variant); forget bias 3 keeps f near 1, so the carousel
    # carries the error over the whole sequence
    "lstm": ("lstm", {"forget_bias": 3.0}),
    "lstm_nofg": ("lstm_nofg", {}),
    "lstm_peephole": ("lstm_peephole", {"forget_bias": 1.0}),
}


def _net(name, T=60, B=3, D=2, n_out=2, H=6):
    preset, fields = CASES[name]
    model = make_model(preset, D, n_out, hidden=H, **fields)
    params = model.init(jax.random.key(0))
    x = np.asarray(jax.random.normal(jax.random.key(1), (B, T, D)), np.float64)
    g_y = np.asarray(jax.random.normal(jax.random.key(2), (B, T, n_out)), np.float64)
    return model, params, x, g_y


@pytest.mark.parametrize("name", list(CASES))
def test_truncated_gradient_equals_the_float64_reference(name):
    model, params, x, g_y = _net(name)
    truncated = dataclasses.replace(model, gradient="truncated")
    assert lstm_fast.supports(model.spec) == (name != "lstm_peephole")

    def loss(p, net):
        outputs, _ = net.apply(p, jnp.asarray(x, jnp.float32))
        return jnp.sum(outputs * jnp.asarray(g_y, jnp.float32))

    got = jax.grad(loss)(params, truncated)
    ref, _ = truncated_reference(
        params,
        np.swapaxes(x, 0, 1),
        np.swapaxes(g_y, 0, 1),
        forget_gate=model.spec.forget_gate,
        peepholes=model.spec.peepholes,
    )
    assert set(got) == set(ref)
    for k in ref:
        scale = np.max(np.abs(ref[k]))
        assert scale > 0, k
        np.testing.assert_allclose(
            np.asarray(got[k], np.float64), ref[k], rtol=0, atol=2e-5 * scale, err_msg=k
        )
    # and it is not the full gradient: the recurrent matrices' gradients differ
    full = jax.grad(loss)(params, model)
    assert np.max(np.abs(np.asarray(full["R_z"]) - ref["R_z"])) > 1e-3 * np.max(np.abs(ref["R_z"]))


@pytest.mark.parametrize("name", list(CASES))
def test_the_truncated_cell_error_is_the_hop_ablations_cec_part(name):
    """dL/dc_t under the truncated rule (its probe) is what the diagnostics' hop ablation
    gives with no recurrent hop open: exactly the carousel's share of the full dL/dc_t."""
    task = make_task("adding", variant="pascanu2013", length=40)
    batch = task.sample(jax.random.key(3), 4)
    model = make_model(CASES[name][0], task.input_size, task.output_size, hidden=6, **CASES[name][1])
    params = model.init(jax.random.key(0))
    truncated = dataclasses.replace(model, gradient="truncated")

    def loss(probes):
        outputs, _ = truncated.apply(params, batch.x, probes)
        return task.loss(outputs, batch)

    probes = truncated.zero_probes(batch.x.shape[0], batch.x.shape[1])
    dc = jax.grad(loss)(probes)[0][1]
    cec = hop_ablation(model, task, params, batch, 0, ())
    # two float32 computations of one quantity (the fast scan's loop, autodiff of the
    # blocked step): within 1e-4 of each entry, or 1e-5 of the largest. A cell whose tanh is
    # saturated at the error's step gets 1 - tanh(c)^2 from a tanh rounded near 1, which two
    # computations round differently (2% on an entry 1e-4 of the largest, seen here)
    np.testing.assert_allclose(dc, cec, rtol=1e-4, atol=1e-5 * float(np.max(np.abs(cec))))
    assert np.max(np.abs(np.asarray(dc[0]))) > 0  # the error did reach the first step


def test_truncated_reference_keeps_the_carousel_at_long_lags():
    """At f == 1 (no forget gate) and a single error at the last step, the truncated
    dL/dc_t is the same at every earlier step (the constant error carousel) up to the
    input gate's and z's local factors, which do not enter dc: dc_t = dc_T exactly."""
    model, params, x, g_y = _net("lstm_nofg", T=200)
    g_y[:, :-1] = 0.0
    _, dc = truncated_reference(params, np.swapaxes(x, 0, 1), np.swapaxes(g_y, 0, 1), forget_gate=False)
    np.testing.assert_allclose(dc[0], dc[-1], rtol=1e-12)
    truncated = dataclasses.replace(model, gradient="truncated")

    def loss(probes):
        outputs, _ = truncated.apply(params, jnp.asarray(x, jnp.float32), probes)
        return jnp.sum(outputs * jnp.asarray(g_y, jnp.float32))

    got = jax.grad(loss)(truncated.zero_probes(x.shape[0], x.shape[1]))[0][1]
    # float32 against float64 after 200 steps: 1e-4 of the largest entry (a saturated
    # cell's tanh'(c_T) = 1 - tanh^2 is 3e-11 in float64, float32's rounding of tanh near 1)
    np.testing.assert_allclose(
        np.asarray(got[0], np.float64), dc[0], rtol=1e-4, atol=1e-4 * np.max(np.abs(dc[0]))
    )
    np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(got[-1]))


def test_the_truncated_gradient_is_an_lstms():
    model = make_model("rnn", 2, 1, hidden=3)
    net = dataclasses.replace(model, gradient="truncated")
    with pytest.raises(ValueError, match="truncated gradient is an LSTM's, not a 'rnn'"):
        net.apply(net.init(jax.random.key(0)), jnp.zeros((1, 4, 2)))
