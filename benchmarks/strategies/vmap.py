"""The ``vmap`` strategy: every seed in one compiled program, the accelerator path."""

from __future__ import annotations

import jax

from benchmarks.chunk import ChunkMetrics, EvalMetrics, Trainer, TrainState
from benchmarks.strategies.base import SeedStrategy, compiled


class VmapStrategy(SeedStrategy):
    """``jit(vmap(train_chunk))`` over the seed axis. On XLA's CPU backend the batched
    matmuls may round differently from single-seed ones (about 1e-5 relative in the
    parameters after a few hundred steps), so its numbers equal ``loop``'s only to that
    precision; ``loop`` and ``processes`` are bit-identical to each other."""

    name = "vmap"

    def __init__(self, trainer: Trainer, seeds: list[int]):
        super().__init__(trainer, seeds)
        self.fns = compiled(trainer, batched=True)

    def chunk(self, states: TrainState, steps: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        return self.fns.chunk(states, self.data_keys, steps)

    def evaluate(self, states: TrainState) -> EvalMetrics:
        return self.fns.evaluate(states.params, self.eval_keys)

    def full_diagnostics(self, states: TrainState) -> dict[str, jax.Array]:
        return self.fns.full_diagnostics(states.params, self.diag_keys)
