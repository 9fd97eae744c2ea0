"""The H&S 1997 study: pooling, sequence counts, verdicts and figure on run directories
written by hand (expected numbers computed here), and the smoke scale end to end."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from benchmarks.studies import STUDIES, load_runs, reproduce
from benchmarks.studies.hochreiter1997 import (
    ROWS,
    STUDY,
    analyse,
    claims,
    count_verdict,
    figure,
    find,
    paper_cost,
    paragraph,
)

ROW = {r.key: r for r in ROWS}
ADDING, REBER = ROW["adding T=100"], ROW["embedded Reber"]
MULT_LOOSE, MULT_STRICT = (
    ROW["multiplication T=100, 139/2560 wrong"],
    ROW["multiplication T=100, 14/2560 wrong"],
)


def _wilson(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [ci.low, ci.high]


def _config(model, task, variant, length=None, n_info=None, steps=3000, batch=32):
    t = {"name": task, "variant": variant}
    if length is not None:
        t["length"] = length
    if n_info is not None:
        t["n_info"] = n_info
    return {
        "model": {"name": model, "hidden": 8},
        "task": t,
        "optim": {"name": "adam", "lr": 0.01},
        "train": {"steps": steps, "batch_size": batch, "eval_size": None},
    }


def _summary(steps, batch=32):
    """Per seed: solved at ``steps[i]`` (None: unsolved)."""
    seeds = [
        {
            "seed": i,
            "solved": s is not None,
            "steps_to_solve": s,
            "sequences_to_solve": None if s is None else s * batch,
            "diverged_at": None,
            "final_eval_loss": 0.01,
            "final_correct": 1.0 if s is not None else 0.5,
        }
        for i, s in enumerate(steps)
    ]
    return {"n_seeds": len(seeds), "seeds": seeds}


def _write(fake_runs, path, config, summary, metrics=None):
    run = fake_runs.write(path, config, summary)
    if metrics is not None:
        pd.DataFrame(metrics).to_parquet(run / "metrics.parquet")
    return run


@pytest.fixture
def store(tmp_path, fake_runs):
    """Adding (nofg solved at 500, 1000, 2000 steps, one seed unsolved; lstm none), Reber
    (nofg 4/4), multiplication (nofg, eval curves only) written by hand."""
    root = tmp_path / "study"
    _write(
        fake_runs,
        root / "a/0",
        _config("lstm_nofg", "adding", "hochreiter1997", 100),
        _summary([500, 1000, 2000, None]),
    )
    _write(fake_runs, root / "a/1", _config("lstm", "adding", "hochreiter1997", 100), _summary([None] * 4))
    _write(
        fake_runs,
        root / "r/0",
        _config("lstm_nofg", "reber", "hochreiter1997"),
        _summary([100, 200, 300, 400]),
    )
    curve = {  # per seed, eval_correct at steps 0, 100, 200, 300
        0: [0.1, 0.95, 0.996, 1.0],
        1: [0.1, 0.5, 0.946, 0.99],
        2: [0.1, 0.2, 0.3, 0.4],
    }
    rows = [
        {"step": 100 * j, "seed": s, "eval_correct": v, "eval_loss": 0.1}
        for s, vals in curve.items()
        for j, v in enumerate(vals)
    ]
    _write(
        fake_runs,
        root / "m/0",
        _config("lstm_nofg", "multiplication", "hochreiter1997", 100, steps=300),
        _summary([None] * 3),
        rows,
    )
    return root


def test_entries_hold_counts_medians_and_wilson_intervals(store):
    result = analyse(load_runs(store))
    nofg = find(result, ADDING, "lstm_nofg")
    assert nofg["sequences"] == [500 * 32, 1000 * 32, 2000 * 32]
    assert nofg["median"] == 1000 * 32
    assert (nofg["solved"], nofg["seeds"], nofg["budget"]) == (3, 4, 3000 * 32)
    assert nofg["ci95"] == pytest.approx(_wilson(3, 4))
    modern = find(result, ADDING, "lstm")
    assert (
        modern["sequences"] == []
        and modern["median"] is None
        and modern["ci95"] == pytest.approx(_wilson(0, 4))
    )
    assert find(result, ROW["adding T=500"], "lstm_nofg") is None


def test_multiplication_reads_the_first_evaluation_at_the_papers_error_share(store):
    result = analyse(load_runs(store))
    loose, strict = find(result, MULT_LOOSE, "lstm_nofg"), find(result, MULT_STRICT, "lstm_nofg")
    # 1 - 139/2560 = 0.9457: seed 0 at step 100, seed 1 at step 200 (0.946), seed 2 never
    assert loose["sequences"] == [100 * 32, 200 * 32] and (loose["solved"], loose["seeds"]) == (2, 3)
    # 1 - 14/2560 = 0.99453: seed 0 at step 200 (0.996), seed 1 never (0.99 < 0.99453)
    assert strict["sequences"] == [200 * 32] and strict["solved"] == 1


def test_verdicts_at_their_boundaries():
    def entry(sequences, seeds=4, budget=96_000):
        return {"sequences": sequences, "seeds": seeds, "solved": len(sequences), "budget": budget}

    assert count_verdict(ADDING, entry([740_000] * 4), "cpu")[0] == "agrees"  # exactly 10x
    assert count_verdict(ADDING, entry([750_000] * 4), "cpu")[0] == "disagrees"
    assert count_verdict(ADDING, entry([7_400] * 4), "cpu")[0] == "agrees"  # exactly 1/10
    assert count_verdict(ADDING, entry([7_000] * 4), "cpu")[0] == "disagrees"
    assert count_verdict(ADDING, entry([]), "cpu")[0] == "not comparable"  # budget under 10x
    assert count_verdict(ADDING, entry([], budget=740_000), "cpu")[0] == "disagrees"
    assert count_verdict(ADDING, entry([1_000], seeds=2), "cpu")[0] == "not comparable"
    assert count_verdict(ADDING, entry([74_000] * 4), "smoke")[0] == "not comparable"
    assert count_verdict(ADDING, None, "cpu") == ("not comparable", "not run at the cpu scale")
    # Reber: within 10x of the range 8,440 .. 39,740
    assert count_verdict(REBER, entry([397_400] * 4), "cpu")[0] == "agrees"
    assert count_verdict(REBER, entry([400_000] * 4), "cpu")[0] == "disagrees"
    assert count_verdict(REBER, entry([844] * 4), "cpu")[0] == "agrees"
    assert count_verdict(REBER, entry([800] * 4), "cpu")[0] == "disagrees"
    # under half the seeds solved: the median seed is censored at the budget
    assert count_verdict(ADDING, entry([32_000]), "cpu") == (
        "not comparable",
        "only 1 of 4 seeds solved within the budget of 96,000 sequences, under 10x the paper's",
    )
    assert count_verdict(ADDING, entry([32_000], budget=740_000), "cpu")[0] == "disagrees"
    verdict, reason = count_verdict(ADDING, entry([32_000, 64_000]), "cpu")
    assert verdict == "agrees" and "2 of 4 seeds unsolved" in reason


def test_claims_one_per_published_number_plus_rebers_rate(store):
    result = analyse(load_runs(store))
    made = claims(result, "cpu")
    assert len(made) == len(ROWS) + 1
    by = {c.claim.split(":")[0]: c for c in made}
    adding = by["adding T=100"]
    assert adding.paper == "74,000 sequences" and adding.verdict == "agrees"  # 32,000 = 0.43x
    assert "median 32,000 sequences = 0.43x the paper's" in adding.reason
    assert "1997 LSTM" in adding.reason and "lstm_nofg H=8" in adding.reason
    assert "lstm: median -" in adding.ours
    assert (
        by["adding T=1000"].verdict == "not comparable" and "paper scale only" in by["adding T=1000"].reason
    )
    rate = [c for c in made if "solved in every trial" in c.claim][0]
    lo, hi = _wilson(4, 4)
    assert rate.verdict == "agrees" and f"[{lo:.2f}, {hi:.2f}]" in rate.reason
    assert {c.verdict for c in claims(result, "smoke")} == {"not comparable"}
    assert "adding T=100 (Table 7, paper 74,000 sequences): lstm_nofg solved 3/4" in paragraph(result)


def test_figure_is_a_real_png(store, tmp_path, check_pngs):
    paths = figure(analyse(load_runs(store)), tmp_path / "fig")
    check_pngs(paths, {"hochreiter1997.png"})


@pytest.mark.slow
def test_smoke_scale_end_to_end(tmp_path):
    assert STUDIES["hochreiter1997"] is STUDY
    out = tmp_path / "smoke"
    report = reproduce(STUDY, "smoke", out, [])
    assert [s["status"] for s in report["sweeps"]] == [0]
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}
    assert len(report["claims"]) == len(ROWS) + 1
    summaries = {}
    for path in sorted(out.rglob("summary.json")):
        config = (path.parent / "config.yaml").read_text()
        model = "lstm_nofg" if "name: lstm_nofg" in config else "lstm"
        summaries[model] = json.loads(path.read_text())
    assert set(summaries) == {"lstm_nofg", "lstm"}
    two_sequence = ROW["two-sequence T=100 N=3"]
    for model, summary in summaries.items():
        e = find(report["result"], two_sequence, model)
        seeds = summary["seeds"]
        solved = [s["sequences_to_solve"] for s in seeds if s["solved"]]
        assert e["sequences"] == solved and e["seeds"] == len(seeds) == 2
        assert e["ci95"] == pytest.approx(_wilson(len(solved), len(seeds)))
        assert e["budget"] == 10 * 4
    rows = (out / "readme_rows.md").read_text().splitlines()
    assert len(rows) == len(report["claims"]) and all(
        r.startswith("| Hochreiter & Schmidhuber 1997") for r in rows
    )
    png = Path(out / report["figures"][0])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000
    assert np.isfinite(report["wall_time_s"])


def test_paper_scale_is_the_published_protocol_with_a_10x_budget():
    sweeps = {s.name: s.overrides for s in STUDY.scales["paper"]}
    # the two multiplication rows share one configuration: 9 configurations x 3 models
    assert len(sweeps) == 27
    adding = sweeps["adding_T100_lstm_nofg"]
    for o in ("optim=sgd", "optim.lr=0.5", "optim.clip=none", "train.batch_size=1", "model.hidden=4"):
        assert o in adding
    assert "train.steps=740000" in adding and "seeds=10" in adding
    assert "train.steps=12730000" in sweeps["multiplication_T100_lstm1997"]  # 10x the larger count
    reber = sweeps["embedded_Reber_lstm"]
    assert "train.steps=397400" in reber and "seeds=30" in reber
    budgets = {
        "adding_T100": (740_000, 10),
        "adding_T500": (2_090_000, 10),
        "adding_T1000": (8_530_000, 10),
        "multiplication_T100": (12_730_000, 10),
        "temporal_order_6a": (313_900, 10),
        "temporal_order_6b": (5_711_000, 10),
        "two-sequence_T100_N3": (273_800, 10),
        "two-sequence_T1000_N3": (4_468_500, 10),
        "embedded_Reber": (397_400, 30),
    }
    models = ("lstm1997", "lstm_nofg", "lstm")
    assert set(sweeps) == {f"{name}_{m}" for name in budgets for m in models}
    assert paper_cost()[0] == sum(steps * seeds * 3 for steps, seeds in budgets.values())
    cpu_tasks = {o for s in STUDY.scales["cpu"] for o in s.overrides if o.startswith("task=")}
    assert cpu_tasks == {"task=adding,multiplication,latching", "task=temporal_order", "task=reber"}


def test_faithful_scale_is_the_1997_cell_on_the_rows_that_fit():
    """The 1997 cell with each row's cells in blocks, the blocks' negative input-gate biases
    and sigmoid outputs (not on Reber, whose loss reads its outputs as sigmoid units), on
    the paper's learning rule: SGD at batch 1, the truncated gradient, the paper's rates."""
    sweeps = {s.name: s.overrides for s in STUDY.scales["faithful"]}
    assert set(sweeps) == {
        "adding_T100",
        "multiplication_T100",
        "temporal_order_6a",
        "two-sequence_T100_N3",
        "embedded_Reber",
    }
    expected = {  # cells, block size, input-gate biases, lr, seeds, budget (10x the published count)
        "adding_T100": (4, 2, "[-3,-6]", 0.5, 10, 740_000),
        "multiplication_T100": (4, 2, "[-3,-6]", 0.1, 10, 4_820_000),  # to 139/2560 wrong
        "temporal_order_6a": (4, 2, "[-1,-2]", 0.5, 10, 313_900),
        "two-sequence_T100_N3": (3, 1, "[-1,-2,-3]", 1.0, 10, 273_800),
        "embedded_Reber": (6, 2, "[-1,-2,-3]", 0.5, 30, 397_400),
    }
    for name, (cells, block, biases, lr, seeds, steps) in expected.items():
        o = sweeps[name]
        for want in (
            "model=lstm1997",
            f"model.hidden={cells}",
            f"model.block_size={block}",
            f"model.input_gate_biases={biases}",
            "optim=sgd",
            f"optim.lr={lr}",
            "optim.clip=none",
            "train.gradient=truncated",
            "train.batch_size=1",
            f"seeds={seeds}",
            f"train.steps={steps}",
        ):
            assert want in o, (name, want)
        assert ("model.readout=linear" in o) == (name == "embedded_Reber")
        # H&S's stopping rule: multiplication stopped at a share wrong, the others at solved
        stop = [x for x in o if x.startswith("task.max_wrong=")]
        assert stop == (["task.max_wrong=0.054296875"] if name == "multiplication_T100" else []), name
    paper = {s.name: s.overrides for s in STUDY.scales["paper"]}  # both rows: the stricter, 14/2560
    assert "task.max_wrong=0.00546875" in paper["multiplication_T100_lstm1997"]
    # every job builds (the blocks divide the cells, one bias per block, a readout the task takes)
    from benchmarks.studies.base import jobs
    from scripts.study_costs import build_job

    for grid in STUDY.scales["faithful"]:
        for job in jobs(grid):
            spec = build_job(job).trainer.model.spec
            assert spec.hidden % spec.block_size == 0 and len(spec.input_gate_biases) == spec.blocks


def test_the_1997_cell_decides_the_verdicts_where_it_ran(store):
    from benchmarks.studies.hochreiter1997 import primary

    result = analyse(load_runs(store))
    assert primary(result) == "lstm_nofg"  # the fixture's runs: the suite's own LSTMs
    renamed = {**result, "entries": [{**e, "model": "lstm1997"} for e in result["entries"]]}
    assert primary(renamed) == "lstm1997"
    assert all("(lstm1997" in c.claim for c in claims(renamed, "faithful"))


def test_a_row_whose_criterion_the_runs_stopped_short_of_was_not_run():
    """The faithful multiplication runs stop their seeds at 139/2560 wrong (task.max_wrong),
    so the 14/2560 row was not trained for; the 139/2560 row was, and so was every row of a
    run without a share (the suite's all-correct rule) or without the early stop."""
    from pathlib import Path

    from benchmarks.studies.base import RunRecord
    from benchmarks.studies.hochreiter1997 import ROWS, stopped_before

    def run(share, stop=True):
        config = {"task": {"max_wrong": share}, "train": {"stop_when_solved": stop}}
        return RunRecord(Path("r"), config, {}, {}, {})

    loose, strict = (r for r in ROWS if r.key.startswith("multiplication"))
    assert "139/2560" in loose.key and "14/2560" in strict.key
    assert stopped_before(strict, [run(139 / 2560)]) and not stopped_before(loose, [run(139 / 2560)])
    assert not stopped_before(strict, [run(14 / 2560)]) and not stopped_before(loose, [run(14 / 2560)])
    assert not stopped_before(strict, [run(0.0)]) and not stopped_before(
        strict, [run(139 / 2560, stop=False)]
    )
