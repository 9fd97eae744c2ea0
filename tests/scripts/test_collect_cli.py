"""``scripts/collect.py``: a sweep directory into one printed table and one Parquet file."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def _env():
    return {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }


def _collect(*args):
    return subprocess.run(
        [sys.executable, "scripts/collect.py", *map(str, args)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_collect_prints_and_writes_the_table(figure_runs, tmp_path):
    root = figure_runs["lstm"].parent
    out = tmp_path / "results.parquet"
    proc = _collect(root, "--out", out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    assert sorted(table["model"]) == ["lstm", "rnn"] and set(table["seeds"]) == {2}
    assert set(table["status"]) == {"finished"} and "train.steps" in table.columns
    assert "lstm" in proc.stdout and proc.stdout.strip().endswith(f"results: {out}")
    assert proc.stderr == ""


def test_collect_of_a_half_finished_sweep_warns_once_per_kind(half_finished_sweep):
    proc = _collect(half_finished_sweep)
    assert proc.returncode == 0, proc.stderr
    assert [line.split(": ")[:2] for line in proc.stderr.splitlines()] == [
        ["warning", "1 run unfinished (config.yaml, no summary.json"],
        ["warning", "1 run failed (error.json)"],
        ["warning", "3 runs unreadable"],
    ], proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [
        "finished",
        "finished",
        "unfinished",
        "failed",
        "unreadable",
        "unreadable",
        "unreadable",
    ]
    assert "62% [31%, 86%]" in lines[1]
    out = half_finished_sweep / "results.parquet"
    assert lines[-1] == f"results: {out}"
    table = pd.read_parquet(out)
    assert list(table.columns) == [
        "status",
        "model",
        "task",
        "variant",
        "length",
        "model.hidden",
        "optim.clip",
        "jobs",
        "seeds",
        "solved",
        "diverged",
        "success_rate",
        "ci95_low",
        "ci95_high",
        "median_steps_to_solve",
        "wall_time_s",
        "seed_list",
        "error",
        "runs",
    ]
    assert list(table["solved"][:2]) == [5, 1] and list(table["jobs"][:2]) == [2, 1]
    again = _collect(half_finished_sweep)  # its own results.parquet is not taken for a run
    assert again.stdout == proc.stdout and again.stderr == proc.stderr


def test_collect_of_a_directory_without_runs_is_one_line(tmp_path):
    root = tmp_path / "sweep"
    (root / ".hydra").mkdir(parents=True)  # a job that has not written anything yet
    proc = _collect(root)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: no runs (a directory with config.yaml, summary.json or error.json) under {root}"
    ]


def test_collect_of_a_missing_directory_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.collect", str(tmp_path / "nope")],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"error: no such directory: {tmp_path / 'nope'}"
    ]
