"""Offline figures for one run directory (command line: ``scripts/figures.py``).

Each figure is a module of its own with a ``draw(run, steps)`` that returns a matplotlib
Figure, or a string saying why the run's files do not allow it (basic diagnostics, no cell
state, zero training steps); :data:`FIGURES` lists them in drawing order by PNG name.
:func:`render` loads the run once (:mod:`.load`, json and NumPy only: no W&B, JAX or
network) and writes one PNG per figure into RUN_DIR/figures unless told otherwise, with
a note for each figure skipped. Shared drawing helpers live in :mod:`.draw`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.figures import (
    cell_norm,
    grad_norm_distribution,
    grad_time_heatmap,
    grad_time_lines,
    jacobian_norm,
    lstm_paths,
    lyapunov,
    spectral_radius,
)
from benchmarks.figures.draw import Drawn
from benchmarks.figures.load import FigureError, Run, load_run

__all__ = ["DPI", "FIGURES", "FigureError", "Run", "load_run", "render"]

DPI = 110

FIGURES: dict[str, Callable[[Run, Sequence[int] | None], Drawn]] = {
    "grad_time_heatmap.png": grad_time_heatmap.draw,
    "grad_time_lines.png": grad_time_lines.draw,
    "spectral_radius.png": spectral_radius.draw,
    "grad_norm_distribution.png": grad_norm_distribution.draw,
    "lstm_paths.png": lstm_paths.draw,
    "lyapunov.png": lyapunov.draw,
    "cell_norm.png": cell_norm.draw,
    "jacobian_norm.png": jacobian_norm.draw,
}


def render(
    run_dir: Path,
    out: Path | None = None,
    steps: Sequence[int] | None = None,
    seed: int | None = None,
    *,
    echo: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every figure the run's files allow into ``out`` (default RUN_DIR/figures).

    Returns the PNGs written. ``echo`` receives one line per file written and per figure
    skipped. Raises FigureError for a directory that is not a run, a seed the run does not
    have, or a step in ``steps`` that no stored file measured."""
    run = load_run(run_dir, seed)
    if steps is not None:
        measured = run.measured_steps()
        missing = sorted(set(steps) - measured)
        if missing:
            have = ", ".join(map(str, sorted(measured))) or "none"
            raise FigureError(f"steps not measured in this run: {missing} (measured: {have})")
    out = Path(out) if out is not None else run.path / "figures"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FigureError(f"cannot create {out}: {e}") from e
    say = echo or (lambda _: None)
    written = []
    for name, draw in FIGURES.items():
        fig = draw(run, steps)
        if isinstance(fig, str):
            say(f"skipped {name}: {fig}")
            continue
        path = out / name
        try:
            fig.savefig(path, dpi=DPI)
        except OSError as e:
            raise FigureError(f"cannot write {path}: {e}") from e
        written.append(path)
        say(str(path))
    return written
