"""Greff et al.'s variants compared: names, statistics and verdicts on run directories
written by hand, and the smoke scale end to end."""

import json
import math

import pytest
from scipy.stats import fisher_exact, mannwhitneyu

from benchmarks.studies import base
from benchmarks.studies import greff2015 as g
from benchmarks.studies.base import load_runs

PRESETS = {
    "V": ("lstm_peephole", True),
    "NP": ("lstm", False),
    "NFG": ("lstm_nofg", True),
    "NOAF": ("lstm_noaf", True),
    "CIFG": ("lstm_cifg", True),
}


def _write(root, fake_runs, task, variant, solved, losses, offset=0):
    preset, peep = PRESETS[variant]
    seeds = range(offset, offset + len(solved))
    config = {
        "model": {"name": preset, "cell": "lstm", "hidden": 32, "peepholes": peep},
        "task": {"name": task, "variant": "pascanu2013", "length": 40},
        "seeds": list(seeds),
    }
    summary = fake_runs.summary(seeds, solved)
    for s, loss in zip(summary["seeds"], losses, strict=True):
        s["final_eval_loss"] = loss
    return fake_runs.write(root / f"{task}-{variant}-{offset}", config, summary)


def test_greff_names_for_the_presets():
    assert g.variant_name("lstm_peephole", True) == "V"
    assert g.variant_name("lstm", False) == "NP"
    assert g.variant_name("lstm_nofg", True) == "NFG"
    assert g.variant_name("lstm_nofg", False) == "lstm_nofg-peepholes"  # the 1997 LSTM: not Greff's
    assert g.variant_name("lstm", True) == "lstm+peepholes"  # that is V's architecture under another name
    assert [g.variant_name(*g.VARIANTS[v]) for v in g.ORDER] == g.ORDER
    assert len(g.ORDER) == 9


def test_holm_by_hand():
    # sorted: 0.01 (x3) = 0.03, 0.03 (x2) = 0.06, 0.04 (x1) = 0.04 -> monotone 0.06
    assert g.holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert g.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_mann_whitney_counts_a_diverged_seed_as_the_worst_loss():
    p = g.mannwhitney_p([0.1, 0.2, None, math.nan], [0.01, 0.02, 0.03, 0.04])
    expected = mannwhitneyu([0.1, 0.2, math.inf, math.inf], [0.01, 0.02, 0.03, 0.04]).pvalue
    assert p == pytest.approx(expected)


def test_analyse_compares_every_variant_with_the_vanilla(tmp_path, fake_runs):
    good = [0.001 * (i + 1) for i in range(8)]
    _write(tmp_path, fake_runs, "adding", "V", [True] * 8, good)
    _write(tmp_path, fake_runs, "adding", "NFG", [False] * 8, [0.05 + 0.001 * i for i in range(8)])
    _write(tmp_path, fake_runs, "adding", "NP", [True] * 7 + [False], [x * 1.1 for x in good])
    _write(tmp_path, fake_runs, "adding", "NOAF", [True, True, True, True], good[:4])  # seeds 0-3 ...
    _write(tmp_path, fake_runs, "adding", "NOAF", [False] * 4, [0.1] * 4, offset=4)  # ... and 4-7
    result = g.analyse(load_runs(tmp_path))
    assert result["tasks"] == ["adding T=40"]
    rows = {r["variant"]: r for r in result["rows"]}
    assert [r["variant"] for r in result["rows"]] == ["V", "NFG", "NOAF", "NP"]  # Greff's order
    assert (rows["NOAF"]["solved"], rows["NOAF"]["seeds"]) == (4, 8)
    comp = result["compare"]["adding T=40"]["variants"]
    raw = {
        "NFG": fisher_exact([[0, 8], [8, 0]]).pvalue,
        "NOAF": fisher_exact([[4, 4], [8, 0]]).pvalue,
        "NP": fisher_exact([[7, 1], [8, 0]]).pvalue,
    }
    assert raw["NFG"] < raw["NOAF"] < raw["NP"]
    holm = {"NFG": 3 * raw["NFG"], "NOAF": max(3 * raw["NFG"], 2 * raw["NOAF"]), "NP": 1.0}
    for v in raw:
        assert comp[v]["fisher_p"] == pytest.approx(raw[v])
        assert comp[v]["fisher_holm"] == pytest.approx(min(holm[v], 1.0))
    mw = mannwhitneyu([0.05 + 0.001 * i for i in range(8)], good).pvalue
    assert comp["NFG"]["mannwhitney_p"] == pytest.approx(mw)
    assert comp["NFG"]["effect"] == "worse"  # 0/8 vs 8/8: Fisher Holm p = 3 * 0.00016
    assert comp["NP"]["effect"] == "not distinguishable"
    assert comp["NP"]["rate_diff"] == pytest.approx(-1 / 8)
    assert rows["NP"]["loss_q"][0] == pytest.approx(1.1 * 0.0045)
    assert result["compare"]["adding T=40"]["ranking"] == ["V", "NP", "NOAF", "NFG"]


def test_verdict_rules():
    assert g.task_verdict("worse", "worse", 8) == "agrees"
    assert g.task_verdict("worse", "better", 8) == "disagrees"
    assert g.task_verdict("worse", "not distinguishable", 8) == "not comparable"
    assert g.task_verdict("no worse", "not distinguishable", 8) == "agrees"
    assert g.task_verdict("no worse", "worse", 8) == "disagrees"
    assert g.task_verdict("worse", "worse", 2) == "not comparable"
    assert g.combine({"a": "agrees", "b": "not comparable"})[0] == "agrees"
    assert g.combine({"a": "agrees", "b": "disagrees"})[0] == "disagrees"
    assert g.combine({"a": "not comparable"})[0] == "not comparable"


def _comparison(effects, ranking):
    return {"variants": {v: {"effect": e} for v, e in effects.items()}, "ranking": ranking}


def test_order_verdict():
    worse = {"NFG": "worse", "NOAF": "worse", "NP": "not distinguishable"}
    assert g.order_verdict(_comparison(worse, ["V", "NP", "NOAF", "NFG"])) == "agrees"
    assert g.order_verdict(_comparison(worse, ["V", "NOAF", "NP", "NFG"])) == "not comparable"
    other = {"NFG": "not distinguishable", "NOAF": "not distinguishable", "NP": "worse"}
    assert g.order_verdict(_comparison(other, ["V", "NFG", "NOAF", "NP"])) == "disagrees"
    better = {"NFG": "better", "NOAF": "worse", "NP": "not distinguishable"}
    assert g.order_verdict(_comparison(better, ["NFG", "V", "NP", "NOAF"])) == "disagrees"
    assert g.order_verdict(_comparison({"NP": "worse"}, ["V", "NP"])) == "not comparable"


def test_claims_read_the_comparison(tmp_path, fake_runs):
    good = [0.001 * (i + 1) for i in range(8)]
    for task in ("adding", "temporal_order"):
        _write(tmp_path, fake_runs, task, "V", [True] * 8, good)
        _write(tmp_path, fake_runs, task, "NFG", [False] * 8, [0.5] * 8)
        _write(tmp_path, fake_runs, task, "NOAF", [False] * 8, [0.4] * 8)
        _write(tmp_path, fake_runs, task, "CIFG", [True] * 8, good)
        _write(tmp_path, fake_runs, task, "NP", [True] * 8, good)
    result = g.analyse(load_runs(tmp_path))
    order, *per_variant = g.claims(result, "cpu")
    by = {c.claim.split(" ")[0]: c for c in per_variant}
    assert by["NFG"].verdict == by["NOAF"].verdict == "agrees"
    assert by["CIFG"].verdict == by["NP"].verdict == "agrees"
    assert "not distinguishable from V at these seeds" in by["CIFG"].reason
    assert (
        order.claim.startswith("NFG and NOAF hurt most") and order.verdict == "agrees"
    )  # both worse and ranked last on both tasks
    assert "0/8 [0.00, 0.32]" in by["NFG"].ours and "8/8 [0.68, 1.00]" in by["NFG"].ours
    assert {c.verdict for c in g.claims(result, "smoke")} == {"not comparable"}
    text = g.paragraph(result)
    assert "V 8/8, NFG 0/8, NOAF 0/8, NP 8/8, CIFG 8/8" in text


@pytest.mark.slow
def test_smoke_scale_end_to_end(tmp_path, check_pngs):
    out = tmp_path / "greff"
    report = base.reproduce(g.STUDY, "smoke", out, [], echo=lambda _: None)
    assert [s["status"] for s in report["sweeps"]] == [0]
    records = load_runs(out)
    assert report["runs"] == len(records) == 2  # V and NFG on adding
    seeds = {}
    for r in records:
        summary = json.loads((r.path / "summary.json").read_text())
        task = f"{r.get('task.name')} T={r.get('task.length')}"
        seeds[(task, g.variant_name(r.get("model.name"), r.get("model.peepholes")))] = summary["seeds"]
    assert {v for _, v in seeds} == {"V", "NFG"}
    for row in report["result"]["rows"]:
        per_seed = seeds[(row["task"], row["variant"])]
        assert row["solved"] == sum(s["solved"] for s in per_seed) and row["seeds"] == 2
        assert row["final_eval_loss"] == pytest.approx([s["final_eval_loss"] for s in per_seed])
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}
    assert len(report["claims"]) == 5
    rows_md = (out / "readme_rows.md").read_text().splitlines()
    assert len(rows_md) == 5 and all(line.startswith("| Greff et al. 2015") for line in rows_md)
    check_pngs([out / f for f in report["figures"]], {"greff2015.png"})
