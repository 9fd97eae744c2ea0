"""The memory check: what it counts, how many seeds at once, against which limit."""

import pytest

from benchmarks.core.diagnostics import DiagnosticsSpec
from benchmarks.core.trainer import Trainer
from benchmarks.run import memory

# LSTM H=8 on the adding problem (2 inputs, 1 output): four gates of W 2x8, R 8x8 and b 8,
# and the output layer 8x1 + 1; Adam keeps two moments of every parameter and a count.
LSTM_H8_PARAMS = 4 * (2 * 8 + 8 * 8 + 8) + 8 + 1
LSTM_H8_STATE = 3 * 4 * LSTM_H8_PARAMS + 4 + 4 + 1 + 5 * 4  # + count, diverged_at, stopped, 5 numbers


def test_the_state_of_a_small_lstm_from_its_shapes(small_trainer):
    assert memory.state_bytes(small_trainer()) == (4 * LSTM_H8_PARAMS, LSTM_H8_STATE, 14)


def test_the_phases_of_a_small_lstm(small_trainer):
    """T=12 steps, batch 8, 64 evaluation sequences: x, y and mask are 2 + 1 + 1 values a
    step, the LSTM stores h and c; a chunk of 3 steps records the loss, the gradient norm,
    14 parameter norms and the probes' norms of h and c at every step, each step."""
    trainer = small_trainer()
    phases = memory.phase_bytes(trainer)
    probes = 2 * 12 if trainer.diagnostics.probes else 0
    training = LSTM_H8_STATE + 4 * 4 * LSTM_H8_PARAMS + 4 * (2.5 * 8 * 12 * (4 + 16) + 3 * (2 + probes + 14))
    assert phases["training"] == (int(training), "training batch 8 x 12 steps x 16 state values")
    assert phases["evaluation"] == (int(4 * 1.2 * 12 * (64 * 4 + 64 * 8)), "evaluation set 64 x 12 steps")
    assert "diagnostics" not in phases  # basic diagnostics hold no Jacobians
    full = Trainer(trainer.model, trainer.task, trainer.optim, trainer.spec, DiagnosticsSpec(level="full"))
    jacobians = 4 * 12 * 16 * 16  # 4 sequences x 12 steps x (h, c)^2
    expected = 2 * 4 * LSTM_H8_PARAMS + 4 * (7.0 * jacobians + 2.5 * 32 * 12 * (4 + 16))
    assert memory.phase_bytes(full)["diagnostics"][0] == int(expected)


@pytest.mark.parametrize(
    ("strategy", "workers", "at_once"),
    [("loop", None, 1), ("vmap", None, 6), ("processes", 4, 4), ("processes", 9, 6)],
)
def test_the_seeds_held_at_once(small_trainer, strategy, workers, at_once):
    trainer = small_trainer(strategy=strategy, workers=workers)
    assert memory.seeds_at_once(trainer, 6) == (at_once, strategy)


def test_a_run_that_cannot_fit_is_one_line_naming_estimate_and_limit(small_trainer, monkeypatch):
    trainer = small_trainer(strategy="vmap")
    per_seed = int(4 * 1.2 * 12 * (64 * 4 + 64 * 8))
    assert memory.estimate(trainer, 3)[0] == 3 * LSTM_H8_STATE + 3 * per_seed
    monkeypatch.setattr(
        memory, "memory_available", lambda: (3 * (LSTM_H8_STATE + per_seed), "the cgroup limit")
    )
    memory.check_memory(trainer, 3)  # exactly fits
    with pytest.raises(ValueError) as info:
        memory.check_memory(trainer, 4)
    message = str(info.value)
    assert "\n" not in message and message.startswith("this run needs about 0.2 MiB of memory (0.0 MiB of")
    assert "for evaluation: evaluation set 64 x 12 steps, float32, 4 seed(s) at once [vmap])" in message
    assert "but the cgroup limit is 0.1 MiB" in message
    monkeypatch.setattr(memory, "memory_available", lambda: None)
    memory.check_memory(trainer, 10**6)  # no way to tell: the run may try


def test_a_lower_cgroup_limit_is_the_memory_there_is(tmp_path, monkeypatch):
    (tmp_path / "proc").write_text("0::/slurm/job42\n")
    (tmp_path / "slurm" / "job42").mkdir(parents=True)
    (tmp_path / "slurm" / "job42" / "memory.max").write_text("1073741824\n")
    assert memory.cgroup_limit(tmp_path / "proc", tmp_path) == 2**30
    (tmp_path / "slurm" / "job42" / "memory.max").write_text("max\n")
    assert memory.cgroup_limit(tmp_path / "proc", tmp_path) is None
    assert memory.cgroup_limit(tmp_path / "nothing", tmp_path) is None
    (tmp_path / "proc").write_text("4:memory:/job7\n1:cpu:/\n0::/\n")  # cgroup v1's memory controller
    (tmp_path / "memory" / "job7").mkdir(parents=True)
    (tmp_path / "memory" / "job7" / "memory.limit_in_bytes").write_text("2147483648\n")
    assert memory.cgroup_limit(tmp_path / "proc", tmp_path) == 2**31
    (tmp_path / "proc").write_text("0::/job9/step0/task0\n")  # the job's limit, on a parent
    (tmp_path / "job9" / "step0" / "task0").mkdir(parents=True)
    (tmp_path / "job9" / "step0" / "task0" / "memory.max").write_text("max\n")
    (tmp_path / "job9" / "memory.max").write_text("3221225472\n")
    (tmp_path / "memory.max").write_text("9000000000\n")
    assert memory.cgroup_limit(tmp_path / "proc", tmp_path) == 3 * 2**30
    (tmp_path / "proc").write_text("garbage\n")
    assert memory.cgroup_limit(tmp_path / "proc", tmp_path) is None
    monkeypatch.setattr(memory, "cgroup_limit", lambda: 2**30)
    assert memory.memory_available() == (2**30, "the cgroup limit")
    monkeypatch.setattr(memory, "cgroup_limit", lambda: None)
    have, source = memory.memory_available()
    assert source == "physical memory" and have > 2**28


def test_on_an_accelerator_its_own_memory_is_the_limit(monkeypatch):
    """Where JAX runs on a GPU, the device's memory (as its memory stats say) is what the
    arrays must fit in; a device that does not say leaves the host's memory."""

    class Device:
        platform = "gpu"

        def __init__(self, stats):
            self.stats = stats

        def memory_stats(self):
            return self.stats

    monkeypatch.setattr(memory.jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(memory.jax, "devices", lambda: [Device({"bytes_limit": 80 * 2**30})])
    assert memory.memory_available() == (80 * 2**30, "gpu memory")
    monkeypatch.setattr(memory.jax, "devices", lambda: [Device(None)])
    assert memory.memory_available()[1] in ("physical memory", "the cgroup limit")


def _kib(field):
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


PEAK_RUNS = {
    "diagnostics": [
        "model=lstm",
        "model.hidden=128",
        "task.length=200",
        "train.eval_size=64",
        "train.batch_size=8",
    ],
    "evaluation": [
        "model=rnn",
        "model.hidden=512",
        "task.length=400",
        "train.eval_size=1000",
        "diagnostics=none",
        "train.batch_size=8",
    ],
    "training": [
        "model=lstm",
        "model.hidden=256",
        "task.length=400",
        "train.batch_size=256",
        "train.eval_size=64",
        "diagnostics=none",
    ],
}


@pytest.mark.parametrize("phase", list(PEAK_RUNS))
def test_the_estimate_holds_the_measured_peak_of_a_real_run(phase, tmp_path):
    """A real run whose ``phase`` dominates (hundreds of MiB to 2 GiB), one seed, one chunk:
    the growth of this process's peak resident memory over the run (Linux resets the peak
    on ``clear_refs`` 5) is never above the estimate, and at least half of it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pytest.skip("this kernel does not let a process reset its peak memory")
    from test_config import composed

    from benchmarks.config import build
    from benchmarks.run.experiment import run_experiment

    overrides = ["seeds=1", "logger=none", "train.strategy=loop", "train.steps=2", "train.eval_every=2"]
    exp = build(composed([*overrides, *PEAK_RUNS[phase]]))
    need, what = memory.estimate(exp.trainer, 1)
    assert f"for {phase}:" in what
    before = _kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    run_experiment(exp, tmp_path, progress=False)
    grown = _kib("VmHWM") - before
    print(f"{phase}: measured {grown / 2**20:.0f} MiB, estimated {need / 2**20:.0f} MiB")
    assert grown <= need <= 2 * grown, (phase, grown / 2**20, need / 2**20)
