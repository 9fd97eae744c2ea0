"""Le et al. 2015 (IRNN): rates, curves and the longest-T verdicts on run directories
written by hand, and the smoke scale end to end."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student

from benchmarks.stats import wilson_interval
from benchmarks.studies import base
from benchmarks.studies import le2015 as le
from benchmarks.studies.base import load_runs


def _write(root, fake_runs, model, length, solved, curves=None):
    seeds = range(len(solved))
    config = {
        "model": {"name": model, "hidden": 64},
        "task": {"name": "adding", "variant": "arjovsky2016", "length": length},
        "seeds": list(seeds),
    }
    summary = fake_runs.summary(seeds, solved)
    for s in summary["seeds"]:
        s["final_eval_loss"] = 0.01 if s["solved"] else 0.17
    run = fake_runs.write(root / f"{model}-{length}", config, summary)
    if curves is not None:
        rows = [
            {"step": step, "seed": seed, "eval_loss": loss}
            for seed, curve in enumerate(curves)
            for step, loss in zip((100, 200), curve, strict=True)
        ]
        pd.DataFrame(rows).to_parquet(run / "metrics.parquet")
    return run


def test_majority_longest():
    rows = [
        {"length": 150, "seeds": 4, "rate": 0.75},
        {"length": 200, "seeds": 4, "rate": 0.5},  # a tie is not a majority
        {"length": 300, "seeds": 4, "rate": 1.0},
        {"length": 400, "seeds": 0, "rate": math.nan},
    ]
    assert le.majority_longest(rows) == 300
    assert le.majority_longest(rows[1:2]) is None


def _rows(rates, seeds=10):
    return [{"length": t, "seeds": seeds, "rate": r} for t, r in rates.items()]


def test_longest_verdict_at_the_published_lengths():
    solved_to_150 = _rows({150: 0.9, 200: 0.2, 300: 0.0, 400: 0.0})
    assert le.longest_verdict(150, solved_to_150)[0] == "agrees"
    assert le.longest_verdict(300, solved_to_150) == (
        "disagrees",
        "longest T solved by a majority of seeds is 150, not 300",
    )
    none = _rows({150: 0.0, 200: 0.0, 300: 0.0, 400: 0.0})
    assert le.longest_verdict(300, none)[1].endswith("is none, not 300")
    assert (
        le.longest_verdict(150, _rows({150: 1.0, 200: 0.0, 300: 0.0, 400: 0.0}, seeds=2))[0]
        == "not comparable"
    )
    assert le.longest_verdict(None, solved_to_150)[0] == "not comparable"


def test_longest_verdict_at_short_lengths_tests_what_the_paper_implies():
    verdict, reason = le.longest_verdict(150, _rows({50: 1.0, 100: 0.6}))
    assert verdict == "agrees"
    assert reason.startswith("T=150, 200, 300, 400 not run at this scale; tested only what T=150 implies")
    verdict, reason = le.longest_verdict(300, _rows({50: 1.0, 100: 0.5}))  # a tie is not a majority
    assert verdict == "not comparable" and "not solved by a majority at T=100 within our budget" in reason
    assert le.longest_verdict(150, _rows({200: 1.0, 300: 1.0}))[0] == "not comparable"  # nothing <= 150 run


def test_on_the_paper_scales_budget_a_failure_at_an_implied_length_disagrees():
    """The faithful scale runs T=150 only, on the paper scale's budget: a majority failing
    there disagrees with a published longest T of 150 or more; solving agrees with it."""
    verdict, reason = le.longest_verdict(300, _rows({150: 0.5}), full_budget=True)
    assert (
        verdict == "disagrees"
        and "not solved by a majority at T=150 within the paper scale's budget" in reason
    )
    assert le.longest_verdict(150, _rows({150: 0.7}), full_budget=True)[0] == "agrees"
    grid = le.SCALES["faithful"][0]
    assert "model=irnn,rnn" in grid.overrides and "task.length=150" in grid.overrides
    paper = dict(o.split("=", 1) for o in le.SCALES["paper"][0].overrides)
    faithful = dict(o.split("=", 1) for o in grid.overrides)
    assert {k: v for k, v in faithful.items() if k not in ("model", "task.length")} == {
        k: v for k, v in paper.items() if k not in ("model", "task.length")
    }  # the paper scale's protocol


def test_analyse_pools_rates_and_curves(tmp_path, fake_runs):
    _write(tmp_path, fake_runs, "irnn", 50, [True, True, False], [[0.2, 0.05], [0.18, 0.02], [0.17, 0.16]])
    _write(tmp_path, fake_runs, "rnn", 50, [False, False, False], [[0.17, 0.168], [0.2, 0.17], [0.16, 0.17]])
    result = le.analyse(load_runs(tmp_path))
    rows = {r["name"]: r for r in result["rows"]}
    assert (rows["irnn"]["solved"], rows["irnn"]["seeds"]) == (2, 3)
    assert rows["irnn"]["ci95"] == pytest.approx(list(wilson_interval(2, 3)))
    assert rows["irnn"]["final_mse"] == pytest.approx(0.01)  # median of 0.01, 0.01, 0.17
    assert result["longest"] == {"irnn": 50, "rnn": None}
    curve = next(c for c in result["curves"] if c["name"] == "irnn")
    last = np.array([0.05, 0.02, 0.16])
    half = student.ppf(0.975, 2) * last.std(ddof=1) / math.sqrt(3)
    assert curve["steps"] == [100, 200]
    assert curve["mean"][1] == pytest.approx(last.mean())
    assert curve["hi"][1] - curve["mean"][1] == pytest.approx(half)


def test_claims_at_the_published_lengths(tmp_path, fake_runs):
    solved_up_to = {"rnn": 150, "irnn": 200, "lstm": 400}
    for model, longest in solved_up_to.items():
        for length in le.PAPER_LENGTHS:
            _write(tmp_path, fake_runs, model, length, [length <= longest] * 3 + [False])
    result = le.analyse(load_runs(tmp_path))
    claims = {c.claim.split(":")[0]: c for c in le.claims(result, "paper")}
    assert claims["tanh RNN"].verdict == "agrees"
    assert claims["IRNN"].verdict == "disagrees" and "is 200, not 300" in claims["IRNN"].reason
    assert claims["LSTM"].verdict == "not comparable" and claims["LSTM"].paper.startswith("not given")
    assert "T=150: 3/4" in claims["LSTM"].ours
    assert {c.verdict for c in le.claims(result, "smoke")} == {"not comparable"}
    assert le._paper_points(None, "irnn") == [(150.0, 1.0), (200.0, 1.0), (300.0, 1.0), (400.0, 0.0)]
    assert le._paper_points(None, "lstm") == []


@pytest.mark.slow
def test_smoke_scale_end_to_end(tmp_path, check_pngs):
    out = tmp_path / "le"
    report = base.reproduce(le.STUDY, "smoke", out, [], echo=lambda _: None)
    assert [s["status"] for s in report["sweeps"]] == [0]
    records = load_runs(out)
    assert report["runs"] == len(records) == 3
    for row in report["result"]["rows"]:
        run = next(r for r in records if r.get("model.name") == row["name"])
        per_seed = json.loads((run.path / "summary.json").read_text())["seeds"]
        assert row["solved"] == sum(s["solved"] for s in per_seed) and row["seeds"] == 2
        assert row["final_eval_loss"] == pytest.approx([s["final_eval_loss"] for s in per_seed])
        metrics = run.metrics()
        curve = next(c for c in report["result"]["curves"] if c["name"] == row["name"])
        last = metrics[metrics["step"] == metrics["step"].max()]["eval_loss"]
        assert curve["mean"][-1] == pytest.approx(float(last.mean()))
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}
    rows_md = (out / "readme_rows.md").read_text().splitlines()
    assert len(rows_md) == 3 and all(line.startswith("| Le et al. 2015") for line in rows_md)
    check_pngs([out / f for f in report["figures"]], {"le2015.png"})
