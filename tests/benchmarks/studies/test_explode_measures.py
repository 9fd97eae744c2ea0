"""The claims of why_lstm_explodes read off its measurements (untrained nets): each rule at
its boundaries, on hand-written measurements."""

from benchmarks.studies import explode_measures as em


def _fit(exponent, half=0.05):
    return {"exponent": exponent, "lo": exponent - half, "hi": exponent + half, "points": 8}


def _gated(fits):
    points = [
        {"bias": b, "gate": 1 - 0.5 / 2**b, "sensitivity": {n: {"mean": 2.0**b} for n in fits}}
        for b in range(3)
    ]
    return {"fits": fits, "points": points}


def test_the_lstm_follows_the_theory_within_a_quarter():
    fits = {"W_z": _fit(-1.24), "b_z": _fit(-1.8), "gate": _fit(-3.2), "W_out": _fit(0.0)}
    claim = em.claim_lstm_theory({"gated": {"lstm": _gated(fits)}, "hidden_curse": 16}, small=False)
    assert claim.verdict == "agrees"
    fits["b_z"] = _fit(-1.7)  # 0.3 from -2
    claim = em.claim_lstm_theory({"gated": {"lstm": _gated(fits)}, "hidden_curse": 16}, small=False)
    assert claim.verdict == "disagrees" and claim.reason.endswith(": b_z (constant input)")
    assert em.claim_lstm_theory({"gated": {"lstm": _gated(fits)}}, small=True).verdict == "not comparable"


def test_normalisation_is_read_at_minus_one_half():
    def measured(lstm_hi, cifg_lo, gru_lo):
        return {
            "gated": {
                "lstm": _gated({"W_z": {"exponent": lstm_hi - 0.1, "lo": lstm_hi - 0.2, "hi": lstm_hi}}),
                "lstm_cifg": _gated({"W_z": {"exponent": cifg_lo + 0.1, "lo": cifg_lo, "hi": cifg_lo + 0.2}}),
                "gru": _gated({"W_n": {"exponent": gru_lo + 0.1, "lo": gru_lo, "hi": gru_lo + 0.2}}),
            }
        }

    assert em.claim_normalisation(measured(-0.51, -0.49, -0.49), False).verdict == "agrees"
    assert em.claim_normalisation(measured(-0.49, -0.49, -0.49), False).verdict == "disagrees"
    assert em.claim_normalisation(measured(-0.51, -0.51, -0.49), False).verdict == "disagrees"


def test_the_linear_claim_needs_every_interval_and_both_slopes():
    def side(closed, lo):
        points = [
            {"gap": g, "mean": 1.0, "lo": lo, "hi": 2.0, "closed_form": closed} for g in (0.5, 0.1, 0.01)
        ]
        return {"points": points, "fit": _fit(-3.0), "closed_form_fit": _fit(-2.97)}

    measured = {"linear": {"plain": side(1.5, 1.0), "normalised": side(1.5, 1.0)}}
    claim = em.claim_linear(measured, False)
    assert claim.verdict == "agrees" and claim.ours.startswith("6/6 Monte Carlo intervals")
    measured["linear"]["normalised"]["points"][0]["lo"] = 1.6  # one miss of six: chance (5% each)
    assert em.claim_linear(measured, False).verdict == "agrees"
    measured["linear"]["normalised"] = side(1.5, 1.6)  # three intervals above the closed form
    claim = em.claim_linear(measured, False)
    assert claim.verdict == "disagrees" and claim.ours.startswith("3/6 ")


def test_growth_agrees_only_when_the_largest_sizes_interval_lies_above_the_smallest():
    def row(hidden, growing, lo, hi):
        return {
            "cell": "lstm",
            "init": "uniform",
            "scale": 0.08,
            "hidden": hidden,
            "rho": 0.3,
            "mean_exponent": -0.1,
            "growing": growing,
            "draws": 20,
            "lo": lo,
            "hi": hi,
        }

    assert (
        em.claim_growth({"growth": [row(32, 0, 0.0, 0.16), row(512, 10, 0.3, 0.7)]}, False).verdict
        == "agrees"
    )
    assert (
        em.claim_growth({"growth": [row(32, 0, 0.0, 0.31), row(512, 10, 0.3, 0.7)]}, False).verdict
        == "disagrees"
    )


def test_the_theory_is_read_on_the_memory_state_when_it_was_measured():
    """The output's exponents can bend (tanh at c_T); the verdict reads the state's."""
    state = {"W_z": _fit(-1.0), "b_z": _fit(-2.0), "gate": _fit(-3.0)}
    output = {"W_z": _fit(-0.5), "b_z": _fit(-1.4), "gate": _fit(-3.6), "W_out": _fit(0.0)}
    lstm = {**_gated(output), "state_fits": state}
    claim = em.claim_lstm_theory({"gated": {"lstm": lstm}, "hidden_curse": 16}, small=False)
    assert claim.verdict == "agrees" and "output y_T: W_z -0.50" in claim.ours
