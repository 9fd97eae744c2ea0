"""The scanned network equals a Python loop over the cell and the cells' Flax ``__call__``;
probes give dL/dh_t."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models import MODELS, make_model

# a preset whose size the tests' hidden=5 does not fit: lstm1997's blocks of 2 cells, one
# input-gate bias per block
SIZED = {"lstm1997": {"hidden": 6, "input_gate_biases": (-1.0, -2.0, -3.0)}}


def sized(name, hidden):
    return {"hidden": hidden, **SIZED.get(name, {})}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_scan_equals_python_loop(name):
    model = make_model(name, 3, 2, layers=2, **sized(name, 5))
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (4, 9, 3))
    outputs, states = model.apply(params, x)
    inputs = x
    for k in range(2):
        w = model.cell_class.fuse(model.spec, model.layer_params(params, k))
        carry = model.cell_class.zero_carry(model.spec, 4)
        carries = []
        for t in range(9):
            carry = model.cell_class.step(model.spec, w, carry, inputs[:, t])
            carries.append(carry)
        assert len(states[k]) == len(carry)  # every part of the carry: h, c, FGR's gates
        for part, loop in zip(states[k], zip(*carries, strict=True), strict=True):
            np.testing.assert_allclose(part, jnp.stack(loop), rtol=1e-5, atol=1e-6)
        inputs = jnp.stack([c[0] for c in carries], axis=1)
    readout = inputs @ params["W_out"] + params["b_out"]
    if model.spec.readout == "sigmoid":
        readout = 1.0 / (1.0 + jnp.exp(-readout))
    np.testing.assert_allclose(outputs, readout, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_cells_flax_call_gives_what_training_computes(name):
    """Training never calls a cell's Flax ``__call__``: :meth:`RecurrentNet.apply` runs
    ``fuse`` once and ``step`` per time step (:func:`models.scan.scan_cell`), or a
    hand-written scan of ``models/*_fast.py``. This ties the public entry to that path: the
    cell built from the key ``init`` gets holds the same parameters, and ``__call__``
    stepped over a sequence gives the states ``apply`` gives."""
    model = make_model(name, 3, 2, **sized(name, 5))
    key = jax.random.key(0)
    params = model.init(key)
    cell = model.cell_class(model.spec, 3, rngs=nnx.Rngs(params=key))
    own = nnx.to_pure_dict(nnx.state(cell, nnx.Param))
    assert set(own) == set(model.layer_params(params, 0))
    for k, v in own.items():
        np.testing.assert_array_equal(v, params[k], err_msg=k)
    x = jax.random.normal(jax.random.key(1), (4, 9, 3))
    _, states = model.apply(params, x)
    carry, hs = cell.initialize_carry(4), []
    for t in range(9):
        carry, h = cell(carry, x[:, t])
        hs.append(h)
    np.testing.assert_allclose(jnp.stack(hs), states[0][0], rtol=1e-5, atol=1e-6)
    for part, called in zip(states[0], carry, strict=True):  # h, c, FGR's gates: the last step
        np.testing.assert_allclose(called, part[-1], rtol=1e-5, atol=1e-6)


def test_init_is_deterministic_per_key():
    model = make_model("lstm", 2, 1, hidden=4)
    a, b, c = (model.init(jax.random.key(s)) for s in (7, 7, 8))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["R_z"], c["R_z"])


def test_probe_gradient_is_gradient_wrt_hidden_state():
    """d loss / d probe_t equals jax.grad of an unrolled loss w.r.t. h_t (tanh RNN)."""
    model = make_model("rnn", 2, 1, hidden=4)
    params = model.init(jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (3, 6, 2))

    def loss_probe(probes):
        out, _ = model.apply(params, x, probes)
        return jnp.sum(out[:, -1] ** 2)

    g_probe = jax.grad(loss_probe)(model.zero_probes(3, 6))[0][0]  # [T, B, H]
    w = model.cell_class.fuse(model.spec, params)

    def loss_from(t, h_t):  # run the rest of the sequence from a given h_t
        h = h_t
        for s in range(t + 1, 6):
            (h,) = model.cell_class.step(model.spec, w, (h,), x[:, s])
        return jnp.sum((h @ params["W_out"] + params["b_out"]) ** 2)

    _, states = model.apply(params, x)
    for t in range(6):
        np.testing.assert_allclose(
            g_probe[t], jax.grad(loss_from, 1)(t, states[0][0][t]), rtol=1e-4, atol=1e-6
        )
