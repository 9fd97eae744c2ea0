"""The ``vmap`` strategy: every seed in one compiled program, the accelerator path; on a
node with several devices the models are sharded over them (``train.devices``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from benchmarks.core.trainer import ChunkMetrics, EvalMetrics, Trainer, TrainState, compiled
from benchmarks.run.strategies.base import SeedStrategy

MODELS_AXIS = "models"  # the mesh axis a vmapped run's models are sharded over
log = logging.getLogger("carousel")


def model_devices(requested: int | None) -> int:
    """How many devices the ``vmap`` strategy shards its models over (``train.devices``):
    the default backend's local devices, all of them (None) or the first ``requested``;
    a one-line error when it has fewer."""
    available = len(jax.local_devices())
    if requested is None:
        return available
    if requested > available:
        raise ValueError(
            f"train.devices={requested}, but the {jax.default_backend()} backend has {available} local"
            f" device(s); valid: null (all of them) or an integer from 1 to {available}"
        )
    return requested


class VmapStrategy(SeedStrategy):
    """``jit(vmap(train_chunk))`` over the seed axis (the models of a packed sweep
    included). On XLA's CPU backend its numbers equal ``loop``'s only to float32 rounding
    (about 1e-5 relative in the parameters after a few hundred steps); and YNNPACK's
    reduction fusions round a batched reduction differently with the number of models
    batched, so a seed's numbers also depend on the models beside it unless
    ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` turns those fusions off.
    ``loop`` and ``processes`` are bit-identical to each other.

    Several devices (``train.devices``; default all the backend's local ones, never more
    than the models): the models are padded to a multiple of the device count with copies
    of the last model and sharded in equal blocks over a one-axis mesh
    (:data:`MODELS_AXIS`); each device runs the same one-device vmapped program on its
    block (:func:`benchmarks.core.trainer.compiled`, dispatched to every device before
    any is waited for), and the blocks' results form one sharded array again. The copies'
    results are dropped on the way out: the caller sees its own models only, gathered and
    replicated on the mesh's devices, an ordinary array that the training loop, the
    checkpoints and the pack's split read as they read one device's.

    Why one program per device and not one SPMD program (``jit`` with shardings, or
    ``shard_map(vmap(f))``): XLA compiles a partitioned program through its SPMD passes,
    which simplify and fuse it differently (measured on the CPU: other divisions and
    multiplications, other fusions), so its models' numbers differed from the one-device
    run's in the last bits; the one-device program on each device gives the numbers of the
    one-device run wherever they do not depend on the batch width (on the CPU: with
    YNNPACK's fusions off, above). The price: a jitted function compiles once per device
    (on a GPU the key of the persistent compilation cache, which ``benchmarks.train``
    turns on, leaves the device assignment out, so the other devices should read the
    first one's program back; not measured). Why pad rather than use fewer
    devices: 13 models on 8 devices run 2 per device with 3 copies, where the largest
    device count dividing 13 is 1."""

    name = "vmap"

    def __init__(self, trainer: Trainer, seeds: list[int]):
        super().__init__(trainer, seeds)
        n = len(self.seeds)
        self.devices = min(model_devices(trainer.spec.devices), n)
        self.fns = compiled(trainer, batched=True)
        if self.devices > 1:
            mesh = Mesh(np.array(jax.local_devices()[: self.devices]), (MODELS_AXIS,))
            self.sharded = NamedSharding(mesh, PartitionSpec(MODELS_AXIS))
            self.replicated = NamedSharding(mesh, PartitionSpec())
            self.padded = -(-n // self.devices) * self.devices
            self.data_keys, self.eval_keys, self.diag_keys = (
                self._shard(k) for k in (self.data_keys, self.eval_keys, self.diag_keys)
            )
            log.info(
                "vmap: %d models sharded over %d %s devices (%d padding copies)",
                n, self.devices, jax.default_backend(), self.padded - n,
            )  # fmt: skip

    def _shard(self, tree: Any) -> Any:
        """[models, ...] arrays -> [padded, ...] arrays sharded over the devices."""
        return _pad(tree, self.padded, self.sharded)

    def _per_device(self, fn: Callable[..., Any], sharded: tuple[Any, ...], *shared: Any) -> Any:
        """``fn`` on each device's block of the ``sharded`` arguments (and a copy of each
        ``shared`` one), the real models' results gathered into [models, ...] arrays."""
        devices = list(self.sharded.mesh.devices.flat)
        outs = []
        for device in devices:  # each call returns at once; the devices run side by side
            blocks = jax.tree.map(lambda x, d=device: _block(x, d), sharded)
            outs.append(fn(*blocks, *jax.device_put(shared, device)))

        def assemble(*blocks: jax.Array) -> jax.Array:
            shape = (self.padded, *blocks[0].shape[1:])
            return jax.make_array_from_single_device_arrays(shape, self.sharded, list(blocks))

        whole = jax.tree.map(assemble, *outs)
        return _take(whole, len(self.seeds), self.replicated)

    def train_chunk(self, states: TrainState, steps: jax.Array) -> tuple[TrainState, ChunkMetrics]:
        if self.devices == 1:
            return self.fns.train_chunk(states, self.data_keys, steps)
        return self._per_device(self.fns.train_chunk, (self._shard(states), self.data_keys), steps)

    def evaluate(self, states: TrainState) -> EvalMetrics:
        if self.devices == 1:
            return self.fns.evaluate(states.params, self.eval_keys)
        return self._per_device(self.fns.evaluate, (self._shard(states.params), self.eval_keys))

    def full_diagnostics(self, states: TrainState) -> dict[str, jax.Array]:
        if self.devices == 1:
            return self.fns.full_diagnostics(states.params, self.diag_keys)
        return self._per_device(self.fns.full_diagnostics, (self._shard(states.params), self.diag_keys))


def _block(x: jax.Array, device: jax.Device) -> jax.Array:
    """The block of the sharded array ``x`` that lives on ``device`` (no copy)."""
    return next(s.data for s in x.addressable_shards if s.device == device)


# Data movement only, one compiled program per tree, size and mesh (op by op, each leaf
# of each state would be a program of its own): exact, whatever XLA partitions.
@functools.partial(jax.jit, static_argnums=(1, 2))
def _pad(tree: Any, padded: int, sharding: NamedSharding) -> Any:
    def pad(x: jax.Array) -> jax.Array:
        copies = jnp.broadcast_to(x[-1:], (padded - x.shape[0], *x.shape[1:]))
        return jax.lax.with_sharding_constraint(jnp.concatenate([x, copies]), sharding)

    return jax.tree.map(pad, tree)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _take(tree: Any, n: int, sharding: NamedSharding) -> Any:
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x[:n], sharding), tree)
