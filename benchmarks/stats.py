"""Success rates across seeds, and the tests that compare two models' seeds.

- :func:`wilson_interval`: the 95% Wilson interval of one success rate.
- :func:`boschloo_p`: two success rates compared with Boschloo's exact test (an
  unconditional test that uses Fisher's p as its statistic: exact, so its size never
  exceeds alpha, and uniformly more powerful than Fisher's conditional test, which at the 4
  to 30 seeds of a sweep is conservative: its size is often well below alpha, power lost).
  :func:`fisher_p` stays for the studies that report it.
- :func:`mean_interval`: the mean over seeds with its 95% Student-t interval (curves, bands).
- :func:`decay_rate`: the slope of a gradient-over-time profile's log norm against the lag,
  over a window of lags (the diagnostics' per-step rate and the study's windowed one).
- :func:`holm`: Holm's step-down correction for a family of tests.
- :func:`median`: the median of the finite values (None and NaN left out).
- :func:`median_interval` and :func:`mannwhitney_p`: steps-to-solve samples, the median with
  a percentile bootstrap interval (fixed seed) and the two-sided Mann-Whitney U test.
- :func:`seeds_needed`: how many seeds per model would detect a difference between two
  rates this large (power 0.8): Boschloo's power computed exactly by enumerating every
  outcome, Cohen's arcsine approximation (:func:`cohen_n`) where that grows past
  :data:`EXACT_MAX` seeds. The approximation alone is far off near rates of 0 or 1, where
  seed counts live (1.0 against 0.0 gives 2 seeds by Cohen's h; Boschloo's test needs 3, Fisher's
  4).

SciPy is imported inside the functions: scipy.stats takes about a second to import and
most callers of this module never need it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Above this many seeds per model the exact power is not enumerated (its cost grows as n^2
# outcomes times the nuisance grid, 7 s to reach 117 seeds) and Cohen's approximation is
# used: there it is within 5% of the exact count (57 against 60 seeds for rates 0.5 and
# 0.75, 116 against 117 for 0.5 and 0.68), while at a few seeds it is off by up to 2x.
EXACT_MAX = 60
NUISANCE_GRID = 256  # common success rates over which Boschloo's p is maximised
BOOTSTRAP_SEED = 0
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval (Wilson 1927) of ``successes`` out of ``n``; (0, 1) when
    n == 0. The closed form, not SciPy's ``binomtest(...).proportion_ci(method="wilson")``,
    which gives the same numbers (tested to 1e-12): every run writes this interval into its
    summary, and importing ``scipy.stats`` costs about a second, a tenth of a short run."""
    if n == 0:
        return (0.0, 1.0)
    p, z2 = successes / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # at 0 (n) successes the bound is 0 (1) exactly, which rounding would miss by 1e-17
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def mean_interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the first (seed) axis with the 95% Student-t interval of the mean, ignoring
    non-finite values; the interval is NaN where fewer than two values are finite, the mean
    where none is. No NumPy warnings on empty slices."""
    from scipy.stats import t as student

    a = np.asarray(values, dtype=float)
    ok = np.isfinite(a)
    n = ok.sum(axis=0)
    mean = np.where(n > 0, np.where(ok, a, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)
    dev = np.where(ok, a - np.where(n > 0, mean, 0.0), 0.0)
    sd = np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1))
    half = np.where(n > 1, student.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, mean - half, mean + half


def decay_rate(
    profile: Any, window: tuple[int, int] | None = None, *, min_points: int = 0, xp: Any = np
) -> Any:
    """Least-squares slope of log ``profile`` against the lag, per step of lag (negative when
    the norm decays going back in time from the loss).

    ``profile`` [n] is in time order with the loss at its last step, so step t is at lag
    n-1-t. The fit takes the positive finite values at lags ``window`` = (lo, hi), both
    ends included (None: every lag). With fewer than ``min_points`` such values the rate is
    NaN; ``min_points=0`` never gives NaN (with fewer than two values the slope is 0). The
    arithmetic is in ``profile``'s dtype, with ``xp`` its array module: NumPy, or
    ``jax.numpy`` inside a jitted function (the diagnostics). Returns a 0-d array."""
    n = profile.shape[-1]
    lag = (n - 1 - xp.arange(n)).astype(profile.dtype)
    ok = (profile > 0) & xp.isfinite(profile)
    if window is not None:
        ok = ok & (lag >= window[0]) & (lag <= window[1])
    y = xp.where(ok, xp.log(xp.where(ok, profile, 1.0)), 0.0)
    w = ok.astype(profile.dtype)
    n_ok = xp.sum(w)
    count = xp.maximum(n_ok, 1.0)
    mx, my = xp.sum(w * lag) / count, xp.sum(w * y) / count
    slope = xp.sum(w * (lag - mx) * (y - my)) / xp.maximum(xp.sum(w * (lag - mx) ** 2), 1e-12)
    return xp.where(n_ok >= min_points, slope, xp.nan) if min_points else slope


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error), in the input order: the
    i-th smallest p times (m - i + 1), made non-decreasing, capped at 1."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test of two success proportions (k1 of n1 against k2 of n2)."""
    from scipy.stats import fisher_exact

    return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def boschloo_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Boschloo exact test of two success proportions (SciPy: twice the smaller
    one-sided p); 1.0 when the table cannot tell anything (every seed solved, or none)."""
    from scipy.stats import boschloo_exact

    if n1 == 0 or n2 == 0:
        return 1.0
    p = float(boschloo_exact([[k1, k2], [n1 - k1, n2 - k2]], alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else min(p, 1.0)


def worst_for_nan(values: Sequence[float | None]) -> np.ndarray:
    """The values as floats with None and NaN (a diverged seed) as +inf, the worst loss."""
    a = np.array([math.nan if v is None else v for v in values], dtype=float)
    return np.where(np.isfinite(a), a, np.inf)


def mannwhitney_p(a: Sequence[float | None], b: Sequence[float | None]) -> float:
    """Two-sided Mann-Whitney U test of two samples (None or NaN counts as the worst
    value); 1.0 when either sample is empty."""
    from scipy.stats import mannwhitneyu

    x, y = worst_for_nan(a), worst_for_nan(b)
    if not len(x) or not len(y):
        return 1.0
    return float(mannwhitneyu(x, y, alternative="two-sided").pvalue)


def median(values: Sequence[float | None]) -> float:
    """The median of the finite values (None, NaN and inf left out); NaN if there is none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else math.nan


def quartiles(values: list[float]) -> list[float]:
    """Median with the 25% and 75% quantiles of the finite values (NaN if none)."""
    a = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not a.size:
        return [math.nan] * 3
    return [float(q) for q in np.quantile(a, [0.5, 0.25, 0.75])]


def median_interval(values: list[float], seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """The median and its 95% percentile-bootstrap interval (SciPy, 9,999 resamples, a fixed
    seed, so the same sample gives the same interval). The percentile method, not BCa: the
    median of a handful of seeds jumps between few values, and BCa's jackknife acceleration
    is undefined when they tie. NaN for no value; no interval (NaN) for a single one."""
    from scipy.stats import bootstrap

    a = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not a.size:
        return (math.nan, math.nan, math.nan)
    med = float(np.median(a))
    if a.size < 2:
        return (med, math.nan, math.nan)
    if np.all(a == a[0]):
        return (med, med, med)
    res = bootstrap((a,), np.median, method="percentile", rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return (med, float(ci.low), float(ci.high))


def cohen_h(p1: float, p2: float) -> float:
    """Cohen's effect size for two proportions: h = 2 asin(sqrt p1) - 2 asin(sqrt p2)."""
    return 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p2))


def cohen_n(h: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Seeds per group for a two-sided test at ``alpha`` to reach ``power`` against effect
    size ``h``, by the arcsine normal approximation (Cohen 1988, Ch. 6): 2 asin(sqrt p) of
    n seeds has variance 1/n, so n = 2 ((z_{1-alpha/2} + z_power) / h)^2; inf for h = 0."""
    from scipy.stats import norm

    if h == 0:
        return math.inf
    return 2 * ((norm.ppf(1 - alpha / 2) + norm.ppf(power)) / abs(h)) ** 2


@functools.lru_cache(maxsize=256)
def boschloo_region(n: int, alpha: float) -> np.ndarray:
    """The outcomes (k1, k2) of two models with ``n`` seeds each that Boschloo's two-sided
    test rejects at ``alpha``, as a boolean (n + 1, n + 1) array. Every outcome's one-sided
    p (alternative p1 > p2) is the largest, over a grid of common rates pi, of the null
    probability of the outcomes whose Fisher one-sided p is at most its own; the two-sided
    p is twice the smaller of the two one-sided ones (SciPy's convention), and by symmetry
    the other one-sided p of (k1, k2) is the first one's of (k2, k1)."""
    from scipy.stats import binom, hypergeom

    k = np.arange(n + 1)
    k1, k2 = np.meshgrid(k, k, indexing="ij")
    stat = hypergeom.sf(k1 - 1, 2 * n, k1 + k2, n).ravel()  # Fisher: P(X >= k1 | margins)
    order = np.argsort(stat, kind="stable")
    tie_end = np.searchsorted(stat[order], stat * (1 + 1e-7), side="right") - 1
    pis = (np.arange(NUISANCE_GRID) + 0.5) / NUISANCE_GRID
    pmf = binom.pmf(k[None, :], n, pis[:, None])  # pi x k
    joint = (pmf[:, :, None] * pmf[:, None, :]).reshape(len(pis), -1)  # pi x outcome
    greater = np.cumsum(joint[:, order], axis=1)[:, tie_end].max(axis=0).reshape(n + 1, n + 1)
    two_sided = np.minimum(1.0, 2 * np.minimum(greater, greater.T))
    return two_sided <= alpha


def exact_power(p1: float, p2: float, n: int, alpha: float = 0.05) -> float:
    """The probability that Boschloo's two-sided test at ``alpha`` rejects when two models
    with true success rates p1 and p2 run ``n`` seeds each."""
    from scipy.stats import binom

    k = np.arange(n + 1)
    prob = np.outer(binom.pmf(k, n, p1), binom.pmf(k, n, p2))
    return float(prob[boschloo_region(n, alpha)].sum())


def seeds_needed(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """The smallest number of seeds per model at which Boschloo's two-sided test at
    ``alpha`` detects true rates p1 and p2 with probability ``power``; None (never) when
    the rates are equal. Exact enumeration up to :data:`EXACT_MAX` seeds (the first n that
    reaches the power: exact power is not monotone in n, it rises in a saw-tooth), else
    Cohen's approximation rounded up."""
    if p1 == p2:
        return None
    approx = cohen_n(cohen_h(p1, p2), alpha, power)
    if approx > EXACT_MAX:
        return math.ceil(approx)
    for n in range(2, EXACT_MAX + 1):
        if exact_power(p1, p2, n, alpha) >= power:
            return n
    return math.ceil(max(approx, EXACT_MAX + 1))
