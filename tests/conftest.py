import os
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


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


@pytest.fixture(scope="session")
def figure_runs(tmp_path_factory) -> dict[str, Path]:
    """Run directories for the figure tests (renderer and command line): an LSTM trained
    200 steps and an RNN at initialisation (no training, so no grad_time.npz or
    grad_norms.npz), both with full diagnostics, trained concurrently to halve the wall time."""
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


def _check_pngs(paths: Iterable[Path], names: set[str]) -> None:
    paths = list(paths)
    assert {p.name for p in paths} == names
    for p in paths:
        width, height = _png_size(p)
        assert width >= 700 and height >= 400, (p.name, width, height)
        assert p.stat().st_size > 20_000, f"{p.name} is suspiciously small ({p.stat().st_size} bytes)"


@pytest.fixture
def check_pngs() -> Callable[[Iterable[Path], set[str]], None]:
    """Assert that the PNGs are exactly ``names``, each a real PNG of a sensible size."""
    return _check_pngs
