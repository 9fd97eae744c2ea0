"""One experiment into its run directory, in-process: the files and what they hold."""

import io
import json
import logging
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks.config import Experiment, LoggerConfig
from benchmarks.core.diagnostics import DiagnosticsSpec
from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from benchmarks.run.experiment import ProgressBar, RunDirConflict, format_summary, run_experiment
from models import make_model
from tasks.adding import AddingTask


def test_run_experiment_writes_the_contract(tmp_path):
    task = AddingTask(variant="pascanu2013", length=10)
    model = make_model("lstm", task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(steps=20, batch_size=8, eval_every=10, eval_size=32, strategy="loop")
    trainer = Trainer(model, task, OptimSpec(), spec, DiagnosticsSpec(level="basic"))
    exp = Experiment(trainer, [5, 6], LoggerConfig(name="none"), "lstm", "adding")
    summary = run_experiment(exp, tmp_path, progress=False)
    assert json.loads((tmp_path / "summary.json").read_text())["seeds"] == json.loads(
        json.dumps(summary["seeds"])
    )
    assert [s["seed"] for s in summary["seeds"]] == [5, 6] and summary["strategy"] == "loop"
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["model"]["hidden"] == 8
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert list(metrics["step"]) == [0, 0, 10, 10, 20, 20] and list(metrics["seed"]) == [5, 6] * 3
    with np.load(tmp_path / "grad_norms.npz") as g:
        assert g["global"].shape == (20, 2) and list(g["step"]) == list(range(20))
    with np.load(tmp_path / "params_init.npz") as p0, np.load(tmp_path / "params_final.npz") as p1:
        assert set(p0) == set(p1) >= {"R_z", "R_i", "R_f", "R_o", "W_out"}
        assert not np.allclose(p0["R_o"], p1["R_o"])
    assert not (tmp_path / "diagnostics.npz").exists()  # basic diagnostics only


def test_a_finished_run_is_not_trained_again_and_another_config_is_refused(tmp_path, monkeypatch):
    task = AddingTask(variant="pascanu2013", length=10)
    model = make_model("rnn", task.input_size, task.output_size, hidden=4)
    spec = TrainSpec(steps=10, batch_size=4, eval_every=10, eval_size=16, strategy="loop")
    trainer = Trainer(model, task, OptimSpec(), spec, DiagnosticsSpec(level="none"))
    exp = Experiment(trainer, [0], LoggerConfig(name="none"), "rnn", "adding")
    first = run_experiment(exp, tmp_path, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr("benchmarks.run.experiment.train", no_training)
    assert run_experiment(exp, tmp_path, progress=False) == json.loads(json.dumps(first))
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before
    other = Experiment(trainer, [1], LoggerConfig(name="none"), "rnn", "adding")
    with pytest.raises(RunDirConflict, match="holds a different run .config differs in seeds"):
        run_experiment(other, tmp_path, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_progress_and_summary_go_to_the_carousel_log(tmp_path, caplog):
    """One line per evaluation (step, mean train loss, seeds solved), then the summary line
    and the run directory: what Hydra's job logging writes to ``train.log``."""
    caplog.set_level(logging.INFO, logger="carousel")
    task = AddingTask(variant="pascanu2013", length=10)
    model = make_model("rnn", task.input_size, task.output_size, hidden=4)
    spec = TrainSpec(steps=10, batch_size=4, eval_every=5, eval_size=16, strategy="loop")
    trainer = Trainer(model, task, OptimSpec(), spec, DiagnosticsSpec(level="none"))
    exp = Experiment(trainer, [0, 1], LoggerConfig(name="none"), "rnn", "adding")
    summary = run_experiment(exp, tmp_path, progress=False)
    lines = [r.getMessage() for r in caplog.records if r.name == "carousel" and r.levelno == logging.INFO]
    assert lines[-2:] == [format_summary(summary, "rnn on adding/pascanu2013 T=10"), f"results: {tmp_path}"]
    assert lines[-2].startswith("rnn on adding/pascanu2013 T=10: solved ")
    progress = lines[:-2]
    assert [line.split(":")[0] for line in progress] == ["step 0", "step 5", "step 10"]
    assert progress[0].startswith("step 0: train loss - (mean over seeds), eval loss ")
    num = r"[\d.e+-]+"
    pattern = rf"step \d+: train loss {num} \(mean over seeds\), eval loss {num}, solved [0-2]/2 seeds"
    for line in progress[1:]:
        assert re.fullmatch(pattern, line), line


def _printed(buf: io.StringIO) -> list[str]:
    """Every line tqdm printed (it rewrites the line after a carriage return)."""
    return [line for line in re.split(r"[\r\n]", buf.getvalue()) if line.strip()]


@pytest.mark.parametrize("mininterval", [0.0, 60.0])  # update() prints, or holds the line back
def test_progress_bar_compiles_shows_no_nan_and_updates_its_postfix_before_jumping(mininterval):
    buf = io.StringIO()
    bar = ProgressBar(100, "lstm on adding", file=buf, mininterval=mininterval)
    assert _printed(buf) == ["lstm on adding:   0%|          | 0/100 [00:00<?, ?step/s, compiling...]"]
    bar.evaluated(0, math.nan, 0, 4)  # before the first chunk: no training loss yet
    assert _printed(buf)[-1].endswith("loss=-, solved=0/4, compiling...]")
    for step, loss, solved in [(50, 0.25, 1), (100, 0.125, 4)]:
        before = len(_printed(buf))
        bar.evaluated(step, loss, solved, 4)
        new = _printed(buf)[before:]
        assert new, "the jump was not shown"
        for line in new:  # every line showing the jump carries the new values
            assert f"{step}/100" in line and f"loss={loss:.4f}, solved={solved}/4]" in line
            assert "compiling" not in line
    bar.close()
    assert "nan" not in buf.getvalue().lower()


def test_a_disabled_progress_bar_prints_nothing():
    buf = io.StringIO()
    bar = ProgressBar(10, "lstm", enabled=False, file=buf)
    bar.evaluated(0, math.nan, 0, 2)
    bar.evaluated(10, 0.5, 2, 2)
    bar.close()
    assert buf.getvalue() == ""
