"""A float64 NumPy LSTM written for the tests (no code of the project): the 1997 truncated
rule's gradients, shared by the truncated gradient's tests and the curse of memory's."""

import numpy as np


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def truncated_reference(p, x, g_y, forget_gate=True, peepholes=False):
    """Gradients of L = sum_t,b <y_t, g_y[t]> for a one-layer LSTM with a linear readout
    y_t = h_t W_out + b_out, by the truncated rule, in float64: the error of h_t is the
    readout's alone (nothing comes back from the gates' net inputs a(t+1)); inside the cell
    it flows back along the carousel, dc_t = dh_t o_t tanh'(c_t) [+ da_o p_o] + f_{t+1} dc_{t+1};
    every weight gets its local gradient. x: [T, B, D] time-major, g_y: [T, B, O]."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    gates = ["z", "i", "f", "o"] if forget_gate else ["z", "i", "o"]
    T, B, _ = x.shape
    H = p["R_z"].shape[0]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    saved = []
    for t in range(T):
        a = {g: x[t] @ p[f"W_{g}"] + h @ p[f"R_{g}"] + p[f"b_{g}"] for g in gates}
        if peepholes:
            a["i"] = a["i"] + p["p_i"] * c
            if forget_gate:
                a["f"] = a["f"] + p["p_f"] * c
        z, i = np.tanh(a["z"]), _sig(a["i"])
        f = _sig(a["f"]) if forget_gate else np.ones_like(c)
        c_new = f * c + i * z
        o = _sig(a["o"] + (p["p_o"] * c_new if peepholes else 0.0))
        h_new = o * np.tanh(c_new)
        saved.append(
            {"x": x[t], "h_prev": h, "c_prev": c, "z": z, "i": i, "f": f, "o": o, "c": c_new, "h": h_new}
        )
        h, c = h_new, c_new
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dc_next, f_next = np.zeros((B, H)), np.zeros((B, H))
    dc_path = np.zeros((T, B, H))
    for t in reversed(range(T)):
        s = saved[t]
        grads["W_out"] += s["h"].T @ g_y[t]
        grads["b_out"] += g_y[t].sum(0)
        dh = g_y[t] @ p["W_out"].T  # the readout's error only: truncated
        tc = np.tanh(s["c"])
        da = {"o": dh * tc * s["o"] * (1 - s["o"])}
        dc = dh * s["o"] * (1 - tc**2) + f_next * dc_next
        if peepholes:
            dc = dc + da["o"] * p["p_o"]  # the in-step peephole c_t -> o_t
        dc_path[t] = dc
        da["z"] = dc * s["i"] * (1 - s["z"] ** 2)
        da["i"] = dc * s["z"] * s["i"] * (1 - s["i"])
        if forget_gate:
            da["f"] = dc * s["c_prev"] * s["f"] * (1 - s["f"])
        for g in gates:
            grads[f"W_{g}"] += s["x"].T @ da[g]
            grads[f"R_{g}"] += s["h_prev"].T @ da[g]
            grads[f"b_{g}"] += da[g].sum(0)
        if peepholes:
            grads["p_i"] += (da["i"] * s["c_prev"]).sum(0)
            grads["p_o"] += (da["o"] * s["c"]).sum(0)
            if forget_gate:
                grads["p_f"] += (da["f"] * s["c_prev"]).sum(0)
        dc_next, f_next = dc, s["f"]
    return grads, dc_path
