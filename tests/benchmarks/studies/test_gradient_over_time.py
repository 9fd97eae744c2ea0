"""The gradient-over-time study: decay rates from hand-written grad_time.npz, the verdicts'
margins, and the smoke scale end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from benchmarks import store
from benchmarks.stats import decay_rate
from benchmarks.studies import gradient_over_time as study
from benchmarks.studies import load_runs, reproduce

T = 50


def _write(fake_runs, run: Path, model: str, rates: list[float], final_rates: list[float]) -> Path:
    """A run whose seed s has ||dL/dh_t|| = (s + 1) exp(rate_s * (T - 1 - t)) at the first
    update and exp(final_rate_s * lag) at the last; steps after the update in between are
    constant (they must not be read)."""
    seeds = list(range(len(rates)))
    config = {"model": {"name": model, "hidden": 8}, "task": {"name": "adding", "length": T}, "seeds": seeds}
    fake_runs.write(run, config, fake_runs.summary(seeds, [False] * len(seeds)))
    lag = np.arange(T)[::-1]
    grad = np.ones((3, len(seeds), T))
    grad[0] = [(s + 1) * np.exp(r * lag) for s, r in enumerate(rates)]
    grad[-1] = [np.exp(r * lag) for r in final_rates]
    store.write_npz(run / "grad_time.npz", {"step": np.array([1, 2, 3]), "grad_h": grad})
    return run


def _t(values: list[float]) -> tuple[float, list[float]]:
    a = np.asarray(values)
    half = stats.t.ppf(0.975, a.size - 1) * stats.sem(a)
    return a.mean(), [a.mean() - half, a.mean() + half]


def test_lag_order_drops_padding():
    assert study.against_lag(np.array([1.0, 2.0, 3.0, 0.0, 0.0])).tolist() == [3.0, 2.0, 1.0]


def rate(by_lag: np.ndarray) -> float:
    """The study's decay rate of a profile in lag order: over its window, 3 points at least."""
    return float(decay_rate(by_lag[::-1], study.window(by_lag.size), min_points=3))


def test_decay_rate_of_a_geometric_profile_and_its_window():
    assert study.window(100) == (10, 89)
    profile = 5.0 * 0.93 ** np.arange(100)
    assert rate(profile) == pytest.approx(math.log(0.93), rel=1e-9)
    bent = profile.copy()
    bent[:10] = 1e6  # outside the window: ignored
    bent[90:] = 1e-30
    assert rate(bent) == pytest.approx(math.log(0.93), rel=1e-9)
    assert math.isnan(rate(np.zeros(100)))


@pytest.fixture
def result(tmp_path, fake_runs):
    root = tmp_path / "sweep"
    _write(fake_runs, root / "0", "rnn", [-0.10, -0.12, -0.11], [-0.2, -0.2, -0.2])
    _write(fake_runs, root / "1", "lstm", [-0.010, -0.012, -0.011], [-0.05, -0.05, -0.05])
    _write(fake_runs, root / "2", "gru", [-0.02, -0.03], [-0.02, -0.03])
    return study.analyse(load_runs(root))


def test_rates_with_t_intervals(result):
    assert [r["model"] for r in result["models"]] == ["rnn", "lstm", "gru"]
    rnn = study.row_of(result, "rnn")
    mean, ci = _t([-0.10, -0.12, -0.11])
    assert rnn["init"]["rate"]["mean"] == pytest.approx(mean)
    assert rnn["init"]["rate"]["ci95"] == pytest.approx(ci)
    assert rnn["final"]["rate"]["mean"] == pytest.approx(-0.2)
    assert rnn["trained_steps"] == [2]
    # the geometric mean over seeds at lag 0 is (1 * 2 * 3) ** (1/3)
    assert rnn["init"]["norm"][0] == pytest.approx(6 ** (1 / 3))


def test_claims_and_margins(result):
    exp, slow = study.claims(result, "cpu")
    assert exp.verdict == "agrees" and slow.verdict == "agrees"
    assert all(c.verdict == "not comparable" for c in study.claims(result, "smoke"))
    flat = {"mean": -0.01, "ci95": [-0.015, -0.005]}
    assert study.exponential_verdict(flat)[0] == "disagrees"
    edge = {"mean": -0.023, "ci95": [-0.03, -0.015]}
    assert study.exponential_verdict(edge)[0] == "not comparable"
    rnn = {"mean": -0.05, "ci95": [-0.06, -0.04]}
    same = {"mean": -0.045, "ci95": [-0.05, -0.04]}  # at most 0.02/step above the RNN's: below the margin
    assert study.slower_verdict(same, rnn)[0] == "disagrees"
    assert math.isclose(study.DECAY_MARGIN, math.log(10) / 100)


@pytest.mark.slow
def test_smoke_end_to_end(tmp_path):
    out = tmp_path / "smoke"
    reproduce(study.STUDY, "smoke", out, [], echo=lambda _: None)
    report = json.loads((out / "reproduction.json").read_text())
    runs = load_runs(out)
    assert sorted(r.get("model.name") for r in runs) == ["lstm", "rnn"]
    for r in runs:
        g = store.read_arrays(r.path, "grad_time")
        assert g["step"].tolist() == [1, 2, 3, 4]
        row = study.row_of(report["result"], r.get("model.name"))
        expected = [rate(study.against_lag(p)) for p in g["grad_h"][0]]
        assert row["init"]["rate"]["per_seed"] == pytest.approx(expected, rel=1e-9)
        assert row["trained_steps"] == [3]
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}
    assert len((out / "readme_rows.md").read_text().splitlines()) == 2
    assert (out / report["figures"][0]).stat().st_size > 20_000


def test_faithful_scale_is_the_papers_protocol_whole():
    """The paper's 100 iterations fit a CPU: ``faithful`` runs every row of ``paper``."""
    assert study.STUDY.scales["faithful"] == study.STUDY.scales["paper"]
    assert list(study.STUDY.scales) == ["smoke", "cpu", "faithful", "paper"]
    assert "4,040 model-steps" in study.STUDY.scale_notes["faithful"]
