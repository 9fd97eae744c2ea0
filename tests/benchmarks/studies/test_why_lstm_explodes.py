"""The study's reductions against hand-computed values on synthetic store arrays."""

import math

import numpy as np
import pytest

from benchmarks.studies import STUDIES, get_study
from benchmarks.studies.explode_claims import table
from benchmarks.studies.explode_runs import (
    LAGS,
    SQRT_F32_MAX,
    event_stats,
    growth_per_step,
    loss_spikes,
    past_sqrt_max,
    path_shares,
)


def test_the_registry_names_the_study_and_rejects_others():
    assert "why_lstm_explodes" in STUDIES
    assert set(get_study("why_lstm_explodes").scales) == {"smoke", "cpu", "paper"}
    with pytest.raises(ValueError, match="unknown study 'nope'; valid: .*why_lstm_explodes"):
        get_study("nope")


def test_event_rate_and_spike_coincidence():
    steps, seeds = 200, 2
    loss = np.full((steps, seeds), 1.0)
    explode = np.zeros((steps, seeds), bool)
    explode[50, 0] = explode[120, 0] = True  # two events in seed 0, none in seed 1
    loss[53, 0] = 10.0  # a spike 3 steps after the first event only
    loss[150:, 1] = np.nan  # seed 1 frozen (not training) from step 150
    glob = np.where(np.isnan(loss), np.nan, 1.0)
    stats = event_stats({"explode": explode, "loss": loss, "global": glob})
    trained = steps + 150
    assert stats["events"] == 2
    assert stats["events_per_1000"] == pytest.approx(1000 * 2 / trained)
    assert stats["seeds_with_event"] == 0.5
    assert stats["events_with_spike"] == 0.5


def test_loss_spike_rule():
    loss = np.ones((40, 1))
    loss[30, 0] = 3.5  # above 3x the median 1
    loss[35, 0] = 2.9  # below
    spikes = loss_spikes(loss)
    assert np.flatnonzero(spikes[:, 0]).tolist() == [30]


def test_path_shares_read_at_lags_from_the_last_step_that_reaches_the_loss():
    T = 120
    total = np.zeros((1, 2, T))
    total[0, :, :101] = 2.0  # steps after 100 are padding (no gradient)
    cec = np.zeros_like(total)
    cec[0, 0, :101] = 0.5
    cec[0, 1, :101] = 1.0
    diag = {"path.total": total, "path.cec": cec, "path.residual": np.zeros((1, 2))}
    shares = path_shares(diag, 0)
    assert set(shares) == {"cec"}
    assert shares["cec"] == {str(lag): pytest.approx(0.375) for lag in LAGS}


def test_growth_per_step_is_the_log_ratio_of_a_geometric_profile():
    profile = [3.0 * 1.07**lag for lag in range(120)]
    assert growth_per_step(profile) == pytest.approx(math.log(1.07), rel=1e-9)
    assert math.isnan(growth_per_step([0.0] * 120))


def test_seeds_past_sqrt_float32_max_count_finite_norms_only():
    """A finite norm of 2e19 (its raw sqrt(sum g^2) read inf) counts; 1e19, inf and NaN do not."""
    g = np.array([[1.0, 1.0, 1.0, 1.0], [2e19, 1e19, np.inf, np.nan], [3.0, 1.0, 1.0, 1.0]])
    assert pytest.approx(1.8446744e19, rel=1e-6) == SQRT_F32_MAX
    assert past_sqrt_max(g) == 1
    assert past_sqrt_max(np.zeros((0, 0))) == 0


def test_the_table_has_one_row_per_run_with_its_numbers():
    run = {
        "sweep": "radius",
        "optim": "sgd",
        "lr": 0.7,
        "gradient": "truncated",
        "model": "lstm",
        "hidden": 64,
        "init": "orthogonal",
        "init_scale": 1.5,
        "forget_bias": 3.0,
        "clip": "global_norm@5.0",
        "seeds": 4,
        "diverged": 1,
        "seeds_norm_past_sqrt_max": 2,
        "seeds_with_event": 0.75,
        "events_per_1000": 12.34,
        "rho0": 1.5,
        "global_norm": {"max": 3.1e20},
        "shares_init": {"cec": {"10": 0.5, "50": 0.25, "90": None}},
    }
    text = table({"runs": [run]})
    head, rule, row = text.splitlines()
    assert head.count("|") == rule.count("|") == row.count("|")
    assert row == (
        "| radius | lstm, forget bias 3 | 64 | orthogonal x 1.5 | sgd 0.7, truncated | norm 5.0 | 75% | 12.3"
        " | 1/4 | 2/4 | 1.50 | 3.1e+20"
        " | 5.0e-01 / 2.5e-01 / n/a |"
    )


def _brief(hidden, share, rho=0.5, diverged=0):
    return {
        "hidden": hidden,
        "events_per_1000": 10 * share,
        "seeds_with_event": share,
        "rho0": rho,
        "diverged": diverged,
        "seeds": 4,
    }


def test_size_or_radius_is_decided_by_25_points():
    from benchmarks.studies.explode_claims import _claim_fixed_radius

    def result(fixed_small, fixed_large, uniform_small, uniform_large):
        return {
            "fixed_radius": {
                "fan_in@0.74": [_brief(32, fixed_small), _brief(256, fixed_large)],
                "uniform": [_brief(32, uniform_small, 0.29), _brief(256, uniform_large, 0.77)],
            }
        }

    assert _claim_fixed_radius(result(0.0, 0.5, 0.0, 1.0), False).verdict == "agrees"  # size at fixed rho
    assert _claim_fixed_radius(result(0.0, 0.25, 0.0, 1.0), False).verdict != "agrees"  # one seed: chance
    radius = _claim_fixed_radius(result(0.8, 1.0, 0.0, 1.0), False)
    assert radius.verdict == "disagrees" and "the radius, not the size" in radius.reason
    assert _claim_fixed_radius(result(0.5, 0.5, 0.0, 1.0), False).verdict == "not comparable"


def test_the_rule_claims_compare_seeds_with_an_event():
    from benchmarks.studies.explode_claims import _claim_carousel_left, _claim_truncated

    def row(gradient, bias, share):
        return {
            **_brief(128, share),
            "gradient": gradient,
            "forget_bias": bias,
            "clip": "none",
            "global_norm": {"max": 1.0},
        }

    result = {"truncated": [row("full", 1.0, 1.0), row("truncated", 1.0, 0.5), row("truncated", 3.0, 1.0)]}
    assert _claim_truncated(result, False).verdict == "agrees"  # 50 points fewer
    assert _claim_carousel_left(result, False).verdict == "agrees"  # 50 points more at bias 3
    result["truncated"][1] = row("truncated", 1.0, 0.75)  # one seed of four: chance can do that
    assert _claim_truncated(result, False).verdict == "disagrees"
    assert _claim_carousel_left(result, False).verdict == "disagrees"
    result["truncated"][0] = row("full", 1.0, 0.25)
    assert _claim_truncated(result, False).verdict == "not comparable"


def test_success_pools_seeds_by_event_and_reads_the_wilson_intervals(fake_runs, tmp_path):
    from benchmarks.stats import wilson_interval
    from benchmarks.studies.explode_claims import _claim_clip_cost, _claim_success
    from benchmarks.studies.explode_runs import _success

    def run(optim, clip, solved, events, steps):
        return {
            "sweep": "success_sgd",
            "optim": optim,
            "lr": 0.7,
            "clip": clip,
            "success_rate": sum(solved) / 8,
            "ci95": [0, 1],
            "solved": sum(solved),
            "variant": "arjovsky2016",
            "length": 50,
            **_brief(64, float(np.mean(np.asarray(events) > 0))),
            "seeds": 8,
            "seed_solved": solved,
            "seed_events": events,
            "steps_to_solve": steps,
        }

    rows = [
        run("sgd", "none", [True] * 4 + [False] * 4, [0] * 4 + [2] * 4, [1000, 1100, 1200, 1300]),
        run("sgd", "global_norm@5.0", [True] * 8, [0] * 8, [1000, 1200, 1400, 1600, 1700, 1800, 1900, 2000]),
    ]
    succ = _success(rows)
    assert succ["pooled"]["event"]["solved"] == 0 and succ["pooled"]["event"]["seeds"] == 4
    assert succ["pooled"]["no_event"]["solved"] == 12 and succ["pooled"]["no_event"]["seeds"] == 12
    assert succ["pooled"]["event"]["ci95"] == list(wilson_interval(0, 4))
    claim = _claim_success({"success": succ}, False)
    assert claim.verdict == "agrees" and claim.ours.startswith("solved: 0/4 seeds with an event")
    cost = _claim_clip_cost({"success": succ}, False)  # medians 1,150 and 1,650: 1.43x
    assert cost.verdict == "disagrees" and "1.43x" in cost.reason and "8/8 clipped" in cost.ours


def test_the_growth_rate_claim_ranks_growth_against_the_radius():
    """Spearman's r of the dominant path's growth with log rho: a growth that rises with rho
    agrees (r = 1), one that falls disagrees (r = -1: ranks in reverse order)."""
    from benchmarks.studies.explode_claims import _claim_growth_rate

    def pts(growth):
        return {
            "growth_points": [
                {"model": "lstm", "when": "init", "rho": r, "sigma": 2 * r, "growth": g}
                for r, g in zip([0.3, 0.5, 0.8, 1.2, 2.0], growth, strict=True)
            ]
        }

    rising = _claim_growth_rate(pts([-0.2, -0.1, 0.0, 0.05, 0.1]), False)
    assert rising.verdict == "agrees" and "log rho(R_g) 1.00" in rising.ours
    falling = _claim_growth_rate(pts([0.1, 0.05, 0.0, -0.1, -0.2]), False)
    assert falling.verdict == "disagrees" and "log rho(R_g) -1.00" in falling.ours
    assert _claim_growth_rate({"growth_points": []}, False) is None
