"""The W&B Report of a hand-written sweep, built offline: its blocks, run sets and panels."""

import json

import pytest
import wandb_workspaces.reports.v2 as wr

from benchmarks.analysis.wandb_layout import ReportError, build_report, describe, dump


@pytest.fixture
def sweep(tmp_path, report_run):
    groups = {}
    for i, (model, length) in enumerate([("lstm", 10), ("lstm", 20), ("rnn", 10), ("rnn", 20)]):
        groups[model, length] = report_run(tmp_path / f"{i}_{model}_adding", model, length)
    (tmp_path / "3_rnn_adding" / "wandb" / "offline-run-x").mkdir(parents=True)  # not a run
    (tmp_path / "4_lstm_adding").mkdir()  # unfinished: no summary.json
    (tmp_path / "4_lstm_adding" / "config.yaml").write_text("model: {name: gru}\n")
    return tmp_path, groups


def panels(grid):
    return [(type(p).__name__, p) for p in grid.panels]


def test_blocks_runsets_and_panels_of_a_sweep(sweep):
    root, groups = sweep
    (root / "answer.md").write_text("# Why LSTMs\n\nThe carousel keeps the gradient.\n")
    claim = {
        "claim": "LSTM solves T=100",
        "source": "Fig. 2",
        "paper": "100%",
        "ours": "7/8",
        "verdict": "agrees",
    }
    (root / "reproduction.json").write_text(json.dumps({"claims": [{**claim, "reason": "within margin"}]}))
    report = build_report(root, "me", "carousel")
    kinds = [type(b).__name__ for b in report.blocks]
    assert kinds == ["H1", "MarkdownBlock", "MarkdownBlock"] + ["H2", "PanelGrid"] * 5
    assert report.blocks[1].text.startswith("# Why LSTMs") and report.project == "carousel"
    assert report.blocks[2].text.splitlines()[-1] == "| LSTM solves T=100 (Fig. 2) | 100% | 7/8 | agrees |"
    success, curves, histograms, spectra, paths = report.blocks[4::2]
    assert [rs.name for rs in success.runsets] == ["lstm", "rnn"]
    for rs, model in zip(success.runsets, ("lstm", "rnn"), strict=True):
        assert (
            rs.filters == f'Metric("Group") in {sorted(groups.values())} and Metric("JobType") == {model!r}'
        )
        assert rs.groupby == ["JobType"] and not rs.entity  # the report's own project
    (scatter_kind, scatter), (bar_kind, bar), (table_kind, table) = panels(success)
    assert (scatter_kind, bar_kind, table_kind) == ("ScatterPlot", "BarPlot", "WeavePanelSummaryTable")
    assert scatter.x == wr.Config("task.length") and scatter.y == wr.SummaryMetric("experiment/success_rate")
    assert [m.name for m in bar.metrics] == [
        "experiment/success_rate",
        "experiment/ci95_low",
        "experiment/ci95_high",
    ]
    assert bar.groupby == wr.Config("task.length") and table.table_name == "experiment/results"
    for grid in (curves, histograms, spectra, paths):
        [rs] = grid.runsets
        assert rs.groupby == ["group"] and rs.filters == f'Metric("Group") in {sorted(groups.values())}'
    assert [p.y for _, p in panels(curves)] == [
        ["eval/loss"],
        ["eval/correct"],
        ["train/loss"],
        ["grad_norm/mean"],
    ]
    assert {p.groupby_rangefunc for _, p in panels(curves)} == {"stderr"}
    hist = [p.y[0] for kind, p in panels(histograms) if kind == "LinePlot"]
    assert hist == [f"grad_norm_log10/{m}" for m in ["R_f", "R_i", "R_o", "R_z", "W_hh"]]  # not W_out
    lines = [p.y[0] for kind, p in panels(spectra) if kind == "LinePlot"]
    assert lines == [f"spectral_radius/{m}" for m in ["R_f", "R_i", "R_o", "R_z", "W_hh"]] + ["lyapunov/max"]
    [(_, split), (_, media)] = panels(paths)
    assert split.y == ["path/R_z", "path/cec", "path/total"] and media.media_keys == ["figures/lstm_paths"]


def test_without_an_lstm_there_is_no_path_split_and_the_text_names_the_sweep(tmp_path, report_run):
    report_run(tmp_path / "a", "rnn", 30)
    report = build_report(tmp_path, "me", "p")
    assert [type(b).__name__ for b in report.blocks] == ["H1", "P"] + ["H2", "PanelGrid"] * 4
    assert "models rnn; tasks adding; lengths 30" in str(report.blocks[1].text)


def test_the_dump_is_the_view_spec_w_and_b_saves(sweep):
    root, groups = sweep
    report = build_report(root, "me", "carousel")
    dump(report, root / "report.json")
    spec = json.loads((root / "report.json").read_text())
    assert spec["project"] == {"name": "carousel", "entityName": "me"} and spec["displayName"] == report.title
    grids = [b for b in spec["spec"]["blocks"] if b["type"] == "panel-grid"]
    first = grids[0]["metadata"]["runSets"][1]
    assert first["filters"]["filters"][0] == {
        "key": {"section": "run", "name": "group"},
        "op": "IN",
        "value": sorted(groups.values()),
        "disabled": False,
    }
    assert first["filters"]["filters"][1]["value"] == "rnn"
    views = [p["viewType"] for p in grids[1]["metadata"]["panelBankSectionConfig"]["panels"]]
    assert views == ["Run History Line Plot"] * 4
    lines = describe(report)
    assert lines[0] == "report: carousel: " + root.name + " (me/carousel)"
    assert (
        "  BarPlot 'success rate and 95% Wilson interval, by length': summarymetric:experiment/success_rate,"
        in ("\n".join(lines))
    )


def test_a_directory_without_finished_runs_is_an_error(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ReportError, match="holds no finished run"):
        build_report(tmp_path, "me", "p")
