"""Render the figures of one run directory, offline: ``python scripts/figures.py RUN_DIR``.

Also ``python -m scripts.figures RUN_DIR`` or the ``carousel-figures`` console script. Prints
one line per PNG written or figure skipped, then ``figures: DIR``; a directory, seed or step
the renderer cannot use is one ``error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.figures import FigureError, render


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, render, report; errors exit 2."""
    parser = argparse.ArgumentParser(
        prog="carousel-figures", description="Render the figures of one run directory (offline)."
    )
    parser.add_argument("run_dir", type=Path, help="a run directory (holds summary.json)")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default RUN_DIR/figures)")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="measured training steps to show")
    parser.add_argument("--seed", type=int, default=None, help="show this seed instead of the seed mean")
    args = parser.parse_args(argv)
    try:
        render(args.run_dir, args.out, args.steps, args.seed, echo=print)
    except FigureError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"figures: {args.out if args.out is not None else args.run_dir / 'figures'}")


if __name__ == "__main__":
    main()
