"""The curse of memory on the linear recurrence h_t = lam h_{t-1} + c x_t: the Monte Carlo
sensitivity against the finite sum written here in float64 NumPy, the closed forms against
a long finite sum, and the power law's exponent against the closed form's."""

import jax
import numpy as np
import pytest

from benchmarks.core import memory_curse as mc


def finite_sum(lam: float, length: int, normalise: bool) -> float:
    """E[(dh_T/dlam)^2] = sum_{k<T} (k lam^(k-1) c + lam^k c')^2, in float64."""
    k = np.arange(length, dtype=np.float64)
    c, dc = (np.sqrt(1 - lam**2), -lam / np.sqrt(1 - lam**2)) if normalise else (1.0, 0.0)
    lam_k1 = np.where(k > 0, lam ** np.maximum(k - 1, 0), 0.0)  # k lam^(k-1) is 0 at k = 0
    return float(np.sum((k * lam_k1 * c + lam**k * dc) ** 2))


@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("lam", [0.5, 0.9, 0.99])
def test_the_estimate_holds_the_finite_sum_in_its_interval(lam, normalise):
    length = int(np.ceil(8 / (1 - lam)))  # long enough to be near the stationary value
    got = mc.sensitivity(lam, length, 4000, jax.random.key(int(lam * 100) + normalise), normalise)
    want = finite_sum(lam, length, normalise)
    assert got.lo <= want <= got.hi, (got, want)
    assert (got.hi - got.lo) / want < 0.2  # and the interval is narrow enough to mean something
    assert want > 0.5 * mc.stationary(lam, normalise)  # near the stationary regime


@pytest.mark.parametrize("normalise", [False, True])
def test_the_closed_forms_are_the_long_sums_limits(normalise):
    for lam in (0.3, 0.9, 0.999):
        assert mc.stationary(lam, normalise) == pytest.approx(finite_sum(lam, 200_000, normalise), rel=1e-9)


def test_the_exponent_is_minus_3_unnormalised_and_minus_2_normalised():
    """Fitted to estimates at 1 - lam from 0.1 to 0.01, the exponent's interval holds the
    closed form's slope over the same points (about -2.98 and -1.99)."""
    gaps = np.array([0.1, 0.05, 0.02, 0.01])
    for normalise, near in ((False, -3.0), (True, -2.0)):
        est = [
            mc.sensitivity(1 - g, int(8 / g), 4000, jax.random.key(i), normalise).mean
            for i, g in enumerate(gaps)
        ]
        fit = mc.power_law(gaps, np.array(est))
        exact = mc.power_law(gaps, mc.stationary(1 - gaps, normalise))
        assert fit.lo <= exact.exponent <= fit.hi, (fit, exact)
        assert abs(exact.exponent - near) < 0.05 and fit.hi - fit.lo < 0.3


def test_bad_arguments_are_one_line():
    with pytest.raises(ValueError, match=r"^lam must be in \[0, 1\) \(a stable recurrence\), got 1.0$"):
        mc.sensitivity(1.0, 10, 10, jax.random.key(0))
    with pytest.raises(ValueError, match="^length must be >= 1 and sequences >= 2, got 0 and 10$"):
        mc.sensitivity(0.5, 0, 10, jax.random.key(0))
    with pytest.raises(ValueError, match="^power_law needs 3 or more points"):
        mc.power_law(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
