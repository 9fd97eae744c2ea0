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


# H&S 1997's cell (blocks of 2 sharing gates, its squashing, sigmoid output units on the
# adding problem's [0, 1]-style targets) and Gers et al. 2000's (the same with forget gates)
CELLS_1997 = {
    "lstm1997": {"hidden": 6, "input_gate_biases": (-1.0, -2.0, -3.0)},
    "gers2000": {
        "hidden": 6,
        "forget_gate": True,
        "input_gate_biases": (-0.5, -1.0, -1.5),
        "forget_gate_biases": (0.5, 1.0, 1.5),
    },
}


def _setup(model_name, task_name, batch_size=3, hidden=5):
    name, fields = TASKS[task_name]
    task = make_task(name, **fields)
    if model_name == "lstm_niaf_noaf":  # no squashing on z or before o (Greff's NIAF and NOAF)
        model = make_model("lstm", task.input_size, task.output_size, hidden=hidden, input_activation=False,
                           output_activation=False)  # fmt: skip
    elif model_name in CELLS_1997:
        readout = "sigmoid" if task_name == "adding" else "linear"  # Reber's loss reads logits
        model = make_model(
            "lstm1997", task.input_size, task.output_size, **CELLS_1997[model_name], readout=readout
        )
    else:
        model = make_model(model_name, task.input_size, task.output_size, hidden=hidden)
    params = model.init(jax.random.key(0))
    batch = task.sample(jax.random.key(1), batch_size)
    return model, task, params, batch


@pytest.mark.parametrize("task_name", list(TASKS))
@pytest.mark.parametrize("model_name", ["lstm", "lstm_nofg", "lstm_niaf_noaf", *CELLS_1997])
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


def test_three_online_steps_of_a_gers_block_by_hand():
    """Gers et al. 2000's cell written out in float64: one block of 2 cells sharing its
    input, forget and output gates, H&S 1997's squashing g = 4 sigmoid - 2 and h = 2 sigmoid
    - 1, a sigmoid output unit, squared error 0.5 (y_t - d_t)^2 at every step, and the
    weights updated after every step. Per-cell traces; a shared gate's gradient is the sum over
    its cells."""
    from tasks.base import Batch

    @dataclasses.dataclass(frozen=True)
    class TwoStep:
        input_size: int = 2
        output_size: int = 1

        def loss(self, outputs, batch):
            return 0.5 * jnp.sum(batch.mask[..., None] * (outputs - batch.y) ** 2)

    init = dataclasses.replace(
        make_model("lstm1997", 2, 1).spec.init, input_scale=0.8, recurrent_scale=0.8, readout_scale=2.0
    )
    model = make_model(
        "lstm1997", 2, 1, hidden=2, forget_gate=True, readout="sigmoid", input_gate_biases=(-0.5,), init=init
    )
    params = model.init(jax.random.key(4))
    w = w0 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    x = np.array([[1.9, -1.3], [-1.6, 2.1], [0.4, 1.5]])
    d, lr = np.array([0.9, 0.05, 0.7]), 0.7
    batch = Batch(
        jnp.asarray(x, jnp.float32)[None], jnp.asarray(d, jnp.float32)[None, :, None], jnp.ones((1, 3))
    )

    h, c = np.zeros(2), np.zeros(2)
    E = {g: np.zeros((5, 2)) for g in "zif"}  # dc_j / dw[k] for u = (x1, x2, h1, h2, 1), cell j
    for t in range(3):
        u = np.concatenate([x[t], h, [1.0]])
        a = {g: u[:2] @ w[f"W_{g}"] + u[2:4] @ w[f"R_{g}"] + w[f"b_{g}"] for g in "zifo"}
        z = 4 * _sig(a["z"]) - 2  # [2]: a cell input per cell
        i, f, o = (_sig(a[g])[0] for g in "ifo")  # one unit each: the block's
        c_prev, c = c, f * c + i * z
        hc = 2 * _sig(c) - 1
        h = o * hc
        y = _sig(w["W_out"][:, 0] @ h + w["b_out"][0])
        e = (y - d[t]) * y * (1 - y)  # dL_t / d(the output unit's net input)
        E["z"] = f * E["z"] + np.outer(u, i * (1 - z**2 / 4))  # g'(a) = 1 - g^2 / 4
        E["i"] = f * E["i"] + np.outer(u, z * i * (1 - i))
        E["f"] = f * E["f"] + np.outer(u, c_prev * f * (1 - f))
        dh = e * w["W_out"][:, 0]
        e_c = dh * o * (1 - hc**2) / 2  # h'(c) = (1 - h^2) / 2
        g = {"W_out": (h * e)[:, None], "b_out": np.array([e])}
        for part in "zif":
            full = E[part] * e_c  # [5, cells]
            full = full if part == "z" else full.sum(axis=1, keepdims=True)  # a gate: its block's sum
            g[f"W_{part}"], g[f"R_{part}"], g[f"b_{part}"] = full[:2], full[2:4], full[4]
        g_o = u[:, None] * np.sum(dh * hc) * o * (1 - o)
        g["W_o"], g["R_o"], g["b_o"] = g_o[:2], g_o[2:4], g_o[4]
        w = {k: w[k] - lr * g[k].reshape(w[k].shape) for k in w}

    new, *_ = online.online_sequence(model, TwoStep(), params, batch, jnp.float32(lr))
    assert set(new) == set(w)
    for k, v in w.items():
        np.testing.assert_allclose(np.asarray(new[k]), v, rtol=1e-5, atol=1e-7, err_msg=k)
        # the updates themselves, to 2% of each matrix's largest (the R's are ~1e-5: h is small)
        moved, want = np.asarray(new[k], np.float64) - w0[k], v - w0[k]
        scale = np.max(np.abs(want))
        assert scale > 1e-6, k  # every weight matrix learned
        np.testing.assert_allclose(moved, want, rtol=0, atol=0.02 * scale + 1e-7, err_msg=k)


def test_a_run_the_rule_does_not_cover_is_one_line():
    model = make_model("gru", 2, 1, hidden=3)
    with pytest.raises(ValueError, match="one layer of lstm, lstm_nofg or lstm1997 .*, not this 'gru' model"):
        online.check_online(model, "truncated", "sgd", "none")
    model = make_model("lstm_peephole", 2, 1, hidden=3)
    with pytest.raises(
        ValueError, match=r"'lstm' model with 1 layer\(s\) \(model.peepholes=true\); valid here"
    ):
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


# --- train.schedule=stream: continual streams that end at their first error ---------------


def _pieces(chunk, cuts):
    """The sampled stream ``chunk`` cut at ``cuts``: (batch, starts) per piece."""
    edges = [0, *cuts, chunk.starts.shape[1]]
    return [
        (jax.tree.map(lambda v, a=a, b=b: v[:, a:b], chunk.batch), chunk.starts[:, a:b])
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def _run_pieces(model, task, params, pieces, lr, lanes):
    carry = online.stream_carry(model.spec, task.input_size, lanes)
    ended, trained, carries = [], 0, []
    step = jax.jit(online.stream_chunk, static_argnums=(0, 1))
    for batch, starts in pieces:
        params, carry, _, _, records = step(model, task, params, carry, batch, starts, lr)
        ended.append(np.asarray(records["ended"]))
        trained = trained + np.asarray(records["trained"])
        carries.append(carry)
    return params, carry, np.concatenate(ended), trained, carries


@pytest.mark.parametrize("model_name", ["lstm", "lstm_nofg", "gers2000"])
def test_a_stream_in_chunks_is_the_same_computation_as_in_one_piece(model_name):
    """Training per symbol over 3 streams of 420 symbols in chunks of 7 (cutting strings
    and live training streams) gives the weights, carried state and stream records of the
    same streams in one piece, bit for bit."""
    from tasks.reber import ContinualReberTask

    task = ContinualReberTask(length=7)
    if model_name == "gers2000":  # Gers et al.'s cell: blocks sharing gates, with forget gates
        model = make_model("lstm1997", 7, 7, **CELLS_1997["gers2000"], readout="linear")
    else:
        model = make_model(model_name, task.input_size, task.output_size, hidden=5)
    params = model.init(jax.random.key(0))
    chunk = task.sample_stream(jax.random.key(1), 3, length=420)
    lr = jnp.float32(0.5)
    one = _run_pieces(model, task, params, _pieces(chunk, []), lr, 3)
    cut = _run_pieces(model, task, params, _pieces(chunk, list(range(7, 420, 7))), lr, 3)
    for k in params:
        np.testing.assert_array_equal(cut[0][k], one[0][k], err_msg=k)
        assert not np.array_equal(one[0][k], params[k]), k  # every weight learned
    for a, b in zip(cut[1], one[1], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cut[2], one[2])
    np.testing.assert_array_equal(cut[3], one[3])
    ends = one[2][one[2] >= 0]
    assert len(ends) > 20 and ends.max() >= 1  # many streams ended, some after a correct symbol
    live_at_cuts = sum(int(np.sum(c.live)) for c in cut[4][:-1])
    assert live_at_cuts > 5, live_at_cuts  # training streams crossed chunk boundaries


def _fixed_prediction_params(model, legal_units, bias):
    """Every weight 0 (so z = 0, c = 0 and h = 0 exactly at every step) and the readout's
    bias +bias on ``legal_units``, -bias elsewhere: the net predicts that set after
    every symbol, whatever came before."""
    params = {k: jnp.zeros_like(v) for k, v in model.init(jax.random.key(0)).items()}
    b = np.full(7, -bias, np.float32)
    b[list(legal_units)] = bias
    return {**params, "b_out": jnp.asarray(b)}


def _string_starts(symbols: str) -> list[int]:
    """Where strings begin in a continual stream: its first symbol, and a B after an E
    (inside a string a B follows the outer B's branch symbol, never an E)."""
    return [t for t, s in enumerate(symbols) if s == "B" and (t == 0 or symbols[t - 1] == "E")]


def test_a_net_that_always_predicts_t_or_p_ends_every_stream_at_its_second_symbol():
    """A net predicting {T, P} after every symbol is right after a string's first B (the
    outer branch is next) and wrong after the branch (the inner B is next): with lr = 0,
    every training stream begins at a string start s, trains on s and s + 1, and ends at
    s + 1 with 1 correct prediction; the symbols until the next string start are skipped.
    The stream is cut just after a string start, so one training stream spans the cut."""
    from tasks.reber import SYMBOLS, ContinualReberTask

    task = ContinualReberTask(length=300)
    model = make_model("lstm", 7, 7, hidden=4)
    params = _fixed_prediction_params(model, (SYMBOLS.index("T"), SYMBOLS.index("P")), 3.0)
    chunk = task.sample_stream(jax.random.key(5), 2, length=300)
    symbols = ["".join(SYMBOLS[i] for i in np.argmax(np.asarray(chunk.batch.x[b]), -1)) for b in range(2)]
    starts = [_string_starts(s) for s in symbols]
    cut = next(s for s in starts[0] if s > 100) + 1
    new, carry, ended, trained, carries = _run_pieces(model, task, params, _pieces(chunk, [cut]), 0.0, 2)
    for lane in range(2):
        want = [s + 1 for s in starts[lane] if s + 1 < 300]
        assert np.flatnonzero(ended[:, lane] >= 0).tolist() == want
        assert set(ended[want, lane]) == {1}
        assert trained[lane] == 2 * len(starts[lane]) - (starts[lane][-1] == 299)
    assert bool(carries[0].live[0]) and int(carries[0].run[0]) == 1  # the stream across the cut
    for k in params:
        np.testing.assert_array_equal(new[k], params[k], err_msg=k)


def _sigmoid32(a):
    return (1.0 / (1.0 + np.exp(-a.astype(np.float64)))).astype(np.float32)


def test_the_readouts_bias_learns_symbol_by_symbol_and_streams_stop_at_their_first_error():
    """With every other weight 0, h stays exactly 0 and only the readout's bias learns
    (dh = e_y W_out^T = 0, dW_out = h^T e_y = 0). A NumPy walk written here over two lanes
    of the sampled stream: a lane begins a stream at a string start, predicts with the
    current bias, takes the step's error e = (sigmoid(b) - d) / (7 x live lanes) (the
    task's loss of that one symbol), the bias moves by -lr x the lanes' sum after every
    symbol, and a wrong prediction ends the lane's stream. Stream ends, lengths, trained
    symbols and the final bias must agree."""
    from tasks.reber import ContinualReberTask

    task = ContinualReberTask(length=50)
    model = make_model("lstm", 7, 7, hidden=3)
    params = _fixed_prediction_params(model, (0,), 0.2)
    chunk = task.sample_stream(jax.random.key(8), 2, length=250)
    lr = 0.7
    new, _, ended, trained, _ = _run_pieces(
        model, task, params, _pieces(chunk, [50, 100, 150, 200]), jnp.float32(lr), 2
    )

    y, starts = np.asarray(chunk.batch.y), np.asarray(chunk.starts)
    b = np.asarray(params["b_out"]).copy()
    live, run = np.zeros(2, bool), np.zeros(2, int)
    want_ended, want_trained = np.full((250, 2), -1), np.zeros(2, int)
    for t in range(250):
        live |= starts[:, t]
        n = live.sum()
        wrong = live & np.any((b > 0) != (y[:, t] > 0.5), axis=-1)
        err = np.where(live[:, None], (_sigmoid32(b) - y[:, t]) / (7.0 * max(n, 1)), 0.0)
        b = (b - np.float32(lr) * err.sum(0).astype(np.float32)).astype(np.float32)
        want_trained += live
        want_ended[t] = np.where(wrong, run, -1)
        run = np.where(live & ~wrong, run + 1, 0)
        live &= ~wrong
    np.testing.assert_array_equal(ended, want_ended)
    np.testing.assert_array_equal(trained, want_trained)
    np.testing.assert_allclose(new["b_out"], b, rtol=1e-5, atol=1e-6)
    # a fixed prediction is right at most once in a row: streams of 0 and 1 correct symbols
    assert (want_ended >= 0).sum() > 30 and set(want_ended[want_ended >= 0]) == {0, 1}
    assert np.abs(b - np.asarray(params["b_out"])).min() > 0.1  # every unit's bias learned
    for k in params:
        if k != "b_out":
            np.testing.assert_array_equal(new[k], 0.0, err_msg=k)


def test_the_trainer_carries_the_streams_from_step_to_step(stream_trainer):
    """``train.schedule=stream`` in the training chunk: a step is the next ``task.length``
    symbols of each lane's stream, drawn from ``fold_in(data, step)`` at the position the
    step before left; four steps in one chunk equal two chunks of two, and the stream
    pass run by hand."""
    trainer = stream_trainer()
    params = trainer.model.init(jax.random.key(0))
    state, key = trainer.init_state(params), jax.random.key(1)
    run = jax.jit(trainer.train_chunk)
    whole, metrics = run(state, key, jnp.arange(4))
    half, _ = run(state, key, jnp.arange(2))
    halves, _ = run(half, key, jnp.arange(2, 4))
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(halves), strict=True):
        np.testing.assert_array_equal(a, b)

    p, carry, position, ended = params, state.stream.carry, state.stream.position, []
    for step in range(4):
        chunk = trainer.task.sample_stream(jax.random.fold_in(key, step), 2, position)
        p, carry, _, _, records = online.stream_chunk(
            trainer.model, trainer.task, p, carry, chunk.batch, chunk.starts, jnp.float32(0.5)
        )
        position = chunk.position
        ended.append(records["ended"])
    for k in params:
        np.testing.assert_allclose(whole.params[k], p[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_array_equal(metrics.streams["ended"], np.stack(ended))
    np.testing.assert_array_equal(whole.stream.position.state, position.state)
    assert metrics.streams["trained"].shape == (4, 2) and metrics.loss.shape == (4,)
