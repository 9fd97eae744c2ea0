"""Render the figures of a run or a sweep, offline: ``python scripts/figures.py DIR``.

Also ``python -m scripts.figures DIR`` or the ``carousel-figures`` console script. DIR is a
run directory (holds summary.json) or a sweep directory (run directories under it): a
sweep gets its sweep-level figures (success rate, steps to solve and gradient norm at
fixed lags, each against the length per model) in DIR/figures and each run's figures in
DIR/figures/<run>. Every figure is written as PNG, PDF and SVG unless ``--formats`` says
otherwise. Prints one line per figure written or skipped, then ``figures: DIR``. In a
sweep, what is left out is one ``warning: ...`` line each on stderr: runs not finished or
unreadable, and a run whose files cannot be read (a corrupt metrics.parquet part), which
the sweep figures leave out, the others drawn, and whose own figures are not drawn. A
directory, seed, step or format the renderer cannot use is one ``error: ...`` line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.analysis.figures import FORMATS, FigureError, render


def warning(line: str) -> None:
    """What the figures left out, as one ``warning:`` line on stderr."""
    print(f"warning: {line}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, render, report; errors exit 2."""
    parser = argparse.ArgumentParser(
        prog="carousel-figures", description="Render the figures of a run or a sweep directory (offline)."
    )
    parser.add_argument(
        "run_dir", type=Path, help="a run directory (holds summary.json) or a sweep directory"
    )
    parser.add_argument("--out", type=Path, default=None, help="output directory (default DIR/figures)")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="measured training steps to show")
    parser.add_argument("--seed", type=int, default=None, help="show this seed instead of the seed mean")
    parser.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated file formats (default {','.join(FORMATS)}: PNG for screens, PDF for "
        "LaTeX, SVG for the web and editing)",
    )
    args = parser.parse_args(argv)
    try:
        render(
            args.run_dir,
            args.out,
            args.steps,
            args.seed,
            formats=args.formats.split(","),
            echo=print,
            warn=warning,
        )
    except FigureError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"figures: {args.out if args.out is not None else args.run_dir / 'figures'}")


if __name__ == "__main__":
    main()
