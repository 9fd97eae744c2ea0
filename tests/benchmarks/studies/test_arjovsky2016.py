"""Arjovsky et al. 2016's curves against the baselines: verdicts on hand-written runs, and
the smoke scale end to end."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.studies import arjovsky2016 as study
from benchmarks.studies import load_runs, reproduce


def _config(task: str, model: str, length: int, hidden: int, seeds: list[int]) -> dict:
    return {
        "model": {"name": model, "cell": model, "hidden": hidden},
        "task": {"name": task, "variant": "arjovsky2016", "length": length},
        "optim": {"name": "rmsprop", "lr": 0.001, "clip": "elementwise", "clip_value": 1.0},
        "train": {"steps": 200, "batch_size": 20, "eval_size": 1000},
        "seeds": seeds,
    }


def _write(
    fake_runs, run: Path, task: str, model: str, length: int, finals: list[float], offset: int = 0
) -> Path:
    """A finished run whose seeds evaluate at steps 0, 100, 200; the last loss is ``finals``."""
    seeds = list(range(offset, offset + len(finals)))
    fake_runs.write(
        run, _config(task, model, length, 40, seeds), fake_runs.summary(seeds, [False] * len(seeds))
    )
    rows = [
        {
            "step": step,
            "seed": s,
            "train_loss": 1.0,
            "eval_loss": loss,
            "eval_correct": 0.0,
            "solved": False,
            "diverged": False,
        }
        for s, final in zip(seeds, finals, strict=True)
        for step, loss in ((0, 2.0), (100, 1.0), (200, final))
    ]
    pd.DataFrame(rows).to_parquet(run / "metrics.parquet", index=False)
    return run


def _t_interval(values: np.ndarray) -> tuple[float, float, float]:
    m, sem = values.mean(), stats.sem(values)
    half = stats.t.ppf(0.975, values.size - 1) * sem
    return m, m - half, m + half


def test_baselines():
    assert study.baseline("copy", 100) == pytest.approx(10 * math.log(8) / 120)
    assert study.baseline("copy", 500) == pytest.approx(0.03999, abs=1e-5)
    assert study.baseline("adding", 750) == 0.167


@pytest.mark.parametrize(
    ("lo", "hi", "verdict"),
    [
        (0.5, 0.8999, "beats"),
        (0.9001, 1.2, "does not beat"),
        (0.85, 0.95, "not distinguishable"),
        (0.9, 0.9, "not distinguishable"),
        (math.nan, math.nan, "not distinguishable"),
    ],
)
def test_verdict_boundaries(lo, hi, verdict):
    assert study.verdict_of(lo, hi) == verdict


@pytest.fixture
def sweep(tmp_path, fake_runs) -> Path:
    root = tmp_path / "sweep"
    _write(fake_runs, root / "0", "adding", "lstm", 100, [0.05, 0.06, 0.07])
    _write(fake_runs, root / "1", "adding", "rnn", 100, [0.166, 0.168, 0.167])
    _write(fake_runs, root / "2", "adding", "lstm", 200, [0.10, 0.16, 0.17])
    base = study.baseline("copy", 100)
    _write(fake_runs, root / "3", "copy", "lstm", 100, [1.0 * base, 1.01 * base, 0.99 * base])
    _write(fake_runs, root / "4", "copy", "lstm", 100, [0.0, 0.0], offset=1)  # seeds 1, 2 seen in run 3
    return root


def test_analyse_ratios_intervals_and_verdicts(sweep):
    result = study.analyse(load_runs(sweep))
    lstm = study.find(result, "adding", "lstm", 100)
    m, lo, hi = _t_interval(np.array([0.05, 0.06, 0.07]) / 0.167)
    assert lstm["ratio_mean"] == pytest.approx(m)
    assert lstm["ratio_ci95"] == pytest.approx([lo, hi])
    assert lstm["verdict"] == "beats"
    assert study.find(result, "adding", "rnn", 100)["verdict"] == "does not beat"
    assert study.find(result, "adding", "lstm", 200)["verdict"] == "not distinguishable"
    copy = study.find(result, "copy", "lstm", 100)
    assert copy["seeds"] == [0, 1, 2]  # each seed once, from the first run in path order
    assert copy["ratio"] == pytest.approx([1.0, 1.01, 0.99], rel=1e-6)
    assert copy["verdict"] == "does not beat"
    assert copy["baseline"] == pytest.approx(10 * math.log(8) / 120)


def test_claims_at_cpu_scale(sweep):
    result = study.analyse(load_runs(sweep))
    claims = {c.claim: c for c in study.claims(result, "cpu")}
    assert len(claims) == len(study.PAPER) == 12
    assert claims["LSTM, adding, T=100: beats the baseline"].verdict == "agrees"
    assert claims["tanh RNN, adding, T=100: does not beat the baseline"].verdict == "agrees"
    # not beating the baseline within 200 of the paper's 20,000 iterations is no disagreement
    assert claims["LSTM, copy memory, T=100: beats the baseline"].verdict == "not comparable"
    assert (
        "200 of the paper's 20,000 iterations"
        in claims["LSTM, copy memory, T=100: beats the baseline"].reason
    )
    assert claims["LSTM, adding, T=200: beats the baseline"].verdict == "not comparable"
    long = claims["LSTM, copy memory, T=500: does not beat the baseline"]
    assert (long.ours, long.verdict) == ("not run at this scale", "not comparable")
    assert all(c.verdict == "not comparable" for c in study.claims(result, "smoke"))


def test_paper_readings():
    assert [t for t in study.COPY_LENGTHS if study.PAPER[("copy", "lstm", t)]] == [100]
    assert [t for t in study.ADDING_LENGTHS if study.PAPER[("adding", "lstm", t)]] == [100, 200, 400]
    assert not any(study.PAPER[("adding", "rnn", t)] for t in study.ADDING_LENGTHS)


@pytest.mark.slow
def test_smoke_end_to_end(tmp_path):
    out = tmp_path / "smoke"
    reproduce(study.STUDY, "smoke", out, [], echo=lambda _: None)
    report = json.loads((out / "reproduction.json").read_text())
    runs = load_runs(out)
    assert report["runs"] == len(runs) == 2
    for r in runs:
        task, length = r.get("task.name"), r.get("task.length")
        m = pd.read_parquet(r.path / "metrics.parquet")
        last = m[m.step == m.step.max()].sort_values("seed")["eval_loss"].to_numpy()
        (curve,) = [c for c in report["result"][task] if c["length"] == length and c["model"] == "lstm"]
        assert curve["ratio"] == pytest.approx((last / study.baseline(task, length)).tolist(), rel=1e-6)
        assert curve["steps"][-1] == 20
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}
    rows = (out / "readme_rows.md").read_text().splitlines()
    assert len(rows) == 12 and all(
        row.endswith("`scripts/reproduce.py arjovsky2016 --scale smoke` |") for row in rows
    )
    png = out / report["figures"][0]
    assert png.stat().st_size > 20_000


def test_beating_where_the_paper_never_does_disagrees_at_any_budget(tmp_path, fake_runs):
    _write(fake_runs, tmp_path / "0", "adding", "rnn", 100, [0.05, 0.06, 0.07])
    claims = {c.claim: c for c in study.claims(study.analyse(load_runs(tmp_path)), "cpu")}
    claim = claims["tanh RNN, adding, T=100: does not beat the baseline"]
    assert claim.verdict == "disagrees" and "200 of the paper's 20,000 iterations" in claim.reason


def test_faithful_scale_is_the_papers_protocol_at_t_100():
    """The code's protocol whole (20,000 iterations, 5 seeds, 10,000 evaluation sequences
    every 200), on the rows that fit a CPU: T=100 for both tasks."""
    faithful = {g.name: g.overrides for g in study.STUDY.scales["faithful"]}
    paper = {g.name: g.overrides for g in study.STUDY.scales["paper"]}
    assert faithful.keys() == paper.keys() == {"copy_lstm", "copy_rnn", "adding"}
    for name, overrides in faithful.items():
        assert "task.length=100" in overrides
        assert [o for o in overrides if not o.startswith("task.length=")] == [
            o for o in paper[name] if not o.startswith("task.length=")
        ]
    assert {"train.steps=20000", "seeds=5", "train.eval_every=200", "train.eval_size=10000"} <= set(
        faithful["adding"]
    )
