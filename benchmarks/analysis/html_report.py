"""An offline HTML report of a sweep or a study: one self-contained file.

Everything a researcher reads first, from the result store only (no network, no W&B):
the success-rate table with 95% Wilson intervals (:func:`benchmarks.analysis.results.collect`), the
pairwise comparison of models (:func:`benchmarks.analysis.pairwise.compare_sweep`, its Markdown
turned into tables), the sweep figures (success rate, steps to solve and gradient norm at
fixed lags against length), then each run's figures grouped by kind (learning curves,
gradient-norm distributions over training, spectral radii, Jacobian norms, Lyapunov
exponents, the LSTM path split, ...), and for a study root (``reproduction.json``) the
paper-vs-ours table, the study's own figures and its answer. Figures are PNGs embedded as
base64 data URIs; the style sheet is inline; the page has no script and fetches nothing.
Rendering logs one line per figure, since a large sweep takes a while. Whatever the
report leaves out is a note in the page and one line to ``warn`` (by default a
``warning: ...`` line on stderr): each run not finished or unreadable; each finished run
whose files cannot be read (a corrupt metrics.parquet part), which the sweep figures leave
out (drawn from the other runs) and whose own figures are not drawn; and the sweep figures
when no run can give them.
"""

from __future__ import annotations

import base64
import datetime
import functools
import html
import io
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.analysis import pairwise, results
from benchmarks.analysis.figures import FIGURES, SWEEP_FIGURES, across_runs, load_run
from benchmarks.analysis.figures.load import FigureError

DPI = 90  # embedded PNGs: sharp enough on screen, small enough to keep the file light
# per-run figures in the order a reader asks about them; each kind is one section
RUN_SECTIONS = {
    "learning_curves.png": "Learning curves",
    "grad_norm_quantiles.png": "Gradient-norm distributions over training, per matrix",
    "grad_norm_distribution.png": "Gradient norms per parameter and the global norm",
    "spectral_radius.png": "Spectral radii of the recurrent matrices",
    "jacobian_norm.png": "Jacobian norms",
    "lyapunov.png": "Lyapunov exponents",
    "lstm_paths.png": "LSTM path split of dL/dc_t",
    "grad_time_heatmap.png": "Gradient norm over lag and training",
    "grad_time_lines.png": "Gradient norm against lag",
    "cell_norm.png": "Cell state norm",
}
CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1500px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 14px; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; max-width: 100%; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 13px; color: #555; } .note { color: #555; font-size: 13px; }
.agrees { color: #1a7f37; } .disagrees { color: #b42318; } .notcomparable { color: #777; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: .6em; }
"""


class ReportError(Exception):
    """A directory the report cannot use; the command line prints it as one line."""


class Progress:
    """Counts figures and logs one line each: ``[3/21] what (0.4 s)``."""

    def __init__(self, total: int, echo: Callable[[str], None] | None) -> None:
        self.total, self.done, self.echo = total, 0, echo or (lambda _: None)

    def figure(self, what: str, draw: Callable[[], Any]) -> str:
        """Draw one figure, log it, return its HTML (or a note why it was skipped)."""
        start = time.perf_counter()
        drawn = draw()
        skipped = isinstance(drawn, str)
        out = f'<p class="note">{esc(what)}: {esc(drawn)}</p>' if skipped else img(drawn, what)
        self.done += 1
        took = time.perf_counter() - start
        self.echo(f"[{self.done}/{self.total}] {what}{' skipped' if skipped else ''} ({took:.1f} s)")
        return out


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _embedded(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def img(fig: Any, caption: str) -> str:
    """A matplotlib figure as an embedded PNG with its caption."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return _embedded(buf.getvalue(), caption)


def png_file(path: Path) -> str:
    """A PNG file from disk, embedded."""
    return _embedded(path.read_bytes(), path.name)


def inline(text: str) -> str:
    """Escaped text with Markdown's `code` and **bold**."""
    out = esc(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _md_table(rows: list[str]) -> str:
    """A Markdown table as HTML; columns the separator aligns right (``---:``) are numeric."""
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    sep = len(cells) > 1 and all(re.fullmatch(r":?-+:?", x) for x in cells[1])
    right = [x.endswith(":") for x in cells[1]] if sep else [False] * len(cells[0])
    head = "".join(f"<th>{inline(c)}</th>" for c in cells[0])
    trs = "".join(
        "<tr>"
        + "".join(f"<td{' class=num' if a else ''}>{inline(c)}</td>" for c, a in zip(r, right, strict=False))
        + "</tr>"
        for r in cells[2 if sep else 1 :]
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>"


def markdown(text: str, shift: int = 1) -> str:
    """The Markdown this project writes (headings, tables, lists, paragraphs) as HTML;
    headings move ``shift`` levels down so they sit under the report's own."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out.append(_md_table(lines[i:j]))
            i = j
            continue
        if m := re.match(r"(#{1,6}) (.*)", line):
            level = min(len(m.group(1)) + shift, 6)
            out.append(f"<h{level}>{inline(m.group(2))}</h{level}>")
        elif line.startswith(("- ", "* ")):
            items = []
            while i < len(lines) and lines[i].startswith(("- ", "* ")):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
            continue
        elif line.strip():
            para = [line]
            while (
                i + 1 < len(lines)
                and lines[i + 1].strip()
                and not lines[i + 1].startswith(("|", "#", "- ", "* "))
            ):
                i += 1
                para.append(lines[i])
            out.append(f"<p>{inline(' '.join(para))}</p>")
        i += 1
    return "\n".join(out)


def _fmt(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if kind == "pct":
        return f"{float(value):.0%}"
    if kind == "int":
        return f"{float(value):,.0f}"
    return str(value)


def rates_table(table: pd.DataFrame) -> str:
    """The collect table: config columns, seeds, solved, rate [95% Wilson], diverged, median
    steps. Each row carries its runs and each number its raw value (``data-value``)."""
    config = [c for c in table.columns if c not in ("status", *results.RESULT_COLUMNS)]
    head = [
        *config,
        "status",
        "seeds",
        "solved",
        "success rate",
        "95% Wilson interval",
        "diverged",
        "median steps to solve",
    ]
    rows = []
    for r in table.to_dict("records"):
        cells = [f"<td>{esc(pairwise.plain(r[c]))}</td>" for c in config]
        cells.append(f"<td>{esc(r['status'])}</td>")
        for col, kind in (("seeds", "int"), ("solved", "int"), ("success_rate", "pct")):
            cells.append(
                f'<td class="num {col}" data-value="{esc(pairwise.plain(r[col]))}">{_fmt(r[col], kind)}</td>'
            )
        lo, hi = pairwise.plain(r["ci95_low"]), pairwise.plain(r["ci95_high"])
        shown = f"[{_fmt(lo, 'pct')}, {_fmt(hi, 'pct')}]"
        cells.append(f'<td class="num ci95" data-low="{esc(lo)}" data-high="{esc(hi)}">{shown}</td>')
        cells.append(f'<td class="num diverged">{_fmt(r["diverged"], "int")}</td>')
        cells.append(f'<td class="num">{_fmt(pairwise.plain(r["median_steps_to_solve"]), "int")}</td>')
        runs = " ".join(str(x) for x in (r["runs"] if isinstance(r["runs"], list | tuple) else []))
        rows.append(f'<tr data-runs="{esc(runs)}">{"".join(cells)}</tr>')
    ths = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f'<table id="success-rates"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def comparison(root: Path) -> str:
    """The pairwise comparison as tables, or a note why there is none."""
    try:
        result = pairwise.compare_sweep(root)
    except ValueError as e:
        return f'<h2>Models compared</h2><p class="note">No pairwise comparison: {esc(e)}</p>'
    return markdown(pairwise.markdown(result), shift=0)


def study_section(root: Path) -> str:
    """A study root's answer, its own figures, then its paper-vs-ours table ('' for a sweep)."""
    path = root / "reproduction.json"
    if not path.is_file():
        return ""
    try:
        rep = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"cannot read {path}: {e}") from e
    rows = []
    for c in rep.get("claims", []):
        verdict = str(c.get("verdict", ""))
        cls = re.sub(r"[^a-z]", "", verdict.lower())
        rows.append(
            "<tr>"
            + "".join(f"<td>{esc(c.get(k, ''))}</td>" for k in ("claim", "paper", "ours"))
            + f'<td class="verdict {cls}">{esc(verdict)}</td><td>{esc(c.get("reason", ""))}</td></tr>'
        )
    # top to bottom as a reader asks: the question and the answer (answer.md), the evidence
    # (the figures), then every claim against the paper with its verdict and rule
    parts = [
        f"<h2>Study: {esc(rep.get('title', rep.get('study', root.name)))}</h2>",
        f"<p>{esc(rep.get('source', ''))}</p>",
        f"<p class=note>scale {esc(rep['scale'])}: {esc(rep.get('scale_note', ''))}</p>"
        if "scale" in rep
        else "",
    ]
    answer = root / "answer.md"
    if answer.is_file():
        parts.append(markdown(answer.read_text(), shift=2))
    shots = sorted((root / "figures").glob("*.png")) if (root / "figures").is_dir() else []
    if shots:
        parts.append(
            "<h3>The study's figures</h3><div class=grid>" + "".join(png_file(p) for p in shots) + "</div>"
        )
    parts.append(
        '<h3>Every claim against the paper</h3><table id="claims"><thead><tr><th>claim</th><th>paper</th>'
        f"<th>ours</th><th>verdict</th><th>why</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return "\n".join(parts)


def stderr_warning(line: str) -> None:
    """The default ``warn``: one ``warning: ...`` line on stderr."""
    print(f"warning: {line}", file=sys.stderr)


def figure_sections(
    root: Path, runs: list[Path], table: pd.DataFrame, progress: Progress, warn: Callable[[str], None]
) -> str:
    """The sweep figures, then one section per kind of run figure with every run's; each
    run left out (its files cannot be read) and a missing set of sweep figures is a note
    in the page and a line to ``warn``."""
    parts = ["<h2>Across the sweep</h2>"]

    def note(line: str) -> None:
        warn(line)
        parts.append(f'<p class="note">{esc(line)}</p>')

    loaded, unread = [], []
    for run_dir in runs:
        try:
            loaded.append((run_dir, load_run(run_dir)))
        except FigureError as e:
            unread.append(f"no figures of run {_named(run_dir, root)}: {e}")
    progress.total -= len(unread) * len(RUN_SECTIONS)
    try:
        points = across_runs.load_points(root, note, table)
    except FigureError as e:
        points = []
        progress.total -= len(SWEEP_FIGURES)
        note(f"no sweep figures: {e}")
    if points:
        cells = [
            progress.figure(name, functools.partial(draw, points)) for name, draw in SWEEP_FIGURES.items()
        ]
        parts.append("<div class=grid>" + "".join(cells) + "</div>")
    for line in unread:
        note(line)
    for name, title in RUN_SECTIONS.items():
        draw = FIGURES[name]
        cells = [
            progress.figure(f"{_named(run_dir, root)}: {name}", functools.partial(draw, run, None))
            for run_dir, run in loaded
        ]
        parts.append(f"<h2>{esc(title)}</h2><p class=note>{esc(_first_line(draw))}</p>")
        parts.append("<div class=grid>" + "".join(cells) + "</div>")
    return "\n".join(parts)


def _named(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path != root else path.name


def _first_line(draw: Callable[..., Any]) -> str:
    doc = (sys.modules[draw.__module__].__doc__ or "").strip()
    return doc.split("\n\n", 1)[0].replace("\n", " ")


def build(
    root: Path,
    *,
    run_figures: bool = True,
    echo: Callable[[str], None] | None = None,
    warn: Callable[[str], None] = stderr_warning,
) -> str:
    """The whole report of the sweep or study under ``root`` as one HTML string; ``echo``
    gets the progress lines, ``warn`` one line per thing left out."""
    root = Path(root)
    if not root.is_dir():
        raise ReportError(f"no such directory: {root}")
    table = results.collect(root)
    if table.empty:
        raise ReportError(f"no run directories under {root} (none holds config.yaml or summary.json)")
    runs = (
        [Path(p) for p in results.find_runs(root) if (Path(p) / "summary.json").is_file()]
        if run_figures
        else []
    )
    progress = Progress(len(SWEEP_FIGURES) + len(runs) * len(RUN_SECTIONS), echo)
    for line in table.attrs.get("warnings", []):
        warn(line)
    warnings = "".join(f"<li>{esc(w)}</li>" for w in table.attrs.get("warnings", []))
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        f"<h1>carousel report: {esc(root)}</h1>",
        f"<p class=note>{len(results.find_runs(root))} run directories, {len(runs)} finished; written {when} "
        "from the result store (offline).</p>",
        f"<ul class=note>{warnings}</ul>" if warnings else "",
        study_section(root),
        "<h2>Success rates</h2><p class=note>Seeds pooled per config across jobs; interval: 95% Wilson "
        "score interval of the pooled seeds.</p>",
        rates_table(table),
        comparison(root),
        figure_sections(root, runs, table, progress, warn),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>carousel report: {esc(root.name)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def write(
    root: Path,
    out: Path | None = None,
    *,
    run_figures: bool = True,
    echo: Callable[[str], None] | None = None,
    warn: Callable[[str], None] = stderr_warning,
) -> Path:
    """Build the report and write it (default ROOT/report.html); the path written."""
    out = Path(out) if out is not None else Path(root) / "report.html"
    page = build(root, run_figures=run_figures, echo=echo, warn=warn)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as e:
        raise ReportError(f"cannot write {out}: {e}") from e
    return out
