"""The ``vmap`` strategy: every seed in one compiled program, the accelerator path."""

from __future__ import annotations

import jax

from benchmarks.core.trainer import ChunkMetrics, EvalMetrics, Trainer, TrainState, compiled
from benchmarks.run.strategies.base import SeedStrategy


class VmapStrategy(SeedStrategy):
    """``jit(vmap(train_chunk))`` over the seed axis (the models of a packed sweep
    included). On XLA's CPU backend its numbers equal ``loop``'s only to float32 rounding
    (about 1e-5 relative in the parameters after a few hundred steps); and YNNPACK's
    reduction fusions round a batched reduction differently with the number of models
    batched, so a seed's numbers also depend on the models beside it unless
    ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` turns those fusions off.
    ``loop`` and ``processes`` are bit-identical to each other."""

    name = "vmap"

    def __init__(self, trainer: Trainer, seeds: list[int]):
        super().__init__(trainer, seeds)
        self.fns = compiled(trainer, batched=True)

    def train_chunk(self, states: TrainState, steps: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        return self.fns.train_chunk(states, self.data_keys, steps)

    def evaluate(self, states: TrainState) -> EvalMetrics:
        return self.fns.evaluate(states.params, self.eval_keys)

    def full_diagnostics(self, states: TrainState) -> dict[str, jax.Array]:
        return self.fns.full_diagnostics(states.params, self.diag_keys)
