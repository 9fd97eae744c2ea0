"""The LSTM path split of dL/dc_t (:func:`benchmarks.core.diagnostics.lstm_paths`) and the hop
ablation against an independent float64 forward pass and BPTT written here in NumPy.

At the lags tested (T = 200, 500) the CEC part of dL/dc_0 is many orders of magnitude
below dL/dc_0, or below float32's range altogether: each part must be as accurate as
dL/dc_t itself, per step, and a part below float32's smallest normal number must be
stored as exactly 0 (and flagged), never as rounding noise."""

import functools

import jax
import numpy as np
import pytest

from benchmarks.core import diagnostics as dg
from models import make_model
from tasks.adding import AddingTask

TINY = float(np.finfo(np.float32).tiny)
FLOOR = 1e-36  # ~100 x TINY: see check_part
BATCH, HIDDEN = 3, 12
KEY = jax.random.key(0)
ABLATIONS = (("none", ()), ("only_o", ("o",)))  # dL/dc_t with no hop, with R_o's only


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def weights64(params, layer, gates):
    """Layer ``layer``'s W_g, R_g, b_g in float64, from the flat parameter dict."""
    prefix = "" if layer == 0 else f"layer{layer}."
    return {
        f"{kind}_{g}": np.asarray(params[f"{prefix}{kind}_{g}"], np.float64)
        for g in gates
        for kind in ("W", "R", "b")
    }


def forward64(w, x, gates):
    """One LSTM layer (no peepholes, tanh input and output activations; f = 1 without a
    forget gate) over time-major x [T, B, D]: every gate, c and h, each [T, B, H]."""
    T, B = x.shape[:2]
    H = w["R_z"].shape[0]
    names = ("z", "i", "f", "o", "c", "h")
    out = {k: np.zeros((T, B, H)) for k in names}
    h, c = np.zeros((B, H)), np.zeros((B, H))
    for t in range(T):
        a = {g: x[t] @ w[f"W_{g}"] + h @ w[f"R_{g}"] + w[f"b_{g}"] for g in gates}
        z = np.tanh(a["z"])
        i, o = sigmoid(a["i"]), sigmoid(a["o"])
        f = sigmoid(a["f"]) if "f" in gates else np.ones_like(c)
        c = f * c + i * z
        h = o * np.tanh(c)
        for k, v in zip(names, (z, i, f, o, c, h), strict=True):
            out[k][t] = v
    return out


def backward64(w, fw, e, gates, through=None):
    """BPTT of one layer from its direct error e_t [T, B, H] (the readout's, or the layer
    above's input gradient). Only the hops h_t <- a_g(t+1) with g in ``through`` (default
    all) count. Returns dh, dc, the input gradient dx and the parts by definition:

        cec_t = e_t l_t + f_{t+1} cec_{t+1},   R_g_t = (da_g(t+1) R_g^T) l_t + f_{t+1} R_g_{t+1}

    with l_t = o_t (1 - tanh(c_t)^2); dc_t obeys the same recurrence with source dh_t l_t."""
    through = gates if through is None else through
    T = e.shape[0]
    zero = np.zeros_like(e)
    dh, dc, dx = zero.copy(), zero.copy(), np.zeros(e.shape[:2] + (w["W_z"].shape[0],))
    da = {g: zero.copy() for g in gates}
    parts = {name: zero.copy() for name in ["cec"] + [f"R_{g}" for g in gates]}
    c_prev = np.concatenate([np.zeros_like(fw["c"][:1]), fw["c"][:-1]])
    for t in reversed(range(T)):
        last = t == T - 1
        hop = {g: np.zeros_like(e[t]) if last else da[g][t + 1] @ w[f"R_{g}"].T for g in gates}
        f_next = np.zeros_like(e[t]) if last else fw["f"][t + 1]
        tc = np.tanh(fw["c"][t])
        local = fw["o"][t] * (1 - tc**2)
        dh[t] = e[t] + sum(hop[g] for g in through)
        dc[t] = dh[t] * local + (0.0 if last else f_next * dc[t + 1])
        sources = {"cec": e[t] * local, **{f"R_{g}": hop[g] * local for g in gates}}
        for name, s in sources.items():
            parts[name][t] = s + (0.0 if last else f_next * parts[name][t + 1])
        z, i, f, o = (fw[k][t] for k in ("z", "i", "f", "o"))
        da["z"][t] = dc[t] * i * (1 - z**2)
        da["i"][t] = dc[t] * z * i * (1 - i)
        da["o"][t] = dh[t] * tc * o * (1 - o)
        if "f" in gates:
            da["f"][t] = dc[t] * c_prev[t] * f * (1 - f)
        dx[t] = sum(da[g][t] @ w[f"W_{g}"].T for g in gates)
    return {"dh": dh, "dc": dc, "dx": dx, "parts": parts}


def reference(model, params, batch, layer):
    """Float64 loss, dL/dc_t, the parts and dL/dc_t with the hops of ``ABLATIONS`` only (the
    hop ablation) of layer ``layer``, for the masked mean squared error of the adding task."""
    gates = ("z", "i", "f", "o") if model.spec.forget_gate else ("z", "i", "o")
    x = np.swapaxes(np.asarray(batch.x, np.float64), 0, 1)
    fws, ws = [], []
    for k in range(model.spec.layers):
        ws.append(weights64(params, k, gates))
        fws.append(forward64(ws[-1], x, gates))
        x = fws[-1]["h"]
    w_out = np.asarray(params["W_out"], np.float64)
    y = x @ w_out + np.asarray(params["b_out"], np.float64)  # [T, B, O]
    mask = np.asarray(batch.mask, np.float64).T[..., None]
    diff = (y - np.swapaxes(np.asarray(batch.y, np.float64), 0, 1)) * mask
    n = max(mask.sum(), 1.0) * y.shape[-1]
    e = 2 * diff / n @ w_out.T
    for k in reversed(range(layer, model.spec.layers)):
        back = backward64(ws[k], fws[k], e, gates)
        if k > layer:
            e = back["dx"]
    ablations = {
        name: backward64(ws[layer], fws[layer], e, gates, through)["dc"] for name, through in ABLATIONS
    }
    return {"loss": np.sum(diff**2) / n, "dc": back["dc"], "parts": back["parts"], **ablations}


@functools.partial(jax.jit, static_argnums=(0, 1, 4))
def carousel_outputs(model, task, params, batch, layer):
    """What the diagnostics compute: the loss, the parts (with ``total``, dL/dc_t), the
    hop ablations of ``ABLATIONS`` and the underflow flags of each."""
    loss, _, probe = dg.loss_and_grads(model, task, params, batch, layer)
    _, states = model.apply(params, batch.x)
    out = dg.lstm_paths(model, task, params, batch, probe, states, layer)
    out.update({name: dg.hop_ablation(model, task, params, batch, layer, hops) for name, hops in ABLATIONS})
    return loss, out, {k: dg.underflow(v) for k, v in out.items()}


def step_errors(stored, ref):
    """||stored_t - ref_t|| and ||ref_t|| per step, norms over batch and units."""
    diff = (np.asarray(stored, np.float64) - ref).reshape(len(ref), -1)
    return np.linalg.norm(diff, axis=1), np.linalg.norm(ref.reshape(len(ref), -1), axis=1)


def relative_error(stored, ref):
    """Max over steps of ||stored_t - ref_t|| / ||ref_t||, over the steps far above
    float32's smallest normal number (near it, see :func:`check_part`)."""
    err, norm = step_errors(stored, ref)
    ok = norm > 1e-30
    return float(np.max(err[ok] / norm[ok])) if ok.any() else 0.0


def check_part(stored, flags, ref, tol):
    """Per step within ``tol`` of the reference, up to an absolute FLOOR: within a few
    decades of float32's smallest normal number the split's inputs (the gate errors, the
    hops) lose their own entries below the range first, as dL/dc_t's do. Where a whole
    (step, sequence) vector of the reference is below float32's range: exactly 0 and
    flagged as underflow. Returns how many such vectors there were."""
    stored, flags = np.asarray(stored), np.asarray(flags)
    err, norm = step_errors(stored, ref)
    assert np.all(err <= tol * norm + FLOOR), np.max(err / (norm + FLOOR))
    below = np.max(np.abs(ref), axis=-1) < TINY / 2  # [T, B]
    assert np.all(stored[below] == 0.0)
    assert np.all(flags[below] == (ref[below] != 0.0))
    return int(below.sum())


CASES = [("lstm", T, fb, 1) for T in (200, 500) for fb in (0.0, 1.0, 3.0)] + [
    ("lstm_nofg", 200, 1.0, 1),
    ("lstm_nofg", 500, 1.0, 1),
    ("lstm", 200, 1.0, 2),
    ("lstm", 500, 3.0, 2),
]


@pytest.mark.parametrize(("name", "T", "forget_bias", "layers"), CASES)
def test_every_part_matches_float64_bptt_per_step(name, T, forget_bias, layers):
    task = AddingTask(variant="arjovsky2016", length=T)
    # forget_bias only sets b_f's initial value: one compiled model serves every forget bias
    model = make_model(name, 2, 1, hidden=HIDDEN, layers=layers)
    params = make_model(name, 2, 1, hidden=HIDDEN, layers=layers, forget_bias=forget_bias).init(KEY)
    batch = task.sample(jax.random.key(1), BATCH)
    loss, out, flags = carousel_outputs(model, task, params, batch, 0)
    ref = reference(model, params, batch, 0)
    assert float(loss) == pytest.approx(ref["loss"], rel=1e-5)
    np.testing.assert_allclose(ref["none"], ref["parts"]["cec"], rtol=1e-10, atol=1e-300)

    tol = max(1e-3, 10 * relative_error(out["total"], ref["dc"]))
    refs = {"total": ref["dc"], **{name: ref[name] for name, _ in ABLATIONS}, **ref["parts"]}
    assert set(out) == set(refs)
    errors = ", ".join(f"{k} {relative_error(out[k], v):.1e}" for k, v in refs.items())
    print(f"\n{name} T={T} forget_bias={forget_bias:g} layers={layers}: relative error {errors}")  # pytest -s
    underflowed = {k: check_part(out[k], flags[k], v, tol) for k, v in refs.items()}
    if forget_bias == 0.0:  # 0.5^T: the CEC part of dc_0 is far below float32's range
        assert underflowed["cec"] > 0 and underflowed["none"] > 0
    total = np.asarray(out.pop("total"))
    split = sum(np.asarray(out[k]) for k in ref["parts"])
    assert np.max(np.abs(split - total)) / np.max(np.abs(total)) < 1e-5


def test_the_stored_diagnostics_flag_underflow_instead_of_showing_noise():
    """A forget bias of -6 (f ~ 0.0025) takes the CEC part below float32's range within
    ~15 steps of the loss: there its stored norm is 0 and its flag 1, and no flag is set
    where the part is representable or where it is an exact zero (R_g at the last step)."""
    task = AddingTask(variant="arjovsky2016", length=40)
    model = make_model("lstm", 2, 1, hidden=4, forget_bias=-6.0)
    params = model.init(jax.random.key(0))
    batch = task.sample(jax.random.key(1), 2)
    _, _, probe = dg.loss_and_grads(model, task, params, batch, 0)
    _, states = model.apply(params, batch.x)
    out = jax.jit(dg.lstm_path_diagnostics, static_argnums=(0, 1, 6))(
        model, task, params, batch, probe, states, 0
    )
    cec, flag = np.asarray(out["path.cec"]), np.asarray(out["path_underflow.cec"])
    assert cec[0] == 0.0 and flag[0] == 1.0 and out["ablation_underflow.none"][0] == 1.0
    assert np.all(flag[cec > 1e-30] == 0.0) and cec[-1] > 0
    assert np.all(np.asarray(out["ablation.none"])[flag == 1.0] == 0.0)
    for gate in ("z", "i", "f", "o"):
        assert out[f"path_underflow.R_{gate}"][-1] == 0.0 and out[f"path.R_{gate}"][-1] == 0.0
