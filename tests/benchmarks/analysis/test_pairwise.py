"""The pieces of a sweep's pairwise comparison that need no sweep: ranking and verdicts
(the whole comparison on sweeps written by hand is in tests/scripts/test_compare_cli.py)."""

import math

from benchmarks.analysis import pairwise


def _model(name, rate, median):
    return {"model": name, "rate": rate, "median_steps": median}


def test_ranking_by_rate_or_by_steps():
    models = [_model("rnn", 0.25, 900.0), _model("gru", 0.5, 300.0), _model("lstm", 0.5, 200.0)]
    models.append(_model("irnn", 0.0, math.nan))
    assert [m["model"] for m in pairwise.ranked(models, "success")] == ["lstm", "gru", "rnn", "irnn"]
    models[2]["median_steps"] = 1000.0
    assert [m["model"] for m in pairwise.ranked(models, "steps")] == ["gru", "rnn", "lstm", "irnn"]


def _pair(**kw):
    base = {"a": "lstm", "b": "rnn", "seeds": 8, "rate_holm": 0.12, "steps_holm": 0.4, "seeds_needed": 9}
    return {**base, **kw}


def test_verdicts():
    assert pairwise.verdict(_pair(rate_holm=0.004), "success", 0.05) == "lstm > rnn (p=0.004)"
    assert pairwise.verdict(_pair(), "success", 0.05) == (
        "lstm vs rnn: not distinguishable at these seeds (p=0.12); "
        "about 9 seeds per model would tell a difference this large"
    )
    # a difference that 8 seeds detect 80% of the time, missed by this sample
    assert pairwise.verdict(_pair(seeds_needed=6), "success", 0.05).endswith(
        "about 6 seeds per model would tell a difference this large (with power 80%: these 8 did not)"
    )
    assert pairwise.verdict(_pair(seeds_needed=None), "success", 0.05).endswith(
        "(p=0.12); never: the observed success rates are equal"
    )
    assert (
        pairwise.verdict(_pair(), "steps", 0.05) == "lstm vs rnn: not distinguishable at these seeds (p=0.4)"
    )
    assert pairwise.verdict(_pair(steps_holm=None), "steps", 0.05) == (
        "lstm vs rnn: steps to solve not compared: one of them solved no seed"
    )


def test_labels_name_only_what_tells_runs_of_one_model_apart(monkeypatch):
    import pandas as pd

    monkeypatch.setattr(pairwise, "model_entry", lambda row, label: {"model": label})
    rows = [  # lstm at two sizes; lstm_cifg's coupled=True is its preset's own field
        {"status": "finished", "model": "lstm", "model.hidden": 50, "model.coupled": False, "task": "adding"},
        {
            "status": "finished",
            "model": "lstm",
            "model.hidden": 100,
            "model.coupled": False,
            "task": "adding",
        },
        {
            "status": "finished",
            "model": "lstm_cifg",
            "model.hidden": 50,
            "model.coupled": True,
            "task": "adding",
        },
    ]
    ((key, models),) = pairwise.groups(pd.DataFrame(rows))
    assert key == {"task": "adding"}
    assert [m["model"] for m in models] == ["lstm (hidden=50)", "lstm (hidden=100)", "lstm_cifg (hidden=50)"]
