"""The figure command line (scripts/figures.py) on a real LSTM run and on bad input.

It must print one line per figure (the PNG, with the PDF and SVG beside it) then
``figures: DIR``, must not import W&B (or JAX), and must fail with one ``error:`` line and
exit status 2 however it is started.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.analysis import figures
from scripts.figures import main

REPO = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }


@pytest.mark.slow
def test_cli_draws_every_lstm_figure_without_importing_wandb_or_jax(figure_runs, check_pngs):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "scripts.figures", str(figure_runs["lstm"])],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    out = figure_runs["lstm"] / "figures"
    assert lines[-1] == f"figures: {out}"
    assert lines[:-1] == [f"{out / name} (+ pdf, svg)" for name in figures.FIGURES]
    check_pngs([out / name for name in figures.FIGURES], set(figures.FIGURES))
    for name in figures.FIGURES:
        assert (out / name).with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
        assert b"<svg" in (out / name).with_suffix(".svg").read_bytes()[:2000]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines()}
    assert "matplotlib" in imported  # the import log is really there
    assert "wandb" not in imported
    assert "jax" not in imported


@pytest.mark.parametrize("start", [["-m", "scripts.figures"], ["scripts/figures.py"]], ids=["module", "file"])
def test_missing_directory_is_one_error_line_and_exit_2(tmp_path, start):
    proc = subprocess.run(
        [sys.executable, *start, str(tmp_path / "nope")],
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
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: not a run directory (no summary.json)")
    assert not (tmp_path / "figures").exists()


def test_unknown_format_is_one_error_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path), "--formats", "png,jpeg"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == "error: unknown format jpeg: choose from png, pdf, svg"


@pytest.mark.slow
def test_a_sweep_with_a_corrupt_run_draws_the_others_and_warns_on_stderr(
    figure_runs, tmp_path, capsys, monkeypatch
):
    """The LSTM's last metrics.parquet part overwritten in a copy of the two figure runs:
    exit 0, the sweep figures from the RNN alone and the RNN's own (learning curves only,
    to be quick), and two ``warning:`` lines naming the run and the part."""
    root = tmp_path / "sweep"
    for name, run in figure_runs.items():
        shutil.copytree(run, root / name, ignore=shutil.ignore_patterns("figures"))
    metrics = root / "lstm" / "metrics.parquet"
    part = sorted(metrics.glob("part-*.parquet"))[-1]
    part.write_bytes(b"not parquet")
    with pytest.raises(ValueError) as e:
        pd.read_parquet(metrics)
    reason = f"cannot read {metrics}: {' '.join(str(e.value).split())}"
    assert f"'{part}'" in reason
    monkeypatch.setattr(figures, "FIGURES", {"learning_curves.png": figures.FIGURES["learning_curves.png"]})

    main([str(root), "--formats", "png"])
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"warning: sweep figures without run lstm: {reason}",
        f"warning: no figures of run lstm: {reason}",
    ]
    figs = root / "figures"
    assert out.splitlines() == [
        f"sweep {root}: 1 panel(s), models rnn, lengths 20",
        str(figs / "success_rate.png"),
        "skipped steps_to_solve.png: no seed solved its task in this sweep: no steps to solve",
        str(figs / "grad_at_lags.png"),
        str(figs / "rnn" / "learning_curves.png"),
        f"figures: {figs}",
    ]
    assert not (figs / "lstm").exists()
