"""Every registered task satisfies :class:`tasks.base.Task`, the interface the trainer, the
config, the memory check and the diagnostics are typed against."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks import TASKS, make_task
from tasks.base import Batch, Task

# what every task must define itself (Task's own stubs are not implementations)
REQUIRED = (
    "name",
    "VARIANTS",
    "variant",
    "length",
    "target",
    "target_range",
    "input_size",
    "output_size",
    "max_length",
    "eval_size",
    "sample",
    "loss",
    "correct",
    "solved",
    "describe",
)
OPTIONAL = ("held_out", "eval_batch")  # with defaults in Task: no held-out split


def test_the_lists_here_are_the_protocol():
    members = {n for n in vars(Task) if not n.startswith("_")} | {
        n for n in Task.__annotations__ if not n.startswith("_")
    }
    assert members == set(REQUIRED) | set(OPTIONAL)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_registered_task_satisfies_the_protocol(name):
    cls = TASKS[name]
    task = make_task(name)  # the config's defaults
    assert isinstance(task, Task) and Task in cls.__mro__  # subclassed: its defaults are inherited
    assert dataclasses.is_dataclass(task) and hash(task) == hash(make_task(name))  # a static jit argument
    for member in REQUIRED:
        assert getattr(cls, member, None) is not getattr(Task, member, None), f"{name} lacks {member}"
    assert cls.name == name and task.variant in cls.VARIANTS
    assert task.target in ("regression", "classification")
    assert isinstance(task.held_out, bool)

    batch = task.sample(jax.random.key(0), 3)
    assert isinstance(batch, Batch)
    assert batch.x.shape == (3, task.max_length, task.input_size) and batch.x.dtype == jnp.float32
    assert batch.mask.shape == (3, task.max_length)
    if task.target == "regression":
        assert batch.y.shape == (3, task.max_length, task.output_size) and batch.y.dtype == jnp.float32
    else:
        assert batch.y.shape == (3, task.max_length) and batch.y.dtype == jnp.int32
    outputs = jnp.zeros((3, task.max_length, task.output_size), jnp.float32)
    loss = task.loss(outputs, batch)
    assert loss.shape == () and np.isfinite(loss)
    correct = task.correct(outputs, batch)
    assert correct.shape == (3,) and correct.dtype == jnp.bool_
    assert jnp.asarray(task.solved(loss, jnp.mean(correct))).shape == ()
    line = task.describe()
    assert isinstance(line, str) and line and "\n" not in line


@pytest.mark.parametrize("name", sorted(TASKS))
def test_only_a_task_with_a_held_out_split_has_an_eval_batch(name):
    task = make_task(name)
    if task.held_out:
        held = task.eval_batch()
        assert held.x.shape == (task.eval_size, task.max_length, task.input_size)
    else:
        with pytest.raises(TypeError, match="has no held-out split"):
            task.eval_batch()


VARIANTS = [(n, v) for n, cls in sorted(TASKS.items()) for v in cls.VARIANTS if not v.startswith("mnist")]


@pytest.mark.parametrize(("name", "variant"), VARIANTS, ids=[f"{n}-{v}" for n, v in VARIANTS])
def test_the_target_range_holds_the_targets_of_a_squared_error(name, variant):
    """``target_range`` (what a sigmoid readout needs): every target of a fresh batch inside
    it, and a loss that compares the outputs themselves with the targets (exactly 0 there,
    positive off them); None for a loss on logits, which the targets as outputs do not zero."""
    task = make_task(name, variant=variant)
    batch = task.sample(jax.random.key(0), 64)
    span = task.target_range
    if span is None:
        if task.target == "regression":  # the Reber tasks: sigmoid cross-entropy on logits
            assert float(task.loss(batch.y, batch)) > 0.1
        return
    assert task.target == "regression"
    lo, hi = span
    y = np.asarray(batch.y)[np.asarray(batch.mask) > 0]
    assert lo <= y.min() and y.max() <= hi
    assert hi - lo <= 1.0 or y.max() > 1.0  # the range is tight where it leaves [0, 1]
    assert float(task.loss(batch.y, batch)) == 0.0
    assert float(task.loss(batch.y + 0.1, batch)) > 0.0
