"""why_lstm_explodes, claim by claim: the accepted answer's claims and the mechanisms' on
the trained runs (the measurements' own are in :mod:`benchmarks.studies.explode_measures`),
each with its rule and margin, and ``answer.md``: the question, the verdicts, the evidence
mechanism by mechanism with the run's numbers, and the table of every run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from benchmarks.studies import explode_measures
from benchmarks.studies.base import Claim
from benchmarks.studies.explode_runs import LAGS, largest

# the margin of every size, radius and rule claim: a difference in the share of seeds with
# an event counts only above 25 points, one seed of four, which one seed's chance can make
MARGIN_SEEDS = 0.25
MIN_SOLVED = 3  # solving seeds a side before a median of steps to solve is compared


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
    clipped = [r for r in result["runs"] if r.get("sweep") == "clip" and r["model"] == "lstm"]
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


def _seeds_rise(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float:
    """How much more of ``b``'s seeds than of ``a``'s had an exploding event (NaN if absent)."""
    if not (a and b):
        return math.nan
    return float(b["seeds_with_event"] - a["seeds_with_event"])


def _claim_fixed_radius(result: dict[str, Any], small: bool) -> Claim | None:
    """Size or radius: the unclipped LSTM's seeds with an event against H at a radius held
    fixed, and a small net drawn at the large net's radius against the large net."""
    fixed, uniform = result["fixed_radius"], result["fixed_radius"].get("uniform", [])
    held = {k: v for k, v in fixed.items() if k != "uniform" and len(v) >= 2}
    if len(uniform) < 2 or not held:
        return None
    top = max(held, key=lambda k: float(k.partition("@")[2]))  # the largest fixed radius
    rise_fixed = _seeds_rise(held[top][0], held[top][-1])
    rise_uniform = _seeds_rise(uniform[0], uniform[-1])
    small_at_large = held[top][0]  # the smallest net at the largest radius
    gap_to_large = abs(_seeds_rise(small_at_large, uniform[-1]))
    ours = (
        f"seeds with an event, U[-0.08, 0.08]: H={uniform[0]['hidden']} "
        f"{_pct(uniform[0]['seeds_with_event'])} "
        f"(rho {uniform[0]['rho0']:.2f}), H={uniform[-1]['hidden']} {_pct(uniform[-1]['seeds_with_event'])} "
        f"(rho {uniform[-1]['rho0']:.2f}); "
        + "; ".join(
            f"{k.replace('@', ' x ')}: "
            + ", ".join(f"H={r['hidden']} {_pct(r['seeds_with_event'])}" for r in v)
            + f" (rho {v[0]['rho0']:.2f}-{v[-1]['rho0']:.2f})"
            for k, v in held.items()
        )
    )
    if small:
        verdict, reason = "not comparable", "smoke scale: too few steps and seeds"
    elif rise_fixed > MARGIN_SEEDS:
        verdict, reason = (
            "agrees",
            f"at the fixed radius {top} the share still rises by more than 25 points with H",
        )
    elif gap_to_large <= MARGIN_SEEDS and rise_uniform > MARGIN_SEEDS:
        verdict = "disagrees"
        reason = (
            f"at the fixed radius {top} the share rises by 25 points or less with H, and the smallest net "
            "drawn at that radius is within 25 points of the largest uniform net: the radius, not the size"
        )
    else:
        verdict, reason = "not comparable", "neither size nor radius moves the share by more than 25 points"
    return Claim(
        "Bigger LSTMs explode more often because they are bigger (not because their recurrent matrices' "
        "radius "
        "grows with H)",
        "the accepted answer's 'the bigger the net, the more probable'; U[-0.08, 0.08] has rho ~ "
        "0.08 sqrt(H/3)",
        "more events at larger H at any fixed radius",
        ours,
        verdict,
        reason,
    )


def _claim_growth_rate(result: dict[str, Any], small: bool) -> Claim | None:
    """The dominant R_g path's growth per step of lag against that matrix's radius and largest
    singular value, over every run and both measurements (init, trained): rank correlations."""
    from scipy import stats

    pts = result["growth_points"]
    if len(pts) < 5:
        return None
    growth = np.array([p["growth"] for p in pts])
    rho = stats.spearmanr(np.log([p["rho"] for p in pts]), growth)
    sigma = stats.spearmanr(np.log([p["sigma"] for p in pts]), growth)
    better = "rho" if abs(rho.statistic) >= abs(sigma.statistic) else "sigma_max"
    ok = rho.statistic > 0.5 and rho.pvalue < 0.05
    return Claim(
        "Each recurrent-matrix path multiplies by R_g once per step, as a vanilla RNN's gradient does",
        "Greff et al. 2015, App. A.2; Pascanu et al. 2013 (rho > 1 necessary to explode)",
        "the path's growth per step of lag rises with R_g's spectral radius",
        f"{len(pts)} measurements (runs at init and trained): Spearman's r of the dominant path's growth per "
        f"step with log rho(R_g) {rho.statistic:.2f} (p {rho.pvalue:.1g}), with log sigma_max "
        f"{sigma.statistic:.2f}"
        f" (p {sigma.pvalue:.1g}); {better} ranks it better",
        "not comparable" if small else ("agrees" if ok else "disagrees"),
        "smoke scale"
        if small
        else ("r > 0.5 at p < 0.05" if ok else "r <= 0.5 or p >= 0.05: the radius does not order the growth"),
    )


def _trunc(result: dict[str, Any], gradient: str, bias: float, clip: str = "none") -> dict[str, Any] | None:
    for r in result["truncated"]:
        if r["gradient"] == gradient and r["forget_bias"] == bias and r["clip"] == clip:
            return r
    return None


def _events(r: dict[str, Any] | None) -> str:
    if not r:
        return "not run"
    median = r.get("global_norm", {}).get("p50", math.nan)
    return (
        f"{_pct(r['seeds_with_event'])} of seeds with an event ({r['events_per_1000']:.1f}/1,000), "
        f"{r['diverged']}/{r['seeds']} diverged, median gradient norm {median:.2g}"
    )


def _claim_truncated(result: dict[str, Any], small: bool) -> Claim | None:
    """Under the 1997 truncated rule no error crosses an R_g hop: its explosions at forget
    bias 1 against full BPTT's."""
    full, trunc = _trunc(result, "full", 1.0), _trunc(result, "truncated", 1.0)
    if not (full and trunc):
        return None
    drop = -_seeds_rise(full, trunc)
    if small:
        verdict, reason = "not comparable", "smoke scale"
    elif full["seeds_with_event"] <= MARGIN_SEEDS:
        verdict, reason = "not comparable", "full BPTT had too few seeds with an event to remove"
    elif drop > MARGIN_SEEDS:
        verdict, reason = "agrees", "more than 25 points fewer seeds with an event under truncation"
    else:
        verdict, reason = (
            "disagrees",
            "truncation leaves the share of seeds with an event within 25 points (one seed)",
        )
    return Claim(
        "The 1997 truncated gradient, which never crosses an R_g hop, does not explode where full BPTT does",
        "Hochreiter & Schmidhuber 1997 (truncated rule); Sutskever et al. 2014 (full BPTT, clipped)",
        "no R-path explosion under truncation",
        f"LSTM H={full['hidden']}, forget bias 1, unclipped: full {_events(full)}; "
        f"truncated {_events(trunc)}",
        verdict,
        reason,
    )


def _claim_carousel_left(result: dict[str, Any], small: bool) -> Claim | None:
    """What truncation leaves: the carousel's own curse, larger at forget bias 3 than at 1."""
    t1, t3 = _trunc(result, "truncated", 1.0), _trunc(result, "truncated", 3.0)
    f3 = _trunc(result, "full", 3.0)
    if not (t1 and t3):
        return None
    rise = _seeds_rise(t1, t3)
    if small:
        verdict, reason = "not comparable", "smoke scale"
    elif rise > MARGIN_SEEDS:
        verdict, reason = "agrees", "over 25 points more seeds with an event at bias 3 than at 1, no R path"
    else:
        verdict, reason = "disagrees", "bias 3 is within 25 points (one seed) of bias 1 under truncation"
    return Claim(
        "Under truncation the carousel itself still explodes as its forget gates near 1 "
        "(the curse of memory)",
        "Zucchet & Orvieto 2024; the suite's own question",
        "more explosions at forget bias 3 than at 1 with the R paths cut",
        f"truncated, unclipped, bias 1: {_events(t1)}; bias 3: {_events(t3)}"
        + (f"; full BPTT at bias 3: {_events(f3)}" if f3 else ""),
        verdict,
        reason,
    )


def _claim_success(result: dict[str, Any], small: bool) -> Claim | None:
    """Whether the seeds that explode are the ones that fail: solve rates with and without an
    event, pooled over the success axis, with Wilson intervals."""
    pooled = result["success"]["pooled"]
    ev, no = pooled["event"], pooled["no_event"]
    if not (ev["seeds"] or no["seeds"]):
        return None
    ours = (
        f"solved: {ev['solved']}/{ev['seeds']} seeds with an event "
        f"[{ev['ci95'][0]:.2f}, {ev['ci95'][1]:.2f}], "
        f"{no['solved']}/{no['seeds']} without [{no['ci95'][0]:.2f}, {no['ci95'][1]:.2f}]"
    )
    if small:
        verdict, reason = "not comparable", "smoke scale"
    elif not (ev["seeds"] and no["seeds"]):
        verdict, reason = "not comparable", "every seed of the success axis is on one side (event or none)"
    elif ev["ci95"][1] < no["ci95"][0]:
        verdict, reason = "agrees", "the intervals do not overlap: seeds with an event solve less often"
    elif ev["ci95"][0] > no["ci95"][1]:
        verdict, reason = "disagrees", "the intervals do not overlap: seeds with an event solve more often"
    else:
        verdict, reason = "not comparable", "the two intervals overlap: these seeds cannot tell"
    return Claim(
        "Exploding gradients make training fail",
        "Pascanu et al. 2013; Sutskever et al. 2014",
        "seeds with an exploding event solve less often",
        ours,
        verdict,
        reason,
    )


def _claim_clip_cost(result: dict[str, Any], small: bool) -> Claim | None:
    """What clipping at 5 costs in steps to solve, per optimiser and rate where both sides
    have :data:`MIN_SOLVED` solving seeds."""
    configs = result["success"]["configs"]
    pairs = []
    for c in configs:
        if c["clip"] != "none":
            continue
        other = [
            d for d in configs if d["optim"] == c["optim"] and d["lr"] == c["lr"] and d["clip"] != "none"
        ]
        if other:
            pairs.append((c, other[0]))
    if not pairs:
        return None
    parts, ratios = [], []
    for free, clipped in pairs:
        parts.append(
            f"{free['optim']} lr {free['lr']:g}: solved {free['solved']}/{free['seeds']} unclipped, "
            f"{clipped['solved']}/{clipped['seeds']} clipped; median steps {_steps(free)} vs "
            f"{_steps(clipped)}"
        )
        if len(free["steps_to_solve"]) >= MIN_SOLVED and len(clipped["steps_to_solve"]) >= MIN_SOLVED:
            ratios.append(clipped["median_steps_to_solve"] / free["median_steps_to_solve"])
    if small:
        verdict, reason = "not comparable", "smoke scale"
    elif not ratios:
        verdict, reason = "not comparable", f"no config with {MIN_SOLVED}+ solving seeds on both sides"
    elif max(ratios) <= 1.25:
        verdict, reason = "agrees", f"clipped medians at most 1.25x the unclipped ({max(ratios):.2f}x)"
    else:
        verdict, reason = "disagrees", f"a clipped median is {max(ratios):.2f}x the unclipped one"
    return Claim(
        "Clipping at norm 5 costs no steps to solve",
        "Pascanu et al. 2013 (clipping only rescales the rare large steps); Sutskever et al. 2014",
        "clipped runs solve as fast as unclipped ones",
        "; ".join(parts),
        verdict,
        reason,
    )


def _steps(c: dict[str, Any]) -> str:
    return "-" if c["median_steps_to_solve"] is None else f"{c['median_steps_to_solve']:,.0f}"


def claims(result: dict[str, Any], scale: str) -> list[Claim]:
    """The accepted answer and the three mechanisms, claim by claim, against this run's
    numbers (the measurements' claims read ``result["measured"]``)."""
    small = scale == "smoke"
    measured = result.get("measured") or {}
    made = [
        *(f(result, small) for f in (_claim_size, _claim_fixed_radius)),
        *(f(measured, small) for f in explode_measures.MEASURED_CLAIMS[:1]),
        *(f(result, small) for f in (_claim_paths, _claim_growth_rate, _claim_clipping)),
        *(f(measured, small) for f in explode_measures.MEASURED_CLAIMS[1:]),
        *(
            f(result, small)
            for f in (_claim_truncated, _claim_carousel_left, _claim_success, _claim_clip_cost)
        ),
    ]
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
        r for r in _pick(result, model="lstm", sweep="clip", hidden=hi["hidden"]) if r["clip"] != "none"
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
    "| sweep | model | H | recurrent init | rule | clip | seeds with an event"
    " | events / 1,000 trained steps | diverged"
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
    rule = f"{r.get('optim', 'sgd')} {r.get('lr', 0.7):g}" + (
        ", truncated" if r.get("gradient") == "truncated" else ""
    )
    cells = (
        str(r.get("sweep", "-")),
        model,
        str(r["hidden"]),
        init,
        rule,
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
    """Every run as one Markdown row, by sweep: uniform initialisation first, clipped before
    unclipped, then by model, forget bias and size. ``finite norm > 1.8e19``: seeds whose
    finite global gradient norm passed sqrt(float32 max) (:func:`past_sqrt_max`)."""
    rows = sorted(
        result["runs"],
        key=lambda r: (
            str(r.get("sweep", "")),
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


def _size_or_radius(result: dict[str, Any]) -> str:
    """The fixed-radius sweep and the random-draw growth probe in two sentences."""
    fixed = {k: v for k, v in result["fixed_radius"].items() if k != "uniform" and v}
    text = ""
    if fixed:
        text += (
            " At a radius held fixed while H grows, the share of unclipped LSTM seeds with an event"
            " (and the largest recurrent radius after training, median of the finite seeds) was "
            + "; ".join(
                f"{k.replace('@', ' x ')} (rho {v[0]['rho0']:.2f} to {v[-1]['rho0']:.2f} at init): "
                + ", ".join(
                    f"{_pct(r['seeds_with_event'])} at H={r['hidden']} ({_sci(r.get('rho_final', math.nan))})"
                    for r in v
                )
                for k, v in fixed.items()
            )
            + "."
        )
    growth = [r for r in (result.get("measured") or {}).get("growth", []) if r["cell"] == "lstm"]
    by_init: dict[str, list[dict[str, Any]]] = {}
    for r in growth:
        by_init.setdefault(f"{r['init']} x {r['scale']:g}", []).append(r)
    if by_init:
        text += (
            " Over random initialisations (no training), the LSTM's largest Lyapunov exponent over "
            f"{result['measured'].get('growth_length')} steps, mean over draws, and the share of draws "
            "above 0: "
            + "; ".join(
                f"{k}: "
                + ", ".join(
                    f"H={r['hidden']} {r['mean_exponent']:+.3f} ({r['growing']}/{r['draws']})" for r in v
                )
                for k, v in by_init.items()
            )
            + "."
        )
    return text


def _curse_text(result: dict[str, Any]) -> str:
    """The curse of memory: the linear recurrence, the gated cells' exponents, and the
    trained LSTM against its forget bias."""
    measured = result.get("measured") or {}
    text = ""
    lin = measured.get("linear")
    if lin:
        text += (
            "For the linear recurrence the Monte Carlo sensitivity has exponent "
            f"{_fmt_fit(lin['plain']['fit'])} in "
            f"1 - lam (closed form {lin['plain']['closed_form_fit']['exponent']:.2f}), and "
            f"{_fmt_fit(lin['normalised']['fit'])} with the LRU's normalisation "
            f"({lin['normalised']['closed_form_fit']['exponent']:.2f})."
        )
    gated = measured.get("gated", {})
    for name, label in (("lstm", "LSTM"), ("lstm_cifg", "CIFG (i = 1 - f)"), ("gru", "GRU")):
        if name not in gated:
            continue
        g = gated[name]
        white, const = explode_measures.WRITERS[name]
        state = g.get("state_fits", g["fits"])
        text += (
            f" {label}, CEC-only gradients at init as 1 - (memory gate) goes from "
            f"{1 - g['points'][0]['gate']:.2g} to {1 - g['points'][-1]['gate']:.2g}: exponents of the memory "
            f"state {white} {_fmt_fit(state[white])}, {const} {_fmt_fit(state[const])}, the gate's value "
            f"{_fmt_fit(state['gate'])}; of the output {white} {_fmt_fit(g['fits'][white])}, {const} "
            f"{_fmt_fit(g['fits'][const])}, the gate's value {_fmt_fit(g['fits']['gate'])}."
        )
    fb = [r for r in result["forget_bias"]]
    if fb:
        text += (
            " Trained (full BPTT, unclipped), by initial forget bias: "
            + ", ".join(
                f"{r['forget_bias']:g}: {_pct(r['seeds_with_event'])} of seeds with an event, "
                f"{r['diverged']}/{r['seeds']} "
                "diverged"
                for r in fb
            )
            + "."
        )
    return text


def _fmt_fit(fit: dict[str, float]) -> str:
    return explode_measures._fmt(fit)


def _rule_text(result: dict[str, Any]) -> str:
    rows = result["truncated"]
    if not rows:
        return ""
    return (
        "LSTM H={}: ".format(rows[0]["hidden"])
        + "; ".join(
            f"{r['gradient']}, forget bias {r['forget_bias']:g}, "
            f"{r['clip'].replace('global_norm@', 'clip ')}: "
            f"{_pct(r['seeds_with_event'])} of seeds with an event ({r['events_per_1000']:.1f}/1,000), "
            f"{r['diverged']}/{r['seeds']} diverged, gradient norm median {r['global_norm']['p50']:.2g}, "
            f"largest {r['global_norm']['max']:.2g}"
            for r in rows
        )
        + "."
    )


def _success_text(result: dict[str, Any]) -> str:
    succ = result["success"]
    if not succ["configs"]:
        return ""
    c0 = succ["configs"][0]
    text = (
        f"On the adding problem ({c0['variant']} variant, T={c0['length']}, LSTM H={c0['hidden']}): "
        + "; ".join(
            f"{c['optim']} lr {c['lr']:g} {c['clip'].replace('global_norm@', 'clip ')}: solved "
            f"{c['solved']}/{c['seeds']} [{c['ci95'][0]:.2f}, {c['ci95'][1]:.2f}], "
            f"{_pct(c['seeds_with_event'])} of seeds with an event, median steps to solve {_steps(c)}"
            for c in succ["configs"]
        )
        + "."
    )
    ev, no = succ["pooled"]["event"], succ["pooled"]["no_event"]
    text += (
        f" Pooled: {ev['solved']}/{ev['seeds']} seeds with an event solved, {no['solved']}/{no['seeds']} "
        "without."
    )
    return text


def _verdicts(claims_made: list[Claim]) -> str:
    return "\n".join(f"- {c.claim}: **{c.verdict}** ({c.reason})." for c in claims_made)


def answer(result: dict[str, Any]) -> str:
    """``answer.md``: the question, the verdicts, then the evidence mechanism by mechanism
    with this run's numbers, then the table of every run."""
    made = claims(result, result.get("scale", "cpu"))
    parts = [
        "**Question.** The LSTM's cell state passes error back unchanged while its forget gates stay near 1,"
        " so why do LSTMs still explode (Sutskever et al. 2014 clip them at norm 5)?",
        "**Answer, claim by claim** (each with its rule; the numbers below):\n\n" + _verdicts(made),
        "### 1. The recurrent-matrix paths: size or radius?\n\n"
        + paragraph(result)
        + _size_or_radius(result),
        "### 2. The curse of memory: the carousel's own parameters\n\n" + _curse_text(result),
        "### 3. The learning rule: the 1997 truncated gradient against full BPTT\n\n" + _rule_text(result),
        "### 4. Does exploding predict failing, and what does clipping cost?\n\n" + _success_text(result),
        "### Every run\n\n" + overflow_sentence(result) + "\n\n" + table(result),
    ]
    return "\n\n".join(parts)
