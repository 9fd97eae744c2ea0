"""The studies' loader reads the finished runs of a sweep and only those."""

from benchmarks.studies import load_runs


def test_load_runs_reads_the_finished_runs_only(tmp_path, fake_runs):
    fake_runs.write(tmp_path / "0", fake_runs.config(), fake_runs.summary(range(4), [True] * 4))
    fake_runs.write(tmp_path / "1", fake_runs.config(seeds=range(4, 8)))  # unfinished
    fake_runs.write(tmp_path / "2", error_json='{"error": "out of memory", "type": "XlaRuntimeError"}')
    fake_runs.write(tmp_path / "0" / ".hydra", config_yaml="model: {name: lstm}\n")
    (record,) = load_runs(tmp_path)
    assert record.path == tmp_path / "0" and record.get("model.hidden") == 50
    assert record.summary["n_solved"] == 4 and record.grad_norms == {}


def test_grid_cost_counts_jobs_and_model_steps():
    from benchmarks.config import Config
    from benchmarks.core.trainer import TrainSpec
    from benchmarks.studies.base import DEFAULT_SEEDS, DEFAULT_STEPS, Grid, grid_cost, scale_cost

    grid = Grid("grid", ("model=rnn,lstm", "task.length=10,20,30", "seeds=5", "train.steps=100"))
    assert grid_cost(grid) == (6, 6 * 5 * 100)
    swept_seeds = Grid("seeds", ("model=lstm", "seeds=2,3"))  # no train.steps: the default 2,000
    assert grid_cost(swept_seeds) == (2, (2 + 3) * 2000)
    assert scale_cost((grid, swept_seeds)) == (8, 3000 + 10_000)
    assert (Config.seeds, TrainSpec().steps) == (DEFAULT_SEEDS, DEFAULT_STEPS)


def test_measurements_are_taken_once_per_scale_and_kept(tmp_path):
    """A study's ``measure`` runs when ``measured.json`` is absent or holds another scale;
    otherwise the kept file is read back and nothing is measured again."""
    import json

    from benchmarks.studies.base import Study, measurements

    calls = []

    def measure(scale):
        calls.append(scale)
        return {"value": len(calls)}

    study = Study("s", "t", "src", {}, {}, None, None, None, None, measure=measure)
    first = measurements(study, "cpu", tmp_path, echo=lambda _: None)
    again = measurements(study, "cpu", tmp_path, echo=lambda _: None)
    assert calls == ["cpu"] and first["value"] == again["value"] == 1 and again["scale"] == "cpu"
    assert json.loads((tmp_path / "measured.json").read_text())["value"] == 1
    other = measurements(study, "smoke", tmp_path, echo=lambda _: None)
    assert calls == ["cpu", "smoke"] and other["value"] == 2
    assert measurements(Study("s", "t", "src", {}, {}, None, None, None, None), "cpu", tmp_path) is None
