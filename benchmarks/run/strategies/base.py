"""The interface every seed strategy offers.

A strategy runs the pure per-seed functions of :mod:`benchmarks.core.trainer` (compiled there,
:func:`benchmarks.core.trainer.compiled`) for all seeds of one run. Every method takes and
returns *stacked* states (a leading seed axis on every array),
whatever the strategy does inside, so the training loop never asks which one it holds.
Each seed's keys come from its own root key (:func:`benchmarks.core.trainer.seed_keys`), so a
seed's numbers do not depend on the strategy or on the seeds beside it.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks.core.trainer import (
    STREAM_DATA,
    STREAM_DIAG,
    STREAM_EVAL,
    ChunkMetrics,
    EvalMetrics,
    Trainer,
    TrainState,
    seed_keys,
)


# One compiled program per tree and seed count: stacked op by op, each leaf of each state
# was a program of its own, traced, lowered and looked up in the compilation cache (about
# fifty per run, a second or two of every short run).
@jax.jit
def stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


@functools.partial(jax.jit, static_argnums=1)
def unstack(tree: Any, n: int) -> list[Any]:
    return [jax.tree.map(lambda x, i=i: x[i], tree) for i in range(n)]


class SeedStrategy(abc.ABC):
    """Runs one trainer for the given seeds; a context manager (``close`` frees workers)."""

    name: str

    def __init__(self, trainer: Trainer, seeds: list[int]):
        self.trainer, self.seeds = trainer, list(seeds)
        keys = [seed_keys(s) for s in self.seeds]
        self.data_keys, self.eval_keys, self.diag_keys = (
            jnp.stack([k[stream] for k in keys]) for stream in (STREAM_DATA, STREAM_EVAL, STREAM_DIAG)
        )

    @abc.abstractmethod
    def train_chunk(self, states: TrainState, steps: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        """Train every seed for the given steps (one chunk); metrics are [seeds, steps, ...]."""

    @abc.abstractmethod
    def evaluate(self, states: TrainState) -> EvalMetrics:
        """Every seed on its fixed evaluation set; each field is [seeds]."""

    @abc.abstractmethod
    def full_diagnostics(self, states: TrainState) -> dict[str, jax.Array]:
        """The expensive diagnostics of every seed on its fixed batch, [seeds, ...] each."""

    def close(self) -> None:  # noqa: B027 - optional hook: only worker processes need it
        """Release what the strategy holds (worker processes); idempotent."""

    def __enter__(self) -> SeedStrategy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
