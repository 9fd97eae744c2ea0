"""The offline figure renderer on real run directories written by the trainer.

One LSTM run (200 steps, full diagnostics) and one RNN run at initialisation are trained
once per module, side by side, and every figure is checked to be a real PNG of a sensible
size; the renderer must not import W&B (or JAX) and must fail with one line on bad input.
"""

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks import figures

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL = {
    "grad_time_heatmap.png",
    "grad_time_lines.png",
    "spectral_radius.png",
    "grad_norm_distribution.png",
    "lstm_paths.png",
    "lyapunov.png",
    "cell_norm.png",
    "jacobian_norm.png",
}
LSTM_ONLY = {"lstm_paths.png", "cell_norm.png"}


def _env() -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "disabled", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}


def _train(run_dir: Path, model: str, steps: int) -> subprocess.Popen:
    args = [
        f"model={model}",
        "task=adding",
        "task.length=20",
        "seeds=2",
        f"train.steps={steps}",
        "train.eval_size=200",
        "diagnostics=full",
        "diagnostics.every=100",
        "logger=none",
        f"hydra.run.dir={run_dir}",
    ]
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.train", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """An LSTM trained 200 steps and an RNN at initialisation (no training, so no
    grad_time.npz or grad_norms.npz), trained concurrently to halve the wall time."""
    root = tmp_path_factory.mktemp("figure_runs")
    dirs = {"lstm": root / "lstm", "rnn": root / "rnn"}
    procs = {"lstm": _train(dirs["lstm"], "lstm", 200), "rnn": _train(dirs["rnn"], "rnn", 0)}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name} run failed:\n{err[-2000:]}"
    return dirs


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _check_pngs(paths, names) -> None:
    assert {p.name for p in paths} == names
    for p in paths:
        width, height = _png_size(p)
        assert width >= 700 and height >= 400, (p.name, width, height)
        assert p.stat().st_size > 20_000, f"{p.name} is suspiciously small ({p.stat().st_size} bytes)"


@pytest.mark.slow
def test_cli_draws_every_lstm_figure_without_importing_wandb_or_jax(runs):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "benchmarks.figures", str(runs["lstm"])],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    out = runs["lstm"] / "figures"
    assert lines[-1] == f"figures: {out}"
    assert [Path(line) for line in lines[:-1]] == [out / name for name in figures.FIGURES]
    _check_pngs([out / name for name in figures.FIGURES], ALL)
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()}
    assert "matplotlib" in imported  # the import log is really there
    assert "wandb" not in imported
    assert "jax" not in imported


@pytest.mark.slow
def test_rnn_at_init_skips_lstm_and_training_figures(runs, tmp_path):
    notes: list[str] = []
    written = figures.render(runs["rnn"], out=tmp_path, echo=notes.append)
    _check_pngs(written, ALL - LSTM_ONLY - {"grad_norm_distribution.png"})
    skipped = {line.split()[1].rstrip(":") for line in notes if line.startswith("skipped ")}
    assert skipped == LSTM_ONLY | {"grad_norm_distribution.png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


@pytest.mark.slow
def test_basic_diagnostics_run_still_gets_the_training_figures(runs, tmp_path):
    """Without diagnostics.npz (diagnostics=basic) the figures drawn from grad_time.npz and
    grad_norms.npz remain; the rest are skipped with a note naming the missing file."""
    run = tmp_path / "basic"
    shutil.copytree(runs["lstm"], run, ignore=shutil.ignore_patterns("figures", "diagnostics.npz"))
    notes: list[str] = []
    written = figures.render(run, echo=notes.append)
    _check_pngs(written, {"grad_time_heatmap.png", "grad_time_lines.png", "grad_norm_distribution.png"})
    assert all(p.parent == run / "figures" for p in written)
    assert sum("no diagnostics.npz" in line for line in notes) == 5


@pytest.mark.slow
def test_one_seed_and_chosen_steps(runs, tmp_path):
    written = figures.render(runs["lstm"], out=tmp_path, steps=[0, 200], seed=1)
    _check_pngs(written, ALL)
    with pytest.raises(figures.FigureError, match=r"seed 7 is not in this run \(seeds: 0, 1\)"):
        figures.render(runs["lstm"], out=tmp_path, seed=7)
    with pytest.raises(figures.FigureError, match=r"steps not measured.*\[50\].*0, 100, 200"):
        figures.render(runs["lstm"], out=tmp_path, steps=[0, 50])


def test_missing_directory_is_one_error_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.figures", str(tmp_path / "nope")],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: no such directory: {tmp_path / 'nope'}"]
    assert proc.stdout == ""


def test_directory_without_summary_is_one_error_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        figures.main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: not a run directory (no summary.json)")
    assert not (tmp_path / "figures").exists()


def test_seed_reduction_ignores_bad_values_and_is_geometric_on_log_axes():
    a = np.array([[1.0, 10.0, np.nan], [100.0, 0.0, np.nan]])  # [seeds, points]
    mid, lo, hi = figures._reduce(a, log=True)
    np.testing.assert_allclose(mid[:2], [10.0, 10.0])
    np.testing.assert_allclose(lo[:2], [1.0, 10.0])
    np.testing.assert_allclose(hi[:2], [100.0, 10.0])
    assert np.isnan(mid[2]) and np.isnan(lo[2]) and np.isnan(hi[2])
    mid, lo, hi = figures._reduce(a, log=False)
    np.testing.assert_allclose(mid[:2], [50.5, 5.0])
    assert figures._choose(np.arange(0, 1001, 100), None) == [0, 200, 400, 600, 800, 1000]
    assert figures._choose(np.array([0, 100, 200]), [200, 0, 50]) == [0, 200]
