"""``scripts/reproduce.py --costs``: a scale's jobs listed as Hydra runs them, grouped by what
a step costs, each kind measured on its own protocol; the arithmetic against a fake clock
whose answer is known, and one real measurement of a tiny job."""

import itertools
import json

import pytest

from benchmarks.studies.base import Grid, grid_cost, jobs
from scripts import reproduce, study_costs

TINY = (
    "model=rnn",
    "model.hidden=4",
    "task=adding",
    "task.length=10",
    "seeds=2",
    "train.batch_size=4",
    "train.eval_every=10",
    "train.eval_size=8",
    "diagnostics=none",
    "logger=none",
)


def test_jobs_are_the_product_of_the_swept_values_in_order_the_last_of_a_repeated_key_wins():
    grid = Grid("g", ("model=rnn,lstm", "optim.lr=0.1", "optim.lr=0.5", "task.length=5,10,20", "seeds=2"))
    expected = [
        [f"model={m}", "optim.lr=0.5", f"task.length={t}", "seeds=2"]
        for m, t in itertools.product(("rnn", "lstm"), ("5", "10", "20"))
    ]
    assert study_costs.jobs(grid) == expected
    assert grid_cost(grid) == (6, 6 * 2 * 2000)  # seeds 2, the default 2,000 steps
    bracketed = Grid("b", ("model=lstm1997", "model.input_gate_biases=[-1,-2]", "optim.lr=0.1,0.2"))
    assert study_costs.jobs(bracketed) == [
        ["model=lstm1997", "model.input_gate_biases=[-1,-2]", f"optim.lr={lr}"] for lr in ("0.1", "0.2")
    ]


class Clock:
    """A run of s steps takes fixed + s * step seconds, and ``compile`` more the first time
    a job is run; every call is recorded."""

    def __init__(self, fixed, step, compile_s):
        self.fixed, self.step, self.compile_s, self.calls, self.seen = fixed, step, compile_s, [], set()

    def __call__(self, overrides, steps):
        self.calls.append(steps)
        first = tuple(overrides) not in self.seen
        self.seen.add(tuple(overrides))
        return self.fixed + steps * self.step + (self.compile_s if first else 0.0)


def test_a_probe_reads_step_fixed_and_compile_seconds_and_lengthens_k_until_the_difference_is_readable():
    clock = Clock(fixed=2.0, step=0.004, compile_s=7.0)
    got = study_costs.probe(list(TINY), run=clock)
    # k starts at one evaluation interval (10 steps: 0.04 s, unreadable) and grows 4x per try
    # until k steps take >= 1 s: 10, 40, 160 (0.64 s), 640 (2.56 s)
    assert clock.calls == [10, 10, 20, 40, 80, 160, 320, 640, 1280]
    assert got.k == 640
    assert got.step_s == pytest.approx(0.004)
    assert got.fixed_s == pytest.approx(2.0)
    assert got.compile_s == pytest.approx(7.0)
    assert got.seconds(10_000) == pytest.approx(7.0 + 2.0 + 40.0)


def test_full_diagnostics_make_k_whole_diagnostics_intervals_too():
    overrides = [*TINY, "diagnostics=full", "diagnostics.every=25"]
    clock = Clock(fixed=1.0, step=0.05, compile_s=3.0)
    got = study_costs.probe(overrides, run=clock)
    assert clock.calls[0] == 50 and got.k == 50  # lcm(10, 25); 50 steps take 2.5 s


def test_jobs_are_grouped_by_what_a_step_costs_and_a_measured_kind_is_not_measured_again(tmp_path):
    grid = Grid("g", (*TINY, "optim.lr=0.1,0.01", "model.hidden=4,8", "train.steps=100,300"))
    clock = Clock(fixed=1.0, step=0.01, compile_s=5.0)
    cache = tmp_path / "costs.json"
    lines = []
    cost = study_costs.measure((grid,), cache, echo=lines.append, run=clock)
    # 8 jobs; the learning rate and the step budget leave a step's cost alone: 2 kinds (the widths)
    assert cost["jobs"] == 8 and cost["kinds"] == 2 and len(lines) == 2
    assert cost["model_steps"] == 2 * (100 + 300) * 2 * 2  # seeds x steps, over widths and rates
    # each job: compile + fixed + its own steps x step
    assert sorted({round(r["seconds"], 9) for r in cost["rows"]}) == [7.0, 9.0]
    assert cost["seconds"] == pytest.approx(4 * 7.0 + 4 * 9.0)
    stored = json.loads(cache.read_text())
    assert len(stored) == 2 and {v["machine"] for v in stored.values()} == {study_costs.machine()}

    def refuse(overrides, steps):
        raise AssertionError("measured again")

    assert study_costs.measure((grid,), cache, echo=lines.append, run=refuse) == cost


def test_the_table_has_a_row_per_study_with_the_scale(tmp_path, monkeypatch):
    seen = []

    def fake(grids, cache, echo=print, run=None):
        seen.append(cache)
        return {"machine": "m", "jobs": 3, "kinds": 2, "model_steps": 12_000, "seconds": 5400.0, "rows": []}

    monkeypatch.setattr(reproduce, "measure", fake)
    text = reproduce.costs(tmp_path, "cpu", "gers2000")
    assert text.splitlines() == [
        "| study | cpu: jobs | model-steps | job kinds measured | estimated time |",
        "|---|---|---|---|---|",
        "| gers2000 | 3 | 12,000 | 2 | 1.5 h |",
        "",
        "measured on m",
    ]
    assert seen == [tmp_path / "gers2000" / "cpu" / "costs.json"]
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        reproduce.costs(tmp_path, "cpu", "nope")


def test_a_scale_no_row_fits_measures_its_cheapest_row_and_refuses_to_run(tmp_path, monkeypatch, capsys):
    """pascanu2013 has no faithful scale: --costs measures the cheapest row it holds instead
    (marked so), --list says none, running it is a one-line error with the reason; greff2015's
    reason is its data, so there is nothing to measure."""
    from benchmarks.studies import get_study
    from benchmarks.studies import reproduce as run_study

    seen = []

    def fake(grids, cache, echo=print, run=None):
        seen.append((grids, cache))
        return {
            "machine": "m",
            "jobs": 1,
            "kinds": 1,
            "model_steps": 25_000_000,
            "seconds": 36_000.0,
            "rows": [],
        }

    monkeypatch.setattr(reproduce, "measure", fake)
    study = get_study("pascanu2013")
    assert "faithful" not in study.scales
    text = reproduce.costs(tmp_path, "faithful", "pascanu2013")
    assert (
        "| pascanu2013 | no such scale; its cheapest row: 1 | 25,000,000 | 1 | 10.0 h (that row alone) |"
        in text
    )
    assert seen == [(study.unfit["faithful"], tmp_path / "pascanu2013" / "faithful" / "costs.json")]
    with pytest.raises(ValueError, match="no study here has the scale 'faithful'"):
        reproduce.costs(tmp_path, "faithful", "greff2015")
    with pytest.raises(ValueError) as info:
        run_study(study, "faithful", tmp_path / "out", [], echo=lambda _: None)
    message = str(info.value)
    assert message.startswith("pascanu2013 has no faithful scale: no row of the paper's protocol fits")
    assert message.endswith("; valid: smoke, cpu, paper") and "\n" not in message
    assert not (tmp_path / "out").exists()
    reproduce.list_studies()
    listed = capsys.readouterr().out
    assert "    --scale faithful: none; Greff et al.'s protocol is a random search" in listed
    assert "    --scale faithful: none; no row of the paper's protocol fits" in listed


@pytest.mark.slow
def test_a_real_probe_of_a_tiny_job_leaves_no_scratch_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(study_costs, "MIN_DIFF_S", 0.05)  # a few hundred steps, not thousands
    got = study_costs.probe(list(TINY))
    assert got.step_s > 0 and got.k % 10 == 0
    assert got.k * got.step_s >= study_costs.MIN_DIFF_S * 0.999  # k grew until k steps took 1 s
    assert list(tmp_path.iterdir()) == []


def test_every_study_has_a_faithful_scale_or_says_why_not():
    """The faithful scale exists, or the study holds its reason (a note) and its cheapest row,
    whose jobs build (so --costs can measure them), or no row when the reason is not cost."""
    from benchmarks.studies import STUDIES

    for name, study in STUDIES.items():
        if "faithful" in study.scales:
            assert "faithful" not in study.unfit, name
            continue
        assert "faithful" in study.unfit and study.scale_notes.get("faithful"), name
        for grid in study.unfit["faithful"]:
            for job in jobs(grid):
                study_costs.build_job(job)
