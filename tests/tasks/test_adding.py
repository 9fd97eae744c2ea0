"""Tests for the adding and multiplication problems (tasks.adding), all three variants."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.adding import AddingTask, MultiplicationTask
from tasks.base import Batch

N_SEQ = 2000  # sequences per batch for the per-sequence-length variants
PASCANU_BATCH = 20  # Pascanu draws one length per batch: many small batches (his size, 20)
ALL_TASKS = [AddingTask(v) for v in AddingTask.VARIANTS] + [
    MultiplicationTask(v) for v in MultiplicationTask.VARIANTS
]

# One jitted sampler (the task is a static argument); every test samples each task at one
# batch size, so each task compiles once per test session.
_SAMPLE = jax.jit(lambda task, key, n: task.sample(key, n), static_argnums=(0, 2))


def _size(task):
    return PASCANU_BATCH if task.variant == "pascanu2013" else N_SEQ


def _sample(task, seed):
    return _SAMPLE(task, jax.random.key(seed), _size(task))


@functools.cache
def _many(task, n_batches, seed=100):
    """``n_batches`` batches concatenated along the batch axis, as numpy arrays."""
    parts = [_sample(task, seed + i) for i in range(n_batches)]
    return Batch(*(np.concatenate([np.asarray(getattr(p, f)) for p in parts]) for f in Batch._fields))


def _np(batch):
    return jax.tree.map(np.asarray, batch)


def _marked_positions(marker):
    """[B, 2] sorted positions of the two +1 markers (asserting there are exactly two)."""
    hits = marker == 1.0
    assert np.all(hits.sum(axis=1) == 2)
    return np.sort(np.argsort(~hits, axis=1, kind="stable")[:, :2], axis=1)


# ----------------------------------------------------------------------------- contract


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: f"{t.name}-{t.variant}")
def test_shapes_determinism_and_mask(task):
    n = _size(task)
    b1 = _np(_sample(task, 0))
    b2 = _np(_SAMPLE(task, jax.random.key(0), n))  # a fresh key from the same seed
    b3 = _np(_sample(task, 1))
    assert b1.x.shape == (n, task.max_length, 2) and b1.x.dtype == np.float32
    assert b1.y.shape == (n, task.max_length, 1) and b1.y.dtype == np.float32
    assert b1.mask.shape == (n, task.max_length) and b1.mask.dtype == np.float32
    for a, b in zip(b1, b2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b1.x, b3.x)
    # exactly one target step per sequence; target zero elsewhere
    assert np.all(b1.mask.sum(axis=1) == 1.0)
    assert np.all(b1.y[..., 0][b1.mask == 0] == 0.0)
    # everything after the masked (last valid) step is zero padding
    last = b1.mask.argmax(axis=1)
    after = np.arange(task.max_length)[None, :] > last[:, None]
    assert np.all(b1.x[after] == 0.0)
    assert task.input_size == 2 and task.output_size == 1 and task.target == "regression"
    hash(task)


def test_defaults_and_names():
    assert AddingTask() == AddingTask("pascanu2013", 100)
    assert MultiplicationTask() == MultiplicationTask("pascanu2013", 100)
    assert AddingTask.name == "adding" and MultiplicationTask.name == "multiplication"
    assert AddingTask("hochreiter1997").max_length == 110
    assert AddingTask("pascanu2013").max_length == 109
    assert AddingTask("pascanu2013", 15).max_length == 15
    assert AddingTask("arjovsky2016").max_length == 100
    assert AddingTask("hochreiter1997").eval_size == 2000
    assert AddingTask("pascanu2013").eval_size == 10000
    assert AddingTask("arjovsky2016").baseline_loss == 0.167
    assert AddingTask("pascanu2013").baseline_loss is None
    for task in ALL_TASKS:
        assert task.variant in task.describe() and task.name in task.describe()


def test_invalid_configs_raise_naming_choices():
    with pytest.raises(ValueError, match="arjovsky2016, hochreiter1997, pascanu2013"):
        AddingTask("graves2014")
    with pytest.raises(ValueError, match="valid: hochreiter1997, pascanu2013$"):
        MultiplicationTask("arjovsky2016")
    for bad in (0, -5):
        with pytest.raises(ValueError, match="task.length"):
            AddingTask("pascanu2013", bad)
    with pytest.raises(ValueError, match=">= 10"):
        AddingTask("pascanu2013", 9)
    with pytest.raises(ValueError, match=">= 11"):
        MultiplicationTask("hochreiter1997", 10)


# ------------------------------------------------------------------- hochreiter1997


@pytest.mark.parametrize("multiply", [False, True])
def test_hochreiter1997_layout(multiply):
    task = (MultiplicationTask if multiply else AddingTask)("hochreiter1997", 100)
    b = _many(task, 2)
    values, marker = b.x[..., 0], b.x[..., 1]
    lengths = b.mask.argmax(axis=1) + 1
    # lengths uniform on T..T+T//10, both ends reached
    assert lengths.min() == 100 and lengths.max() == 110
    assert len(np.unique(lengths)) == 11
    rows = np.arange(len(lengths))
    # last pair marker -1; valid steps carry values in the right range
    assert np.all(marker[rows, lengths - 1] == -1.0)
    valid = np.arange(task.max_length)[None, :] < lengths[:, None]
    low = 0.0 if multiply else -1.0
    assert values[valid].min() >= low and values[valid].max() <= 1.0
    if not multiply:
        assert values[valid].min() < -0.99  # really U[-1, 1]
    pos = _marked_positions(marker)
    # X1 in the first 10 pairs, X2 in the first T/2 - 1 unmarked pairs: within 0..49
    assert pos.min() == 0 and pos.max() == 49
    assert np.all(pos[:, 0] < 10)
    # both marked inside the first ten: P = 9/49 for each X1 draw
    both_early = np.mean(pos[:, 1] < 10)
    assert abs(both_early - 9 / 49) < 0.03
    # first pair: marker -1 unless marked, then +1 with the replaced value
    first_marked = pos[:, 0] == 0
    assert 0.07 < first_marked.mean() < 0.17  # 0.1 + 0.9/49 = 0.118
    assert np.all(marker[~first_marked, 0] == -1.0)
    assert np.all(marker[first_marked, 0] == 1.0)
    assert np.all(values[first_marked, 0] == (1.0 if multiply else 0.0))
    # markers: only -1, 0, +1; exactly the first and last pair are -1 (unless first marked)
    n_neg = (marker == -1.0).sum(axis=1)
    assert np.all(n_neg == np.where(first_marked, 1, 2))
    # target
    x1, x2 = values[rows, pos[:, 0]], values[rows, pos[:, 1]]
    expected = x1 * x2 if multiply else 0.5 + (x1 + x2) / 4.0
    np.testing.assert_allclose(b.y[rows, lengths - 1, 0], expected, rtol=1e-6)


def test_hochreiter1997_correct_and_solved():
    task = AddingTask("hochreiter1997", 100)
    b = _sample(task, 5)
    # garbage on padded steps must not matter
    pad = jnp.where(b.mask[..., None] > 0, 0.0, jnp.nan)
    assert bool(jnp.all(task.correct(b.y + pad, b)))
    assert float(task.loss(b.y + pad, b)) == 0.0
    assert bool(jnp.all(task.correct(b.y + 0.039, b)))
    assert not bool(jnp.any(task.correct(b.y - 0.041, b)))
    np.testing.assert_allclose(float(task.loss(b.y + 0.1, b)), 0.01, rtol=1e-4)
    assert bool(task.solved(0.001, 1.0))
    assert not bool(task.solved(0.001, 1999 / 2000))


# ---------------------------------------------------------------------- pascanu2013


@pytest.mark.parametrize("multiply", [False, True])
def test_pascanu2013_layout(multiply):
    task = (MultiplicationTask if multiply else AddingTask)("pascanu2013", 100)
    b = _many(task, 200)
    x, y, mask = b.x, b.y, b.mask
    marker, values = x[..., 0], x[..., 1]  # Pascanu's channel order: (marker, value)
    lengths = mask.argmax(axis=1) + 1
    # one length per batch, l = T + U{0..9}, both ends reached
    per_batch = lengths.reshape(200, 20)
    assert np.all(per_batch == per_batch[:, :1])
    assert lengths.min() == 100 and lengths.max() == 109
    assert len(np.unique(per_batch[:, 0])) == 10
    assert set(np.unique(marker)) <= {0.0, 1.0}
    pos = _marked_positions(marker)
    n0, n1 = lengths // 10, (4 * lengths) // 10
    assert np.all(pos[:, 0] >= 0) and np.all(pos[:, 0] < n0)
    assert np.all(pos[:, 1] >= n0) and np.all(pos[:, 1] < n0 + n1)
    # window ends reached (relative to each sequence's own l)
    assert np.any(pos[:, 0] == 0) and np.any(pos[:, 0] == n0 - 1)
    assert np.any(pos[:, 1] == n0) and np.any(pos[:, 1] == n0 + n1 - 1)
    valid = np.arange(task.max_length)[None, :] < lengths[:, None]
    assert values[valid].min() >= 0.0 and values[valid].max() <= 1.0
    assert np.all(values[~valid] == 0.0)
    rows = np.arange(len(lengths))
    x1, x2 = values[rows, pos[:, 0]], values[rows, pos[:, 1]]
    expected = x1 * x2 if multiply else (x1 + x2) / 2.0
    np.testing.assert_allclose(y[rows, lengths - 1, 0], expected, rtol=1e-6)


def test_pascanu2013_correct_and_solved():
    task = AddingTask("pascanu2013", 100)
    b = _sample(task, 9)
    assert bool(jnp.all(task.correct(b.y, b)))
    assert bool(jnp.all(task.correct(b.y + 0.19, b)))  # squared error 0.0361
    assert not bool(jnp.any(task.correct(b.y - 0.21, b)))  # squared error 0.0441
    assert bool(task.solved(0.01, 0.9950))
    assert not bool(task.solved(0.01, 0.99))  # exactly 1% wrong is not "< 1%"
    assert not bool(task.solved(0.0, 0.9))


# --------------------------------------------------------------------- arjovsky2016


def test_arjovsky2016_layout_and_baseline():
    task = AddingTask("arjovsky2016", 100)
    b = _many(task, 10)  # 20,000 sequences
    values, marker = b.x[..., 0], b.x[..., 1]
    assert np.all(b.mask[:, -1] == 1.0)  # l = T for every sequence
    assert values.min() >= 0.0 and values.max() <= 1.0
    pos = _marked_positions(marker)
    assert pos[:, 0].min() == 0 and pos[:, 0].max() == 49
    assert pos[:, 1].min() == 50 and pos[:, 1].max() == 99
    rows = np.arange(len(pos))
    expected = values[rows, pos[:, 0]] + values[rows, pos[:, 1]]
    np.testing.assert_allclose(b.y[:, -1, 0], expected, rtol=1e-6)
    # the published trivial baseline: always predicting 1 gives MSE 1/6 ~ 0.167
    ones = jnp.ones_like(jnp.asarray(b.y))
    mse = float(task.loss(ones, jax.tree.map(jnp.asarray, b)))
    assert abs(mse - 0.167) < 0.01
    assert abs(mse - task.baseline_loss) < 0.01
    assert not bool(task.solved(task.baseline_loss, 1.0))  # the baseline itself fails


def test_arjovsky2016_correct_and_solved():
    task = AddingTask("arjovsky2016", 100)
    b = _sample(task, 12)
    assert bool(jnp.all(task.correct(b.y, b)))
    assert bool(jnp.all(task.correct(b.y - 0.19, b)))
    assert not bool(jnp.any(task.correct(b.y + 0.21, b)))
    # solved needs a margin below the baseline 1/6: half of it, 1/12 (what knowing one of
    # the two numbers exactly gives); noise around the baseline (0.1662..0.1668) is not
    assert not bool(task.solved(0.1662, 0.0))
    assert not bool(task.solved(0.168, 1.0))
    assert not bool(task.solved(1 / 12 + 1e-4, 0.0))
    assert bool(task.solved(1 / 12 - 1e-4, 0.0))


def test_multiplications_stopping_share_is_hochreiters_table_8_rule():
    """H&S stopped multiplication at 139 (and 14) of 2,560 test sequences wrong: with
    ``max_wrong`` = 139/2560 the task is solved from 1 - 139/2560 = 94.5703% correct on, so
    1,892 of 2,000 correct is solved and 1,891 is not; the default stays all correct."""
    from tasks import make_task

    task = make_task("multiplication", variant="hochreiter1997", max_wrong=139 / 2560)
    assert not bool(task.solved(0.0, 1891 / 2000)) and bool(task.solved(0.0, 1892 / 2000))
    strict = make_task("multiplication", variant="hochreiter1997")
    assert not bool(strict.solved(0.0, 1999 / 2000)) and bool(strict.solved(0.0, 1.0))
    with pytest.raises(
        ValueError, match=r"^task.max_wrong is H&S 1997's stopping rule .* set task.max_wrong=0"
    ):
        make_task("multiplication", variant="pascanu2013", max_wrong=0.01)
    with pytest.raises(ValueError, match=r"^task.max_wrong must be a share in \[0, 1\), got -0.1$"):
        make_task("multiplication", variant="hochreiter1997", max_wrong=-0.1)
