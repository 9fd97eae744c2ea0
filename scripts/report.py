"""Write an offline HTML report of a sweep or a study: ``python scripts/report.py DIR``.

Also ``python -m scripts.report DIR`` or the ``carousel-report`` console script. DIR is a
sweep directory (a Hydra multirun) or a study root (runs/studies/NAME/SCALE, which holds
reproduction.json). One self-contained file (figures embedded, no network): default
DIR/report.html. Prints one line per figure as it renders, then ``report: FILE``. What
the report leaves out is one ``warning: ...`` line each on stderr (and a note in the
page): runs not finished or unreadable, and a run whose files cannot be read (a corrupt
metrics.parquet part), which the sweep figures leave out, the others drawn, and whose own
figures are not drawn. A directory the report cannot use is one ``error: ...`` line on
stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.analysis.figures import FigureError
from benchmarks.analysis.html_report import ReportError, write


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, build the report, say where it is; errors exit 2."""
    parser = argparse.ArgumentParser(
        prog="carousel-report",
        description="Write a self-contained HTML report of a sweep or study (offline).",
    )
    parser.add_argument("dir", type=Path, help="a sweep directory or a study root (runs/studies/NAME/SCALE)")
    parser.add_argument("--out", type=Path, default=None, help="the HTML file (default DIR/report.html)")
    parser.add_argument(
        "--no-run-figures",
        action="store_true",
        help="leave out each run's figures (tables and sweep figures only)",
    )
    args = parser.parse_args(argv)
    try:
        out = write(args.dir, args.out, run_figures=not args.no_run_figures, echo=print)
    except (ReportError, FigureError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(f"report: {out}")


if __name__ == "__main__":
    main()
