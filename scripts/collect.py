"""Join every run under a directory into one table: ``python scripts/collect.py DIR``.

Also ``python -m scripts.collect DIR`` or the ``carousel-collect`` console script.

Works on a sweep in progress (see :mod:`benchmarks.analysis.results`): prints one row per config
(seeds of its jobs pooled, success rate with a 95% Wilson interval) and per run not
finished (status unfinished, failed or unreadable), one ``warning:`` line per kind of
such run on stderr, and writes the table to ``DIR/results.parquet``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import store
from benchmarks.analysis import results
from benchmarks.cli import fail


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="a run or sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="Parquet path (default ROOT/results.parquet)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        fail(f"no such directory: {args.root}")
    table = results.collect(args.root)
    if table.empty:
        fail(f"no runs (a directory with config.yaml, summary.json or error.json) under {args.root}")
    out = args.out or args.root / "results.parquet"
    try:
        store.write_table(out, table)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")
    print(results.format_table(table))
    for line in table.attrs["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
