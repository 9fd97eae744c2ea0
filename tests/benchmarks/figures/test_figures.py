"""The offline figure renderer on real run directories written by the trainer.

One LSTM run (200 steps, full diagnostics) and one RNN run at initialisation are trained
once per session (``figure_runs`` in tests/conftest.py), side by side, and every figure is
checked to be a real PNG of a sensible size; the renderer fails with a FigureError on a
seed or step the run does not have. The package imports nothing beyond the standard
library, NumPy and matplotlib. The command line is tested in tests/scripts.
"""

import ast
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmarks import figures
from benchmarks.figures.draw import choose_steps, reduce_seeds

IN_ORDER = [
    "grad_time_heatmap.png",
    "grad_time_lines.png",
    "spectral_radius.png",
    "grad_norm_distribution.png",
    "lstm_paths.png",
    "lyapunov.png",
    "cell_norm.png",
    "jacobian_norm.png",
]
ALL = set(IN_ORDER)
LSTM_ONLY = {"lstm_paths.png", "cell_norm.png"}


def test_registry_names_every_figure_in_drawing_order():
    assert list(figures.FIGURES) == IN_ORDER


@pytest.mark.slow
def test_rnn_at_init_skips_lstm_and_training_figures(figure_runs, tmp_path, check_pngs):
    notes: list[str] = []
    written = figures.render(figure_runs["rnn"], out=tmp_path, echo=notes.append)
    check_pngs(written, ALL - LSTM_ONLY - {"grad_norm_distribution.png"})
    skipped = {line.split()[1].rstrip(":") for line in notes if line.startswith("skipped ")}
    assert skipped == LSTM_ONLY | {"grad_norm_distribution.png"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


@pytest.mark.slow
def test_basic_diagnostics_run_still_gets_the_training_figures(figure_runs, tmp_path, check_pngs):
    """Without diagnostics.npz (diagnostics=basic) the figures drawn from grad_time.npz and
    grad_norms.npz remain; the rest are skipped with a note naming the missing file."""
    run = tmp_path / "basic"
    shutil.copytree(figure_runs["lstm"], run, ignore=shutil.ignore_patterns("figures", "diagnostics.npz"))
    notes: list[str] = []
    written = figures.render(run, echo=notes.append)
    check_pngs(written, {"grad_time_heatmap.png", "grad_time_lines.png", "grad_norm_distribution.png"})
    assert all(p.parent == run / "figures" for p in written)
    assert sum("no diagnostics.npz" in line for line in notes) == 5


@pytest.mark.slow
def test_one_seed_and_chosen_steps(figure_runs, tmp_path, check_pngs):
    written = figures.render(figure_runs["lstm"], out=tmp_path, steps=[0, 200], seed=1)
    check_pngs(written, ALL)
    with pytest.raises(figures.FigureError, match=r"seed 7 is not in this run \(seeds: 0, 1\)"):
        figures.render(figure_runs["lstm"], out=tmp_path, seed=7)
    with pytest.raises(figures.FigureError, match=r"steps not measured.*\[50\].*0, 100, 200"):
        figures.render(figure_runs["lstm"], out=tmp_path, steps=[0, 50])


def test_seed_reduction_ignores_bad_values_and_is_geometric_on_log_axes():
    a = np.array([[1.0, 10.0, np.nan], [100.0, 0.0, np.nan]])  # [seeds, points]
    mid, lo, hi = reduce_seeds(a, log=True)
    np.testing.assert_allclose(mid[:2], [10.0, 10.0])
    np.testing.assert_allclose(lo[:2], [1.0, 10.0])
    np.testing.assert_allclose(hi[:2], [100.0, 10.0])
    assert np.isnan(mid[2]) and np.isnan(lo[2]) and np.isnan(hi[2])
    mid, lo, hi = reduce_seeds(a, log=False)
    np.testing.assert_allclose(mid[:2], [50.5, 5.0])
    assert choose_steps(np.arange(0, 1001, 100), None) == [0, 200, 400, 600, 800, 1000]
    assert choose_steps(np.array([0, 100, 200]), [200, 0, 50]) == [0, 200]


def test_the_package_imports_only_numpy_matplotlib_and_itself():
    """The figures read the store files alone: no JAX, W&B, trainer, or scripts (imports run
    scripts -> benchmarks, never back)."""
    allowed = {"__future__", "collections", "dataclasses", "json", "pathlib", "typing", "zipfile"}
    allowed |= {"numpy", "matplotlib"}
    for path in Path(figures.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                own = name == "benchmarks.figures" or name.startswith("benchmarks.figures.")
                assert own or name.split(".")[0] in allowed, (path.name, name)
