import math

import numpy as np
import pytest
from scipy.stats import binom, boschloo_exact, fisher_exact, mannwhitneyu

from benchmarks import stats
from benchmarks.stats import (
    boschloo_p,
    cohen_h,
    cohen_n,
    decay_rate,
    fisher_p,
    holm,
    mannwhitney_p,
    median,
    median_interval,
    seeds_needed,
    wilson_interval,
)


def test_wilson_closed_forms():
    # 0 of n: the upper end is z^2 / (n + z^2).
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(3.841459 / 13.841459, rel=1e-6)
    assert wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(10 / 13.841459, rel=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    # exactly 0 and 1 at the ends, whatever n (a figure's error bar below 0 is refused)
    assert all(wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0 for n in range(1, 200))


def test_decay_rate_is_the_least_squares_slope_against_the_lag_over_its_window():
    rng = np.random.default_rng(0)
    n = 60
    lag = n - 1 - np.arange(n)  # time order: the loss at the last step
    profile = np.exp(-0.07 * lag + 0.3 * rng.standard_normal(n))
    profile[[3, 40]] = 0.0  # underflow: not a point of the fit
    profile[10] = np.nan
    ok = np.isfinite(profile) & (profile > 0)
    assert decay_rate(profile) == pytest.approx(np.polyfit(lag[ok], np.log(profile[ok]), 1)[0], rel=1e-12)
    inside = ok & (lag >= 6) & (lag <= 53)
    expected = np.polyfit(lag[inside], np.log(profile[inside]), 1)[0]
    assert decay_rate(profile, (6, 53)) == pytest.approx(expected, rel=1e-12)
    two = np.zeros(n)
    two[-2:] = [1.0, 2.0]  # two points (lags 1, 0): a slope, or NaN when three are asked for
    assert decay_rate(two) == pytest.approx(-math.log(2.0))  # halving per step of lag
    assert math.isnan(decay_rate(two, min_points=3))
    assert decay_rate(np.zeros(n)) == 0.0 and math.isnan(decay_rate(np.zeros(n), min_points=3))


def test_fisher_tea_tasting():
    # Fisher (1935): 3 of 4 cups right each way; two-sided p = 34/70.
    assert fisher_p(3, 4, 1, 4) == pytest.approx(0.4857, abs=1e-4)
    assert fisher_p(3, 4, 1, 4) == pytest.approx(fisher_exact([[3, 1], [1, 3]]).pvalue)


def test_boschloo_is_scipys_and_more_powerful_than_fisher():
    for k1, n1, k2, n2 in [(8, 8, 3, 8), (4, 4, 0, 4), (5, 5, 1, 5), (3, 4, 1, 4), (25, 30, 15, 30)]:
        expected = boschloo_exact([[k1, k2], [n1 - k1, n2 - k2]]).pvalue
        assert boschloo_p(k1, n1, k2, n2) == pytest.approx(expected, rel=1e-6)
        assert boschloo_p(k1, n1, k2, n2) < fisher_p(k1, n1, k2, n2)
    # every seed solved (or none) on both sides: nothing to tell, SciPy's NaN reads 1
    assert boschloo_p(8, 8, 8, 8) == 1.0 and boschloo_p(0, 5, 0, 8) == 1.0


def test_holm_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 -> kept at 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


def test_mannwhitney_is_scipys_with_nan_as_worst():
    a, b = [100, 300, 200, None], [400, 500, 600, 700]
    expected = mannwhitneyu([100, 300, 200, math.inf], b, alternative="two-sided").pvalue
    assert mannwhitney_p(a, b) == pytest.approx(expected)
    assert mannwhitney_p([], b) == 1.0


def _bootstrap_quantile_by_hand(sorted_values: list[float], q: float) -> float:
    """The q-quantile of the bootstrap median of an odd-sized sample, exactly: the median
    of a resample is at most the j-th value when more than half of its draws are."""
    n = len(sorted_values)
    for j, v in enumerate(sorted_values, start=1):
        if binom.sf(n // 2, n, j / n) >= q:
            return v
    return sorted_values[-1]


def test_median_of_the_finite_values():
    assert median([3.0, None, 1.0, math.nan, 2.0, math.inf]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert math.isnan(median([])) and math.isnan(median([None, math.nan]))


def test_median_interval_against_the_exact_bootstrap_distribution():
    for sample in ([1, 2, 3, 4, 5], list(range(1, 12)), [120, 340, 560, 780, 900, 1500, 2500]):
        med, lo, hi = median_interval(sample)
        assert med == np.median(sample)
        assert (lo, hi) == (
            _bootstrap_quantile_by_hand(sample, 0.025),
            _bootstrap_quantile_by_hand(sample, 0.975),
        )
    assert median_interval([3, 1, 2]) == median_interval([3, 1, 2])  # a fixed seed
    assert median_interval([500, 500, 500]) == (500, 500, 500)
    med, lo, hi = median_interval([700])
    assert med == 700 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in median_interval([]))


def test_cohen_sample_sizes_match_cohens_table():
    # Cohen (1988), Table 6.4.1: n per group for alpha = .05 two-sided, power .80
    for h, n in [(0.2, 392), (0.5, 63), (0.8, 25)]:
        assert round(cohen_n(h)) == n
    assert cohen_h(0.75, 0.5) == pytest.approx(2 * math.asin(math.sqrt(0.75)) - math.pi / 2)
    assert cohen_n(0.0) == math.inf


def test_boschloo_region_is_scipys_at_six_seeds():
    n = 6
    region = stats.boschloo_region(n, 0.05)
    for k1 in range(n + 1):
        for k2 in range(n + 1):
            p = boschloo_exact([[k1, k2], [n - k1, n - k2]]).pvalue
            assert region[k1, k2] == (not math.isnan(p) and p <= 0.05), (k1, k2, p)


def _power_with_scipy(p2: float, n: int) -> float:
    """Boschloo's power at alpha 0.05 against a model that always solves (p1 = 1): only the
    outcomes with k1 = n occur, each tested with SciPy."""
    return sum(
        binom.pmf(k2, n, p2) for k2 in range(n + 1) if boschloo_exact([[n, k2], [0, n - k2]]).pvalue <= 0.05
    )


def test_seeds_needed_against_scipys_test_enumerated():
    for p2 in (0.0, 0.5):
        powers = {n: _power_with_scipy(p2, n) for n in range(2, 13)}
        first = min(n for n, power in powers.items() if power >= 0.8)
        assert seeds_needed(1.0, p2) == first
        assert stats.exact_power(1.0, p2, first) == pytest.approx(powers[first], abs=1e-6)
    # 3/3 against 0/3: p = 2 max_pi pi^3 (1 - pi)^3 = 1/32; 2/2 against 0/2: 1/8
    assert seeds_needed(1.0, 0.0) == 3
    assert seeds_needed(0.5, 0.5) is None and seeds_needed(0.0, 0.0) is None


def test_seeds_needed_past_the_exact_range_is_cohens():
    n = seeds_needed(0.5, 0.55)
    assert n == math.ceil(cohen_n(cohen_h(0.5, 0.55))) and n > stats.EXACT_MAX
