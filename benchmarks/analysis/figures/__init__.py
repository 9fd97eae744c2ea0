"""Offline figures for a run directory or a whole sweep (command line: ``scripts/figures.py``).

Each figure is a module of its own. A run figure's ``draw(run, steps)`` returns a
matplotlib Figure, or a string saying why the run's files do not allow it (basic
diagnostics, no cell state, zero training steps); :data:`FIGURES` lists them in drawing
order by PNG name. A sweep figure's ``draw(points)`` reads one point per (model, length)
(:mod:`.across_runs`); :data:`SWEEP_FIGURES` lists them. :func:`render` loads the run
once (:mod:`.load`: json, NumPy and pandas only, no W&B, JAX or network) and writes each
figure into RUN_DIR/figures; given a sweep directory, the sweep figures go to
SWEEP/figures and each run's figures to SWEEP/figures/<run>. Every figure is written in
each of ``formats`` (PNG for screens and the HTML report, PDF for LaTeX, SVG for the web
and editing), with a note for each figure skipped. In a sweep, a run whose files cannot be
read is left out (of the sweep figures, and its own are not drawn) with one line to
``warn``, the other runs drawn; without ``warn`` its FigureError stops the rendering.
Each study's figure is a module too, ``study_<name>`` (``figure(result, out, ...)``, from
the study's analysed result and what the study knows of its paper, passed in), called by
the study (:mod:`benchmarks.studies`). Every figure is written by :func:`save`; shared
drawing helpers live in :mod:`.draw`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from benchmarks.analysis.figures import (
    across_runs,
    cell_norm,
    grad_at_lags,
    grad_norm_distribution,
    grad_norm_quantiles,
    grad_time_heatmap,
    grad_time_lines,
    jacobian_norm,
    learning_curves,
    lstm_paths,
    lyapunov,
    spectral_radius,
    steps_to_solve,
    success_rate,
)
from benchmarks.analysis.figures.draw import Drawn
from benchmarks.analysis.figures.load import FigureError, Run, load_run

__all__ = ["DPI", "FIGURES", "FORMATS", "SWEEP_FIGURES", "FigureError", "Run", "load_run", "render"]

DPI = 110
# Every figure in all three by default: PNG for screens and the HTML report, PDF for a
# paper (LaTeX includes it as vectors), SVG for the web and for editing. Each adds about
# as much time as the PNG; pass formats=("png",) where only a screen needs them.
FORMATS = ("png", "pdf", "svg")

FIGURES: dict[str, Callable[[Run, Sequence[int] | None], Drawn]] = {
    "learning_curves.png": learning_curves.draw,
    "grad_time_heatmap.png": grad_time_heatmap.draw,
    "grad_time_lines.png": grad_time_lines.draw,
    "spectral_radius.png": spectral_radius.draw,
    "grad_norm_distribution.png": grad_norm_distribution.draw,
    "grad_norm_quantiles.png": grad_norm_quantiles.draw,
    "lstm_paths.png": lstm_paths.draw,
    "lyapunov.png": lyapunov.draw,
    "cell_norm.png": cell_norm.draw,
    "jacobian_norm.png": jacobian_norm.draw,
}
SWEEP_FIGURES: dict[str, Callable[[list[across_runs.Point]], Any]] = {
    "success_rate.png": success_rate.draw,
    "steps_to_solve.png": steps_to_solve.draw,
    "grad_at_lags.png": grad_at_lags.draw,
}


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """``formats`` lower-cased, PNG first; FigureError for one matplotlib is not asked for here."""
    wanted = tuple(dict.fromkeys(f.strip().lower().lstrip(".") for f in formats if f.strip()))
    bad = [f for f in wanted if f not in FORMATS]
    if bad or not wanted:
        raise FigureError(f"unknown format {', '.join(bad) or '(none)'}: choose from {', '.join(FORMATS)}")
    return tuple(sorted(wanted, key=FORMATS.index))


def _mkdir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FigureError(f"cannot create {out}: {e}") from e
    return out


def save(fig: Figure, out: Path, name: str, formats: Sequence[str] = FORMATS) -> list[Path]:
    """``fig`` as out/<name stem>.<format> for each format, PNG first, ``out`` created if need
    be (every figure is saved here: the run, sweep and study figures); FigureError if it
    cannot be written."""
    _mkdir(out)
    paths = []
    for fmt in formats:
        path = out / f"{Path(name).stem}.{fmt}"
        try:
            fig.savefig(path, dpi=DPI, format=fmt)
        except OSError as e:
            raise FigureError(f"cannot write {path}: {e}") from e
        paths.append(path)
    return paths


def _write(
    drawn: Any, out: Path, name: str, formats: Sequence[str], say: Callable[[str], None]
) -> list[Path]:
    if isinstance(drawn, str):
        say(f"skipped {name}: {drawn}")
        return []
    paths = save(drawn, out, name, formats)
    others = ", ".join(p.suffix.lstrip(".") for p in paths[1:])
    say(f"{paths[0]}" + (f" (+ {others})" if others else ""))
    return paths


def render_run(
    run: Run, out: Path, steps: Sequence[int] | None, formats: Sequence[str], say: Callable[[str], None]
) -> list[Path]:
    """Every figure of one loaded run into ``out``; the files written."""
    if steps is not None:
        measured = run.measured_steps()
        missing = sorted(set(steps) - measured)
        if missing:
            have = ", ".join(map(str, sorted(measured))) or "none"
            raise FigureError(f"steps not measured in this run: {missing} (measured: {have})")
    _mkdir(out)
    return [p for name, draw in FIGURES.items() for p in _write(draw(run, steps), out, name, formats, say)]


def render_sweep(
    root: Path,
    out: Path,
    formats: Sequence[str],
    say: Callable[[str], None],
    per_run: bool = True,
    warn: Callable[[str], None] | None = None,
) -> list[Path]:
    """The sweep figures into ``out``, then (``per_run``) each run's into out/<run path>;
    what is left out for files that cannot be read goes to ``warn`` (see :func:`render`)."""
    points = across_runs.load_points(root, warn)
    info = across_runs.describe(root, points)
    say(
        f"sweep {root}: {info['panels']} panel(s), models {', '.join(info['models'])}, lengths "
        + ", ".join(f"{x:g}" for x in info["lengths"])
    )
    _mkdir(out)
    written = [
        p for name, draw in SWEEP_FIGURES.items() for p in _write(draw(points), out, name, formats, say)
    ]
    if per_run:
        for run_dir in across_runs.sweep_runs(root):
            if not (run_dir / "summary.json").is_file():
                say(f"skipped {run_dir}: not finished (no summary.json)")
                continue
            try:
                run = load_run(run_dir)
            except FigureError as e:
                if warn is None:
                    raise
                warn(f"no figures of run {run_dir.relative_to(root)}: {e}")
                continue
            written += render_run(run, out / run_dir.relative_to(root), None, formats, say)
    return written


def render(
    run_dir: Path,
    out: Path | None = None,
    steps: Sequence[int] | None = None,
    seed: int | None = None,
    *,
    formats: Sequence[str] = FORMATS,
    echo: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write every figure a run directory (or a sweep directory) allows into ``out``
    (default DIR/figures), each in every one of ``formats``.

    Returns the files written, PNG first per figure. ``echo`` receives one line per figure
    written and per figure skipped. For a sweep, ``warn`` receives one line per thing left
    out: each of :func:`benchmarks.analysis.results.collect`'s warnings (runs not finished or
    unreadable) and each finished run whose files cannot be read, which the sweep figures
    then leave out and whose own figures are not drawn; without ``warn`` such a run raises
    its FigureError. Raises FigureError for a directory that is neither a run nor a sweep,
    a run whose files cannot be read, a seed the run does not have, a step in ``steps``
    that no stored file measured (``steps`` and ``seed`` apply to one run only), or an
    unknown format."""
    formats = check_formats(formats)
    run_dir = Path(run_dir)
    say = echo or (lambda _: None)
    out = Path(out) if out is not None else run_dir / "figures"
    if run_dir.is_dir() and across_runs.sweep_runs(run_dir):
        if steps is not None or seed is not None:
            raise FigureError("--steps and --seed apply to one run directory, not a sweep")
        return render_sweep(run_dir, out, formats, say, warn=warn)
    return render_run(load_run(run_dir, seed), out, steps, formats, say)
