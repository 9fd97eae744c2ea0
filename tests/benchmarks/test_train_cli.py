"""End to end through the command line: the interface contract and the smoke run."""

import json
import os
import re
import time

import forked_train
import numpy as np
import pandas as pd
import pytest

from models import MODELS


def run_cli(*args, cwd=None, env=None):
    return forked_train.run(*args, cwd=cwd or forked_train.REPO, env=env)


def test_bad_model_exits_nonzero_with_one_line(tmp_path):
    proc = run_cli("model=transformer", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: unknown model 'transformer'; valid: {', '.join(sorted(MODELS))}"
    ]
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model=lstm", "task.lenght=5"],
            "unknown config key 'task.lenght'; valid keys here: length, name, variant",
        ),
        (["optim.clip=foo"], "unknown optim.clip 'foo'; valid: elementwise, global_norm, none"),
        (["model=rnn,transformer"], f"unknown model 'transformer'; valid: {', '.join(sorted(MODELS))}"),
        (
            ["seeds=1,2", "+seed=3"],
            "unknown config key 'seed'; valid keys here: diagnostics, logger, model, optim, seed_offset,"
            " seeds, task, train",
        ),
    ],
)
def test_a_sweep_with_a_bad_override_stops_before_any_job_with_one_line(tmp_path, overrides, message):
    """Hydra composes a sweep's jobs before launching them: the typo is one line, and no
    job ran (no job directory)."""
    proc = run_cli("-m", *overrides, "logger=none", f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {message}"]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not [p for p in tmp_path.glob("*") if p.is_dir()]


def test_a_size_that_cannot_fit_stops_before_any_work_with_one_line(tmp_path):
    """task.length=100000000 is refused by the memory estimate while building: exit 2, one
    line naming the estimate and the memory there is, within seconds, and nothing of the
    run written (Hydra's own ``.hydra/`` and its empty ``train.log`` are made before the job)."""
    start = time.monotonic()
    proc = run_cli("task.length=100000000", "logger=none", f"hydra.run.dir={tmp_path}")
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: this run needs about ") and "GiB of memory" in line
    assert re.search(r"\]\) but [a-z ]+ is [\d,.]+ GiB; lower task.length", line)
    assert elapsed < 20 and "Traceback" not in proc.stdout
    assert {p.name for p in tmp_path.iterdir()} <= {".hydra", "train.log"}


def test_cfg_job_prints_the_whole_config():
    """Hydra's own flags pass through: ``--cfg job`` prints the preset with every default."""
    proc = run_cli("model=lstm_cifg", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    for line in (
        "  name: lstm_cifg",
        "  hidden: 50",
        "  coupled: true",
        "  peepholes: true",
        "    recurrent: orthogonal",
    ):
        assert line in lines
    assert "  variant: pascanu2013" in lines and "  length: 100" in lines


@pytest.mark.slow
def test_smoke_lstm_solves_short_adding_and_writes_the_contract(tmp_path):
    """LSTM on the adding problem (T=20) reaches Pascanu's criterion on most seeds in
    well under a minute on 2 cores; the run directory holds the contract's files."""
    proc = run_cli(
        "model=lstm",
        "task=adding",
        "task.variant=pascanu2013",
        "task.length=20",
        "seeds=3",
        "train.steps=1500",
        "train.batch_size=20",
        "optim.lr=0.003",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["success_rate"] >= 2 / 3
    lo, hi = summary["ci95"]
    assert 0 <= lo <= summary["success_rate"] <= hi <= 1
    assert [s["seed"] for s in summary["seeds"]] == [0, 1, 2]
    for s in summary["seeds"]:
        assert set(s) >= {"seed", "solved", "steps_to_solve", "diverged_at", "final_loss"}
        assert s["diverged_at"] is None and np.isfinite(s["final_loss"])
        if s["solved"]:
            assert 0 < s["steps_to_solve"] <= 1500
    init, final = np.load(tmp_path / "params_init.npz"), np.load(tmp_path / "params_final.npz")
    assert init["R_o"].shape == (3, 50, 50) and set(init.files) == set(final.files)
    assert not np.allclose(init["R_o"], final["R_o"])
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    assert set(metrics.seed) == {0, 1, 2} and metrics.step.iloc[0] == 0
    assert (tmp_path / "config.yaml").exists()


def _string_starts(x_BTD):
    """bool[B, T]: a symbol begins a string (B at the stream's start or after an E)."""
    sym = np.argmax(x_BTD, -1)
    after_e = np.concatenate([np.ones_like(sym[:, :1], bool), sym[:, :-1] == 6], axis=1)
    return (sym == 0) & after_e


def test_online_training_on_continual_streams_writes_every_streams_record(tmp_path):
    """``train.schedule=stream`` end to end: 2 seeds x 2 lanes of continual Reber streams in
    chunks of 40 symbols. streams.npz has one entry per ended training stream, matching the
    summary's counts and the metrics' last row; each stream began at a string start of the
    seed's own data stream (regenerated here from its key), streams of a lane do not
    overlap, and the symbols trained are the streams' lengths plus their errors plus the
    open streams' runs."""
    import jax

    from benchmarks.core.trainer import STREAM_DATA, seed_keys
    from tasks.reber import ContinualReberTask

    steps, length = 12, 40
    proc = run_cli(
        "model=lstm",
        "model.hidden=8",
        "task=continual_reber",
        f"task.length={length}",
        "train.schedule=stream",
        "train.gradient=truncated",
        "optim=sgd",
        "optim.lr=0.5",
        "optim.clip=none",
        "train.batch_size=2",
        f"train.steps={steps}",
        "train.eval_every=4",
        "train.eval_size=4",
        "train.strategy=loop",
        "seeds=2",
        "diagnostics=basic",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    with np.load(tmp_path / "streams.npz") as f:
        rec = {k: f[k] for k in f.files}
    assert set(rec) == {"seed", "lane", "step", "symbol", "length"}
    metrics = pd.read_parquet(tmp_path / "metrics.parquet")
    task = ContinualReberTask(length=length)
    for i, s in enumerate(summary["seeds"]):
        mine = rec["seed"] == i
        assert s["streams"] == mine.sum() > 10
        assert s["symbols"] == np.sum(rec["length"][mine] + 1) + sum(s["open_streams"])
        last = metrics[(metrics.seed == s["seed"]) & (metrics.step == steps)]
        assert (last.streams.item(), last.symbols.item()) == (s["streams"], s["symbols"])
        key, position, x = seed_keys(s["seed"])[STREAM_DATA], None, []
        for step in range(steps):
            chunk = task.sample_stream(jax.random.fold_in(key, step), 2, position)
            x.append(np.asarray(chunk.batch.x))
            position = chunk.position
        starts = _string_starts(np.concatenate(x, axis=1))
        for lane in range(2):
            ours = mine & (rec["lane"] == lane)
            end, n = rec["symbol"][ours], rec["length"][ours]
            begin = end - n
            assert starts[lane, begin].all()
            assert np.all(begin[1:] > end[:-1])
            np.testing.assert_array_equal(rec["step"][ours], end // length)
    assert not list(tmp_path.glob("*.parts"))


def test_linear_rnn_closed_form_through_the_whole_chain(tmp_path):
    """From the command line to diagnostics.npz: a linear RNN with W_hh = 0.9 Q has
    ||dh_{T-1}/dh_t|| = 0.9^(T-1-t) and every Lyapunov exponent log 0.9, at step 0."""
    proc = run_cli(
        "model=rnn",
        "model.activation=identity",
        "model.init.recurrent=orthogonal",
        "model.init.recurrent_scale=0.9",
        "model.hidden=8",
        "task=adding",
        "task.variant=arjovsky2016",
        "task.length=30",
        "seeds=2",
        "train.steps=0",
        "diagnostics=full",
        "diagnostics.batch_size=4",
        "diagnostics.jacobian_sequences=2",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = np.load(tmp_path / "diagnostics.npz")
    assert d["step"].tolist() == [0]
    T = 30
    expected = 0.9 ** (T - 1 - np.arange(T))
    np.testing.assert_allclose(d["jacobian_norm"][0], np.broadcast_to(expected, (2, T)), rtol=1e-3)
    np.testing.assert_allclose(d["lyapunov"][0], np.log(0.9), atol=1e-4)
    np.testing.assert_allclose(d["spectral_radius.W_hh"][0], [0.9, 0.9], rtol=1e-5)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps_run"] == 0 and summary["diagnostics"]["init"]["step"] == 0
    # Hydra's train.log holds the evaluation line, the summary and the run directory; the
    # terminal gets only warnings from the log, beside the bar and the printed summary
    log = (tmp_path / "train.log").read_text()
    assert " INFO carousel: step 0: train loss - (mean over seeds)" in log
    assert f" INFO carousel: results: {tmp_path}" in log
    assert "INFO" not in proc.stdout + proc.stderr and f"results: {tmp_path}" in proc.stdout.splitlines()
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("config.yaml", "summary.json", "diagnostics.npz", "params_init.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_w_and_b_online_without_an_api_key_is_one_warning_and_the_run_finishes(tmp_path):
    """logger.mode=online with no key anywhere (a fresh HOME, no WANDB_* variables) and no
    terminal: one warning on the terminal and in train.log, and every result file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "NETRC"}
    env["HOME"] = str(tmp_path / "home")
    run = tmp_path / "run"
    proc = run_cli(
        *("model=rnn", "model.hidden=4", "task.length=10", "seeds=1", "train.steps=10"),
        *("train.eval_every=5", "train.eval_size=50", "diagnostics=none"),
        *("logger=wandb", "logger.mode=online", f"hydra.run.dir={run}"),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    warning = "WARNING carousel: W&B init (online) failed (UsageError: No API key configured."
    [line] = [line for line in proc.stdout.splitlines() if "WARNING" in line]
    assert warning in line and line.endswith("log in.); continuing with the local result store only")
    assert (run / "train.log").read_text().count(warning) == 1
    assert (run / "summary.json").exists() and (run / "metrics.parquet").exists()


@pytest.mark.slow
def test_sweep_through_the_submitit_launcher_local_executor(tmp_path):
    """The SLURM path's launcher, with submitit's local executor: each job runs in its own
    process from a pickled config and writes its run directory."""
    proc = run_cli(
        "-m",
        "hydra/launcher=submitit_local",
        "model=rnn,lstm",
        "task.length=10",
        "seeds=2",
        "train.steps=20",
        "train.eval_every=10",
        "train.eval_size=50",
        "diagnostics=none",
        "logger=none",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summaries = sorted(tmp_path.glob("*/summary.json"))
    assert [p.parent.name for p in summaries] == ["0_rnn_adding", "1_lstm_adding"]
    for p in summaries:
        s = json.loads(p.read_text())
        assert s["steps_run"] == 20 and len(s["seeds"]) == 2


# ---------------------------------------------------------------- float32's whole range, end to end

LINEAR_RNN = (
    "model=rnn",
    "model.activation=identity",
    "model.init.recurrent=orthogonal",
    "logger=none",
    "seeds=1",
)


@pytest.mark.slow
def test_a_vanishing_gradient_is_stored_down_to_1e_30_with_its_closed_form_ratio(tmp_path):
    """h_t = W h_{t-1} + ..., W = 0.8 Q (Q orthogonal): dL/dh_t = (W^T)^(T-1-t) dL/dh_{T-1}, so
    ||dL/dh_t|| shrinks by exactly 0.8 per step of lag, to 0.8^299 ~ 1e-29 of the last
    step's. sqrt(sum x^2) stored 0 at every lag beyond ~183 (the entries' squares below
    float32's smallest normal number); the stored profile must keep the ratio at every lag."""
    proc = run_cli(
        *LINEAR_RNN,
        "model.init.recurrent_scale=0.8",
        "task=adding",
        "task.variant=arjovsky2016",
        "task.length=300",
        "train.steps=0",
        "diagnostics=full",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with np.load(tmp_path / "diagnostics.npz") as d:
        g = d["grad_h"][0, 0].astype(np.float64)  # [T]: the measurement at step 0, seed 0
    assert g.shape == (300,) and np.all(np.isfinite(g)) and np.all(g > 0)
    assert g[0] < 1e-25 * g[-1]  # the profile reaches far below the old floor of ~1e-19
    ratio = g[:-1] / g[1:]  # the loss is at the last step only: every earlier step is a pure hop
    np.testing.assert_allclose(ratio, 0.8, rtol=1e-3)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["train"]["precision"] == "float32"


@pytest.mark.slow
def test_an_exploding_finite_gradient_is_stored_and_is_not_divergence(tmp_path):
    """W = 1.2 Q on the copy task (T=300 + 20 steps): ||dL/dh_t|| grows by 1.2 per step of
    lag to ~1e22 at the first steps, every element finite. sqrt(sum x^2) stored inf there,
    the global norm as inf, and the seed as diverged at step 0. The copy task has a loss at
    every step, so the ratio is 1.2 exactly only where the carried error dwarfs the step's
    own: |ratio_t - 1.2| <= ||e_t|| / ||dL/dh_{t+1}||, e_t the direct error at t, which is
    of the order of the last step's norm (where it is all there is)."""
    proc = run_cli(
        *LINEAR_RNN,
        "model.init.recurrent_scale=1.2",
        "task=copy",
        "task.length=300",
        "train.steps=1",
        "optim=sgd",
        "optim.lr=1e-30",
        "optim.clip=none",
        "diagnostics=full",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    with np.load(tmp_path / "grad_time.npz") as d:
        g = d["grad_h"][0, 0].astype(np.float64)  # the training step's own probes [T]
    assert g.shape == (320,) and np.all(np.isfinite(g)) and np.all(g > 0)
    assert g[0] > 1e21
    carried = g[1:] > 1e4 * g[-1]  # the carried error over 10^4 x a step's own
    assert carried.sum() >= 250
    np.testing.assert_allclose((g[:-1] / g[1:])[carried], 1.2, rtol=1e-3)
    with np.load(tmp_path / "grad_norms.npz") as d:
        global_norm = float(d["global"][0, 0])
    assert np.isfinite(global_norm) and global_norm > 1e22  # far above sqrt(float32 max) = 1.8e19
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_diverged"] == 0 and summary["seeds"][0]["diverged_at"] is None


def test_a_precision_the_backend_lacks_is_one_line(tmp_path):
    proc = run_cli("train.precision=TF32_TF32_F32", "logger=none", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "error: train.precision 'TF32_TF32_F32' is not supported on the cpu backend; valid here: float32,"
    ), lines
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=pack", "hydra.launcher.progress=false"]])
def test_a_job_too_large_fails_alone_and_the_sweep_goes_on(tmp_path, launcher):
    """``model.hidden=8,100000,16``: H=100000 passed the old memory check (which counted no
    parameters) and XLA then aborted the whole sweep; now the middle job fails with its
    error.json, the other two finish, and ``collect`` says so."""
    from benchmarks.analysis.results import collect

    proc = run_cli(
        "-m", *launcher, "model.hidden=8,100000,16", "task.length=10", "train.steps=4", "train.eval_every=2",
        "seeds=1", "diagnostics=none", "logger=none", f"hydra.sweep.dir={tmp_path}",
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: 1 sweep job(s) failed; see error.json in: {tmp_path / '1_lstm_adding'}"
    )
    error = json.loads((tmp_path / "1_lstm_adding" / "error.json").read_text())
    assert error["type"] == "ValueError" and error["error"].startswith("this run needs about ")
    assert "GiB of parameters and optimizer state for 1 seed(s)" in error["error"]
    table = collect(tmp_path)
    assert table["status"].tolist() == ["finished", "finished", "failed"]
    assert table["model.hidden"][:2].tolist() == [8, 16]
    assert table["runs"][2] == [str(tmp_path / "1_lstm_adding")]
