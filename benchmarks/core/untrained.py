"""Measurements of untrained nets for the curse of memory and the R-path products (the
study :mod:`benchmarks.studies.why_lstm_explodes` sets their sizes per scale and reads
them; see :mod:`benchmarks.studies.explode_measures` for what each shows).

- :func:`growth`: per cell, recurrent initialisation and hidden size, the share of random
  draws whose product of step Jacobians grows (:func:`benchmarks.core.jacobian_growth.growth_share`),
  the exponents' mean and spread, and the recurrent matrices' spectral radius;
- :func:`linear`: the diagonal linear recurrence's sensitivity by Monte Carlo beside its
  closed form, plain and LRU-normalised (:mod:`benchmarks.core.memory_curse`);
- :func:`gated`: the gated cells' parameter sensitivities through their memory at
  initialisation against 1 - (their mean memory gate), with each parameter's power law.

A sequence at memory bias b is ``ceil(8 / (1 - sigmoid(b)))`` steps long (capped): long
enough that a sum of lam^k-weighted terms has reached its stationary value (the neglected
tail is below e^-16 of it for the linear recurrence).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.core import jacobian_growth, memory_curse

# every weight but the recurrent ones as the protocol draws them (U[-0.08, 0.08])
PROTOCOL_INIT = {"input": "uniform", "input_scale": 0.08, "readout": "uniform", "readout_scale": 0.08}
UNIFORM_R = {"recurrent": "uniform", "recurrent_scale": 0.08}
# the gated cells of the curse: name -> (preset, the parameter holding the memory gate's bias)
CURSE_CELLS = {"lstm": ("lstm", "b_f"), "lstm_cifg": ("lstm_cifg", "b_i"), "gru": ("gru", "b_u")}


def _recurrent(params: dict[str, Any], hidden: int) -> list[np.ndarray]:
    """The recurrent matrices of one draw (the H x H ones)."""
    return [np.asarray(v) for v in params.values() if np.ndim(v) == 2 and np.shape(v) == (hidden, hidden)]


def _radius(net: Any, keys: jax.Array, hidden: int, draws: int = 3) -> float:
    """Largest spectral radius among the recurrent matrices, averaged over the first draws."""
    radii = [
        max(float(np.max(np.abs(np.linalg.eigvals(m)))) for m in _recurrent(net.init(k), hidden))
        for k in keys[:draws]
    ]
    return float(np.mean(radii))


def growth(cfg: dict[str, Any], inits: tuple[tuple[str, float], ...], key: jax.Array) -> list[dict[str, Any]]:
    """One row per cell, initialisation and size: the share of draws whose Jacobian product
    grows, with its interval, the exponents' mean and standard deviation, and rho(R)."""
    from models import make_model

    rows = []
    for cell in cfg["cells"]:
        for kind, scale in inits:
            for hidden in cfg["sizes"]:
                init = {**PROTOCOL_INIT, "recurrent": kind, "recurrent_scale": scale}
                net = make_model(cell, 2, 1, hidden=hidden, init=init)
                g = jacobian_growth.growth_share(net, cfg["draws"], cfg["length"], key, cfg["sequences"])
                rows.append(
                    {
                        "cell": cell,
                        "init": kind,
                        "scale": scale,
                        "hidden": hidden,
                        "rho": _radius(net, jacobian_growth.draw_keys(key, cfg["draws"]), hidden),
                        "mean_exponent": float(np.mean(g.exponents)),
                        "sd_exponent": float(np.std(g.exponents, ddof=1)) if g.draws > 1 else math.nan,
                        "growing": g.growing,
                        "draws": g.draws,
                        "lo": g.lo,
                        "hi": g.hi,
                    }
                )
    return rows


def _fit(gaps: list[float], values: list[float]) -> dict[str, float]:
    ok = [(g, v) for g, v in zip(gaps, values, strict=True) if g > 0 and v > 0 and np.isfinite(v)]
    if len(ok) < 3:
        return {"exponent": math.nan, "lo": math.nan, "hi": math.nan, "points": len(ok)}
    fit = memory_curse.power_law(np.array([g for g, _ in ok]), np.array([v for _, v in ok]))
    return fit._asdict()


def linear(cfg: dict[str, Any], key: jax.Array) -> dict[str, Any]:
    """The linear recurrence, unnormalised and normalised: per 1 - lam, the Monte Carlo
    estimate with its interval and the closed form; the exponents of both, fitted."""
    out: dict[str, Any] = {}
    for normalise in (False, True):
        points = []
        for i, gap in enumerate(cfg["gaps"]):
            lam = 1.0 - gap
            est = memory_curse.sensitivity(
                lam,
                math.ceil(8 / gap),
                cfg["sequences"],
                jax.random.fold_in(key, i + 100 * normalise),
                normalise,
            )
            points.append(
                {
                    "gap": gap,
                    "mean": est.mean,
                    "lo": est.lo,
                    "hi": est.hi,
                    "closed_form": memory_curse.stationary(lam, normalise),
                }
            )
        gaps = [p["gap"] for p in points]
        out["normalised" if normalise else "plain"] = {
            "points": points,
            "fit": _fit(gaps, [p["mean"] for p in points]),
            "closed_form_fit": _fit(gaps, [p["closed_form"] for p in points]),
        }
    return out


def _memory_gate(name: str, net: Any, params: dict[str, Any], x: jax.Array) -> tuple[float, float]:
    """The mean memory gate (f; the CIFG's 1 - i; the GRU's u) over the sequences' steps and
    units, and the mean of g (1 - g), the sigmoid's slope there."""
    _, states = net.apply(params, x)
    h = states[0][0]  # [T, B, H]
    h_prev = jnp.concatenate([jnp.zeros_like(h[:1]), h[:-1]], axis=0)
    gate = {"lstm": "f", "lstm_cifg": "i", "gru": "u"}[name]
    x_TBD = jnp.swapaxes(x, 0, 1)
    pre = x_TBD @ params[f"W_{gate}"] + h_prev @ params[f"R_{gate}"] + params[f"b_{gate}"]
    if name == "lstm_cifg":  # peepholes are set to 0 for this probe: i reads no c
        pre = -pre
    g = jax.nn.sigmoid(pre)  # the memory gate itself (f = 1 - i for the CIFG)
    return float(jnp.mean(g)), float(jnp.mean(g * (1 - g)))


def _output_slope(name: str, net: Any, params: dict[str, Any], x: jax.Array) -> float | None:
    """The LSTMs' mean slope of tanh at the last cell state, 1 - tanh(c_T)^2 (over units and
    sequences): how far the output h_T = o tanh(c_T) passes on a change of the carousel's
    state. None for the GRU, whose state is its output."""
    if name == "gru":
        return None
    _, states = net.apply(params, x)
    c_last = states[0][1][-1]  # [B, H]
    return float(jnp.mean(1.0 - jnp.tanh(c_last) ** 2))


def gated(cfg: dict[str, Any], key: jax.Array) -> dict[str, Any]:
    """Per gated cell and memory bias b: the mean memory gate, the sigmoid's slope, the
    length, and every parameter's sensitivity (mean with its interval); per cell and
    parameter, the exponent against 1 - (mean gate)."""
    from models import make_model

    out: dict[str, Any] = {}
    for name, (preset, bias) in CURSE_CELLS.items():
        points = []
        for b in cfg["biases"]:
            nominal = 1.0 / (1.0 + math.exp(-b))
            length = min(math.ceil(8 / (1 - nominal)), cfg["max_length"])
            init = {**PROTOCOL_INIT, **UNIFORM_R}
            net = make_model(preset, 1, 1, hidden=cfg["hidden"], init=init)
            params = dict(net.init(jax.random.fold_in(key, 1)))
            # the memory gate's bias at b (the CIFG's f = 1 - i: its input-gate bias at -b)
            params[bias] = jnp.full_like(params[bias], -b if name == "lstm_cifg" else b)
            for peep in ("p_i", "p_o"):
                if peep in params:
                    params[peep] = jnp.zeros_like(params[peep])
            x = jax.random.normal(jax.random.fold_in(key, 2), (cfg["sequences"], length, 1), jnp.float32)
            gate, slope = _memory_gate(name, net, params, x)
            out_slope = _output_slope(name, net, params, x)
            sens = memory_curse.carousel_sensitivity(net, params, x)
            state = memory_curse.carousel_sensitivity(net, params, x, of="state")
            points.append(
                {
                    "bias": b,
                    "length": length,
                    "gate": gate,
                    "slope": slope,
                    "output_slope": out_slope,
                    "sensitivity": {k: v._asdict() for k, v in sens.items()},
                    "state_sensitivity": {k: v._asdict() for k, v in state.items()},
                }
            )
        out[name] = {
            "bias_param": bias,
            "points": points,
            "fits": _fits(points, "sensitivity", bias),
            "state_fits": _fits(points, "state_sensitivity", bias),
        }
    return out


def _fits(points: list[dict[str, Any]], key: str, bias: str) -> dict[str, dict[str, float]]:
    """Per parameter, the exponent of ``key``'s sensitivity against 1 - (mean gate); ``gate``:
    the sensitivity to the gate's value itself (the bias's over the sigmoid's slope^2)."""
    gaps = [1.0 - p["gate"] for p in points]
    fits = {n: _fit(gaps, [p[key][n]["mean"] for p in points]) for n in sorted(points[0][key])}
    fits["gate"] = _fit(gaps, [p[key][bias]["mean"] / p["slope"] ** 2 for p in points])
    return fits


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """Every measurement of one configuration (:data:`benchmarks.studies.explode_measures.SCALES`)."""
    key = jax.random.key(0)
    return {
        "growth": growth(cfg["growth"], cfg["inits"], jax.random.fold_in(key, 1)),
        "growth_length": cfg["growth"]["length"],
        "linear": linear(cfg["linear"], jax.random.fold_in(key, 2)),
        "gated": gated(cfg["curse"], jax.random.fold_in(key, 3)),
        "hidden_curse": cfg["curse"]["hidden"],
    }
