"""A sweep's runs joined into one table, on sweeps written by hand (no training): statuses,
the varying config keys as columns, seeds of one config pooled over jobs, damaged files."""

import math
import time

import pandas as pd
import pytest

from benchmarks import store
from benchmarks.analysis import results
from benchmarks.stats import wilson_interval

Z = 1.959963984540054  # the 0.975 quantile of the standard normal


def wilson_closed_form(k, n):
    """Wilson (1927): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    p = k / n
    centre, half = p + Z**2 / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return (centre - half) / (1 + Z**2 / n), (centre + half) / (1 + Z**2 / n)


def test_a_half_finished_sweep_is_one_table_with_a_status_per_run(half_finished_sweep):
    start = time.perf_counter()
    bomb = results.read_run(half_finished_sweep / "6")
    assert time.perf_counter() - start < 1.0 and bomb.status == "unreadable"  # refused, not expanded
    table = results.collect(half_finished_sweep)
    table["name"] = [[p.rpartition("/")[2] for p in runs] for runs in table["runs"]]
    assert [(s, n) for s, n in zip(table["status"], table["name"], strict=True)] == [
        ("finished", ["0", "1"]),
        ("finished", ["2"]),
        ("unfinished", ["3"]),
        ("failed", ["4"]),
        ("unreadable", ["5"]),
        ("unreadable", ["6"]),
        ("unreadable", ["7"]),
    ]
    config_columns = list(table.columns[1 : list(table.columns).index("jobs")])
    assert config_columns == ["model", "task", "variant", "length", "model.hidden", "optim.clip"]
    assert list(table["model.hidden"][:5]) == [50, 100, 100, 100, 50]
    assert list(table["optim.clip"][:5]) == ["global_norm", "none", "global_norm", "none", "global_norm"]
    assert list(table["length"][:5]) == [50] * 5 and table["length"][5:].isna().all()

    pooled = table.iloc[0]  # seed_offset 0 and 4 of one config: 3 + 2 of 4 + 4 seeds solved
    assert (pooled.jobs, pooled.seeds, pooled.solved, pooled.diverged) == (2, 8, 5, 0)
    assert list(pooled.seed_list) == list(range(8)) and pooled.success_rate == 5 / 8
    assert (pooled.ci95_low, pooled.ci95_high) == pytest.approx(wilson_closed_form(5, 8), abs=1e-12)
    assert pooled.median_steps_to_solve == 400.0  # seeds 0, 1, 3, 4, 7 at 100 * (seed + 1)
    assert pooled.wall_time_s == 20.0 and pd.isna(pooled.error)

    other = table.iloc[1]
    assert (other.jobs, other.seeds, other.solved) == (1, 4, 1)
    assert (other.ci95_low, other.ci95_high) == pytest.approx(wilson_closed_form(1, 4), abs=1e-12)

    rest = table.iloc[2:]
    assert rest["solved"].isna().all() and rest["success_rate"].isna().all()
    assert [list(s) for s in rest["seed_list"]] == [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 3], [], []]
    errors = list(rest["error"])
    assert pd.isna(errors[0]) and errors[1] == "XlaRuntimeError: RESOURCE_EXHAUSTED: out of memory"
    assert errors[2].startswith("summary.json: not valid JSON (")
    assert errors[3].startswith("config.yaml: not valid YAML (anchors and aliases are not allowed")
    assert errors[4] == "config.yaml: larger than 1000000 bytes, not read"

    warnings = table.attrs["warnings"]
    assert [w.split(":")[0] for w in warnings] == [
        "1 run unfinished (config.yaml, no summary.json",
        "1 run failed (error.json)",
        "3 runs unreadable",
    ]
    assert warnings[0].endswith(": 3") and "4 (XlaRuntimeError" in warnings[1]


def test_the_interval_is_scipys_wilson_interval():
    """The table's interval is :func:`benchmarks.stats.wilson_interval`: SciPy's, the closed form."""
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in ((0, 1), (0, 8), (5, 8), (8, 8), (31, 64)):
        ci = scipy_stats.binomtest(k, n).proportion_ci(method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)
        assert wilson_interval(k, n) == pytest.approx(wilson_closed_form(k, n), abs=1e-12)


def test_a_seed_run_by_two_jobs_of_one_config_counts_once(tmp_path, fake_runs):
    config, summary = fake_runs.config, fake_runs.summary
    fake_runs.write(tmp_path / "a", config(seeds=range(4)), summary(range(4), [True] * 4))
    fake_runs.write(tmp_path / "b", config(seeds=range(2, 6)), summary(range(2, 6), [False] * 4))
    table = results.collect(tmp_path)
    assert len(table) == 1 and list(table.columns[1:5]) == ["model", "task", "variant", "length"]
    row = table.iloc[0]  # seeds 2 and 3 count with the first job's result (solved)
    assert (row.jobs, row.seeds, row.solved, list(row.seed_list)) == (2, 6, 4, list(range(6)))
    assert table.attrs["warnings"] == [
        "2 seeds run again by another job of its config, counted once: seed 2 in a and b, seed 3 in a and b"
    ]


def test_a_finished_run_also_holding_an_error_json_keeps_its_result_and_is_named(tmp_path, fake_runs):
    error = '{"error": "holds a different run", "type": "RunDirConflict"}'
    summary = fake_runs.summary(range(2), [True, False])
    fake_runs.write(tmp_path, fake_runs.config(seeds=range(2)), summary, error_json=error)
    table = results.collect(tmp_path)
    assert list(table["status"]) == ["finished"] and table["solved"][0] == 1
    assert table["error"][0] == "RunDirConflict: holds a different run"
    assert table.attrs["warnings"] == [f"1 run finished but also holding an error.json: {tmp_path}"]


@pytest.mark.parametrize(
    "files, reason",
    [
        ({"config_yaml": "- a list\n"}, "config.yaml: not a mapping of config keys"),
        ({"config_yaml": "model: [unclosed\n"}, "config.yaml: not valid YAML ("),
        ({"config_yaml": "a: " + "[" * 5000 + "\n"}, "config.yaml: not valid YAML ("),
        ({"summary_json": '{"seeds": []}'}, "summary.json: no per-seed results"),
        ({"summary_json": '{"seeds": [{"seed": "0"}]}'}, "summary.json: no per-seed results"),
        ({"summary_json": "[" * 100_000}, "summary.json: not valid JSON ("),
        ({"summary_json": b"\xff\xfe".decode("latin-1")}, "summary.json: not valid JSON ("),
        ({"error_json": '"just a string"'}, 'error.json: not {"error": ..., "type": ...}'),
    ],
)
def test_a_damaged_file_makes_its_run_unreadable_with_a_one_line_reason(tmp_path, fake_runs, files, reason):
    config = None if "config_yaml" in files else fake_runs.config()
    fake_runs.write(tmp_path / "run", config, **files)
    (run,) = [results.read_run(p) for p in results.find_runs(tmp_path)]
    assert run.status == "unreadable" and run.error.startswith(reason) and "\n" not in run.error


def test_a_summary_without_its_config_is_unreadable(tmp_path, fake_runs):
    fake_runs.write(tmp_path, None, fake_runs.summary(range(2), [True, True]))
    run = results.read_run(tmp_path)
    assert run.status == "unreadable" and "which config ran is unknown" in run.error


def test_find_runs_skips_hydra_and_wandb_files_and_does_not_enter_a_run(tmp_path, fake_runs):
    write, sweep_dir = fake_runs.write, tmp_path / "sweep"
    write(sweep_dir / "0", fake_runs.config())
    write(sweep_dir / "0" / "wandb" / "offline-run-1" / "files", config_yaml="a: 1\n")
    write(sweep_dir / "1" / ".hydra", config_yaml="a: 1\n")
    write(sweep_dir / "2" / "wandb" / "files", config_yaml="a: 1\n")
    write(sweep_dir / "3", error_json='{"error": "bad", "type": "ValueError"}')
    assert results.find_runs(tmp_path) == [tmp_path / "sweep" / "0", tmp_path / "sweep" / "3"]
    assert results.collect(tmp_path / "empty").empty


def test_a_sweep_over_nested_keys_names_them_dotted():
    configs = [
        {"model": {"name": "rnn", "init": {"recurrent_scale": s}}, "seeds": [i], "seed_offset": i}
        for i, s in enumerate((0.9, 1.0, 1.1))
    ]
    runs = [results.Run(path=None, config=results.flatten(c)) for c in configs]
    assert results.config_columns(runs) == [*results.ALWAYS, "model.init.recurrent_scale"]


def test_the_alias_bomb_is_refused_by_the_strict_loader_at_its_first_anchor(tmp_path, fake_runs):
    (tmp_path / "config.yaml").write_text(fake_runs.alias_bomb)
    start = time.perf_counter()
    with pytest.raises(store.UnreadableFile, match="anchors and aliases are not allowed at line 2"):
        store.read_yaml_strict(tmp_path / "config.yaml")
    assert time.perf_counter() - start < 0.1


def test_the_printed_table_shows_percentages_and_seed_ranges(half_finished_sweep):
    text = results.format_table(results.collect(half_finished_sweep))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["status", "model", "task"] and "runs" not in lines[0]
    assert "62% [31%, 86%]" in lines[1] and lines[1].split()[-2:] == ["0-7", "-"]  # no error
    assert "anchors and aliases are not allowed" in lines[6]
