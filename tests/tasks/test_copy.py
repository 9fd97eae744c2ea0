"""Tests for the copy memory problem (tasks.copy), Arjovsky et al. 2016."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.copy import CopyTask

N_SEQ = 2000
_SAMPLE = jax.jit(lambda task, key, n: task.sample(key, n), static_argnums=(0, 2))


def _sample(task, seed):
    return _SAMPLE(task, jax.random.key(seed), N_SEQ)


def _np(batch):
    return jax.tree.map(np.asarray, batch)


def test_contract_and_determinism():
    task = CopyTask()
    assert task == CopyTask("arjovsky2016", 100) and task.name == "copy"
    assert task.input_size == 10 and task.output_size == 10 and task.target == "classification"
    assert task.max_length == 120 and task.eval_size == 10000
    hash(task)
    b1, b2, b3 = _np(_sample(task, 0)), _np(_SAMPLE(task, jax.random.key(0), N_SEQ)), _np(_sample(task, 1))
    assert b1.x.shape == (N_SEQ, 120, 10) and b1.x.dtype == np.float32
    assert b1.y.shape == (N_SEQ, 120) and b1.y.dtype == np.int32
    assert b1.mask.shape == (N_SEQ, 120) and b1.mask.dtype == np.float32
    for a, b in zip(b1, b2, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b1.y, b3.y)
    assert np.all(b1.mask == 1.0)  # the loss counts every step
    assert "arjovsky2016" in task.describe() and "T=100" in task.describe()


@pytest.mark.parametrize("length", [100, 7])
def test_layout(length):
    task = CopyTask(length=length)
    b = _np(_sample(task, 2))
    t_len = length + 20
    # inputs are exactly one-hot
    assert np.all(b.x.sum(axis=-1) == 1.0) and set(np.unique(b.x)) == {0.0, 1.0}
    sym = b.x.argmax(axis=-1)
    data = sym[:, :10]
    # 10 data symbols from 1..8, then T-1 blanks, the delimiter at T+9, then 10 blanks
    assert data.min() == 1 and data.max() == 8
    assert np.all(sym[:, 10 : length + 9] == 0)
    assert np.all(sym[:, length + 9] == 9)
    assert np.all(sym[:, length + 10 :] == 0)
    assert np.sum(sym == 9) == N_SEQ  # the delimiter appears once (not repeated, as in TCN's)
    # target: T + 10 blanks, then the data symbols in order
    assert np.all(b.y[:, : length + 10] == 0)
    np.testing.assert_array_equal(b.y[:, t_len - 10 :], data)


def test_data_symbols_uniform():
    data = np.asarray(_sample(CopyTask(), 3).y[:, -10:]).ravel()  # 20,000 draws
    counts = np.bincount(data, minlength=10)
    assert counts[0] == 0 and counts[9] == 0
    expected = data.size / 8  # 2500, sd ~ 47
    assert np.all(np.abs(counts[1:9] - expected) < 0.1 * expected)
    # positions are independent: the first and second symbol agree 1/8 of the time
    first, second = data.reshape(-1, 10)[:, 0], data.reshape(-1, 10)[:, 1]
    assert abs(np.mean(first == second) - 1 / 8) < 0.03


@pytest.mark.parametrize("length", [100, 200])
def test_memoryless_baseline(length):
    """Blank for T+10 steps, then uniform over the 8 data symbols: CE 10 log 8 / (T + 20)."""
    task = CopyTask(length=length)
    b = _sample(task, 4)
    t_len = task.max_length
    blank = jnp.full((10,), -1e4).at[0].set(0.0)  # log-probabilities: P(blank) = 1
    guess = jnp.full((10,), -1e4).at[1:9].set(math.log(1 / 8))  # uniform over 1..8
    step_logits = jnp.where((jnp.arange(t_len) < t_len - 10)[:, None], blank, guess)
    logits = jnp.broadcast_to(step_logits, (N_SEQ, t_len, 10))
    loss = float(task.loss(logits, b))
    expected = 10 * math.log(8) / (length + 20)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    np.testing.assert_allclose(task.baseline_loss, expected, rtol=1e-12)
    # perfect logits give (near) zero loss
    assert float(task.loss(20.0 * jax.nn.one_hot(b.y, 10), b)) < 1e-6


def test_correct_and_solved():
    task = CopyTask()
    b = _sample(task, 5)
    logits = jax.nn.one_hot(b.y, 10)
    assert bool(jnp.all(task.correct(logits, b)))
    # an error on a blank step before the recall window does not count ...
    wrong_blank = logits.at[:, 50, :].set(jax.nn.one_hot(9, 10))
    assert bool(jnp.all(task.correct(wrong_blank, b)))
    # ... but one wrong recalled symbol (first or last of the 10) makes the sequence wrong
    for step in (-10, -1):
        shifted = (b.y[:, step] % 8) + 1  # a different data symbol
        wrong = logits.at[:, step, :].set(jax.nn.one_hot(shifted, 10))
        assert not bool(jnp.any(task.correct(wrong, b)))
    half = logits.at[: N_SEQ // 2, -3, :].set(jax.nn.one_hot(0, 10))
    assert float(jnp.mean(task.correct(half, b))) == 0.5
    assert bool(task.solved(0.01, 0.99)) and bool(task.solved(0.5, 1.0))
    assert not bool(task.solved(0.0, 0.985))


def test_invalid_configs_raise_naming_choices():
    with pytest.raises(ValueError, match="valid: arjovsky2016$"):
        CopyTask("tcn")
    for bad in (0, -1):
        with pytest.raises(ValueError, match="task.length"):
            CopyTask(length=bad)
