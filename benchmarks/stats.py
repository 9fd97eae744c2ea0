"""Success rates across seeds with confidence intervals."""

from __future__ import annotations


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """The 95% Wilson score interval (Wilson 1927) of ``successes`` out of ``n``, from SciPy's
    binomial test; (0, 1) when n == 0. SciPy is imported here, not with the module: scipy.stats
    takes about a second to import and most callers never need it."""
    if n == 0:
        return (0.0, 1.0)
    from scipy.stats import binomtest

    ci = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (max(0.0, float(ci.low)), min(1.0, float(ci.high)))
