"""``scripts/collect.py``: a sweep directory into one printed table and one Parquet file."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def _env():
    return {**os.environ, "WANDB_MODE": "disabled", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}


def test_collect_prints_and_writes_the_table(figure_runs, tmp_path):
    root = figure_runs["lstm"].parent
    out = tmp_path / "results.parquet"
    proc = subprocess.run(
        [sys.executable, "scripts/collect.py", str(root), "--out", str(out)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    assert sorted(table["model"]) == ["lstm", "rnn"] and set(table["seeds"]) == {2}
    assert "lstm" in proc.stdout and proc.stdout.strip().endswith(f"results: {out}")


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
