"""Compare the models of a sweep with statistics: ``python scripts/compare.py SWEEP_DIR``.

Also ``python -m scripts.compare`` or the ``carousel-compare`` console script. Options:
``--metric success|steps`` (rank and decide by success rate, the default, or by steps to
solve) and ``--alpha 0.05``.

Per group of runs that differ only in the model (task, variant, length and any other
varying key; see :mod:`benchmarks.analysis.pairwise`): the models ranked with 95% Wilson intervals,
every pair tested (Boschloo's exact test on success rates, Mann-Whitney on the steps to
solve of solved seeds, both Holm-corrected within the group), and one line per pair:
``A > B (p=...)``, or "not distinguishable at these seeds" with the seeds per model that
would tell. Prints Markdown, writes ``SWEEP_DIR/compare.json`` and ``compare.md``; a
sweep that cannot be compared (no such directory, no finished run, a single model) gives
a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import store
from benchmarks.analysis import pairwise
from benchmarks.cli import fail


def _alpha(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"alpha must be between 0 and 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="a sweep directory (as carousel-collect reads it)")
    parser.add_argument(
        "--metric", choices=pairwise.METRICS, default="success", help="what ranks and decides"
    )
    parser.add_argument("--alpha", type=_alpha, default=0.05, help="family-wise level per group (Holm)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        fail(f"no such directory: {args.root}")
    try:
        result = pairwise.compare_sweep(args.root, args.metric, args.alpha)
    except ValueError as e:
        fail(str(e))
    text = pairwise.markdown(result)
    try:
        store.write_json(args.root / "compare.json", result)
        store.atomic_write(args.root / "compare.md", text.encode())
    except OSError as e:
        fail(f"cannot write into {args.root}: {e.strerror or e}")
    print(text, end="")
    for line in result["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    print(f"comparison: {args.root / 'compare.json'}, {args.root / 'compare.md'}")


if __name__ == "__main__":
    main()
