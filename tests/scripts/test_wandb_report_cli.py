"""carousel-wandb-report: the structure printed, the JSON written, one-line errors."""

import json

import pytest

from scripts.wandb_report import main


def test_offline_it_prints_the_structure_and_writes_the_view_spec(tmp_path, capsys, report_run):
    report_run(tmp_path / "0_lstm_adding", "lstm", 10)
    main([str(tmp_path), "--entity", "me", "--project", "carousel"])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"report: carousel: {tmp_path.name} (me/carousel)" and out[-1] == (
        f"report: {tmp_path / 'wandb_report.json'}"
    )
    assert "  LinePlot 'path split at the longest lag': path/R_z, path/cec, path/total" in out
    assert sum(line == "PanelGrid" for line in out) == 5
    spec = json.loads((tmp_path / "wandb_report.json").read_text())
    assert [b["type"] for b in spec["spec"]["blocks"]].count("panel-grid") == 5


def test_errors_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, report_run):
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path), "--entity", "me"])
    assert e.value.code == 2
    assert capsys.readouterr().err == f"error: {tmp_path} holds no finished run (no summary.json under it)\n"
    report_run(tmp_path / "run", "rnn", 10)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc, no W&B settings
    for key in ("WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path), "--entity", "me", "--publish"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error: publishing failed (") and err.count("\n") == 1
