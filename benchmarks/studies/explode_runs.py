"""why_lstm_explodes, run by run: what the study reads from each run's store files
(exploding events, loss spikes, gradient-norm quantiles, the LSTM path split and its
dominant recurrent-matrix path, spectra) and the slices of all runs its claims, text and
figures read (:func:`analyse`). NumPy on the store's arrays: no JAX."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmarks.studies.base import RunRecord

LAGS = (10, 50, 90)
SQRT_F32_MAX = float(
    np.sqrt(np.finfo(np.float32).max)
)  # 1.84e19: sqrt(sum g^2) of raw float32 overflows past it
SPIKE_FACTOR, SPIKE_WINDOW, SPIKE_AFTER = 3.0, 100, 10


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
        "sweep": r.path.parent.name,
        "gradient": r.get("train.gradient", "full"),
        "optim": r.get("optim.name"),
        "lr": r.get("optim.lr"),
        "variant": r.get("task.variant"),
        "length": r.get("task.length"),
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
        # the first step's global gradient norm, seed mean: the size of SGD's first kick
        "norm0": float(np.mean(norms["global"][0])) if np.ndim(norms.get("global")) == 2 else math.nan,
        "seeds_norm_past_sqrt_max": past_sqrt_max(norms.get("global", np.zeros((0, 0)))),
        "steps_past_sqrt_max_to_divergence": overflow_to_divergence(norms, s),
        "matrix_norm": {m: _quantiles(norms[m]) for m in recurrent if m in norms},
        # per seed: solved, its exploding events and the step it solved at (success axis)
        "seed_solved": [bool(x["solved"]) for x in s["seeds"]],
        "seed_events": [int(x.get("explode_events") or 0) for x in s["seeds"]],
        "steps_to_solve": [x["steps_to_solve"] for x in s["seeds"] if x["solved"]],
    }
    if diag:
        row["steps_measured"] = [int(x) for x in diag["step"]]
        row["rho0"] = float(max(np.mean(diag[f"spectral_radius.{m}"][0]) for m in recurrent))
        row["spectral_radius"] = {
            m: np.mean(diag[f"spectral_radius.{m}"], axis=1).tolist() for m in recurrent
        }
        row["sigma_max"] = {m: np.mean(diag[f"sigma_max.{m}"], axis=1).tolist() for m in recurrent}
        row["sigma0"] = float(max(row["sigma_max"][m][0] for m in recurrent))
        # after training: the median over the seeds whose matrices stayed finite
        last = [_finite(np.asarray(diag[f"spectral_radius.{m}"][-1])) for m in recurrent]
        row["rho_final"] = float(max(np.median(v) for v in last)) if all(v.size for v in last) else math.nan
        if "path.total" in diag:
            for when, k in (("init", 0), ("final", -1)):
                row.update(_paths_at(diag, k, when))
    return row


SIZE_SWEEPS = ("size", "clip")  # the U[-0.08, 0.08] nets at forget bias 1, by size
SUCCESS_SWEEPS = ("success_sgd", "success_adam")


def _brief(r: dict[str, Any], *keys: str) -> dict[str, Any]:
    base = (
        "hidden",
        "events_per_1000",
        "seeds_with_event",
        "rho0",
        "rho_final",
        "norm0",
        "diverged",
        "seeds",
    )
    return {k: r.get(k) for k in (*base, *keys)}


def _fixed_radius(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The unclipped LSTM against H per recurrent draw: ``uniform`` (the size sweep), and
    ``fan_in@s`` / ``orthogonal@s`` at a radius held at s."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["model"] != "lstm" or r["clip"] != "none":
            continue
        if r.get("sweep") == "size":
            out.setdefault("uniform", []).append(_brief(r))
        elif str(r.get("sweep", "")).startswith("fixed_radius"):
            out.setdefault(f"{r['init']}@{r['init_scale']:g}", []).append(_brief(r))
    return {k: sorted(v, key=lambda x: x["hidden"]) for k, v in sorted(out.items())}


def _growth_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per run with a path split, at initialisation and after training: the dominant R_g
    path's growth per step of lag beside that matrix's spectral radius and largest
    singular value (seed means)."""
    points = []
    for r in rows:
        for when, k in (("init", 0), ("final", -1)):
            top = r.get(f"dominant_{when}")
            growth = r.get(f"dominant_growth_{when}", math.nan)
            if not top or top not in r.get("spectral_radius", {}) or not np.isfinite(growth):
                continue
            rho, sigma = r["spectral_radius"][top][k], r["sigma_max"][top][k]
            if not (np.isfinite(rho) and np.isfinite(sigma) and rho > 0 and sigma > 0):
                continue  # a diverged run's matrices: no radius to rank
            points.append(
                {
                    "model": r["model"],
                    "sweep": r.get("sweep"),
                    "when": when,
                    "matrix": top,
                    "rho": rho,
                    "sigma": sigma,
                    "growth": growth,
                }
            )
    return points


def _truncated(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        (
            _brief(r, "gradient", "forget_bias", "clip", "global_norm")
            for r in rows
            if r.get("sweep") == "truncated"
        ),
        key=lambda x: (x["gradient"], x["forget_bias"], x["clip"]),
    )


def _success(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per success-axis config: success rate with its interval beside the event share and
    the median steps to solve; pooled over seeds: the solve rate with and without an event."""
    from benchmarks.stats import wilson_interval

    configs, pooled = [], {"event": [0, 0], "no_event": [0, 0]}
    for r in rows:
        if r.get("sweep") not in SUCCESS_SWEEPS:
            continue
        configs.append(
            {
                **_brief(r, "optim", "lr", "clip", "success_rate", "ci95", "solved", "variant", "length"),
                "median_steps_to_solve": float(np.median(r["steps_to_solve"]))
                if r["steps_to_solve"]
                else None,
                "steps_to_solve": r["steps_to_solve"],
            }
        )
        for solved, events in zip(r["seed_solved"], r["seed_events"], strict=True):
            cell = pooled["event" if events else "no_event"]
            cell[0] += solved
            cell[1] += 1
    rates = {
        k: {
            "solved": v[0],
            "seeds": v[1],
            "rate": v[0] / v[1] if v[1] else math.nan,
            "ci95": list(wilson_interval(v[0], v[1])),
        }
        for k, v in pooled.items()
    }
    return {"configs": sorted(configs, key=lambda c: (c["optim"], c["lr"], c["clip"])), "pooled": rates}


def analyse(records: list[RunRecord]) -> dict[str, Any]:
    """One row per run, and the slices each panel and claim reads."""
    rows = sorted(
        (run_row(r) for r in records),
        key=lambda r: (r["model"], r["clip"], r["init"], r["hidden"], str(r.get("sweep"))),
    )
    return {
        "lags": list(LAGS),
        "runs": rows,
        "by_size": _by_size(rows),
        "by_radius": _by_radius(rows),
        "fixed_radius": _fixed_radius(rows),
        "growth_points": _growth_points(rows),
        "truncated": _truncated(rows),
        "success": _success(rows),
        "forget_bias": _forget_bias(rows),
        **_size_runs(rows),
    }


def _by_size(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """model/clip -> the size and clip sweeps' runs by H."""
    uniform = [r for r in rows if r.get("sweep") in SIZE_SWEEPS]
    return {
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


def _by_radius(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """model -> the radius sweep's runs by rho."""
    return {
        m: sorted(
            (
                {
                    "rho": r["init_scale"],
                    **{k: r[k] for k in ("events_per_1000", "seeds_with_event", "diverged")},
                }
                for r in rows
                if r["model"] == m and r.get("sweep") == "radius"
            ),
            key=lambda x: x["rho"],
        )
        for m in sorted({r["model"] for r in rows if r.get("sweep") == "radius"})
    }


def _size_runs(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``size_runs``: model/clip -> indices into rows, smallest H first; ``largest``: the last."""
    size_runs: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if r.get("sweep") in SIZE_SWEEPS:
            size_runs.setdefault(f"{r['model']}/{r['clip']}", []).append(i)  # rows are sorted by H
    return {"size_runs": size_runs, "largest": {key: indices[-1] for key, indices in size_runs.items()}}


def _forget_bias(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unclipped LSTM by initial forget bias at the forget-bias sweep's size (bias 1 from
    the size sweep)."""
    sizes = {r["hidden"] for r in rows if r.get("sweep") == "forget_bias"}
    return sorted(
        (
            _brief(r, "forget_bias")
            for r in rows
            if r.get("sweep") == "forget_bias"
            or (r.get("sweep") == "size" and r["model"] == "lstm" and r["hidden"] in sizes)
        ),
        key=lambda x: x["forget_bias"],
    )


def largest(result: dict[str, Any], model: str, clip: str = "none") -> dict[str, Any] | None:
    """The size sweep's largest run of ``model`` with ``clip`` (forget bias 1), which the
    claims, the paragraph and the figure read; None if the sweep has none."""
    index = result["largest"].get(f"{model}/{clip}")
    return None if index is None else result["runs"][index]
