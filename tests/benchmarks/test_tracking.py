"""What an experiment sends to W&B: a recording logger double on a real run, checked against
the run's own store, and one real offline W&B run read back from its ``.wandb`` files."""

import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks import tracking
from benchmarks.config import Experiment, LoggerSpec
from benchmarks.core.diagnostics import DiagnosticsSpec
from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from benchmarks.run.experiment import run_experiment
from models import make_model
from tasks import TASKS
from tasks.adding import AddingTask


class RecordingLogger:
    """Records what :class:`benchmarks.run.experiment.Tracker` sends, per seed run."""

    live = True

    def __init__(self, runs):
        self.runs, self.logged, self.summaries, self.finished = runs, {}, {}, False

    def log(self, index, metrics, step):
        self.logged.setdefault(index, []).append((step, metrics))

    def summarise(self, index, values):
        self.summaries.setdefault(index, {}).update(values)

    def histogram(self, values):
        return ("histogram", np.asarray(values))

    def image(self, path, caption):
        return ("image", Path(path).name, caption)

    def table(self, columns, rows):
        return ("table", tuple(columns), rows)

    def finish(self):
        self.finished = True


def tiny_experiment(model="lstm", seeds=(5, 6), level="full", logger="none"):
    task = AddingTask(variant="pascanu2013", length=10)
    net = make_model(model, task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(steps=20, batch_size=8, eval_every=10, eval_size=32, strategy="loop")
    diag = DiagnosticsSpec(level=level, every=10, batch_size=8, jacobian_sequences=2, lyapunov_k=3)
    trainer = Trainer(net, task, OptimSpec(lr=1e-2), spec, diag)
    return Experiment(trainer, list(seeds), LoggerSpec(name=logger), model, "adding")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracked")
    made = []

    def make_logger(cfg, run_dir, runs):
        made.append(RecordingLogger(runs))
        return made[-1]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("benchmarks.run.experiment.make_logger", make_logger)
        summary = run_experiment(tiny_experiment("rnn"), out, progress=False)
    return out, summary, made[0]


def logged(logger, index, key):
    return [(step, m[key]) for step, m in logger.logged[index] if key in m]


def same(got, steps, values):
    """``got`` ((step, value) pairs) holds exactly these steps and values."""
    return [s for s, _ in got] == list(steps) and [v for _, v in got] == pytest.approx(list(values))


def test_one_run_per_seed_named_and_grouped_by_the_experiment(recorded):
    out, _, logger = recorded
    config = yaml.safe_load((out / "config.yaml").read_text())
    group = tracking.experiment_group(config)
    assert [(r.seed, r.name, r.group, r.job_type) for r in logger.runs] == [
        (5, "rnn-adding-T10-s5", group, "rnn"),
        (6, "rnn-adding-T10-s6", group, "rnn"),
    ]
    assert logger.runs[1].config["optim"] == config["optim"] and logger.runs[1].config["seed"] == 6
    assert logger.runs[0].config["train"]["precision"] == "float32"  # the matmul precision, recorded
    assert "seeds" not in logger.runs[0].config and logger.finished
    other = {**config, "optim": {**config["optim"], "lr": 0.5}}
    assert tracking.experiment_group({**config, "seeds": [7]}) == group != tracking.experiment_group(other)


def test_evaluations_go_to_each_seeds_run_under_plain_keys(recorded):
    out, _, logger = recorded
    metrics = pd.read_parquet(out / "metrics.parquet")
    for i, seed in enumerate((5, 6)):
        rows = metrics[metrics["seed"] == seed]
        assert same(logged(logger, i, "eval/loss"), rows["step"], rows["eval_loss"])
        assert same(logged(logger, i, "eval/correct"), rows["step"], rows["eval_correct"])
        assert same(logged(logger, i, "eval/solved"), rows["step"], rows["solved"].astype(int))
        # no training before step 0's evaluation: no NaN point
        assert same(logged(logger, i, "train/loss"), rows["step"][1:], rows["train_loss"][1:])


def test_gradient_norm_histograms_per_matrix_and_chunk_match_the_store(recorded):
    out, _, logger = recorded
    with np.load(out / "grad_norms.npz") as g:
        for i in (0, 1):
            for name in ("W_hh", "W_xh", "W_out"):
                hist = logged(logger, i, f"grad_norm_log10/{name}")
                assert [step for step, _ in hist] == [9, 19]  # each chunk's last step
                for (_, (kind, values)), rows in zip(hist, (slice(0, 10), slice(10, 20)), strict=True):
                    assert kind == "histogram"
                    np.testing.assert_allclose(values, np.log10(g[name][rows, i]), rtol=1e-6)


def test_spectra_and_lyapunov_per_seed_match_the_store(recorded):
    out, _, logger = recorded
    with np.load(out / "diagnostics.npz") as d:
        for i in (0, 1):
            assert same(logged(logger, i, "spectral_radius/W_hh"), d["step"], d["spectral_radius.W_hh"][:, i])
            assert same(logged(logger, i, "sigma_max/W_hh"), d["step"], d["sigma_max.W_hh"][:, i])
            assert same(logged(logger, i, "lyapunov/max"), d["step"], d["lyapunov"][:, i, 0])
            assert same(logged(logger, i, "lyapunov/2"), d["step"], d["lyapunov"][:, i, 2])
            assert same(logged(logger, i, "grad_h/decay_rate"), d["step"], d["grad_h_decay_rate"][:, i])


def test_the_lstm_path_split_is_each_parts_norm_at_the_longest_lag():
    parts = np.array([[[3.0, 2.0, 1.0]], [[5.0, 4.0, 0.0]]])  # [seeds, 1 measurement, T]: per seed
    arrays = {"path.cec": parts[:, 0], "path.R_z": parts[:, 0] / 10, "path.residual": np.array([1e-7, 2e-7])}
    assert tracking.diagnostic_metrics(arrays, 1) == {"path/cec": 5.0, "path/R_z": 0.5}


def wilson(k, n, z=1.959963984540054):
    """The Wilson score interval written out (Wilson 1927)."""
    p, d = k / n, 1 + z * z / n
    mid, half = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return mid - half, mid + half


def test_summaries_hold_each_seeds_result_and_the_experiments_interval(recorded):
    out, summary, logger = recorded
    stored = json.loads((out / "summary.json").read_text())
    low, high = wilson(stored["n_solved"], 2)
    for i, seed in enumerate(stored["seeds"]):
        got = logger.summaries[i]
        assert got["solved"] == seed["solved"] and got["steps_to_solve"] == seed["steps_to_solve"]
        assert got["final/eval_loss"] == pytest.approx(seed["final_eval_loss"])
        assert got["sequences_to_solve"] == seed["sequences_to_solve"]
        assert got["experiment/success_rate"] == stored["success_rate"]
        assert (got["experiment/ci95_low"], got["experiment/ci95_high"]) == pytest.approx((max(low, 0), high))
        assert got["experiment/n_seeds"] == 2
    kind, columns, rows = logger.summaries[0]["experiment/results"]
    assert columns == tracking.TABLE_COLUMNS and [r[0] for r in rows] == [5, 6]
    assert rows[1][columns.index("final_correct")] == pytest.approx(stored["seeds"][1]["final_correct"])
    images = {k: v for k, v in logger.summaries[0].items() if k.startswith("figures/")}
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert sorted(v[1] for v in images.values()) == pngs and "figures/spectral_radius" in images
    assert not any(k.startswith(("figures/", "experiment/results")) for k in logger.summaries[1])


# ---------------------------------------------------------------- a real offline W&B run


def wandb_records(path):
    """The protobuf records of a ``.wandb`` file: W&B's 7-byte header, then a LevelDB-style
    log (32 KiB blocks; each record a 7-byte header, crc32c, length, type; FULL=1,
    FIRST=2, MIDDLE=3, LAST=4), each record a ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2

    data, pos, pending, block = Path(path).read_bytes(), 7, b"", 32 * 1024
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # the block's tail is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        fragment, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        pending = fragment if kind in (1, 2) else pending + fragment
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def read_offline_run(run_dir):
    out = {"history": set(), "summary": {}}
    for record in wandb_records(next(Path(run_dir).glob("run-*.wandb"))):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["run"] = record.run
            out["config"] = {u.key: json.loads(u.value_json) for u in record.run.config.update}
        elif kind == "history":
            out["history"] |= {
                item.nested_key[0] if item.nested_key else item.key for item in record.history.item
            }
        elif kind == "summary":
            out["summary"] |= {u.key: json.loads(u.value_json) for u in record.summary.update if u.key}
    return out


def _offline_runs_when_written(folder, last_key, timeout=30.0):
    """Every offline run in ``folder``, read once each holds ``last_key`` in its summary: W&B's
    service process writes the ``.wandb`` files, and was seen (once in five suites on a busy
    2-core machine) to write the final summary after ``finish`` had returned."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        runs = [read_offline_run(d) for d in sorted(Path(folder).glob("offline-run-*"))]
        if all(last_key in r["summary"] for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def test_a_real_offline_run_writes_one_wandb_run_per_seed(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    summary = run_experiment(tiny_experiment("rnn", (0, 1), "basic", "wandb"), tmp_path, progress=False)
    group = tracking.experiment_group(yaml.safe_load((tmp_path / "config.yaml").read_text()))
    runs = _offline_runs_when_written(tmp_path / "wandb", "experiment/success_rate")
    assert sorted(r["config"]["seed"] for r in runs) == [0, 1]
    for r in runs:
        seed = r["config"]["seed"]
        assert (r["run"].run_group, r["run"].job_type) == (group, "rnn")
        assert r["run"].display_name == f"rnn-adding-T10-s{seed}"
        digest = hashlib.sha1(f"{tmp_path.resolve()}\0{seed}".encode()).hexdigest()[:16]
        assert r["run"].run_id == digest  # the same id when the run is resumed
        assert r["config"]["model"]["hidden"] == 8 and r["config"]["run_dir"] == str(tmp_path)
        assert {"eval/loss", "train/loss", "grad_norm_log10/W_hh"} <= r["history"]
        assert r["summary"]["experiment/success_rate"] == summary["success_rate"]
        assert r["summary"]["solved"] is summary["seeds"][seed]["solved"]  # not eval/solved's 0/1
        assert r["summary"]["final/eval_loss"] == pytest.approx(summary["seeds"][seed]["final_eval_loss"])
    lead = next(r for r in runs if r["config"]["seed"] == 0)
    assert lead["summary"]["experiment/results"]["_type"] == "table-file"
    assert lead["summary"]["figures/grad_norm_distribution"]["_type"] == "image-file"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_names_its_experiment_group(name):
    """The group's readable part comes from the task's config, whatever fields it has: a
    task without ``length`` (the embedded Reber grammar) once ended every run of it with a
    KeyError from here, before anything trained."""
    from test_config import composed

    from benchmarks.config import build

    config = build(composed([f"task={name}"])).describe()
    group = tracking.experiment_group(config)
    length = config["task"].get("length", config["task"].get("max_length"))
    prefix = f"lstm-{name}" + ("" if length is None else f"-T{length}")
    assert group.startswith(prefix + "-") and len(group) == len(prefix) + 9, group


def test_a_reber_run_trains_and_writes_its_summary(tmp_path):
    from test_config import composed

    from benchmarks.config import build

    overrides = ["task=reber", "model.hidden=4", "seeds=1", "train.steps=2", "train.eval_every=2"]
    exp = build(composed([*overrides, "train.eval_size=8", "logger=none", "diagnostics=none"]))
    summary = run_experiment(exp, tmp_path, progress=False)
    assert summary["steps_run"] == 2 and (tmp_path / "summary.json").is_file()
