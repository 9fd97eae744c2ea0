"""``scripts/compare.py``: a sweep's models ranked and tested pairwise, on sweeps written by hand.

Expected p-values come from SciPy called here on the counts and steps the sweep was
written with; Holm's correction and the seeds needed are worked out here independently
(Boschloo's power enumerated outcome by outcome with SciPy's test)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom, bootstrap, boschloo_exact, mannwhitneyu

from scripts import compare

REPO = Path(__file__).resolve().parents[2]


def _config(fake_runs, model, seeds, length=50, hidden=50):
    config = fake_runs.config(hidden=hidden, seeds=seeds)
    config["model"]["name"] = model
    config["task"]["length"] = length
    return config


@pytest.fixture
def sweep(tmp_path, fake_runs) -> Path:
    """T=50: lstm 7/8 (two jobs of 4 seeds), gru 4/8, rnn 1/8; T=100: lstm 8/8, rnn 0/8.
    A solved seed s took 100 * (s + 1) steps."""
    root = tmp_path / "sweep"
    runs = [
        ("lstm", range(4), [True] * 4, 50),
        ("lstm", range(4, 8), [True, True, True, False], 50),
        ("gru", range(8), [True, False] * 4, 50),
        ("rnn", range(8), [False] * 7 + [True], 50),
        ("lstm", range(8), [True] * 8, 100),
        ("rnn", range(8), [False] * 8, 100),
    ]
    for i, (model, seeds, solved, length) in enumerate(runs):
        fake_runs.write(
            root / str(i), _config(fake_runs, model, seeds, length), fake_runs.summary(seeds, solved)
        )
    return root


def _boschloo(k1, n1, k2, n2):
    return boschloo_exact([[k1, k2], [n1 - k1, n2 - k2]]).pvalue


def _holm_by_hand(p):
    """Holm: the i-th smallest of m p-values times (m - i + 1), then running maximum."""
    order = np.argsort(p)
    adjusted = np.empty(len(p))
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        adjusted[i] = running
    return list(adjusted)


def _power_with_scipy(p1, p2, n, alpha):
    """Boschloo's power by enumerating every outcome of n seeds per model with SciPy."""
    total = 0.0
    for k1 in range(n + 1):
        for k2 in range(n + 1):
            weight = binom.pmf(k1, n, p1) * binom.pmf(k2, n, p2)
            if weight > 0 and _boschloo(k1, n, k2, n) <= alpha:
                total += weight
    return total


def _run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        compare.main([str(a) for a in args])
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_ranks_tests_and_writes_the_comparison(sweep, capsys):
    compare.main([str(sweep)])
    out = capsys.readouterr().out
    result = json.loads((sweep / "compare.json").read_text())
    assert (
        sweep / "compare.md"
    ).read_text() + f"comparison: {sweep / 'compare.json'}, {sweep / 'compare.md'}\n" == out
    g50, g100 = result["groups"]
    assert g50["group"] == {"task": "adding", "variant": "pascanu2013", "length": 50}
    assert [m["model"] for m in g50["models"]] == ["lstm", "gru", "rnn"]
    assert [(m["solved"], m["seeds"]) for m in g50["models"]] == [(7, 8), (4, 8), (1, 8)]
    pairs = {(p["a"], p["b"]): p for p in g50["pairs"]}
    assert list(pairs) == [("lstm", "gru"), ("lstm", "rnn"), ("gru", "rnn")]
    raw = [_boschloo(7, 8, 4, 8), _boschloo(7, 8, 1, 8), _boschloo(4, 8, 1, 8)]
    for pair, p, p_holm in zip(pairs.values(), raw, _holm_by_hand(raw), strict=True):
        assert pair["rate_p"] == pytest.approx(p, rel=1e-6)
        assert pair["rate_holm"] == pytest.approx(p_holm, rel=1e-6)
    lstm_steps, rnn_steps = [100, 200, 300, 400, 500, 600, 700], [800]
    assert g50["models"][0]["steps_to_solve"] == lstm_steps
    ci = bootstrap((lstm_steps,), np.median, method="percentile", rng=np.random.default_rng(0))
    assert g50["models"][0]["median_steps_ci95"] == [ci.confidence_interval.low, ci.confidence_interval.high]
    assert g50["models"][0]["median_steps"] == 400
    mw = mannwhitneyu(lstm_steps, rnn_steps, alternative="two-sided").pvalue
    assert pairs["lstm", "rnn"]["steps_p"] == pytest.approx(mw)
    p_lr = _holm_by_hand(raw)[1]
    assert f"- lstm > rnn (p={p_lr:.2g})" in out
    assert g100["pairs"][0]["verdict"] == f"lstm > rnn (p={_boschloo(8, 8, 0, 8):.2g})"
    assert g100["pairs"][0]["steps_p"] is None  # rnn solved no seed: no steps to compare


def test_not_distinguishable_says_how_many_seeds_would_tell(sweep, capsys):
    compare.main([str(sweep)])
    capsys.readouterr()
    g50, g100 = json.loads((sweep / "compare.json").read_text())["groups"]
    level = 0.05 / 3  # three pairs in the group: Holm's first step
    lstm_rnn = g50["pairs"][1]
    n = lstm_rnn["seeds_needed"]
    assert lstm_rnn["seeds_needed_alpha"] == pytest.approx(level)
    assert _power_with_scipy(7 / 8, 1 / 8, n - 1, level) < 0.8 <= _power_with_scipy(7 / 8, 1 / 8, n, level)
    # 8/8 against 0/8, one pair: the smallest n with power 0.8 (only k1 = n can occur)
    powers = [
        sum(binom.pmf(k2, n, 0.0) for k2 in range(n + 1) if _boschloo(n, n, k2, n) <= 0.05)
        for n in range(2, 6)
    ]
    assert g100["pairs"][0]["seeds_needed"] == 2 + next(i for i, p in enumerate(powers) if p >= 0.8)
    lstm_gru = g50["pairs"][0]
    assert lstm_gru["verdict"] == (
        f"lstm vs gru: not distinguishable at these seeds (p={lstm_gru['rate_holm']:.2g}); "
        f"about {lstm_gru['seeds_needed']} seeds per model would tell a difference this large"
    )


def test_equal_rates_are_never_told_apart(tmp_path, fake_runs, capsys):
    root = tmp_path / "sweep"
    for i, model in enumerate(("gru", "rnn")):
        fake_runs.write(
            root / str(i), _config(fake_runs, model, range(4)), fake_runs.summary(range(4), [False] * 4)
        )
    fake_runs.write(root / "2", _config(fake_runs, "lstm", range(4)))  # still running
    compare.main([str(root)])
    out, err = capsys.readouterr()
    assert err.startswith("warning: 1 run unfinished (config.yaml, no summary.json") and err.count("\n") == 1
    assert "| lstm |" not in out
    assert (
        "- gru vs rnn: not distinguishable at these seeds (p=1); never: the observed success rates are equal"
        in out
    )
    assert "| gru vs rnn | 1 | 1 | - | - | never |" in out


def test_steps_metric_ranks_by_median_steps(tmp_path, fake_runs, capsys):
    root = tmp_path / "sweep"
    # gru solves seeds 0, 1 (100, 200 steps: median 150), lstm all four (median 250)
    for i, (model, solved) in enumerate((("lstm", [True] * 4), ("gru", [True, True, False, False]))):
        fake_runs.write(
            root / str(i), _config(fake_runs, model, range(4)), fake_runs.summary(range(4), solved)
        )
    compare.main([str(root), "--metric", "steps"])
    out = capsys.readouterr().out
    (group,) = json.loads((root / "compare.json").read_text())["groups"]
    assert [m["model"] for m in group["models"]] == ["gru", "lstm"]
    assert [m["median_steps"] for m in group["models"]] == [150, 250]
    mw = mannwhitneyu([100, 200], [100, 200, 300, 400], alternative="two-sided").pvalue
    assert group["pairs"][0]["steps_p"] == pytest.approx(mw)
    assert f"- gru vs lstm: not distinguishable at these seeds (p={mw:.2g})\n" in out
    assert "Ranked by median steps to solve (fewer is better)" in out


def test_a_varying_model_key_names_the_models(tmp_path, fake_runs, capsys):
    root = tmp_path / "sweep"
    for i, hidden in enumerate((50, 100)):
        config = _config(fake_runs, "lstm", range(4), hidden=hidden)
        fake_runs.write(root / str(i), config, fake_runs.summary(range(4), [hidden == 100] * 4))
    compare.main([str(root)])
    out = capsys.readouterr().out
    assert f"- lstm (hidden=100) > lstm (hidden=50) (p={_boschloo(4, 4, 0, 4):.2g})" in out


def test_bad_input_is_one_line_and_exit_2(tmp_path, half_finished_sweep, fake_runs, capsys):
    code, out, err = _run(capsys, tmp_path / "missing")
    assert (code, out, err) == (2, "", f"error: no such directory: {tmp_path / 'missing'}\n")
    unfinished = tmp_path / "unfinished"
    fake_runs.write(unfinished / "0", fake_runs.config())
    code, _, err = _run(capsys, unfinished)
    assert (code, err) == (2, f"error: no finished run under {unfinished}\n")
    code, _, err = _run(capsys, half_finished_sweep)
    assert (
        code == 2
        and err
        == f"error: a single model (lstm) in every group under {half_finished_sweep}: nothing to compare\n"
    )
    code, _, err = _run(capsys, half_finished_sweep, "--alpha", "2")
    assert code == 2 and "alpha must be between 0 and 1, got 2" in err


def test_the_script_runs_from_the_command_line(sweep):
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.run(
        [sys.executable, "scripts/compare.py", str(sweep)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == f"## Models compared: {sweep}"
    assert not math.isnan(json.loads((sweep / "compare.json").read_text())["alpha"])
