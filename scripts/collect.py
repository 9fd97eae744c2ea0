"""Join every run under a directory into one table: ``python scripts/collect.py DIR``.

Also ``python -m scripts.collect DIR`` or the ``carousel-collect`` console script.

Prints the success rates with 95% Wilson intervals and writes ``DIR/results.parquet``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import store
from benchmarks.cli import fail


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="a run or sweep directory")
    parser.add_argument("--out", type=Path, default=None, help="Parquet path (default ROOT/results.parquet)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        fail(f"no such directory: {args.root}")
    table = store.collect(args.root)
    if table.empty:
        fail(f"no runs (summary.json) under {args.root}")
    out = args.out or args.root / "results.parquet"
    store.write_table(out, table)
    show = table.drop(columns=["run"])
    show["success_rate"] = show["success_rate"].map("{:.0%}".format)
    show["ci95"] = [f"[{lo:.0%}, {hi:.0%}]" for lo, hi in zip(table.ci95_low, table.ci95_high, strict=True)]
    show = show.drop(columns=["ci95_low", "ci95_high"])
    print(show.to_string(index=False))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
