"""Build a W&B Report of a sweep or study: ``python scripts/wandb_report.py DIR --entity E --project P``.

Also ``python -m scripts.wandb_report`` or the ``carousel-wandb-report`` console script.
Offline (the default) it prints the report's structure (blocks, run sets with their
filters, panels with the metrics they draw) and writes the report as W&B stores it to
``DIR/wandb_report.json``; ``--publish`` saves it to the W&B server (needs ``wandb login``
and network, and the runs synced there: ``wandb sync DIR/**/wandb/offline-run-*``) and
prints its URL. A directory without finished runs, or a failed publish, is one
``error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.analysis.wandb_layout import REPORT_FILE, ReportError, build_report, describe, dump


def _first_line(exc: BaseException) -> str:
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, build, print, write or publish; errors exit 2."""
    parser = argparse.ArgumentParser(prog="carousel-wandb-report", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a sweep or study directory (run directories under it)")
    parser.add_argument("--entity", required=True, help="W&B entity (user or team) of the project")
    parser.add_argument("--project", default="carousel", help="W&B project the runs were logged to")
    parser.add_argument("--publish", action="store_true", help="save the report on the W&B server")
    args = parser.parse_args(argv)
    try:
        report = build_report(args.root, args.entity, args.project, publish=args.publish)
    except (ReportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print("\n".join(describe(report)))
    if not args.publish:
        dump(report, args.root / REPORT_FILE)
        print(f"report: {args.root / REPORT_FILE}")
        return
    try:
        report.save()
    except Exception as e:  # no login, no network, no such project: W&B's own errors
        print(f"error: publishing failed ({_first_line(e)})", file=sys.stderr)
        sys.exit(2)
    print(f"published: {report.url}")


if __name__ == "__main__":
    main()
