"""Seed strategies, peers behind one interface (:class:`SeedStrategy`):

vmap       all seeds in one compiled program: the GPU/TPU path; on a node with several
           devices the seeds are sharded over them (``train.devices``)
loop       a jitted single-seed program called once per seed, in this process
processes  seeds spread over pinned single-thread worker processes, each running
           ``loop`` for its share: the fastest on a multi-core CPU
auto       vmap on an accelerator; on the CPU ``processes`` when the run is long enough
           to repay the workers' start-up, else ``loop``
"""

from __future__ import annotations

import jax

from benchmarks.core.trainer import STRATEGIES, Trainer
from benchmarks.run.strategies.base import SeedStrategy
from benchmarks.run.strategies.loop import LoopStrategy
from benchmarks.run.strategies.processes import ProcessStrategy, WorkerFailed, usable_cores
from benchmarks.run.strategies.vmap import MODELS_AXIS, VmapStrategy, model_devices

# Below this many model-steps (seeds x steps) the worker processes' start-up (about 8 s of
# process start and compilation on 2 cores) costs more than their speed-up saves.
PROCESSES_MIN_MODEL_STEPS = 3000


def resolve_strategy(
    strategy: str, n_seeds: int, workers: int | None = None, steps: int | None = None
) -> str:
    """``auto``: vmap on accelerators; on the CPU, worker processes when there are several
    cores and seeds and enough work to repay their start-up, else the loop.
    ``processes`` with one worker is the loop."""
    if strategy == "auto":
        if jax.default_backend() != "cpu":
            return "vmap"
        enough = steps is None or n_seeds * steps >= PROCESSES_MIN_MODEL_STEPS
        strategy = "processes" if enough else "loop"
    if strategy == "processes" and min(workers or len(usable_cores()), n_seeds) <= 1:
        strategy = "loop"
    return strategy


def make_strategy(name: str, trainer: Trainer, seeds: list[int]) -> SeedStrategy:
    """The strategy ``name`` (already resolved: not ``auto``) for these seeds."""
    if name == "processes":
        return ProcessStrategy(trainer, seeds, trainer.spec.workers)
    return {"vmap": VmapStrategy, "loop": LoopStrategy}[name](trainer, seeds)


__all__ = [
    "MODELS_AXIS",
    "PROCESSES_MIN_MODEL_STEPS",
    "STRATEGIES",
    "LoopStrategy",
    "ProcessStrategy",
    "SeedStrategy",
    "VmapStrategy",
    "WorkerFailed",
    "make_strategy",
    "model_devices",
    "resolve_strategy",
    "usable_cores",
]
