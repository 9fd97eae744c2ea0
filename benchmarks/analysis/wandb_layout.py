"""The layout of a W&B Report of a sweep or study (its blocks, run sets and panels), built by
code (``wandb-workspaces``) from the store; the command line is ``scripts/wandb_report.py``.

:func:`build_report` reads the finished run directories under a sweep or study directory
(config.yaml, summary.json and the names in params_final.npz / diagnostics.npz: no W&B
and no network) and returns a ``wandb_workspaces.reports.v2.Report`` whose panels show
the W&B runs those directories logged (:mod:`benchmarks.tracking`: one run per seed,
``group`` the experiment, ``job_type`` the model). Its blocks:

- the title, and for a study's directory its ``answer.md`` and its claims, paper against
  ours (``reproduction.json``); for a sweep a line naming the models, tasks and lengths;
- **success rate against length**, one run set per model (filtered to the sweep's groups
  and that job type): ``experiment/success_rate`` and its Wilson interval
  (``experiment/ci95_low``/``high``) against ``task.length``, as points and as bars
  grouped by length, and the per-seed result table;
- **learning curves** (eval loss, fraction correct, training loss, gradient norm), runs
  grouped by experiment: the mean over seeds with a standard-error band;
- **gradient-norm distributions**: the per-matrix histograms over training
  (``grad_norm_log10/<matrix>``) and the run's ``grad_norm_distribution`` figure;
- **spectral radii and Lyapunov exponents** over training, and their figures;
- **LSTM path split** (``path/*``: the parts of dL/dc_t at the longest lag), when a run
  measured it.

The groups are recomputed from each run's config (:func:`benchmarks.tracking.experiment_group`),
so a run trained with ``logger.group=...`` is not found by them.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from benchmarks import store, tracking
from benchmarks.analysis.results import find_runs

LOSS_CURVES = ("eval/loss", "eval/correct", "train/loss", "grad_norm/mean")
SUCCESS = ("experiment/success_rate", "experiment/ci95_low", "experiment/ci95_high")
RESULTS_TABLE = "experiment/results"
REPORT_FILE = "wandb_report.json"


class ReportError(ValueError):
    """The directory holds no finished run, or a file the report needs is unreadable."""


def _npz_names(path: Path) -> list[str]:
    """The array names of a ``.npz`` file without loading it; none if it is absent."""
    if not path.is_file():
        return []
    with zipfile.ZipFile(path) as z:
        return [n.removesuffix(".npy") for n in z.namelist()]


def read_sweep(root: Path) -> dict[str, Any]:
    """What the report needs from a sweep's store: groups, models, tasks, lengths, the
    recurrent matrices measured, the parameter matrices and the path parts."""
    runs = [p for p in find_runs(Path(root)) if (p / "summary.json").is_file()]
    if not runs:
        raise ReportError(f"{root} holds no finished run (no summary.json under it)")
    found: dict[str, set[str]] = {k: set() for k in ("groups", "models", "tasks", "lengths")}
    found.update(matrices=set(), params=set(), paths=set())
    for path in runs:
        try:
            config = store.read_yaml_strict(path / "config.yaml")
        except (store.UnreadableFile, OSError) as e:
            raise ReportError(f"{path}: {e}") from e
        found["groups"].add(tracking.experiment_group(config))
        found["models"].add(config["model"]["name"])
        found["tasks"].add(config["task"]["name"])
        found["lengths"].add(str(config["task"]["length"]))
        diag = _npz_names(path / "diagnostics.npz")
        found["matrices"].update(k.partition(".")[2] for k in diag if k.startswith("spectral_radius."))
        found["paths"].update(k for k in diag if k.startswith("path.") and k != "path.residual")
        found["params"].update(_npz_names(path / "params_final.npz"))
    return {k: sorted(v, key=_natural) for k, v in found.items()} | {"root": Path(root)}


def _natural(s: str) -> tuple[int, Any]:
    return (0, int(s)) if s.isdigit() else (1, s)


def _histogram_keys(sweep: dict[str, Any]) -> list[str]:
    """The recurrent matrices' histograms when the spectra name them, else every matrix's."""
    names = [p for p in sweep["params"] if p in sweep["matrices"]] or sweep["params"]
    return [f"grad_norm_log10/{p}" for p in names]


def _runsets(wr: Any, expr: Any, sweep: dict[str, Any], where: tuple[str, str] | None) -> dict[str, Any]:
    """Run sets filtered to the sweep's groups: one per model, and one of all runs grouped
    by experiment. ``where``: (entity, project) for a report to publish, None offline."""
    place = {"entity": where[0], "project": where[1]} if where else {}
    in_sweep = expr.Metric("Group").isin(sweep["groups"])
    per_model = [
        wr.Runset(
            name=m, filters=expr.And(in_sweep, expr.Metric("JobType") == m), groupby=["JobType"], **place
        )
        for m in sweep["models"]
    ]
    grouped = wr.Runset(name="experiments", filters=expr.And(in_sweep), groupby=["group"], **place)
    return {"per_model": per_model, "grouped": grouped}


def _curves(wr: Any, keys: list[str] | tuple[str, ...]) -> list[Any]:
    """One line plot per key: runs grouped by experiment (the run set's grouping), the mean
    over seeds with a standard-error band."""
    return [
        wr.LinePlot(title=key, x="Step", y=[key], groupby_aggfunc="mean", groupby_rangefunc="stderr")
        for key in keys
    ]


def _success_panels(wr: Any) -> list[Any]:
    length = wr.Config("task.length")
    return [
        wr.ScatterPlot(title="success rate against length", x=length, y=wr.SummaryMetric(SUCCESS[0])),
        wr.BarPlot(
            title="success rate and 95% Wilson interval, by length",
            metrics=[wr.SummaryMetric(k) for k in SUCCESS],
            groupby=length,
            groupby_aggfunc="mean",
            orientation="v",
        ),
        wr.WeavePanelSummaryTable(table_name=RESULTS_TABLE, layout=wr.Layout(w=24, h=10)),
    ]


def _text(wr: Any, sweep: dict[str, Any]) -> list[Any]:
    """The study's answer and its claims (paper against ours) when the directory is a
    study's, else a line naming what the sweep ran."""
    root, blocks = sweep["root"], []
    if (root / "answer.md").is_file():
        blocks.append(wr.MarkdownBlock(text=(root / "answer.md").read_text()))
    if (root / "reproduction.json").is_file():
        claims = store.read_json_strict(root / "reproduction.json").get("claims", [])
        rows = [
            f"| {c['claim']} ({c['source']}) | {c['paper']} | {c['ours']} | {c['verdict']} |" for c in claims
        ]
        head = ["| claim | paper | ours | verdict |", "|---|---|---|---|"]
        blocks += [wr.MarkdownBlock(text="\n".join(head + rows))] if rows else []
    return blocks or [
        wr.P(
            f"{len(sweep['groups'])} experiments: models {', '.join(sweep['models'])}; "
            f"tasks {', '.join(sweep['tasks'])}; lengths {', '.join(sweep['lengths'])}. "
            "One W&B run per seed, grouped by experiment (group) and model (job type)."
        )
    ]


def build_report(root: Path, entity: str, project: str, *, publish: bool = False) -> Any:
    """The Report of the sweep or study at ``root`` for ``entity``/``project``. Offline
    (``publish=False``) its run sets name no project, so building and dumping it needs no
    server; they then use the report's own project, the one given here."""
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces import expr

    sweep = read_sweep(root)
    sets = _runsets(wr, expr, sweep, (entity, project) if publish else None)
    grid = lambda runsets, panels: wr.PanelGrid(runsets=runsets, panels=panels)  # noqa: E731
    matrices = sweep["matrices"]
    blocks = [
        wr.H1(f"carousel: {Path(root).resolve().name}"),
        *_text(wr, sweep),
        wr.H2("Success rate against length, per model"),
        grid(sets["per_model"], _success_panels(wr)),
        wr.H2("Learning curves (mean over seeds, standard-error band)"),
        grid([sets["grouped"]], _curves(wr, LOSS_CURVES)),
        wr.H2("Gradient-norm distributions over training (log10, per matrix)"),
        grid([sets["grouped"]], _histogram_keys_panels(wr, sweep)),
        wr.H2("Spectral radii and Lyapunov exponents"),
        grid(
            [sets["grouped"]],
            _curves(wr, [f"spectral_radius/{m}" for m in matrices] + ["lyapunov/max"])
            + [wr.MediaBrowser(media_keys=["figures/spectral_radius", "figures/lyapunov"])],
        ),
    ]
    if sweep["paths"]:
        keys = [k.replace(".", "/", 1) for k in sweep["paths"]]
        blocks += [
            wr.H2("LSTM path split of dL/dc at the longest lag"),
            grid(
                [sets["grouped"]],
                [
                    wr.LinePlot(title="path split at the longest lag", x="Step", y=keys, log_y=True),
                    wr.MediaBrowser(media_keys=["figures/lstm_paths"]),
                ],
            ),
        ]
    return wr.Report(
        entity=entity, project=project, title=f"carousel: {Path(root).name}"[:128], blocks=blocks
    )


def _histogram_keys_panels(wr: Any, sweep: dict[str, Any]) -> list[Any]:
    """A line plot of a histogram key draws it over steps; plus the run's figure."""
    plots = [wr.LinePlot(title=key, x="Step", y=[key]) for key in _histogram_keys(sweep)]
    return plots + [wr.MediaBrowser(media_keys=["figures/grad_norm_distribution"])]


def _panel_metrics(panel: Any) -> list[str]:
    """The metrics a panel draws, as names (``config:``/``summary:`` for non-history ones)."""
    named = lambda m: f"{type(m).__name__.lower()}:{m.name}" if hasattr(m, "name") else str(m)  # noqa: E731
    if hasattr(panel, "y") and isinstance(panel.y, list):
        return [named(m) for m in panel.y]
    if hasattr(panel, "x") and hasattr(panel, "y"):
        return [named(panel.x), named(panel.y)]
    for field in ("metrics", "media_keys"):
        if hasattr(panel, field):
            return [named(m) for m in getattr(panel, field)]
    return [getattr(panel, "table_name", "")]


def describe(report: Any) -> list[str]:
    """The report's structure, one line per block, run set and panel."""
    lines = [f"report: {report.title} ({report.entity}/{report.project})"]
    for block in report.blocks:
        kind = type(block).__name__
        text = getattr(block, "text", "")
        if kind != "PanelGrid":
            lines.append(f"{kind}: {str(text).splitlines()[0][:80] if text else ''}")
            continue
        lines.append("PanelGrid")
        for rs in block.runsets:
            lines.append(f"  runset {rs.name}: filters {rs.filters}; grouped by {', '.join(rs.groupby)}")
        for panel in block.panels:
            title = getattr(panel, "title", None) or ""
            lines.append(f"  {type(panel).__name__} {title!r}: {', '.join(_panel_metrics(panel))}")
    return lines


def dump(report: Any, path: Path) -> None:
    """The report as W&B stores it (the view spec ``save`` sends), as JSON."""
    spec = report._to_model().model_dump(by_alias=True, exclude_none=True, mode="json")
    store.write_json(path, spec)
