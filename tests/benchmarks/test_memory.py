"""The memory check: what it counts, how many seeds at once, against which limit."""

import pytest

from benchmarks import memory
from benchmarks.chunk import Trainer
from benchmarks.diagnostics import DiagnosticsSpec


def test_the_largest_arrays_of_a_small_lstm(small_trainer):
    """LSTM H=8 on adding/pascanu2013 at T=12 (12 steps), batch 8, 64 evaluation sequences:
    x, y and mask are 2 + 1 + 1 values a step, the LSTM stores h and c."""
    trainer = small_trainer()
    phases = memory.largest_arrays(trainer)
    assert phases["training"] == (4 * 8 * 12 * (4 + 2 * 8), "training batch 8 x 12 steps x 16 state values")
    assert phases["evaluation"] == (4 * 12 * (64 * 4 + 64 * 8), "evaluation set 64 x 12 steps")
    assert "diagnostics" not in phases  # basic diagnostics hold no Jacobians
    full = Trainer(trainer.model, trainer.task, trainer.optim, trainer.spec, DiagnosticsSpec(level="full"))
    jacobians = 4 * 12 * 16 * 16  # 4 sequences x 12 steps x (h, c)^2
    assert memory.largest_arrays(full)["diagnostics"][0] == 4 * (jacobians + 32 * 12 * (4 + 16))


@pytest.mark.parametrize(
    ("strategy", "workers", "at_once"),
    [("loop", None, 1), ("vmap", None, 6), ("processes", 4, 4), ("processes", 9, 6)],
)
def test_the_seeds_held_at_once(small_trainer, strategy, workers, at_once):
    trainer = small_trainer(strategy=strategy, workers=workers)
    assert memory.seeds_at_once(trainer, 6) == (at_once, strategy)


def test_a_run_that_cannot_fit_is_one_line_naming_estimate_and_limit(small_trainer, monkeypatch):
    trainer = small_trainer(strategy="vmap")
    per_seed = 4 * 12 * (64 * 4 + 64 * 8)
    monkeypatch.setattr(memory, "memory_available", lambda: (3 * per_seed, "the cgroup limit"))
    memory.check_memory(trainer, 3)  # exactly fits
    with pytest.raises(ValueError) as info:
        memory.check_memory(trainer, 4)
    message = str(info.value)
    assert "\n" not in message and message.startswith("this run needs at least 0.0 GiB")
    assert "(evaluation set 64 x 12 steps, float32, 4 seed(s) at once [vmap])" in message
    assert "but the cgroup limit is 0.0 GiB" in message
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
