import pytest

from benchmarks.stats import wilson_interval


def test_wilson_closed_forms():
    # 0 of n: the upper end is z^2 / (n + z^2).
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(3.841459 / 13.841459, rel=1e-6)
    assert wilson_interval(5, 10) == pytest.approx((0.236593, 0.763407), abs=1e-6)
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(10 / 13.841459, rel=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)
