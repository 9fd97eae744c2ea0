"""The offline figure renderer on real run directories written by the trainer.

One LSTM run (200 steps, full diagnostics) and one RNN run at initialisation are trained
once per session (``figure_runs`` in tests/conftest.py), side by side, and every figure is
checked to be a real PNG of a sensible size; the renderer fails with a FigureError on a
seed or step the run does not have. The package imports nothing beyond the standard
library, NumPy and matplotlib. The command line is tested in tests/scripts.
"""

import ast
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import binomtest
from scipy.stats import t as student

from benchmarks.analysis import figures
from benchmarks.analysis.figures import across_runs, grad_norm_quantiles
from benchmarks.analysis.figures.draw import choose_steps, reduce_seeds

IN_ORDER = [
    "learning_curves.png",
    "grad_time_heatmap.png",
    "grad_time_lines.png",
    "spectral_radius.png",
    "grad_norm_distribution.png",
    "grad_norm_quantiles.png",
    "lstm_paths.png",
    "lyapunov.png",
    "cell_norm.png",
    "jacobian_norm.png",
]
ALL = set(IN_ORDER)
LSTM_ONLY = {"lstm_paths.png", "cell_norm.png"}
TRAINED = {"grad_norm_distribution.png", "grad_norm_quantiles.png"}  # from grad_norms.npz


def test_registry_names_every_figure_in_drawing_order():
    assert list(figures.FIGURES) == IN_ORDER


@pytest.mark.slow
def test_rnn_at_init_skips_lstm_and_training_figures(figure_runs, tmp_path, check_pngs):
    notes: list[str] = []
    written = figures.render(figure_runs["rnn"], out=tmp_path, formats=["png"], echo=notes.append)
    check_pngs(written, ALL - LSTM_ONLY - TRAINED)
    skipped = {line.split()[1].rstrip(":") for line in notes if line.startswith("skipped ")}
    assert skipped == LSTM_ONLY | TRAINED
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)


@pytest.mark.slow
def test_basic_diagnostics_run_still_gets_the_training_figures(figure_runs, tmp_path, check_pngs):
    """Without diagnostics.npz (diagnostics=basic) the figures drawn from grad_time.npz and
    grad_norms.npz remain; the rest are skipped with a note naming the missing file."""
    run = tmp_path / "basic"
    shutil.copytree(figure_runs["lstm"], run, ignore=shutil.ignore_patterns("figures", "diagnostics.npz"))
    notes: list[str] = []
    written = figures.render(run, formats=["png"], echo=notes.append)
    check_pngs(
        written,
        {"learning_curves.png", "grad_time_heatmap.png", "grad_time_lines.png", *TRAINED},
    )
    assert all(p.parent == run / "figures" for p in written)
    assert sum("no diagnostics.npz" in line for line in notes) == 5


@pytest.mark.slow
def test_one_seed_and_chosen_steps(figure_runs, tmp_path, check_pngs):
    written = figures.render(figure_runs["lstm"], out=tmp_path, steps=[0, 200], seed=1, formats=["png"])
    check_pngs(written, ALL)
    with pytest.raises(figures.FigureError, match=r"seed 7 is not in this run \(seeds: 0, 1\)"):
        figures.render(figure_runs["lstm"], out=tmp_path, seed=7)
    with pytest.raises(figures.FigureError, match=r"steps not measured.*\[50\].*0, 100, 200"):
        figures.render(figure_runs["lstm"], out=tmp_path, steps=[0, 50])


@pytest.mark.slow
def test_a_sweep_gets_sweep_figures_and_each_run_its_own(figure_runs, tmp_path, check_pngs):
    """The two figure runs as one sweep: its points hold each run's pooled rate with the
    Wilson interval scipy gives and the stored ||dL/dh|| at the lags; the sweep figures go
    to OUT, each run's figures to OUT/<run>."""
    root = figure_runs["lstm"].parent
    points = {p.model: p for p in across_runs.load_points(root)}
    assert set(points) == {"lstm", "rnn"}
    for model, point in points.items():
        summary = json.loads((figure_runs[model] / "summary.json").read_text())
        k, n = summary["n_solved"], summary["n_seeds"]
        ci = binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert (point.seeds, point.rate, point.length) == (n, k / n, 20)
        np.testing.assert_allclose(point.ci95, [ci.low, ci.high])
        with np.load(figure_runs[model] / "diagnostics.npz") as z:
            grad_h = z["grad_h"]  # [steps, seeds, T]; the RNN at init has diagnostics only
        lag = round(0.5 * (grad_h.shape[-1] - 1))
        np.testing.assert_allclose(point.lag_norms[0.5]["first"], grad_h[0, :, -1 - lag])
    notes: list[str] = []
    written = figures.render(root, out=tmp_path, formats=["png"], echo=notes.append)
    check_pngs([p for p in written if p.parent == tmp_path], {"success_rate.png", "grad_at_lags.png"})
    assert (
        any(line.startswith("skipped steps_to_solve.png") for line in notes)
        or (tmp_path / "steps_to_solve.png").is_file()
    )
    assert {p.parent.name for p in written} == {tmp_path.name, "lstm", "rnn"}
    with pytest.raises(figures.FigureError, match="apply to one run directory"):
        figures.render(root, out=tmp_path, seed=0)


def test_seed_reduction_is_a_t_interval_ignoring_bad_values_and_geometric_on_log_axes():
    """Reference intervals from scipy.stats.t.interval (mean +- t_{0.975, n-1} s / sqrt(n)),
    over log10 of the positive values on log axes; a column with one value has no interval."""
    a = np.array([[1.0, 10.0, np.nan], [100.0, 0.0, np.nan], [1000.0, 10.0, 5.0]])  # [seeds, points]
    mid, lo, hi = reduce_seeds(a, log=True)
    logs = np.log10([1.0, 100.0, 1000.0])
    ref = student.interval(0.95, df=2, loc=logs.mean(), scale=logs.std(ddof=1) / np.sqrt(3))
    np.testing.assert_allclose([mid[0], lo[0], hi[0]], [10 ** logs.mean(), *np.power(10.0, ref)])
    np.testing.assert_allclose([mid[1], lo[1], hi[1]], [10.0, 10.0, 10.0])  # 0 ignored; 2 equal values
    assert mid[2] == pytest.approx(5.0) and np.isnan(lo[2]) and np.isnan(hi[2])
    mid, lo, hi = reduce_seeds(a, log=False)
    ref = student.interval(0.95, df=2, loc=367.0, scale=np.std([1.0, 100.0, 1000.0], ddof=1) / np.sqrt(3))
    np.testing.assert_allclose([mid[0], lo[0], hi[0]], [367.0, *ref])
    assert np.isnan(reduce_seeds(np.full((2, 1), np.nan), log=False)[0]).all()
    assert choose_steps(np.arange(0, 1001, 100), None) == [0, 200, 400, 600, 800, 1000]
    assert choose_steps(np.array([0, 100, 200]), [200, 0, 50]) == [0, 200]


def test_the_package_imports_only_numpy_matplotlib_and_itself():
    """The figures read the store files alone: no JAX, W&B, trainer, or scripts (imports run
    scripts -> benchmarks, never back)."""
    allowed = {"__future__", "collections", "dataclasses", "json", "pathlib", "typing", "zipfile"}
    allowed |= {"numpy", "matplotlib", "scipy", "pandas"}
    for path in Path(figures.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                own = name == "benchmarks.analysis.figures" or name.startswith("benchmarks.analysis.figures.")
                # across_runs reads a sweep as collect and compare do (benchmarks.analysis.results, .pairwise:
                # no JAX either; the command-line test checks that JAX is never imported)
                own |= name == "benchmarks.analysis" and path.name == "across_runs.py"
                own |= name == "benchmarks.stats"  # numpy and scipy only: the bands' t-interval
                assert own or name.split(".")[0] in allowed, (path.name, name)


def test_window_quantiles_pool_seeds_and_steps_ignoring_bad_values():
    """Values 1..100 in one window (two seeds x 50 steps) and bad values in another: the
    linear-interpolation quantiles are 1 + q/100 * 99, written out here."""
    a = np.arange(1.0, 101.0).reshape(2, 50)
    a = np.concatenate([a, np.array([[0.0, np.nan], [np.inf, -1.0]])], axis=1)  # [seeds, 52 steps]
    q = grad_norm_quantiles._window_quantiles(a, np.array([0, 50, 52]))
    np.testing.assert_allclose(q[:, 0], [5.95, 25.75, 50.5, 75.25, 95.05])
    assert np.isnan(q[:, 1]).all()


def test_sweep_figures_take_a_task_without_a_length_and_panels_wrap():
    """Reber has no length (NaN): its points sit at 0 under a tick that says so; five panels
    take two rows of three; a panel where no seed solved says so."""
    points = [
        across_runs.Point(f"task={t}", m, float("nan") if t == "reber" else 100.0, 0.5, (0.1, 0.9), 4, s)
        for t in ("adding", "copy", "reber", "latching", "multiplication")
        for m, s in (("lstm", [200.0, 400.0]), ("rnn", []))
    ]
    points[2].steps_to_solve = points[3].steps_to_solve = []  # task=copy: no seed solved
    fig = figures.SWEEP_FIGURES["success_rate.png"](points)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 5 and len(fig.axes) == 6
    reber = next(ax for ax in shown if ax.get_title() == "task=reber")
    assert [t.get_text() for t in reber.get_xticklabels()] == ["(the task has no length)"]
    assert reber.lines[0].get_xdata()[0] == pytest.approx(-0.0025)  # at 0, shifted for 2 models
    steps = figures.SWEEP_FIGURES["steps_to_solve.png"](points)
    copy = next(ax for ax in steps.axes if ax.get_title() == "task=copy")
    assert [t.get_text() for t in copy.texts] == ["no seed solved"]


def _as_second_job(run: Path, copy: Path) -> None:
    """``run`` copied to ``copy`` as a second job of its config: seeds 0, 1 renamed 2, 3."""
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("figures"))
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["seeds"] = [s + 2 for s in config["seeds"]]
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    summary = json.loads((copy / "summary.json").read_text())
    for s in summary["seeds"]:
        s["seed"] += 2
    (copy / "summary.json").write_text(json.dumps(summary))


def _pyarrow_reason(metrics: Path) -> str:
    """What pandas says reading ``metrics`` (pyarrow's words, on one line)."""
    with pytest.raises(ValueError) as e:
        pd.read_parquet(metrics)
    return " ".join(str(e.value).split())


@pytest.mark.slow
def test_a_run_that_cannot_be_read_is_left_out_of_the_sweep_points_with_one_warning(figure_runs, tmp_path):
    """The figure runs as a sweep, plus the LSTM again as a second job of its config (seeds
    2, 3), whose last metrics.parquet part is then overwritten: the LSTM point pools the
    first job alone (2 seeds, its stored ||dL/dh||), the RNN point is unchanged, and one
    line names the run left out and the part; without ``warn`` the run's FigureError stops it."""
    root = tmp_path / "sweep"
    for name, run in figure_runs.items():
        shutil.copytree(run, root / name, ignore=shutil.ignore_patterns("figures"))
    _as_second_job(root / "lstm", root / "lstm_2")
    whole = {p.model: p for p in across_runs.load_points(root)}
    assert (whole["lstm"].seeds, len(whole["lstm"].lag_norms[0.5]["first"])) == (4, 4)
    metrics = root / "lstm_2" / "metrics.parquet"
    part = sorted(metrics.glob("part-*.parquet"))[-1]
    part.write_bytes(b"not parquet")
    reason = _pyarrow_reason(metrics)
    assert f"'{part}'" in reason

    warnings: list[str] = []
    points = {p.model: p for p in across_runs.load_points(root, warnings.append)}
    assert warnings == [f"sweep figures without run lstm_2: cannot read {metrics}: {reason}"]
    assert set(points) == {"lstm", "rnn"}
    summary = json.loads((figure_runs["lstm"] / "summary.json").read_text())
    assert (points["lstm"].seeds, points["lstm"].rate) == (2, summary["n_solved"] / 2)
    with np.load(figure_runs["lstm"] / "diagnostics.npz") as z:
        grad_h = z["grad_h"]
    lag = round(0.5 * (grad_h.shape[-1] - 1))
    np.testing.assert_allclose(points["lstm"].lag_norms[0.5]["first"], grad_h[0, :, -1 - lag])
    assert (points["rnn"].seeds, points["rnn"].rate, points["rnn"].ci95) == (
        whole["rnn"].seeds,
        whole["rnn"].rate,
        whole["rnn"].ci95,
    )
    with pytest.raises(figures.FigureError, match=f"^{re.escape(f'cannot read {metrics}: ')}"):
        across_runs.load_points(root)


def test_a_log_band_over_seeds_that_span_hundreds_of_decades_still_draws():
    """Two seeds at 1e-30 and 1e30 (one diverging): log10 mean 0, a t-interval (1 degree of
    freedom) of 10^(+-381), past float32's range. The mean is drawn, those bounds are not,
    and the log axis renders (matplotlib raised OverflowError on such a range in a study)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from benchmarks.analysis.figures.draw import band, reduce_seeds

    a = np.array([[1e-30, 1e-30], [1e30, 1e30]])
    mid, lo, hi = reduce_seeds(a, log=True)
    np.testing.assert_allclose(mid, [1.0, 1.0])
    assert np.isnan(lo).all() and np.isnan(hi).all()
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    assert band(ax, np.arange(2), a, log=True)
    ax.set_yscale("log")
    fig.canvas.draw()
