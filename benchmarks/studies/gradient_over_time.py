"""The gradient-over-time figure: ||dL/dh_t|| against the lag, at initialisation and after
training, on the adding problem (Arjovsky, Shah & Bengio 2016).

Arjovsky et al. plot the norm of the loss gradient with respect to each hidden state at
initialisation and after 100 iterations on the adding problem. The qualitative reading this
study tests: the tanh RNN's gradient decays exponentially with the distance from the loss,
the LSTM's far more slowly. The paper's exact values (and which T and sizes the figure used)
are not read here (figure only); its models are run in this suite's versions (RNN, LSTM,
LSTM without forget gate, GRU) with the adding protocol of ``arjovsky2016`` (RMSProp lr
0.001, batch 20, element-wise clipping at 1, 128 units) and the suite's initialisation
(orthogonal recurrent weights, LSTM forget-gate bias 1), which need not be the paper's.

Measured (``diagnostics=basic``, one-step chunks): ``grad_time.npz``'s ``grad_h`` [update,
seed, t], the training batch's mean of ||dL/dh_t|| (20 sequences), at the initial
parameters and after 100 updates (the paper's 100 iterations). The x-axis is the lag
T-1-t (the steps between t and the loss). Per seed, the decay rate is the least-squares
slope of log ||dL/dh|| against the lag over lags [0.1 T, 0.9 T] (per step; negative when
the norm shrinks going back in time); the study reports its mean over seeds with the 95%
Student-t interval.

Margins. "Decays exponentially" means a rate whose interval's upper end is below
-:data:`DECAY_MARGIN` = -ln(10)/100 per step (at least a factor 10 per 100 steps of lag);
"far more slowly" means the LSTM's rate exceeds the RNN's by more than the same margin
across both intervals (lower end of the LSTM's minus upper end of the RNN's).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import store
from benchmarks.analysis.figures import study_gradient_over_time
from benchmarks.stats import decay_rate, mean_interval
from benchmarks.studies.base import Claim, Grid, RunRecord, Study

DECAY_MARGIN = math.log(10) / 100
MODELS = ("rnn", "lstm", "lstm_nofg", "gru")
FIGURE_SOURCE = (
    "Arjovsky et al. 2016, gradient-norm figure (||dL/dh_t|| at init and after 100 iterations, adding)"
)


def _grid(models: str, length: int, hidden: int, seeds: int, steps: int) -> Grid:
    """Train ``steps`` updates; one-step chunks (``train.eval_every=1``) make grad_time.npz
    hold ||dL/dh_t|| at every update, from the initial parameters (step 0) to the
    parameters after ``steps`` updates (one more step, whose gradient is measured)."""
    return Grid(
        "grad",
        (
            "task=adding",
            "task.variant=arjovsky2016",
            f"task.length={length}",
            f"model={models}",
            f"model.hidden={hidden}",
            "optim=rmsprop",
            "optim.lr=0.001",
            "optim.clip=elementwise",
            "optim.clip_value=1",
            f"seeds={seeds}",
            f"train.steps={steps + 1}",
            "train.batch_size=20",
            "train.eval_every=1",
            "train.eval_size=20",
            "train.stop_when_solved=false",
            "logger=none",
            "diagnostics=basic",
        ),
    )


PAPER = (_grid(",".join(MODELS), 100, 128, 10, 100),)
SCALES: dict[str, tuple[Grid, ...]] = {
    "smoke": (_grid("rnn,lstm", 10, 8, 2, 3),),
    "cpu": (_grid(",".join(MODELS), 100, 128, 5, 100),),
    "faithful": PAPER,  # the paper's whole protocol takes minutes on a CPU
    "paper": PAPER,
}
SCALE_NOTES = {
    "smoke": "T=10, hidden 8, 3 updates, RNN and LSTM only, 2 seeds: checks the pipeline",
    "cpu": (
        "adding T=100, 128 units, 100 iterations (as the paper), 5 seeds, 4 models: 4 x 5 x 101 = "
        "2,020 model-steps, about 2 minutes on 2 CPU cores"
    ),
    "paper": (
        "adding T=100 (the figure's T is not read here), 128 units, 100 iterations, 10 seeds: "
        "4 x 10 x 101 = 4,040 model-steps; a CPU suffices"
    ),
}
SCALE_NOTES["faithful"] = "the paper scale's runs (its 100 iterations fit a CPU): " + SCALE_NOTES["paper"]


# ---------------------------------------------------------------------------- analysis


def against_lag(profile: np.ndarray) -> np.ndarray:
    """A per-step profile [T] turned to lag order (index = T-1-t), cut after the last step
    that reaches the loss (later steps are padding with zero gradient)."""
    p = np.asarray(profile, np.float64)
    nz = np.nonzero(p > 0)[0]
    last = int(nz[-1]) if nz.size else p.size - 1
    return p[: last + 1][::-1]


def window(n: int) -> tuple[int, int]:
    """The lag window [round(0.1 n), round(0.9 n) - 1] of a profile of n lags, over which the
    study fits its decay rate (:func:`benchmarks.stats.decay_rate`, NaN with fewer than 3
    positive finite points)."""
    return round(0.1 * n), max(round(0.9 * n) - 1, round(0.1 * n) + 2)


def _interval(values: list[float]) -> dict[str, Any]:
    mean, lo, hi = (float(v[0]) for v in mean_interval(np.asarray(values, float)[:, None]))
    return {"mean": mean, "ci95": [lo, hi], "per_seed": values}


def model_row(model: str, records: list[RunRecord]) -> dict[str, Any]:
    """One model's profiles (per seed, by lag) and decay rates at init and after training,
    seeds pooled over its runs (each seed once)."""
    seen: dict[int, dict[str, np.ndarray]] = {}
    steps: set[int] = set()
    for r in sorted(records, key=lambda r: str(r.path)):
        g = store.read_arrays(r.path, "grad_time")
        if "grad_h" not in g:
            continue
        seeds = [int(s["seed"]) for s in r.summary["seeds"]]
        steps.add(int(g["step"][-1]) - 1)  # updates before the last measured gradient
        for i, seed in enumerate(seeds):
            seen.setdefault(
                seed, {"init": against_lag(g["grad_h"][0, i]), "final": against_lag(g["grad_h"][-1, i])}
            )
    row: dict[str, Any] = {"model": model, "seeds": sorted(seen), "trained_steps": sorted(steps)}
    for when in ("init", "final"):
        profiles = [seen[s][when] for s in sorted(seen)]
        n = min((p.size for p in profiles), default=0)
        with np.errstate(divide="ignore"):
            logs = np.log(np.array([p[:n] for p in profiles])) if n else np.zeros((0, 0))
        mean, lo, hi = mean_interval(logs) if n else (np.array([]),) * 3
        row[when] = {
            "norm": np.exp(mean).tolist(),
            "lo": np.exp(lo).tolist(),
            "hi": np.exp(hi).tolist(),
            # the fit reads a profile in time order: p[::-1] turns the lag order back
            "rate": _interval([float(decay_rate(p[::-1], window(p.size), min_points=3)) for p in profiles]),
        }
    return row


def analyse(records: list[RunRecord]) -> dict[str, Any]:
    """Per model (in :data:`MODELS` order, others after): profiles and decay rates."""
    names = sorted(
        {str(r.get("model.name")) for r in records},
        key=lambda m: (m not in MODELS, MODELS.index(m) if m in MODELS else 0, m),
    )
    rows = [model_row(m, [r for r in records if r.get("model.name") == m]) for m in names]
    return {"decay_margin": DECAY_MARGIN, "models": [r for r in rows if r["seeds"]]}


def row_of(result: dict[str, Any], model: str) -> dict[str, Any] | None:
    return next((r for r in result["models"] if r["model"] == model), None)


def fmt_rate(rate: dict[str, Any]) -> str:
    lo, hi = rate["ci95"]
    interval = f"[{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) else "(no interval)"
    return f"{rate['mean']:+.4f}/step {interval}, x{math.exp(rate['mean']):.3f} per step"


def exponential_verdict(rate: dict[str, Any]) -> tuple[str, str]:
    """``agrees`` when the interval lies below -DECAY_MARGIN, ``disagrees`` above it."""
    lo, hi = rate["ci95"]
    if not np.isfinite(lo):
        return "not comparable", "fewer than two seeds: no interval"
    if hi < -DECAY_MARGIN:
        return "agrees", f"the interval lies below -{DECAY_MARGIN:.4f}/step (a factor 10 per 100 lags)"
    if lo > -DECAY_MARGIN:
        return (
            "disagrees",
            f"the interval lies above -{DECAY_MARGIN:.4f}/step: slower than a factor 10 per 100 lags",
        )
    return "not comparable", f"the interval straddles -{DECAY_MARGIN:.4f}/step"


def slower_verdict(lstm: dict[str, Any], rnn: dict[str, Any]) -> tuple[str, str]:
    """``agrees`` when LSTM's lower end minus RNN's upper end exceeds DECAY_MARGIN,
    ``disagrees`` when LSTM's upper end minus RNN's lower end is below it."""
    (l_lo, l_hi), (r_lo, r_hi) = lstm["ci95"], rnn["ci95"]
    if not (np.isfinite(l_lo) and np.isfinite(r_lo)):
        return "not comparable", "fewer than two seeds: no interval"
    if l_lo - r_hi > DECAY_MARGIN:
        return (
            "agrees",
            f"the LSTM's rate exceeds the RNN's by more than {DECAY_MARGIN:.4f}/step across both intervals",
        )
    if l_hi - r_lo < DECAY_MARGIN:
        return "disagrees", f"the LSTM's rate cannot exceed the RNN's by {DECAY_MARGIN:.4f}/step"
    return "not comparable", "the intervals leave the gap undecided"


def claims(result: dict[str, Any], scale: str) -> list[Claim]:
    """The figure's two readings at initialisation, each with the measured rates."""
    rnn, lstm = row_of(result, "rnn"), row_of(result, "lstm")
    small = "smoke scale: T=10, hidden 8" if scale == "smoke" else ""
    note = "; the paper's values are not read (figure only), nor its T (we use T=100 at cpu and paper scale)"
    out = []
    if rnn:
        verdict, reason = ("not comparable", small) if small else exponential_verdict(rnn["init"]["rate"])
        out.append(
            Claim(
                "tanh RNN: ||dL/dh_t|| decays exponentially with the lag at initialisation",
                FIGURE_SOURCE,
                "exponential decay (figure; value not read)",
                f"decay rate {fmt_rate(rnn['init']['rate'])}, {len(rnn['seeds'])} seeds",
                verdict,
                reason + note,
            )
        )
    if rnn and lstm:
        verdict, reason = (
            ("not comparable", small) if small else slower_verdict(lstm["init"]["rate"], rnn["init"]["rate"])
        )
        out.append(
            Claim(
                "LSTM: ||dL/dh_t|| decays far more slowly than the tanh RNN's at initialisation",
                FIGURE_SOURCE,
                "far slower decay (figure; value not read)",
                f"LSTM {fmt_rate(lstm['init']['rate'])} vs RNN {rnn['init']['rate']['mean']:+.4f}/step",
                verdict,
                reason + note,
            )
        )
    return out


def paragraph(result: dict[str, Any]) -> str:
    """The decay rates per model, at initialisation and after training."""
    if not result["models"]:
        return "No run stored grad_h diagnostics."
    parts = []
    for r in result["models"]:
        n = len(r["init"]["norm"])
        lo, hi = window(n)
        ratio = r["init"]["norm"][hi] / r["init"]["norm"][lo] if n else math.nan
        parts.append(
            f"{r['model']}: {fmt_rate(r['init']['rate'])} at initialisation "
            f"(||dL/dh|| at lag {hi} is {ratio:.2g} x its value at lag {lo}), "
            f"{fmt_rate(r['final']['rate'])} after {', '.join(map(str, r['trained_steps']))} steps"
        )
    return (
        "Decay rate of ||dL/dh_t|| per step of lag (slope of the log norm over lags 0.1T-0.9T; "
        "mean over seeds with its 95% t-interval): " + "; ".join(parts) + "."
    )


def figure(result: dict[str, Any], out: Path) -> list[Path]:
    return study_gradient_over_time.figure(result, out, window=window)


STUDY = Study(
    name="gradient_over_time",
    title="Gradient over time (Arjovsky et al. 2016's figure)",
    source="Arjovsky, Shah & Bengio 2016, ||dL/dh_t|| at initialisation and after 100 iterations on adding",
    scales=SCALES,
    scale_notes=SCALE_NOTES,
    analyse=analyse,
    claims=claims,
    figure=figure,
    paragraph=paragraph,
)
