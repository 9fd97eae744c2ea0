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


def test_the_carousels_sensitivity_is_the_forget_gates_recurrence_written_out():
    """One LSTM cell whose gates read nothing but their biases (i = o = 1 at bias 30, f =
    sigmoid(b_f)) and whose cell input is z_t = tanh(w x_t): c_t = f c_{t-1} + z_t, y_T =
    tanh(c_T). Then dc_t/db_f = f (1 - f) c_{t-1} + f dc_{t-1}/db_f and dc_t/dw = x_t (1 -
    z_t^2) + f dc_{t-1}/dw (and R_f's, whose input is h_{t-1}), written out here in float64:
    the mean of the truncated gradient's per-sequence squares must match it, inside the
    interval returned."""
    from models import make_model

    net = make_model("lstm", 1, 1, hidden=1)
    params = {k: np.zeros_like(v) for k, v in net.init(jax.random.key(0)).items()}
    b_f, w = 2.5, 0.7
    params.update(b_i=np.full(1, 30.0), b_o=np.full(1, 30.0), b_f=np.full(1, b_f))
    params.update(W_z=np.full((1, 1), w), W_out=np.ones((1, 1)))
    params = {k: np.asarray(v, np.float32) for k, v in params.items()}
    x = np.asarray(jax.random.normal(jax.random.key(1), (64, 40, 1)), np.float64)
    got = mc.carousel_sensitivity(net, params, x.astype(np.float32))

    i = o = 1 / (1 + np.exp(-30.0))
    f = 1 / (1 + np.exp(-b_f))
    want = {"b_f": [], "W_z": [], "R_f": []}
    for seq in x[:, :, 0]:
        c = h = dc_b = dc_w = dc_r = 0.0
        for x_t in seq:
            z = np.tanh(w * x_t)
            dc_b = f * (1 - f) * c + f * dc_b
            dc_w = i * x_t * (1 - z * z) + f * dc_w
            dc_r = f * (1 - f) * c * h + f * dc_r  # R_f's input is h_{t-1}; no error reaches h's past
            c = f * c + i * z
            h = o * np.tanh(c)
        slope = o * (1 - np.tanh(c) ** 2)
        want["b_f"].append((slope * dc_b) ** 2)
        want["W_z"].append((slope * dc_w) ** 2)
        want["R_f"].append((slope * dc_r) ** 2)
    for name, values in want.items():
        mean = float(np.mean(values))
        assert got[name].mean == pytest.approx(mean, rel=2e-4), name
        assert got[name].lo < mean < got[name].hi, name


def test_a_grus_update_gate_is_its_carousel_written_out():
    """One GRU unit with no recurrent weights, u = sigmoid(b_u) and n_t = tanh(w x_t):
    h_t = u h_{t-1} + (1 - u) n_t, y_T = h_T, so dh_t/db_u = u (1 - u) (h_{t-1} - n_t) +
    u dh_{t-1}/db_u and dh_t/dw = (1 - u) x_t (1 - n_t^2) + u dh_{t-1}/dw, in float64."""
    from models import make_model

    net = make_model("gru", 1, 1, hidden=1)
    params = {k: np.zeros_like(v) for k, v in net.init(jax.random.key(0)).items()}
    b_u, w = 3.0, 0.9
    params.update(b_u=np.full(1, b_u), W_n=np.full((1, 1), w), W_out=np.ones((1, 1)))
    params = {k: np.asarray(v, np.float32) for k, v in params.items()}
    x = np.asarray(jax.random.normal(jax.random.key(2), (64, 50, 1)), np.float64)
    got = mc.carousel_sensitivity(net, params, x.astype(np.float32))

    u = 1 / (1 + np.exp(-b_u))
    want = {"b_u": [], "W_n": []}
    for seq in x[:, :, 0]:
        h = dh_b = dh_w = 0.0
        for x_t in seq:
            n = np.tanh(w * x_t)
            dh_b = u * (1 - u) * (h - n) + u * dh_b
            dh_w = (1 - u) * x_t * (1 - n * n) + u * dh_w
            h = u * h + (1 - u) * n
        want["b_u"].append(dh_b**2)
        want["W_n"].append(dh_w**2)
    for name, values in want.items():
        mean = float(np.mean(values))
        assert got[name].mean == pytest.approx(mean, rel=2e-4), name
        assert got[name].lo < mean < got[name].hi, name


def test_the_carousel_sensitivity_is_the_truncated_rules_gradient_squared():
    """The CEC-only gradient is the 1997 truncated rule's: for a random LSTM (H=3, every
    weight drawn, forget bias 2), the mean over sequences of ||dy_T/dtheta||^2 per parameter
    equals that of the float64 truncated reference written in the tests
    (``tests/lstm_reference.py``), fed the error 1 at the last step's output only."""
    from lstm_reference import truncated_reference

    from models import make_model

    net = make_model("lstm", 2, 1, hidden=3, forget_bias=2.0)
    params = net.init(jax.random.key(5))
    x = np.asarray(jax.random.normal(jax.random.key(6), (8, 30, 2)), np.float64)
    got = mc.carousel_sensitivity(net, params, x.astype(np.float32))
    squares: dict[str, list[float]] = {}
    for seq in x:
        g_y = np.zeros((30, 1, 1))
        g_y[-1] = 1.0  # y_T summed over its one unit
        grads, _ = truncated_reference(params, seq[:, None, :], g_y)
        for name, g in grads.items():
            squares.setdefault(name, []).append(float(np.sum(g**2)))
    assert set(got) == set(squares)
    for name, values in squares.items():
        assert got[name].mean == pytest.approx(np.mean(values), rel=2e-4, abs=1e-30), name
    assert got["R_f"].mean > 0 and got["b_f"].mean > 0  # the forget gate's path is in it


def test_the_state_sensitivity_is_the_carousels_own_recurrence_in_float64():
    """``of="state"``: the CEC-only gradient of sum(c_T) for a random LSTM (H=3, forget bias
    2), written out here in float64: dc_T = 1, dc_{t-1} = f_t dc_t, and each gate's local
    gradient (z, i, f; nothing reaches o or the readout)."""
    from models import make_model

    net = make_model("lstm", 2, 1, hidden=3, forget_bias=2.0)
    params = net.init(jax.random.key(5))
    x = np.asarray(jax.random.normal(jax.random.key(6), (6, 30, 2)), np.float64)
    got = mc.carousel_sensitivity(net, params, x.astype(np.float32), of="state")
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    squares: dict[str, list[float]] = {k: [] for k in p}
    for seq in x:
        h, c, saved = np.zeros(3), np.zeros(3), []
        for x_t in seq:
            a = {g: x_t @ p[f"W_{g}"] + h @ p[f"R_{g}"] + p[f"b_{g}"] for g in "zifo"}
            z, i, f, o = np.tanh(a["z"]), sig(a["i"]), sig(a["f"]), sig(a["o"])
            saved.append((x_t, h, c, z, i, f))
            c = f * c + i * z
            h = o * np.tanh(c)
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        dc = np.ones(3)
        for x_t, h_prev, c_prev, z, i, f in reversed(saved):
            for g, da in (
                ("z", dc * i * (1 - z**2)),
                ("i", dc * z * i * (1 - i)),
                ("f", dc * c_prev * f * (1 - f)),
            ):
                grads[f"W_{g}"] += np.outer(x_t, da)
                grads[f"R_{g}"] += np.outer(h_prev, da)
                grads[f"b_{g}"] += da
            dc = dc * f
        for k, g in grads.items():
            squares[k].append(float(np.sum(g**2)))
    for name, values in squares.items():
        assert got[name].mean == pytest.approx(np.mean(values), rel=2e-4, abs=1e-30), name
    assert got["W_o"].mean == 0 and got["W_out"].mean == 0 and got["b_z"].mean > 0
    with pytest.raises(ValueError, match="^of must be 'output' or 'state', got 'h'$"):
        mc.carousel_sensitivity(net, params, x.astype(np.float32), of="h")
