"""The studies' shared statistics, checked against formulas written here."""

import math

import numpy as np
import pandas as pd
import pytest

from benchmarks.stats import mean_interval
from benchmarks.studies import load_runs
from benchmarks.studies.common import (
    eval_curves,
    magnitude_verdict,
    pooled,
    rate_verdict,
)

Z = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson(k, n):
    """Wilson (1927) score interval, by its closed form."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def test_pooled_counts_each_seed_once_per_config(tmp_path, fake_runs):
    fake_runs.write(
        tmp_path / "0", fake_runs.config(), fake_runs.summary(range(4), [True, True, False, True])
    )
    fake_runs.write(
        tmp_path / "1",
        fake_runs.config(seeds=range(2, 6)),
        fake_runs.summary(range(2, 6), [True, True, False, False]),
    )  # seeds 2 and 3 again: the first job's results count
    fake_runs.write(tmp_path / "2", fake_runs.config(100), fake_runs.summary(range(3), [False, False, True]))
    rows = pooled(load_runs(tmp_path), ["model.hidden"])
    assert [(r["hidden"], r["seeds"], r["solved"]) for r in rows] == [(100, 3, 1), (50, 6, 3)]
    fifty = rows[1]
    assert fifty["rate"] == 0.5
    assert fifty["ci95"] == pytest.approx(wilson(3, 6), abs=1e-9)
    assert fifty["steps_to_solve"] == [100, 200, 400]  # seeds 0, 1, 3 (seed 2 of job 0 failed)


def test_mean_interval_is_the_student_t_interval():
    a = np.array([[1.0, 2.0, np.nan], [3.0, 2.5, 4.0], [2.0, np.nan, np.nan], [6.0, 3.5, np.nan]])
    mean, lo, hi = mean_interval(a)
    col = np.array([1.0, 3.0, 2.0, 6.0])
    t3 = 3.182446305284263  # t_{0.975, 3 d.f.} from tables
    half = t3 * col.std(ddof=1) / 2
    assert mean[0] == pytest.approx(3.0) and (lo[0], hi[0]) == pytest.approx((3.0 - half, 3.0 + half))
    t2 = 4.302652729911275
    col = np.array([2.0, 2.5, 3.5])
    half = t2 * col.std(ddof=1) / math.sqrt(3)
    assert (lo[1], hi[1]) == pytest.approx((col.mean() - half, col.mean() + half))
    assert mean[2] == 4.0 and np.isnan(lo[2]) and np.isnan(hi[2])  # one value: no interval


def test_rate_verdict_uses_the_wilson_interval():
    lo, hi = wilson(1, 5)  # 0.036 .. 0.62
    assert rate_verdict(0.18, 1, 5)[0] == "agrees"
    assert rate_verdict(hi + 0.01, 1, 5)[0] == "disagrees"
    assert rate_verdict(lo - 0.01, 1, 5)[0] == "disagrees"
    assert rate_verdict(0.0, 0, 2) == ("not comparable", "2 seeds: too few for an interval")
    assert rate_verdict(0.5, 3, 5, "budget 1% of the paper's") == (
        "not comparable",
        "budget 1% of the paper's",
    )


def test_magnitude_verdict_is_a_factor_of_ten_around_the_paper():
    assert magnitude_verdict(74_000, [7_500, 8_000, None])[0] == "agrees"  # median 7,750: 0.105x
    assert magnitude_verdict(74_000, [7_000, 7_200])[0] == "disagrees"  # 0.096x
    assert magnitude_verdict(74_000, [740_000])[0] == "agrees"
    assert magnitude_verdict(74_000, [])[0] == "not comparable"


def test_eval_curves_align_seeds_on_steps(tmp_path, fake_runs):
    run = fake_runs.write(tmp_path / "0", fake_runs.config(), fake_runs.summary(range(2), [False, True]))
    rows = pd.DataFrame(
        {
            "step": [0, 0, 100, 100, 200],  # seed 1 stopped after step 100
            "seed": [0, 1, 0, 1, 0],
            "eval_loss": [0.2, 0.3, 0.1, 0.05, 0.08],
        }
    )
    rows.to_parquet(run / "metrics.parquet")
    (curve,) = eval_curves(load_runs(tmp_path), ["model.name"])
    assert curve["name"] == "lstm" and curve["steps"] == [0, 100, 200] and curve["seeds"] == [0, 1]
    np.testing.assert_allclose(curve["values"], [[0.2, 0.1, 0.08], [0.3, 0.05, np.nan]])
    assert curve["mean"] == pytest.approx([0.25, 0.075, 0.08])
    half = 12.706204736174705 * np.std([0.2, 0.3], ddof=1) / math.sqrt(2)  # t_{0.975, 1 d.f.}
    assert curve["hi"][0] == pytest.approx(0.25 + half)
