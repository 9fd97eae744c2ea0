"""``scripts/reproduce.py --costs``: a scale's jobs listed as Hydra runs them, grouped by what
a step costs, each kind measured on its own protocol; the arithmetic against a fake clock
whose answer is known, and one real measurement of a tiny job."""

import itertools
import json

import pytest

from benchmarks.studies.base import Grid, grid_cost
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
