"""``scripts/reproduce.py``: the study at smoke scale, end to end, and its restart."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
STUDY_NAMES = (
    "hochreiter1997",
    "gers2000",
    "pascanu2013",
    "le2015",
    "greff2015",
    "arjovsky2016",
    "gradient_over_time",
    "why_lstm_explodes",
)


def _run(*args):
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }
    return subprocess.run(
        [sys.executable, "scripts/reproduce.py", *args], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_list_names_the_study():
    proc = _run("--list")
    assert proc.returncode == 0
    names = [line.split(":")[0] for line in proc.stdout.splitlines() if not line.startswith(" ")]
    assert names == sorted(STUDY_NAMES)
    assert "\nwhy_lstm_explodes: Why do LSTMs still explode?" in proc.stdout
    assert "--scale smoke" in proc.stdout and "--scale paper" in proc.stdout


def test_unknown_study_is_one_line():
    proc = _run("nope")
    assert proc.returncode == 2
    valid = ", ".join(sorted(STUDY_NAMES))
    assert proc.stderr.strip().splitlines() == [f"error: unknown study 'nope'; valid: {valid}"]


def _seeds_with_event(run: Path) -> float:
    with np.load(run / "grad_norms.npz") as g:
        return float(np.mean(g["explode"].any(axis=0)))


def _recompute(out: Path, report: dict) -> None:
    """The result slices every claim reads, recomputed from the run directories' own files
    (config.yaml, summary.json, grad_norms.npz, diagnostics.npz) and measured.json."""
    import yaml

    result = report["result"]
    assert result["measured"] == json.loads((out / "measured.json").read_text())
    runs = {}
    for path in sorted(out.glob("*/*/summary.json")):
        config = yaml.safe_load((path.parent / "config.yaml").read_text())
        runs[path.parent] = (config, json.loads(path.read_text()))
    assert len(runs) == report["runs"] == len(result["runs"])
    for row in result["runs"]:
        config, summary = runs[Path(row["run"])]
        assert row["sweep"] == Path(row["run"]).parent.name
        assert (row["model"], row["hidden"], row["gradient"]) == (
            config["model"]["name"],
            config["model"]["hidden"],
            config["train"]["gradient"],
        )
        assert row["seeds_with_event"] == pytest.approx(_seeds_with_event(Path(row["run"])))
        assert row["seed_solved"] == [x["solved"] for x in summary["seeds"]]
        if "rho0" in row:  # the largest recurrent matrix's radius at init, seed mean
            with np.load(Path(row["run"]) / "diagnostics.npz") as d:
                radii = [d[k][0].mean() for k in d.files if k.startswith("spectral_radius.")]
            assert row["rho0"] == pytest.approx(float(max(radii)))
    by_sweep = lambda name: [r for r in result["runs"] if r["sweep"] == name]  # noqa: E731
    fixed = result["fixed_radius"]["fan_in@0.74"]
    assert [f["seeds_with_event"] for f in fixed] == [
        pytest.approx(_seeds_with_event(Path(r["run"])))
        for r in sorted(by_sweep("fixed_radius_fan_in"), key=lambda r: r["hidden"])
    ]
    truncated = {(r["gradient"], r["forget_bias"]): r for r in result["truncated"]}
    for r in by_sweep("truncated"):
        config, _ = runs[Path(r["run"])]
        key = (config["train"]["gradient"], config["model"]["forget_bias"])
        assert truncated[key]["seeds_with_event"] == pytest.approx(_seeds_with_event(Path(r["run"])))
    solved = {"event": 0, "no_event": 0}
    seeds = {"event": 0, "no_event": 0}
    for r in by_sweep("success_sgd") + by_sweep("success_adam"):
        for seed in runs[Path(r["run"])][1]["seeds"]:
            side = "event" if seed["explode_events"] else "no_event"
            solved[side] += seed["solved"]
            seeds[side] += 1
    pooled = result["success"]["pooled"]
    assert {k: (v["solved"], v["seeds"]) for k, v in pooled.items()} == {
        k: (solved[k], seeds[k]) for k in seeds
    }


@pytest.mark.slow
def test_smoke_scale_recomputes_every_claim_from_the_runs_files(tmp_path, capsys):
    """In this process (its sweeps forked, see ``forked_train``): ``main`` ends without
    ``SystemExit``, as the command ends with status 0. Every slice a claim reads is
    recomputed from the runs' own files, and the claims from those slices."""
    import scripts.reproduce as cli
    from benchmarks.studies.explode_claims import claims

    out = tmp_path / "study"
    cli.main(["why_lstm_explodes", "--scale", "smoke", "--out", str(out)])
    capsys.readouterr()
    report = json.loads((out / "reproduction.json").read_text())
    assert report["study"] == "why_lstm_explodes" and report["scale"] == "smoke"
    assert [s["status"] for s in report["sweeps"]] == [0] * 9
    assert report["runs"] == 20 and report["seeds"] == 40
    assert {c["verdict"] for c in report["claims"]} == {"not comparable"}  # too small to tell
    assert len(report["claims"]) == 13  # every claim of the study has its data at smoke scale
    _recompute(out, report)
    assert [vars(c) for c in claims(report["result"], "smoke")] == report["claims"]
    # every run's event rate and gradient-norm maximum recomputed from its own store files
    for row in report["result"]["runs"]:
        with np.load(Path(row["run"]) / "grad_norms.npz") as g:
            events, loss, glob = g["explode"], g["loss"], g["global"]
        trained = np.isfinite(loss) | (~np.isfinite(glob) & ~np.isnan(loss))
        assert row["events_per_1000"] == pytest.approx(1000 * events.sum() / trained.sum())
        finite = glob[np.isfinite(glob)]
        assert row["global_norm"]["max"] == pytest.approx(float(finite.max()))
        assert row["seeds"] == 2 and 0 <= row["success_rate"] <= 1
    assert "At H=16 without clipping" in report["answer"]
    assert (out / "answer.md").read_text().strip() == report["answer"]
    assert (out / "readme_rows.md").read_text().count("\n") == len(report["claims"])
    for name in ("why_lstm_explodes.png", "why_lstm_explodes_mechanisms.png"):
        png = out / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 50_000

    cli.main(["why_lstm_explodes", "--scale", "smoke", "--out", str(out)])  # nothing runs twice
    printed = capsys.readouterr().out
    assert printed.count("already finished") == 20 and "measurements: already taken" in printed
    assert json.loads((out / "reproduction.json").read_text())["claims"] == report["claims"]


def test_table_is_built_from_the_reports_found(tmp_path):
    report = {
        "title": "Why do LSTMs still explode?",
        "scale": "cpu",
        "run_time_s": 1140.0,
        "seeds": 168,
        "model_steps": 50_400,
        "model_steps_per_s": 45.0,
        "command": "scripts/reproduce.py why_lstm_explodes --scale cpu",
        "claims": [
            {"claim": "c1", "source": "s1", "paper": "p1", "ours": "o1", "verdict": "agrees", "reason": "r1"},
            {
                "claim": "c2",
                "source": "s2",
                "paper": "p2",
                "ours": "o2",
                "verdict": "disagrees",
                "reason": "r2",
            },
        ],
    }
    (tmp_path / "why_lstm_explodes" / "cpu").mkdir(parents=True)
    (tmp_path / "why_lstm_explodes" / "cpu" / "reproduction.json").write_text(json.dumps(report))
    proc = _run("--table", "--scale", "cpu", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[2] == (
        "| Why do LSTMs still explode? | 2 | 1 | 1 | 0 | 168 | 19 min "
        "| `scripts/reproduce.py why_lstm_explodes --scale cpu` |"
    )
    lines = lines[4:]  # the claims
    assert lines[0].startswith("| study | claim (source) | paper |") and len(lines) == 4
    assert lines[3] == (
        "| Why do LSTMs still explode? | c2 (s2) | p2 | o2 (cpu) | disagrees: r2 | 19 min | "
        "`scripts/reproduce.py why_lstm_explodes --scale cpu` |"
    )
    missing = _run("--table", "--scale", "paper", "--out", str(tmp_path))
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == f"error: no study has run at scale 'paper' under {tmp_path}; run one first"
    )


def test_without_scale_the_first_line_names_the_default_scale(tmp_path, monkeypatch, capsys):
    """The study is not run (``reproduce`` records its arguments): without ``--scale`` the
    first line says the default scale and the others; with ``--scale cpu`` nothing extra."""
    import scripts.reproduce as cli

    calls = []

    def fake(study, scale, out, overrides):
        calls.append((study.name, scale, out, overrides))
        return {"claims": [], "answer": "the answer"}

    monkeypatch.setattr(cli, "reproduce", fake)
    done = ["the answer", f"reproduction: {tmp_path / 'reproduction.json'}"]
    cli.main(["why_lstm_explodes", "--out", str(tmp_path), "seeds=1"])
    assert capsys.readouterr().out.splitlines() == [
        "scale: smoke (the default; --scale cpu|faithful|paper for more)",
        *done,
    ]
    cli.main(["why_lstm_explodes", "--scale", "cpu", "--out", str(tmp_path), "seeds=1"])
    assert capsys.readouterr().out.splitlines() == done
    assert calls == [
        ("why_lstm_explodes", "smoke", tmp_path, ["seeds=1"]),
        ("why_lstm_explodes", "cpu", tmp_path, ["seeds=1"]),
    ]
