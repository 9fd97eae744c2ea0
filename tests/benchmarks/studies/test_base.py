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
