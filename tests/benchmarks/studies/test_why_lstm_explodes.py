"""The study's reductions against hand-computed values on synthetic store arrays."""

import math

import numpy as np
import pytest

from benchmarks.studies import STUDIES, get_study
from benchmarks.studies.why_lstm_explodes import (
    LAGS,
    SQRT_F32_MAX,
    event_stats,
    growth_per_step,
    loss_spikes,
    past_sqrt_max,
    path_shares,
    table,
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
        "| lstm, forget bias 3 | 64 | orthogonal x 1.5 | norm 5.0 | 75% | 12.3 | 1/4 | 2/4 | 1.50 | 3.1e+20"
        " | 5.0e-01 / 2.5e-01 / n/a |"
    )
