"""The ``loop`` strategy: one jitted single-seed program called once per seed, in-process.

It unstacks the seeds' states on the way in and stacks them on the way out, so its
callers see the same stacked states as with ``vmap``. Worker processes
(:mod:`benchmarks.run.strategies.processes`) run this strategy for their share of the seeds.
"""

from __future__ import annotations

import jax

from benchmarks.core.trainer import ChunkMetrics, EvalMetrics, Trainer, TrainState, compiled
from benchmarks.run.strategies.base import SeedStrategy, stack, unstack


class LoopStrategy(SeedStrategy):
    name = "loop"

    def __init__(self, trainer: Trainer, seeds: list[int]):
        super().__init__(trainer, seeds)
        self.fns = compiled(trainer, batched=False)

    def _per_seed(self, states: TrainState) -> list[TrainState]:
        return unstack(states, len(self.seeds))

    def train_chunk(self, states: TrainState, steps: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        seeds = zip(self._per_seed(states), self.data_keys, strict=True)
        out = [self.fns.train_chunk(s, k, steps) for s, k in seeds]
        return stack([o[0] for o in out]), stack([o[1] for o in out])

    def evaluate(self, states: TrainState) -> EvalMetrics:
        seeds = zip(self._per_seed(states), self.eval_keys, strict=True)
        return stack([self.fns.evaluate(s.params, k) for s, k in seeds])

    def full_diagnostics(self, states: TrainState) -> dict[str, jax.Array]:
        seeds = zip(self._per_seed(states), self.diag_keys, strict=True)
        return stack([self.fns.full_diagnostics(s.params, k) for s, k in seeds])
