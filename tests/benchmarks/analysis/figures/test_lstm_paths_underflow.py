"""lstm_paths.png on a synthetic run directory whose CEC part underflowed float32.

The run directory is written here by hand (summary.json and a diagnostics.npz, as the
trainer stores them for a peephole LSTM under FGR: every path family, its underflow flags,
the hop ablations), with no training. The CEC part is 0 and flagged for every seed at the
first time steps (the longest lags) and for one seed only at one step; the R_o part sits at
float32's floor at one step. The test reads back what the figure drew: the seed means leave
out exactly the underflowed seeds, triangles mark exactly the lags where every seed
underflowed, and a run stored before the flags existed draws no marks.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from benchmarks.analysis import figures
from benchmarks.analysis.figures import lstm_paths
from benchmarks.analysis.figures.load import load_run

SEEDS, T, STEPS = 3, 12, np.array([0, 100])
PARTS = ["cec", "R_z", "R_i", "R_f", "R_o", "peephole", "Q"]
ALL_LOST = [0, 1, 2]  # time steps where the CEC part underflowed for every seed
ONE_LOST = (1, 5)  # (seed, time step) where it underflowed for that seed only
FLOOR_STEP = 3  # the R_o part is ~5e-37 there


def _diagnostics(rng: np.random.Generator) -> dict[str, np.ndarray]:
    shape = (len(STEPS), SEEDS, T)
    diag: dict[str, np.ndarray] = {"step": STEPS}
    for name in PARTS:
        diag[f"path.{name}"] = (10.0 ** rng.uniform(-6, -1, shape)).astype(np.float32)
        diag[f"path_underflow.{name}"] = np.zeros(shape, np.float32)
    diag["path.R_o"][:, :, FLOOR_STEP] = 5e-37
    diag["path.cec"][:, :, ALL_LOST] = 0.0
    diag["path_underflow.cec"][:, :, ALL_LOST] = 1.0
    seed, t = ONE_LOST
    diag["path.cec"][:, seed, t] = 0.0
    diag["path_underflow.cec"][:, seed, t] = 0.75  # a fraction of the entries is enough
    diag["path.total"] = sum(diag[f"path.{name}"] for name in PARTS)
    diag["path_underflow.total"] = np.zeros(shape, np.float32)
    diag["path.residual"] = np.full(shape[:2], 1e-7, np.float32)
    diag["ablation.none"] = diag["path.cec"].copy()
    diag["ablation_underflow.none"] = diag["path_underflow.cec"].copy()
    for gate in "zifo":
        diag[f"ablation.R_{gate}"] = diag["path.cec"] + diag[f"path.R_{gate}"]
        diag[f"ablation_underflow.R_{gate}"] = np.zeros(shape, np.float32)
    return diag


def _write_run(run_dir: Path, flags: bool = True) -> dict[str, np.ndarray]:
    diag = _diagnostics(np.random.default_rng(0))
    if not flags:
        diag = {k: v for k, v in diag.items() if "_underflow." not in k}
    run_dir.mkdir()
    summary = {"model": "lstm_peephole_fgr", "task": "adding", "task_variant": "default", "task_length": T}
    summary["seeds"] = [{"seed": s} for s in range(SEEDS)]
    (run_dir / "summary.json").write_text(json.dumps(summary))
    np.savez(run_dir / "diagnostics.npz", **diag)
    return diag


def _expected_mean(values: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """Geometric mean over seeds [seeds, T] of the values not lost to underflow; NaN if none."""
    out = np.full(values.shape[1], np.nan)
    for t in range(values.shape[1]):
        kept = values[~lost[:, t], t].astype(float)
        if kept.size:
            out[t] = 10.0 ** np.mean(np.log10(kept))
    return out


def _line(ax, label: str):
    (line,) = [line for line in ax.lines if line.get_label() == label]
    return line


def _triangles(ax, color) -> list[np.ndarray]:
    return [
        np.asarray(line.get_xdata())
        for line in ax.lines
        if line.get_marker() == "v" and line.get_color() == color
    ]


@pytest.fixture
def drawn(tmp_path) -> tuple[Figure, dict[str, np.ndarray]]:
    diag = _write_run(tmp_path / "run")
    fig = lstm_paths.draw(load_run(tmp_path / "run"), None)
    assert isinstance(fig, Figure)
    return fig, diag


def test_underflowed_seeds_are_left_out_of_the_mean_and_marked_where_all_underflowed(drawn):
    fig, diag = drawn
    lag = T - 1 - np.arange(T)
    paths_first, paths_last, ablations = fig.axes[:3]
    lost = np.zeros((SEEDS, T), bool)
    lost[:, ALL_LOST] = True
    lost[ONE_LOST] = True
    for k, ax in enumerate((paths_first, paths_last)):
        cec = _line(ax, "cec")
        np.testing.assert_array_equal(cec.get_xdata(), lag)
        want = _expected_mean(diag["path.cec"][k], lost)
        np.testing.assert_allclose(cec.get_ydata(), want, rtol=1e-6, equal_nan=True)
        assert np.isnan(want[ALL_LOST]).all()
        seed, t = ONE_LOST  # the mean over the two other seeds, not three with a zero dropped by chance
        others = np.delete(diag["path.cec"][k, :, t], seed).astype(float)
        np.testing.assert_allclose(cec.get_ydata()[t], np.sqrt(others.prod()), rtol=1e-6)
        marks = _triangles(ax, cec.get_color())
        assert len(marks) == 1 and sorted(marks[0]) == sorted(lag[ALL_LOST])  # not at the one-seed step
        assert sum(line.get_marker() == "v" for line in ax.lines) == 1  # no other part underflowed
        texts = [text.get_text() for text in ax.get_legend().get_texts()]
        drawn_order = ["cec", "R_f", "R_i", "R_o", "R_z", "peephole", "Q", "total"]
        assert texts == [*drawn_order, lstm_paths.UNDERFLOW_LABEL, lstm_paths.FLOOR_LABEL]
    none = _line(ablations, "no hop (CEC only)")
    assert none.get_color() == _line(paths_last, "cec").get_color()
    marks = _triangles(ablations, none.get_color())
    assert len(marks) == 1 and sorted(marks[0]) == sorted(lag[ALL_LOST])
    assert lstm_paths.UNDERFLOW_LABEL in [text.get_text() for text in ablations.get_legend().get_texts()]


def test_values_at_float32s_floor_are_drawn_apart_and_every_family_is_drawn(drawn):
    fig, diag = drawn
    ax = fig.axes[0]
    r_o = _line(ax, "R_o")
    assert np.isnan(r_o.get_ydata()[FLOOR_STEP])  # not on the solid line...
    (floor,) = [line for line in ax.lines if line.get_label() == "_floor"]
    assert floor.get_color() == r_o.get_color() and floor.get_linestyle() == ":"
    np.testing.assert_allclose(floor.get_ydata()[FLOOR_STEP], 5e-37, rtol=1e-6)  # ...but dotted
    assert np.isnan(floor.get_ydata()[[0, T - 1]]).all()  # only around the floor step
    for name in ("peephole", "Q"):
        np.testing.assert_allclose(
            _line(ax, name).get_ydata(), _expected_mean(diag[f"path.{name}"][0], np.zeros((SEEDS, T), bool))
        )
    assert ax.get_yscale() == "log"


def test_a_run_stored_before_the_flags_draws_as_before(tmp_path):
    diag = _write_run(tmp_path / "old", flags=False)
    fig = lstm_paths.draw(load_run(tmp_path / "old"), None)
    assert isinstance(fig, Figure)
    for ax in fig.axes[:3]:
        assert not [line for line in ax.lines if line.get_marker() == "v"]
        assert lstm_paths.UNDERFLOW_LABEL not in [text.get_text() for text in ax.get_legend().get_texts()]
    zeros = diag["path.cec"][0] == 0  # dropped from the log-axis mean, as before the flags
    np.testing.assert_allclose(
        _line(fig.axes[0], "cec").get_ydata(), _expected_mean(diag["path.cec"][0], zeros), equal_nan=True
    )


def test_the_renderer_writes_it_for_the_synthetic_run(tmp_path, check_pngs):
    _write_run(tmp_path / "run")
    notes: list[str] = []
    written = figures.render(tmp_path / "run", out=tmp_path / "png", formats=["png"], echo=notes.append)
    check_pngs(written, {"lstm_paths.png"})
