"""Why do LSTMs still explode? The constant error carousel against the recurrent matrices.

The accepted answer (Hochreiter & Schmidhuber 1997; Greff et al. 2015, App. A.2; the reason
Sutskever et al. 2014 clip LSTM gradients at norm 5): the cell state's additive update
passes error back unchanged while the forget gate is near 1, but every other path between
two steps crosses a recurrent matrix R_z, R_i, R_f or R_o once per step, as in a vanilla
RNN, and can vanish or explode; and the bigger the net, the more probable an explosion.

Protocol (Sutskever et al. 2014's optimisation, on a long-dependency task): the adding
problem in Pascanu et al.'s variant at T=100 (``cpu``; 200 at ``paper``), plain SGD at
learning rate 0.7, every weight drawn from U[-0.08, 0.08], no early stop (every seed trains
every step, so event rates are per trained step). Factors, each its own sweep:

- ``size``: hidden size for the LSTM, the LSTM without forget gate, a tanh RNN and a GRU,
  recurrent weights U[-0.08, 0.08] (their spectral radius grows like 0.08 sqrt(H/3));
- ``clip``: clipping the batch-averaged gradient's global norm at 5 (Sutskever) or 1
  (Pascanu) for the LSTM and the RNN, small and large;
- ``radius``: orthogonal recurrent matrices scaled to spectral radius rho;
- ``forget_bias``: the LSTM's initial forget-gate bias 0 and 3 (1 comes from ``size``).

Measured per run (from the store): exploding events (a global gradient norm above 10x
the median of the preceding 100 steps, or non-finite) per 1,000 trained steps and the
share of seeds with one; quantiles of the global and per-matrix gradient norms; loss
spikes within 10 steps after an event; ||dL/dc_t|| against the lag and the share of it
carried by the CEC and by each R_g family at lags 10, 50, 90 (the exact path split);
spectral radius and largest singular value of every recurrent matrix over training;
success rate with its 95% Wilson interval.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.analysis.figures import study_why_lstm_explodes
from benchmarks.studies.base import Claim, Grid, RunRecord, Study

LAGS = (10, 50, 90)
SQRT_F32_MAX = float(
    np.sqrt(np.finfo(np.float32).max)
)  # 1.84e19: sqrt(sum g^2) of raw float32 overflows past it
MODELS = "lstm,lstm_nofg,rnn,gru"
SPIKE_FACTOR, SPIKE_WINDOW, SPIKE_AFTER = 3.0, 100, 10
UNIFORM = tuple(
    f"model.init.{w}={v}"
    for w, v in (("input", "uniform"), ("input_scale", 0.08), ("readout", "uniform"), ("readout_scale", 0.08))
)
UNIFORM_R = ("model.init.recurrent=uniform", "model.init.recurrent_scale=0.08")


def _protocol(length: int, steps: int, seeds: int, batch: int, every: int) -> tuple[str, ...]:
    return (
        "task=adding",
        "task.variant=pascanu2013",
        f"task.length={length}",
        "optim=sgd",
        "optim.lr=0.7",
        "optim.clip=none",
        f"seeds={seeds}",
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        f"train.eval_every={min(100, steps)}",
        "train.eval_size=1000",
        "train.stop_when_solved=false",
        "logger=none",
        "diagnostics=full",
        f"diagnostics.every={every}",
        "diagnostics.batch_size=16",
        "diagnostics.jacobian_sequences=1",
        "diagnostics.lyapunov_k=4",
        *UNIFORM,
    )


def _grids(base: tuple[str, ...], **f: str) -> tuple[Grid, ...]:
    """The four grids over the factor values ``f`` (comma lists, as Hydra takes them)."""
    return (
        Grid("size", (*base, f"model={f['models']}", f"model.hidden={f['sizes']}", *UNIFORM_R)),
        Grid(
            "clip",
            (
                *base,
                f"model={f['clip_models']}",
                f"model.hidden={f['clip_sizes']}",
                "optim.clip=global_norm",
                f"optim.clip_value={f['clips']}",
                *UNIFORM_R,
            ),
        ),
        Grid(
            "radius",
            (
                *base,
                f"model={f['radius_models']}",
                f"model.hidden={f['radius_size']}",
                "model.init.recurrent=orthogonal",
                f"model.init.recurrent_scale={f['radii']}",
            ),
        ),
        Grid(
            "forget_bias",
            (
                *base,
                "model=lstm",
                f"model.hidden={f['fb_size']}",
                f"model.forget_bias={f['biases']}",
                *UNIFORM_R,
            ),
        ),
    )


SCALES = {
    "smoke": _grids(
        _protocol(20, 20, 2, 8, 20),
        models="lstm,lstm_nofg",
        sizes="8,16",
        clip_models="lstm",
        clip_sizes="16",
        clips="5",
        radius_models="lstm",
        radius_size="8",
        radii="0.5,1.5",
        fb_size="16",
        biases="3",
    ),
    "cpu": _grids(
        _protocol(100, 300, 4, 20, 300),
        models=MODELS,
        sizes="32,64,128,256",
        clip_models="lstm,rnn",
        clip_sizes="64,256",
        clips="5,1",
        radius_models=MODELS,
        radius_size="64",
        radii="0.5,1.0,1.5,2.0",
        fb_size="128",
        biases="0,3",
    ),
    "paper": _grids(
        _protocol(200, 5000, 10, 128, 1000),
        models=MODELS,
        sizes="32,64,128,256,512",
        clip_models="lstm,rnn",
        clip_sizes="64,512",
        clips="5,1",
        radius_models=MODELS,
        radius_size="64",
        radii="0.5,0.8,1.0,1.2,1.5,2.0",
        fb_size="256",
        biases="0,3",
    ),
}
# The paper scale's cheapest row (:attr:`Study.unfit`, measured by --costs for the faithful
# scale, not defined yet): the smallest net of the size sweep, the tanh RNN at hidden 32.
CHEAPEST = (
    Grid(
        "size_rnn_32",
        tuple(
            "model=rnn"
            if o.startswith("model=")
            else "model.hidden=32"
            if o.startswith("model.hidden=")
            else o
            for o in SCALES["paper"][0].overrides
        ),
    ),
)
SCALE_NOTES = {
    "smoke": "T=20, 20 steps, 2 seeds, hidden 8-16: checks the pipeline, too small to tell anything",
    "faithful": (
        "not defined yet: this study's sweeps are being rebuilt (controlled R-path products, the "
        "curse of memory, the truncated rule against full BPTT, a success axis), and its faithful "
        "scale will hold the rebuilt paper scale's rows that fit about three hours on 2 cores. Rows "
        "do fit: today's cheapest (the tanh RNN at hidden 32, T=200, batch 128, 5,000 steps, 10 "
        "seeds, full diagnostics) takes 3.1 min here (--costs why_lstm_explodes --scale faithful)"
    ),
    "cpu": "T=100, 300 steps, 4 seeds, batch 20, hidden 32-256: about 30 minutes on 2 CPU cores",
    "paper": "T=200, 5,000 steps, 10 seeds, batch 128 (Sutskever et al.), hidden 32-512: a GPU or a cluster",
}


# ---------------------------------------------------------------------------- per run


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x[np.isfinite(x)]


def _quantiles(x: np.ndarray) -> dict[str, float]:
    x = _finite(x)
    if not x.size:
        return {"p50": math.nan, "p90": math.nan, "p99": math.nan, "max": math.nan}
    p50, p90, p99 = np.quantile(x, [0.5, 0.9, 0.99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "max": float(x.max())}


def loss_spikes(loss: np.ndarray) -> np.ndarray:
    """Boolean [steps, seeds]: a loss above SPIKE_FACTOR x the median of the preceding
    SPIKE_WINDOW finite losses, or a non-finite loss at a trained step."""
    loss = np.asarray(loss, np.float64)
    spikes = np.zeros(loss.shape, bool)
    for s in range(10, loss.shape[0]):
        past = loss[max(0, s - SPIKE_WINDOW) : s]
        with np.errstate(all="ignore"):
            med = np.array([np.median(_finite(col)) if _finite(col).size else np.nan for col in past.T])
        spikes[s] = np.isfinite(med) & (loss[s] > SPIKE_FACTOR * med)
    return spikes


def event_stats(grad_norms: dict[str, np.ndarray]) -> dict[str, Any]:
    """Exploding events per 1,000 trained steps, the share of seeds with one, and the
    share of events followed by a loss spike within SPIKE_AFTER steps."""
    if "explode" not in grad_norms:
        return {"events_per_1000": math.nan, "seeds_with_event": math.nan, "events_with_spike": math.nan}
    events = np.asarray(grad_norms["explode"], bool)
    trained = np.isfinite(grad_norms["loss"]) | events  # an event step always trained
    spikes = loss_spikes(grad_norms["loss"])
    hits = 0
    for s, seed in zip(*np.nonzero(events), strict=True):
        hits += bool(spikes[s : s + SPIKE_AFTER + 1, seed].any())
    n_events = int(events.sum())
    return {
        "events": n_events,
        "events_per_1000": 1000.0 * n_events / max(int(trained.sum()), 1),
        "seeds_with_event": float(events.any(axis=0).mean()),
        "events_with_spike": hits / n_events if n_events else math.nan,
    }


def past_sqrt_max(global_norm: np.ndarray) -> int:
    """Seeds whose global gradient norm was finite and above sqrt(float32 max) = 1.84e19 at
    some step: those whose norm sqrt(sum g^2) of the raw gradient read inf, and which were
    recorded as diverged there before norms were scaled (:func:`models.linalg.tree_norm`)."""
    g = np.asarray(global_norm, np.float64)
    if g.ndim != 2:
        return 0
    return int(np.sum(np.any(np.isfinite(g) & (g > SQRT_F32_MAX), axis=0)))


def overflow_to_divergence(grad_norms: dict[str, np.ndarray], summary: dict[str, Any]) -> list[int]:
    """For each diverged seed whose finite global norm passed sqrt(float32 max) before: the
    steps from the first such norm (where raw sqrt(sum g^2) read inf, and the seed was
    recorded as diverged before norms were scaled) to its first non-finite number."""
    if "global" not in grad_norms or "step" not in grad_norms:
        return []
    g, steps = np.asarray(grad_norms["global"], np.float64), np.asarray(grad_norms["step"])
    out = []
    for i, seed in enumerate(summary["seeds"]):
        past = np.nonzero(np.isfinite(g[:, i]) & (g[:, i] > SQRT_F32_MAX))[0]
        if seed["diverged_at"] is not None and past.size:
            out.append(int(seed["diverged_at"] - steps[past[0]]))
    return out


def _last_step(total: np.ndarray) -> int:
    """The last time step that reaches the loss (padding after it has zero gradient)."""
    nz = np.nonzero(total > 0)[0]
    return int(nz[-1]) if nz.size else total.shape[-1] - 1


def path_shares(diag: dict[str, np.ndarray], k: int) -> dict[str, dict[str, float]]:
    """At measurement k: per family, mean over seeds of ||part_t|| / ||dL/dc_t|| at each lag
    (an underflowed part, stored as 0, has share 0)."""
    if "path.total" not in diag:
        return {}
    total = np.asarray(diag["path.total"][k], np.float64)  # [seeds, T]
    out: dict[str, dict[str, float]] = {}
    families = [
        key[len("path.") :]
        for key in diag
        if key.startswith("path.") and key not in ("path.total", "path.residual")
    ]
    for name in families:
        part = np.asarray(diag[f"path.{name}"][k], np.float64)
        shares = {}
        for lag in LAGS:
            vals = []
            for s in range(total.shape[0]):
                t = _last_step(total[s]) - lag
                if t >= 0 and total[s, t] > 0 and np.isfinite(total[s, t]) and np.isfinite(part[s, t]):
                    vals.append(part[s, t] / total[s, t])
            shares[str(lag)] = float(np.mean(vals)) if vals else math.nan
        out[name] = shares
    return out


def _profile(diag: dict[str, np.ndarray], key: str, k: int) -> list[float]:
    """Seed mean of a [K, seeds, T] array at measurement k, against the lag (index = lag)."""
    a = np.asarray(diag[key][k], np.float64)
    total = np.asarray(diag["path.total"][k] if "path.total" in diag else diag["grad_h"][k], np.float64)
    rows = []
    for s in range(a.shape[0]):
        last = _last_step(total[s])
        rows.append(a[s, : last + 1][::-1])
    n = min(len(r) for r in rows)
    return [float(v) for v in np.mean([r[:n] for r in rows], axis=0)]


def growth_per_step(profile: list[float], lo: int = 10, hi: int = 90) -> float:
    """Least-squares slope of log(norm) against the lag over [lo, hi] (per step; > 0 when
    the norm grows going back in time); NaN with fewer than 3 positive points."""
    y = np.asarray(profile[lo : hi + 1], np.float64)
    lag = np.arange(lo, lo + y.size)
    ok = y > 0
    if ok.sum() < 3:
        return math.nan
    return float(np.polyfit(lag[ok], np.log(y[ok]), 1)[0])


def _paths_at(diag: dict[str, np.ndarray], k: int, when: str) -> dict[str, Any]:
    """The path split at measurement k: shares at the lags, the total, CEC and dominant
    recurrent-matrix profiles against the lag, and the dominant one's growth per step (the
    dominant family is the R_g path with the largest norm at the longest lag that has one)."""
    parts = {key[len("path.") :]: _profile(diag, key, k) for key in diag if key.startswith("path.R_")}

    def at_lag(name: str) -> float:
        profile = parts[name]
        value = profile[min(LAGS[-1], len(profile) - 1)]
        return value if np.isfinite(value) else -1.0

    top = max(parts, key=at_lag, default=None)
    return {
        f"shares_{when}": path_shares(diag, k),
        f"grad_c_{when}": _profile(diag, "path.total", k),
        f"cec_profile_{when}": _profile(diag, "path.cec", k),
        f"dominant_{when}": top,
        f"dominant_profile_{when}": parts[top] if top else [],
        f"dominant_growth_{when}": growth_per_step(parts[top]) if top else math.nan,
    }


def run_row(r: RunRecord) -> dict[str, Any]:
    """Everything the study reads from one run."""
    diag, norms = r.diagnostics, r.grad_norms
    s = r.summary
    recurrent = sorted(k[len("spectral_radius.") :] for k in diag if k.startswith("spectral_radius."))
    row: dict[str, Any] = {
        "run": str(r.path),
        "model": r.get("model.name"),
        "hidden": r.get("model.hidden"),
        "init": r.get("model.init.recurrent"),
        "init_scale": r.get("model.init.recurrent_scale"),
        "forget_bias": r.get("model.forget_bias") if str(r.get("model.name")).startswith("lstm") else None,
        "clip": "none"
        if r.get("optim.clip") == "none"
        else f"{r.get('optim.clip')}@{r.get('optim.clip_value')}",
        "seeds": s["n_seeds"],
        "solved": s["n_solved"],
        "diverged": s["n_diverged"],
        "success_rate": s["success_rate"],
        "ci95": s["ci95"],
        **event_stats(norms),
        "global_norm": _quantiles(norms.get("global", np.array([]))),
        "seeds_norm_past_sqrt_max": past_sqrt_max(norms.get("global", np.zeros((0, 0)))),
        "steps_past_sqrt_max_to_divergence": overflow_to_divergence(norms, s),
        "matrix_norm": {m: _quantiles(norms[m]) for m in recurrent if m in norms},
    }
    if diag:
        row["steps_measured"] = [int(x) for x in diag["step"]]
        row["rho0"] = float(max(np.mean(diag[f"spectral_radius.{m}"][0]) for m in recurrent))
        row["spectral_radius"] = {
            m: np.mean(diag[f"spectral_radius.{m}"], axis=1).tolist() for m in recurrent
        }
        row["sigma_max"] = {m: np.mean(diag[f"sigma_max.{m}"], axis=1).tolist() for m in recurrent}
        if "path.total" in diag:
            for when, k in (("init", 0), ("final", -1)):
                row.update(_paths_at(diag, k, when))
    return row


# ---------------------------------------------------------------------------- the study


def analyse(records: list[RunRecord]) -> dict[str, Any]:
    """One row per run, and the slices each panel and claim reads."""
    rows = sorted(
        (run_row(r) for r in records), key=lambda r: (r["model"], r["clip"], r["init"], r["hidden"])
    )
    uniform = [r for r in rows if r["init"] == "uniform" and (r["forget_bias"] in (None, 1.0))]
    by_size = {
        f"{m}/{c}": sorted(
            (
                {
                    "hidden": r["hidden"],
                    **{
                        k: r[k]
                        for k in ("events_per_1000", "seeds_with_event", "rho0", "diverged", "global_norm")
                    },
                }
                for r in uniform
                if r["model"] == m and r["clip"] == c
            ),
            key=lambda x: x["hidden"],
        )
        for m, c in sorted({(r["model"], r["clip"]) for r in uniform})
    }
    by_radius = {
        m: sorted(
            (
                {
                    "rho": r["init_scale"],
                    **{k: r[k] for k in ("events_per_1000", "seeds_with_event", "diverged")},
                }
                for r in rows
                if r["model"] == m and r["init"] == "orthogonal" and r["clip"] == "none"
            ),
            key=lambda x: x["rho"],
        )
        for m in sorted({r["model"] for r in rows if r["init"] == "orthogonal"})
    }
    size_runs: dict[str, list[int]] = {}  # model/clip -> indices into rows, smallest H first
    for i, r in enumerate(rows):
        if r["init"] == "uniform" and r["forget_bias"] in (None, 1.0):
            size_runs.setdefault(f"{r['model']}/{r['clip']}", []).append(i)  # rows are sorted by H
    return {
        "lags": list(LAGS),
        "runs": rows,
        "by_size": by_size,
        "by_radius": by_radius,
        "size_runs": size_runs,
        "largest": {key: indices[-1] for key, indices in size_runs.items()},
    }


def largest(result: dict[str, Any], model: str, clip: str = "none") -> dict[str, Any] | None:
    """The size sweep's largest run of ``model`` with ``clip`` (forget bias 1), which the
    claims, the paragraph and the figure read; None if the sweep has none."""
    index = result["largest"].get(f"{model}/{clip}")
    return None if index is None else result["runs"][index]


def _pick(result: dict[str, Any], **where: Any) -> list[dict[str, Any]]:
    return [r for r in result["runs"] if all(r.get(k) == v for k, v in where.items())]


def _sci(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.1e}"


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


def _share(row: dict[str, Any] | None, family: str, lag: int, when: str = "init") -> float:
    if not row or f"shares_{when}" not in row:
        return math.nan
    value = row[f"shares_{when}"].get(family, {}).get(str(lag), math.nan)
    return math.nan if value is None else value


def _unclipped_lstms(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The unclipped LSTMs of the size sweep (forget bias 1), smallest first."""
    return [result["runs"][i] for i in result["size_runs"].get("lstm/none", [])]


def _claim_size(result: dict[str, Any], small: bool) -> Claim | None:
    lstm = _unclipped_lstms(result)
    if len(lstm) < 2:
        return None
    lo, hi = lstm[0], lstm[-1]
    verdict = "agrees" if hi["seeds_with_event"] - lo["seeds_with_event"] > 0.25 else "disagrees"
    reason = (
        "difference above 25 points of seeds" if verdict == "agrees" else "no increase of 25 points or more"
    )
    return Claim(
        "Without clipping, bigger LSTMs explode more often",
        "Sutskever et al. 2014 clip at norm 5; 'the bigger the net, the more probable'",
        "more exploding events at larger H",
        f"seeds with an event: H={lo['hidden']} {_pct(lo['seeds_with_event'])}, "
        f"H={hi['hidden']} {_pct(hi['seeds_with_event'])} "
        f"({lo['events_per_1000']:.1f} vs {hi['events_per_1000']:.1f} per 1,000 steps)",
        "not comparable" if small else verdict,
        "smoke scale: too few steps and seeds" if small else reason,
    )


def _claim_paths(result: dict[str, Any], small: bool) -> Claim | None:
    top, nofg = largest(result, "lstm"), largest(result, "lstm_nofg")
    if not (top and nofg and "shares_init" in top and "shares_init" in nofg):
        return None
    lag = LAGS[-1]
    r_top = top.get("dominant_init") or "R_z"
    r_share, cec_fg, cec_nofg = _share(top, r_top, lag), _share(top, "cec", lag), _share(nofg, "cec", lag)
    if small or not (np.isfinite(r_share) and np.isfinite(cec_fg)):
        verdict = "not comparable"
        reason = "smoke scale: T=20 is shorter than the lag" if small else "no finite split at that lag"
    else:
        ok = r_share > 10 * cec_fg and cec_nofg > cec_fg
        verdict = "agrees" if ok else "disagrees"
        reason = (
            "the R path carries over 10x the CEC part, and the CEC keeps more without the forget gate"
            if ok
            else "the CEC part is not 10x below the R path, or no larger without the forget gate"
        )
    return Claim(
        "At long lags dL/dc_t is carried by the recurrent-matrix paths, not the CEC, once f < 1",
        "Greff et al. 2015, App. A.2; Hochreiter & Schmidhuber 1997",
        "CEC share decays with the forget gates; R_g paths multiply by R_g once per step",
        f"lag {lag}, H={top['hidden']}, at initialisation: {r_top} path {_pct(r_share)} of "
        f"||dL/dc_t||, CEC {_sci(cec_fg)}; without forget gate CEC {_sci(cec_nofg)}",
        verdict,
        reason,
    )


def _claim_clipping(result: dict[str, Any], small: bool) -> Claim | None:
    clipped = [r for r in result["runs"] if r["clip"] != "none" and r["model"] == "lstm"]
    free = [r for r in _unclipped_lstms(result) if r["hidden"] in {c["hidden"] for c in clipped}]
    if not (clipped and free):
        return None
    div_free = sum(r["diverged"] for r in free) / max(sum(r["seeds"] for r in free), 1)
    div_clip = sum(r["diverged"] for r in clipped) / max(sum(r["seeds"] for r in clipped), 1)
    ok = div_clip <= div_free
    if small:
        verdict, reason = "not comparable", "smoke scale"
    elif div_free == 0:
        verdict, reason = "not comparable", "no unclipped seed diverged, so clipping had nothing to prevent"
    else:
        verdict = "agrees" if ok else "disagrees"
        reason = "fewer or equal divergences with clipping" if ok else "more divergences with clipping"
    return Claim(
        "Clipping the gradient norm keeps exploding LSTMs trainable",
        "Sutskever et al. 2014 (norm 5); Pascanu et al. 2013 (threshold 1)",
        "clipped runs do not diverge where unclipped ones do",
        f"diverged seeds: unclipped {_pct(div_free)}, clipped {_pct(div_clip)} (same sizes)",
        verdict,
        reason,
    )


def claims(result: dict[str, Any], scale: str) -> list[Claim]:
    """The accepted answer, claim by claim, against this run's numbers."""
    made = (f(result, scale == "smoke") for f in (_claim_size, _claim_paths, _claim_clipping))
    return [c for c in made if c is not None]


def paragraph(result: dict[str, Any]) -> str:
    """The answer in one paragraph, with this run's numbers filled in."""
    lstm = _unclipped_lstms(result)
    if not lstm:
        return "No unclipped LSTM run with the uniform initialisation was found."
    lo, hi = lstm[0], lstm[-1]
    rnn, nofg = largest(result, "rnn"), largest(result, "lstm_nofg")
    lag = LAGS[-1]
    top = hi.get("dominant_init") or "R_z"
    text = (
        f"At H={hi['hidden']} without clipping, {_pct(hi['seeds_with_event'])} of LSTM seeds had an "
        f"exploding event ({hi['events_per_1000']:.1f} per 1,000 steps; largest gradient norm "
        f"{hi['global_norm']['max']:.3g} against a median of {hi['global_norm']['p50']:.3g}), against "
        f"{_pct(lo['seeds_with_event'])} at H={lo['hidden']}, and {hi['diverged']} of {hi['seeds']} "
        f"seeds diverged; the recurrent matrices' spectral radius at initialisation was "
        f"{hi.get('rho0', math.nan):.2f} against {lo.get('rho0', math.nan):.2f}. "
        f"At lag {lag} at initialisation the {top} path carried {_pct(_share(hi, top, lag))} of "
        f"||dL/dc_t|| and the CEC {_sci(_share(hi, 'cec', lag))} of it"
    )
    if nofg:
        text += (
            f"; without a forget gate the CEC carried {_sci(_share(nofg, 'cec', lag))} (H={nofg['hidden']})"
        )
    text += "."
    if rnn:
        text += (
            f" The tanh RNN at H={rnn['hidden']}: {_pct(rnn['seeds_with_event'])} of seeds with an event, "
            f"{rnn['diverged']} of {rnn['seeds']} diverged."
        )
    clipped = [
        r for r in _pick(result, model="lstm", init="uniform", hidden=hi["hidden"]) if r["clip"] != "none"
    ]
    for r in clipped:
        text += (
            f" Clipped ({r['clip'].replace('global_norm@', 'norm ')}), {r['diverged']} of {r['seeds']} "
            f"LSTM seeds at H={hi['hidden']} diverged."
        )
    growth = hi.get("dominant_growth_init", math.nan)
    if np.isfinite(growth):
        text += (
            f" At initialisation the dominant path's norm changes by a factor {math.exp(growth):.3f} per "
            f"step of lag, as a vanilla RNN's gradient does through its recurrent matrix."
        )
    return text


TABLE_HEAD = (
    "| model | H | recurrent init | clip | seeds with an event | events / 1,000 trained steps | diverged"
    " | finite norm > 1.8e19 | rho(R) at init | max gradient norm"
    " | CEC share of dL/dc_t at lag 10 / 50 / 90 (init) |"
)


def _table_row(r: dict[str, Any]) -> str:
    model = (
        r["model"] if r["forget_bias"] in (None, 1.0) else f"{r['model']}, forget bias {r['forget_bias']:g}"
    )
    init = "U[-0.08, 0.08]" if r["init"] == "uniform" else f"{r['init']} x {r['init_scale']:g}"
    clip = r["clip"].replace("global_norm@", "norm ")
    shares = " / ".join(_sci(_share(r, "cec", lag)) for lag in LAGS) if "shares_init" in r else "-"
    cells = (
        model,
        str(r["hidden"]),
        init,
        clip,
        _pct(r["seeds_with_event"]),
        f"{r['events_per_1000']:.1f}",
        f"{r['diverged']}/{r['seeds']}",
        f"{r['seeds_norm_past_sqrt_max']}/{r['seeds']}",
        f"{r.get('rho0', math.nan):.2f}",
        f"{r['global_norm']['max']:.2g}",
        shares,
    )
    return "| " + " | ".join(cells) + " |"


def table(result: dict[str, Any]) -> str:
    """Every run as one Markdown row: uniform initialisation first, clipped before
    unclipped, then by model, forget bias and size. ``finite norm > 1.8e19``: seeds whose
    finite global gradient norm passed sqrt(float32 max) (:func:`past_sqrt_max`)."""
    rows = sorted(
        result["runs"],
        key=lambda r: (
            r["init"] != "uniform",
            r["clip"] == "none",
            r["model"],
            r["forget_bias"] or 1.0,
            r["hidden"],
            r["init_scale"],
        ),
    )
    return "\n".join([TABLE_HEAD, "|" + "---|" * (TABLE_HEAD.count("|") - 1), *map(_table_row, rows)])


def overflow_sentence(result: dict[str, Any]) -> str:
    """How many divergences a raw sqrt(sum g^2) would have called early, and how early."""
    runs = result["runs"]
    diverged = sum(r["diverged"] for r in runs)
    gaps = [g for r in runs for g in r.get("steps_past_sqrt_max_to_divergence", [])]
    if not diverged:
        return "No seed diverged."
    text = (
        f"{diverged} of {sum(r['seeds'] for r in runs)} seeds diverged (a non-finite loss, gradient"
        f" element or parameter); {len(gaps)} of them first had a finite gradient norm above"
        f" sqrt(float32 max) = 1.8e19, where an unscaled norm reads inf"
    )
    if gaps:
        text += (
            f", and their first non-finite number came {min(gaps)} to {max(gaps)} steps later"
            f" (median {float(np.median(gaps)):g})"
        )
    return text + "."


def answer(result: dict[str, Any]) -> str:
    """The paragraph, the divergences against norm overflows, then the table of every run
    (``answer.md``)."""
    return paragraph(result) + " " + overflow_sentence(result) + "\n\n" + table(result)


def figure(result: dict[str, Any], out: Path) -> list[Path]:
    return study_why_lstm_explodes.figure(result, out, largest=largest)


STUDY = Study(
    name="why_lstm_explodes",
    title="Why do LSTMs still explode?",
    source="Sutskever et al. 2014 (clipping at 5); Greff et al. 2015 App. A.2 (paths); Pascanu et al. 2013",
    scales=SCALES,
    scale_notes=SCALE_NOTES,
    unfit={"faithful": CHEAPEST},
    analyse=analyse,
    claims=claims,
    figure=figure,
    paragraph=answer,
)
