"""Reproduce a study: ``python scripts/reproduce.py NAME --scale smoke|cpu|faithful|paper [overrides]``.

``--list`` names the studies with their source and scales; ``--table [--scale S]`` prints
the Reproductions tables (the summary in README.md, every claim in
benchmarks/studies/README.md) from every ``runs/studies/*/S/reproduction.json`` found
(registry order), so the table's numbers come from the runs' own reports; ``--costs
[NAME] [--scale S]`` measures what every job of S costs on this machine, on the job's own
protocol, and prints each study's estimated time (:mod:`scripts.study_costs`). A run writes
``runs/studies/NAME/SCALE/`` (or ``--out``): one Hydra multirun per sweep, then
``reproduction.json`` (every claim with the paper's value, ours and a verdict, the scale,
seeds and wall time), ``answer.md`` (the study's paragraph with its numbers),
``readme_rows.md`` (rows for the per-claim table) and ``figures/``. Extra arguments are Hydra
overrides passed to every run (e.g. ``hydra/launcher=submitit_slurm``). Runs already
finished in the directory are not run again, so an interrupted study continues where it
stopped. Without ``--scale`` a run is at :data:`DEFAULT_SCALE`, and its first line says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import store
from benchmarks.studies import SCALES, STUDIES, get_study, reproduce
from benchmarks.studies.base import readme_rows, scale_cost
from scripts.study_costs import hours, measure

DEFAULT_SCALE = "smoke"  # the CI scale: minutes on a laptop
TABLE_HEAD = (
    "| study | claim (source) | paper | ours (scale) | verdict | run time | command |\n"
    "|---|---|---|---|---|---|---|\n"
)


def list_studies() -> None:
    for name, study in sorted(STUDIES.items()):
        print(f"{name}: {study.title} ({study.source})")
        for scale in SCALES:
            note = study.scale_notes.get(scale, "")
            if scale in study.scales:
                jobs, steps = scale_cost(study.scales[scale])
                print(f"    --scale {scale} ({jobs} jobs, <= {steps:,} model-steps): {note}")
            elif scale in study.unfit:
                print(f"    --scale {scale}: none; {note}")


def table(root: Path, scale: str) -> str:
    """The Reproductions tables: one row per study run at ``scale`` under ``root`` (its
    verdicts counted, run time, command), then one row per claim; a ValueError naming the
    scale when no study was run at it."""
    reports = [
        store.read_json_strict(path)
        for name in STUDIES
        if (path := root / name / scale / "reproduction.json").is_file()
    ]
    if not reports:
        raise ValueError(f"no study has run at scale {scale!r} under {root}; run one first")
    summary = [
        "| study | claims | agrees | disagrees | not comparable | seeds | run time | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        verdicts = [c["verdict"] for c in r["claims"]]
        counts = " | ".join(str(verdicts.count(v)) for v in ("agrees", "disagrees", "not comparable"))
        summary.append(
            f"| {r['title']} | {len(verdicts)} | {counts} | {r['seeds']} | {r['run_time_s'] / 60:.0f} min "
            f"| `{r['command']}` |"
        )
    return "\n".join(summary) + "\n\n" + TABLE_HEAD + "".join(readme_rows(r) for r in reports)


def costs(root: Path, scale: str, name: str | None = None) -> str:
    """Per study (or only ``name``): the jobs of ``scale``, their model-steps (an upper
    bound: seeds stop when solved), the kinds of job measured and the time they take here,
    measured on each job's own protocol (:mod:`scripts.study_costs`; the
    measurements are kept in ``ROOT/STUDY/SCALE/costs.json`` and reused)."""
    studies = [get_study(name)] if name else list(STUDIES.values())
    if not any(scale in s.scales or s.unfit.get(scale) for s in studies):
        raise ValueError(f"no study here has the scale {scale!r}")
    lines = [
        f"| study | {scale}: jobs | model-steps | job kinds measured | estimated time |",
        "|---|---|---|---|---|",
    ]
    machine = ""
    for study in studies:
        if scale in study.scales:
            cost = measure(study.scales[scale], root / study.name / scale / "costs.json")
            lines.append(
                f"| {study.name} | {cost['jobs']} | {cost['model_steps']:,} | {cost['kinds']} "
                f"| {hours(cost['seconds'])} |"
            )
        elif study.unfit.get(scale):  # no such scale: what its cheapest row would cost
            cost = measure(study.unfit[scale], root / study.name / scale / "costs.json")
            lines.append(
                f"| {study.name} | no such scale; its cheapest row: {cost['jobs']} | {cost['model_steps']:,} "
                f"| {cost['kinds']} | {hours(cost['seconds'])} (that row alone) |"
            )
        else:
            continue
        machine = cost["machine"]
    return "\n".join(lines) + f"\n\nmeasured on {machine}\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reproduce", description="Run, collect, compare and draw a study.")
    parser.add_argument("name", nargs="?", help="the study (see --list)")
    parser.add_argument("--list", action="store_true", help="list the studies and their scales")
    parser.add_argument("--table", action="store_true", help="print the Reproductions tables at --scale")
    parser.add_argument(
        "--costs",
        action="store_true",
        help="measure what each study's (or NAME's) jobs at --scale cost here, on their own protocol",
    )
    parser.add_argument(
        "--scale",
        default=None,
        choices=SCALES,
        help=f"smoke (CI), cpu (~30 min), faithful (papers' protocol, ~3 h), paper (default {DEFAULT_SCALE})",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="study directory (default runs/studies/NAME/SCALE)"
    )
    args, overrides = parser.parse_known_args(argv)
    scale = args.scale or DEFAULT_SCALE
    if args.list:
        list_studies()
        return
    if args.table or args.costs:
        root = args.out or Path("runs/studies")
        try:
            print(table(root, scale) if args.table else costs(root, scale, args.name), end="")
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        return
    if args.name is None:
        parser.error("name a study, or --list")
    bad = [o for o in overrides if o.startswith("-")]
    if bad:
        parser.error(f"unknown option {bad[0]}; Hydra overrides are key=value")
    try:
        study = get_study(args.name)
        if args.scale is None:
            others = "|".join(s for s in SCALES if s != scale)
            print(f"scale: {scale} (the default; --scale {others} for more)", flush=True)
        out = args.out or Path("runs/studies") / study.name / scale
        report = reproduce(study, scale, out, overrides)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    for claim in report["claims"]:
        print(f"- {claim['claim']}: paper {claim['paper']}; ours {claim['ours']} -> {claim['verdict']}")
    print(report["answer"])
    print(f"reproduction: {out / 'reproduction.json'}")


if __name__ == "__main__":
    main()
