"""The gers2000 study: its reductions on hand-built networks whose cell states and
predictions are known in closed form, its verdicts at their boundaries, and the smoke
scale end to end against the run directories' own files."""

import dataclasses
import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest
import yaml
from scipy.stats import binomtest

from benchmarks.studies import gers2000 as g
from benchmarks.studies import get_study, reproduce
from models import make_spec

H = 3
Z = (0.25, 0.5, 0.75)  # per seed: z = tanh(b_z) in every unit
TASK_LENGTH = 20  # -> test streams of 2,000 symbols


def hand_params(model: str, readout: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per seed: every weight 0, i = o = 1 (bias 30), f = 1/2 (bias 0) when there is a
    forget gate, z = Z[seed], and readout biases ``readout[seed]`` (so the prediction is
    the same set at every step). Then c_t = (t + 1) z without a forget gate and
    c_t = 2 z (1 - 2^-(t+1)) with one, in every unit."""
    from models import make_model

    shapes = {k: v.shape for k, v in make_model(model, 7, 7, hidden=H).init(jax.random.key(0)).items()}
    seeds = []
    for z, b_out in zip(Z, readout, strict=True):
        p = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
        p["b_i"][:] = p["b_o"][:] = 30.0
        p["b_z"][:] = np.arctanh(z)
        p["b_out"][:] = b_out
        seeds.append(p)
    return {k: np.stack([p[k] for p in seeds]) for k in shapes}


NONE = -np.ones(7, np.float32)  # predicts no symbol: never correct
T_OR_P = np.array([-1, 1, 1, -1, -1, -1, -1], np.float32)  # the legal set after a B


def write_hand_run(root: Path, model: str, solved: list[bool], readout: list[np.ndarray]) -> Path:
    run = root / model
    run.mkdir(parents=True)
    spec = dataclasses.asdict(make_spec(model, hidden=H))
    config = {
        "model": {"name": model, **spec},
        "task": {"name": "continual_reber", "variant": "gers2000", "length": TASK_LENGTH},
        "train": {"steps": 7, "batch_size": 3, "eval_size": 5},
        "seeds": [0, 1, 2],
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    seeds = [
        {"seed": s, "solved": ok, "steps_to_solve": None, "diverged_at": None} for s, ok in enumerate(solved)
    ]
    (run / "summary.json").write_text(json.dumps({"n_seeds": 3, "seeds": seeds}))
    params = hand_params(model, readout)
    np.savez(run / "params_final.npz", **params)
    np.savez(run / "params_init.npz", **hand_params(model, [NONE] * 3))
    return run


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    from benchmarks.studies.base import load_runs

    root = tmp_path_factory.mktemp("gers")
    write_hand_run(root, "lstm", [True, False, False], [T_OR_P, NONE, T_OR_P])
    write_hand_run(root, "lstm_nofg", [False, False, False], [NONE, NONE, NONE])
    return g.analyse(load_runs(root))


def test_stream_scores_count_runs_to_the_first_error():
    runs = np.array([[1000, 1000], [1000, 999], [1500, 600], [900, 1100]])
    s = g.stream_scores(runs, 1000)
    assert s["perfect"] == [True, False, False, False]
    assert s["good"] == [False, False, True, False]  # mean 1000 is not over 1,000; 1050 is
    assert s["mean_run"] == [1000, 999.5, 1050, 1000]


def test_growth_ratio_of_linear_and_constant_profiles():
    t = np.arange(10_000, dtype=float)
    ratio = g.growth_ratio(np.stack([t + 1, np.full_like(t, 3.0), np.zeros_like(t)]))
    late, early = np.mean(t[9000:] + 1), np.mean(t[100:1000] + 1)
    assert ratio[0] == pytest.approx(late / early)
    assert ratio[1] == 1.0 and math.isnan(ratio[2])


def test_stream_trace_matches_the_closed_form():
    x, y = g.fresh_streams(300, streams=4)
    for model, c_unit in (
        ("lstm_nofg", lambda z, t: (t + 1) * z),
        ("lstm", lambda z, t: 2 * z * (1 - 0.5 ** (t + 1))),
    ):
        from models import make_model

        net = make_model(model, 7, 7, hidden=H)
        cnorm, run = g.stream_trace(net, hand_params(model, [NONE, T_OR_P, NONE]), x, y)
        t = np.arange(300)
        for seed, z in enumerate(Z):
            np.testing.assert_allclose(cnorm[seed], math.sqrt(H) * c_unit(z, t), rtol=2e-5)
        assert run[0].tolist() == run[2].tolist() == [0] * 4
        # T_OR_P is right exactly where the legal set is {T, P}: count from the start
        legal = np.asarray(y)  # [T, streams, 7]
        ok = (legal == (T_OR_P > 0)).all(axis=-1)
        assert run[1].tolist() == [int(np.cumprod(ok[:, b]).sum()) for b in range(4)] == [1] * 4


def test_analyse_pools_seeds_and_reads_both_parameter_files(result):
    assert result["test"] == {"streams": 10, "length": 2000, "early": [100, 1000], "late_from": 1800}
    fg, nofg = result["models"]["lstm"], result["models"]["lstm_nofg"]
    assert fg["suite_solved"]["solved"] == 1 and nofg["suite_solved"]["solved"] == 0
    assert fg["final"]["mean_run"] == [1, 0, 1] and nofg["final"]["mean_run"] == [0, 0, 0]
    assert fg["final"]["perfect"]["solved"] == fg["final"]["good"]["solved"] == 0
    t = np.arange(2000)
    linear = np.mean(t[1800:] + 1) / np.mean(t[100:1000] + 1)  # the same for every z
    assert nofg["final"]["median_ratio"] == pytest.approx(linear, rel=1e-5)
    assert nofg["init"]["median_ratio"] == pytest.approx(linear, rel=1e-5)
    assert fg["final"]["median_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert nofg["final"]["c_end"] == pytest.approx([2000 * z * math.sqrt(H) for z in Z], rel=1e-5)
    assert fg["final"]["profile"]["t"][0] == 1 and fg["final"]["profile"]["t"][-1] == 2000


def test_claims_at_cpu_scale_say_the_budget_is_too_small(result):
    by = {c.claim: c for c in g.claims(result, "cpu")}
    growth = by["Without forget gates the cell state grows without bound; with them it stays bounded"]
    assert growth.verdict == "agrees"
    rates = [c for c in by.values() if "share of networks" in c.claim]
    assert len(rates) == 5 and {c.verdict for c in rates} == {"not comparable"}
    assert "median run before the first error is 1 symbols" in rates[0].reason
    assert by["LSTM with forget gate and learning-rate decay: share of networks perfect"].paper == "62%"
    assert {c.verdict for c in g.claims(result, "smoke")} == {"not comparable"}
    assert not any("|" in str(v) for c in by.values() for v in vars(c).values())  # Markdown cells


def test_rate_claims_use_the_wilson_interval_once_the_nets_learned(result):
    learned = json.loads(json.dumps(result))
    fg = learned["models"]["lstm"]["final"]
    fg["mean_run"] = [5000.0, 200.0, 100.0]
    fg["perfect"] = {"solved": 1, "seeds": 3, "rate": 1 / 3, "ci95": [0.06, 0.79]}
    claim = g.claims(learned, "cpu")[0]
    ci = binomtest(1, 3).proportion_ci(method="wilson")
    assert claim.verdict == "agrees"  # 18% inside [0.06, 0.79]
    assert f"[{ci.low:.2f}, {ci.high:.2f}]" in claim.reason
    assert "but trained by BPTT" in claim.reason  # the batch schedule: not the paper's rule
    online = json.loads(json.dumps(learned))
    online["train"].update(
        schedule="stream", gradient="truncated", optim="sgd", lr=0.5, steps=20, length=1000
    )
    reason = g.claims(online, "faithful")[0].reason
    assert "BPTT" not in reason
    assert (
        "trained online as in the paper (truncated gradient, an update after every symbol, sgd lr 0.5"
        in reason
    )
    assert "for a fixed 20,000 symbols per lane" in reason


@pytest.mark.parametrize(
    ("fg", "nofg", "verdict"),
    [
        (1.5, 3.0, "agrees"),
        (1.51, 3.0, "disagrees"),
        (1.0, 2.99, "disagrees"),
        (math.nan, 100.0, "disagrees"),
    ],
)
def test_growth_verdict_boundaries(fg, nofg, verdict):
    assert g.growth_verdict(fg, nofg)[0] == verdict


def test_figure_and_paragraph(result, tmp_path):
    (png,) = g.figure(result, tmp_path)
    assert png.stat().st_size > 20_000
    text = g.paragraph(result)
    assert "10 fresh streams of 2,000 symbols" in text and "1/3" in text


@pytest.mark.slow
def test_smoke_scale_end_to_end(tmp_path):
    out = tmp_path / "gers"
    report = reproduce(get_study("gers2000"), "smoke", out, [], echo=lambda _: None)
    assert [s["status"] for s in report["sweeps"]] == [0, 0] and report["runs"] == 2 and report["seeds"] == 4
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}
    saved = json.loads((out / "reproduction.json").read_text())
    assert saved["result"]["test"]["length"] == 5000
    assert saved["result"]["train"]["net"] == (
        "lstm1997: 8 cells in blocks of 2 sharing their gates, the 1997 squashing, forget-gate biases"
        " +0.5, +1, +1.5, +2 by block"
    )
    runs = sorted(out.glob("online_blocks_*/*_continual_reber"))
    assert len(runs) == 2
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        fields = yaml.safe_load((run / "config.yaml").read_text())["model"]
        assert (fields.pop("name"), fields["block_size"], fields["squashing"]) == (
            "lstm1997",
            2,
            "hochreiter1997",
        )
        row = saved["result"]["models"]["lstm" if fields["forget_gate"] else "lstm_nofg"]
        assert row["suite_solved"]["solved"] == sum(s["solved"] for s in summary["seeds"])
        with np.load(run / "params_final.npz") as f:
            params = {k: f[k] for k in f.files}
        assert params["b_out"].shape[0] == len(row["seeds"]) == 2
        # ||c_t|| recomputed through the model's own forward pass (models.scan), not the study's scan
        from models import make_model

        net = make_model("lstm1997", 7, 7, **{k: v for k, v in fields.items() if k != "init"})
        x, _ = g.fresh_streams(5000)
        ends = []
        for s in range(2):
            _, states = net.apply({k: v[s] for k, v in params.items()}, np.swapaxes(np.asarray(x), 0, 1))
            cnorm = np.linalg.norm(np.asarray(states[0][1]), axis=-1).mean(axis=1)
            ends.append(cnorm[-1])
            assert row["final"]["ratio"][s] == pytest.approx(g.growth_ratio(cnorm[None])[0], rel=1e-4)
        assert row["final"]["c_end"] == pytest.approx(ends, rel=1e-4)
    rows = (out / "readme_rows.md").read_text().splitlines()
    assert len(rows) == len(report["claims"]) == 6 and all(r.count("|") == 8 for r in rows)
    assert (out / "figures" / "gers2000.png").stat().st_size > 20_000


def test_faithful_scale_is_the_papers_online_rule_on_continual_streams():
    """Gers et al. 2000's learning rule: an update after every symbol (train.schedule=stream)
    from the truncated gradient, plain SGD at lr 0.5, one stream per net, both models."""
    from benchmarks.studies.base import jobs
    from scripts.study_costs import build_job

    grids = g.STUDY.scales["faithful"]
    listed = [job for grid in grids for job in jobs(grid)]
    assert len(listed) == 2
    for job, forget in zip(listed, (True, False), strict=True):
        trainer = build_job(job).trainer
        spec = trainer.model.spec  # Gers et al.'s net: 4 blocks of 2 cells, block-wise biases
        assert (spec.cell, spec.blocks, spec.block_size, spec.forget_gate) == ("lstm", 4, 2, forget)
        assert spec.input_gate_biases == spec.output_gate_biases == (-0.5, -1.0, -1.5, -2.0)
        assert spec.forget_gate_biases == ((0.5, 1.0, 1.5, 2.0) if forget else ())
        assert (trainer.spec.schedule, trainer.spec.gradient, trainer.spec.batch_size) == (
            "stream",
            "truncated",
            1,
        )
        assert (trainer.optim.name, trainer.optim.lr, trainer.optim.clip) == ("sgd", 0.5, "none")
        assert trainer.task.name == "continual_reber" and trainer.model.spec.hidden == 8
    assert all("seeds=30" in grid.overrides for grid in grids)  # 10 or more, as the paper's 100
