"""The Pascanu et al. 2013 study: its analysis and verdicts on run directories written by
hand (expected counts and Wilson intervals computed here with scipy), and the smoke
scale end to end."""

import json

import pandas as pd
import pytest
from scipy.stats import binomtest

from benchmarks.studies import get_study, load_runs, reproduce
from benchmarks.studies.pascanu2013 import PAPER_STEPS, STUDY, analyse, claims, fig7_verdict, method


def _config(model, clip, reg, length, task="temporal_order", variant="pascanu2013", steps=500):
    return {
        "model": {"name": model, "cell": "rnn", "hidden": 50},
        "task": {"name": task, "variant": variant, "length": length},
        "optim": {"name": "sgd", "lr": 0.01, "clip": clip, "clip_value": 1.0, "regulariser": reg},
        "train": {"steps": steps, "batch_size": 20, "eval_size": 1000},
        "seeds": list(range(5)),
    }


def _wilson(k, n):
    ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
    return ci.low, ci.high


@pytest.fixture
def runs(tmp_path, fake_runs):
    """Smart tanh at T=50: MSGD 0/5, MSGD-C 2/5, MSGD-CR 5/5 (two jobs of 3 + 2 seeds);
    MSGD-CR at T=20 5/5; and Sec. 4.1.2's adding (5/5) and permutation (1/5) at T=20."""
    w = fake_runs.write
    s = fake_runs.summary
    w(tmp_path / "a", _config("rnn_tanh_smart", "none", 0.0, 50), s(range(5), [False] * 5))
    w(
        tmp_path / "b",
        _config("rnn_tanh_smart", "global_norm", 0.0, 50),
        s(range(5), [True, False, True, False, False]),
    )
    w(tmp_path / "c", _config("rnn_tanh_smart", "global_norm", 2.0, 50), s(range(3), [True] * 3))
    w(tmp_path / "d", _config("rnn_tanh_smart", "global_norm", 2.0, 50), s(range(3, 5), [True] * 2))
    w(tmp_path / "e", _config("rnn_tanh_smart", "global_norm", 2.0, 20), s(range(5), [True] * 5))
    w(tmp_path / "f", _config("rnn_tanh_smart", "global_norm", 2.0, 20, "adding"), s(range(5), [True] * 5))
    perm = _config("rnn_tanh_smart", "global_norm", 2.0, 20, "permutation")
    w(tmp_path / "g", perm, s(range(5), [True, False, False, False, False]))
    return load_runs(tmp_path)


def test_the_registry_has_the_study_at_three_scales():
    assert get_study("pascanu2013") is STUDY
    assert set(STUDY.scales) == {"smoke", "cpu", "paper"}
    assert len(STUDY.scales["smoke"]) == 1


def test_method_names_follow_clipping_and_regulariser():
    assert [method({"clip": c, "regulariser": r}) for c, r in [("none", 0.0), ("global_norm", 0.0)]] == [
        "MSGD",
        "MSGD-C",
    ]
    assert method({"clip": "global_norm", "regulariser": 2.0}) == "MSGD-CR"
    assert method({"clip": "none", "regulariser": 2.0}) == "MSGD-R"


def test_analysis_pools_seeds_per_init_method_and_length(runs):
    result = analyse(runs)
    rows = {(r["init"], r["method"], r["length"]): r for r in result["figure7"]}
    assert set(rows) == {
        ("smart tanh", "MSGD", 50),
        ("smart tanh", "MSGD-C", 50),
        ("smart tanh", "MSGD-CR", 50),
        ("smart tanh", "MSGD-CR", 20),
    }
    for key, k in (
        (("smart tanh", "MSGD", 50), 0),
        (("smart tanh", "MSGD-C", 50), 2),
        (("smart tanh", "MSGD-CR", 50), 5),
    ):
        assert (rows[key]["solved"], rows[key]["seeds"]) == (k, 5)
        assert rows[key]["ci95"] == pytest.approx(_wilson(k, 5))
    assert rows[("smart tanh", "MSGD-CR", 50)]["steps"] == 500
    text = {r["task"]: (r["solved"], r["seeds"]) for r in result["text"]}
    assert text == {"adding": (5, 5), "permutation": (1, 5)}


def test_claims_and_their_verdicts(runs):
    made = {c.claim: c for c in claims(analyse(runs), "cpu")}
    cr = made["Temporal order, smart tanh init, MSGD-CR"]
    lo, hi = _wilson(5, 5)
    assert cr.ours == f"5/5 [{lo:.2f}, {hi:.2f}] at T=50, 500 updates"
    assert cr.verdict == "agrees"  # solved at a plotted length, even with fewer updates
    assert made["Temporal order, smart tanh init, MSGD"].verdict == "not comparable"  # T=50 < 150
    assert made["Temporal order, smart tanh init, MSGD-C"].reason.startswith(
        "the paper's value for this curve"
    )
    adding = made["MSGD-CR solves adding (pascanu2013)"]
    assert (adding.paper, adding.verdict) == ("5/5", "not comparable")  # T=20 < 200
    assert made["MSGD-CR solves permutation (pascanu2013)"].paper == "2/5"


@pytest.mark.parametrize(
    ("expected", "length", "k", "steps", "verdict"),
    [
        (1, 50, 5, 500, "agrees"),
        (1, 49, 5, 500, "not comparable"),
        (1, 100, 4, 500, "not comparable"),  # fewer updates than the paper: no verdict on a failure
        (1, 100, 4, PAPER_STEPS, "disagrees"),  # 100% lies outside the Wilson interval of 4/5
        (0, 150, 0, 500, "not comparable"),
        (0, 150, 0, PAPER_STEPS, "agrees"),
        (0, 150, 1, 500, "disagrees"),  # solving where the paper fails, even with fewer updates
        (0, 100, 0, PAPER_STEPS, "not comparable"),  # 100 is not a long length
        (None, 250, 5, PAPER_STEPS, "not comparable"),
    ],
)
def test_figure7_verdict_boundaries(expected, length, k, steps, verdict):
    row = {"length": length, "solved": k, "seeds": 5, "steps": steps}
    assert fig7_verdict(expected, row)[0] == verdict
    lo, hi = _wilson(k, 5)
    if verdict in ("agrees", "disagrees"):
        assert (lo <= expected <= hi) == (verdict == "agrees")


@pytest.mark.slow
def test_smoke_scale_end_to_end(tmp_path):
    out = tmp_path / "smoke"
    report = reproduce(STUDY, "smoke", out, [], echo=lambda _: None)
    saved = json.loads((out / "reproduction.json").read_text())
    assert saved["claims"] == report["claims"] and saved["scale"] == "smoke"
    assert all(s["status"] == 0 for s in report["sweeps"])
    rows = {r["method"]: r for r in saved["result"]["figure7"]}
    assert set(rows) == {"MSGD", "MSGD-CR"}
    for row in rows.values():
        (run,) = row["runs"]
        summary = json.loads((tmp_path / run / "summary.json").read_text())
        k = sum(s["solved"] for s in summary["seeds"])
        assert (row["solved"], row["seeds"]) == (k, 2) and row["length"] == 10
        final = pd.read_parquet(tmp_path / run / "metrics.parquet").groupby("seed")["solved"].max()
        assert int(final.sum()) == k
    assert {c["verdict"] for c in saved["claims"]} == {"not comparable"}  # T=10: below the figure's lengths
    lines = (out / "readme_rows.md").read_text().splitlines()
    assert len(lines) == len(saved["claims"]) == 2
    assert all(
        line.startswith("| Pascanu et al. 2013")
        and "`scripts/reproduce.py pascanu2013 --scale smoke`" in line
        for line in lines
    )
    png = out / "figures" / "pascanu2013_figure7.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
