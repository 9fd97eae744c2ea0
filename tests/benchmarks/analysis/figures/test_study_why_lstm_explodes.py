"""The why_lstm_explodes figure's log axes: values float32 cannot hold are left out."""

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.analysis.figures import study_why_lstm_explodes as fig_module


def test_a_profile_with_inf_and_zero_draws_on_a_log_axis():
    """A seed past float32's range stores inf, an underflowed one 0: neither has a place on
    a log axis (an inf was seen to make matplotlib's log ticker raise OverflowError in the
    smoke study); both are left out and the finite positive values are drawn as they are."""
    profile = [1e-30, 0.0, np.inf, 3.0e12, 1.0]
    row = {
        "grad_c_init": profile,
        "cec_profile_init": profile,
        "dominant_profile_init": profile,
        "dominant_init": "R_z",
    }
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig_module._profiles(ax, row, "init", "-", "init")
    ax.set_yscale("log")
    fig.canvas.draw()
    drawn = ax.lines[0].get_ydata()
    np.testing.assert_array_equal(np.isnan(drawn), [False, True, True, False, False])
    np.testing.assert_array_equal(drawn[[0, 3, 4]], [1e-30, 3.0e12, 1.0])
