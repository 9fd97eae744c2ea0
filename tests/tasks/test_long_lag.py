"""Tests for H&S 1997 Experiment 2: long time lags, variants 2a and 2c."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.long_lag import LongLagTask

N_SEQ = 4000


@jax.jit(static_argnums=(0, 2))
def sample(task, key, n):
    return task.sample(key, n)


def sample_np(task, key, n):
    return jax.tree.map(np.asarray, sample(task, key, n))


def perfect_logits(task, batch, scale=50.0):
    return scale * jax.nn.one_hot(batch.y, task.output_size)


# ----------------------------------------------------------------------------- 2a


@pytest.fixture(scope="module")
def task_2a():
    return LongLagTask(variant="hochreiter1997_2a", length=20)


@pytest.fixture(scope="module")
def big_2a(task_2a):
    return sample_np(task_2a, jax.random.key(0), N_SEQ)


def test_2a_shapes(task_2a, big_2a):
    p = 20
    assert (task_2a.input_size, task_2a.output_size, task_2a.max_length) == (p + 1, p + 1, p)
    assert big_2a.x.shape == (N_SEQ, p, p + 1) and big_2a.x.dtype == np.float32
    assert big_2a.y.shape == (N_SEQ, p) and big_2a.y.dtype == np.int32
    assert big_2a.mask.shape == (N_SEQ, p) and np.all(big_2a.mask == 1.0)
    assert task_2a.target == "classification" and task_2a.eval_size == 256
    assert LongLagTask().length == 100 and LongLagTask().variant == "hochreiter1997_2a"


def test_2a_sequences(big_2a):
    p = 20
    assert np.all(big_2a.x.sum(axis=-1) == 1.0)  # one-hot everywhere, no padding
    sym = big_2a.x.argmax(axis=-1)
    first = sym[:, 0]
    assert set(np.unique(first)) == {p - 1, p}  # x = a_p, y = a_{p+1}
    np.testing.assert_array_equal(sym[:, 1:], np.tile(np.arange(p - 1), (N_SEQ, 1)))
    # targets: a_1 .. a_{p-1} (indices 0 .. p-2), then the first symbol again
    np.testing.assert_array_equal(big_2a.y[:, :-1], np.tile(np.arange(p - 1), (N_SEQ, 1)))
    np.testing.assert_array_equal(big_2a.y[:, -1], first)
    # exactly two distinct sequences, each with probability 1/2
    assert len({row.tobytes() for row in sym}) == 2
    assert abs(np.mean(first == p) - 0.5) < 0.03


def test_2a_determinism(task_2a):
    a, b = sample(task_2a, jax.random.key(1), 32), sample(task_2a, jax.random.key(1), 32)
    c = sample(task_2a, jax.random.key(2), 32)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x, c.x)


def test_2a_correct_loss_baseline(task_2a, big_2a):
    p = 20
    logits = perfect_logits(task_2a, big_2a)
    assert bool(jnp.all(task_2a.correct(logits, big_2a)))
    assert float(task_2a.loss(logits, big_2a)) < 1e-6
    # the final prediction decides: flipping it fails, a wrong intermediate step does not
    flipped = np.array(logits)
    flipped[:, -1] = 50.0 * np.asarray(jax.nn.one_hot(2 * p - 1 - big_2a.y[:, -1], p + 1))
    assert not bool(jnp.any(task_2a.correct(jnp.asarray(flipped), big_2a)))
    wrong_mid = np.array(logits)
    wrong_mid[:, 3] = 0.0
    wrong_mid[:, 3, 0] = 50.0
    wrong_mid[:, 3, 5] = 0.0
    assert bool(jnp.all(task_2a.correct(jnp.asarray(wrong_mid), big_2a)))
    # memoryless predictor: all deterministic steps right, the last a coin between x and y
    memless = np.array(logits)
    memless[:, -1] = 0.0
    memless[:, -1, p - 1] = memless[:, -1, p] = 50.0
    loss = float(task_2a.loss(jnp.asarray(memless), big_2a))
    assert abs(loss - task_2a.baseline_loss) < 1e-5
    assert abs(task_2a.baseline_loss - math.log(2) / p) < 1e-12


# ----------------------------------------------------------------------------- 2c


@pytest.fixture(scope="module")
def task_2c():
    return LongLagTask(variant="hochreiter1997_2c", length=30, distractors=12)


@pytest.fixture(scope="module")
def big_2c(task_2c):
    return sample_np(task_2c, jax.random.key(0), N_SEQ)


def test_2c_shapes(task_2c, big_2c):
    q, p, kmax = 30, 12, 100
    assert task_2c.input_size == p + 4 and task_2c.output_size == 2
    assert task_2c.max_length == q + kmax + 3
    assert big_2c.x.shape == (N_SEQ, q + kmax + 3, p + 4)
    assert big_2c.y.shape == (N_SEQ, q + kmax + 3) and big_2c.y.dtype == np.int32
    assert task_2c.eval_size == 10_000
    default = LongLagTask(variant="hochreiter1997_2c")
    assert default.p == 100 and default.input_size == 104


def test_2c_structure(task_2c, big_2c):
    p = 12
    e, b, x, y = p, p + 1, p + 2, p + 3
    assert big_2c.mask.sum(axis=1).tolist() == [1.0] * N_SEQ
    n_in = big_2c.mask.argmax(axis=1) + 1
    steps = np.arange(big_2c.x.shape[1])[None, :]
    valid = steps < n_in[:, None]
    assert np.all(big_2c.x.sum(axis=-1) == valid)  # one-hot inside, zero vectors after
    sym = np.where(valid, big_2c.x.argmax(axis=-1), -1)
    assert np.all(sym[:, 0] == b)
    assert set(np.unique(sym[:, 1])) == {x, y}
    assert np.all(sym[np.arange(N_SEQ), n_in - 1] == e)
    middle = (steps >= 2) & (steps < n_in[:, None] - 1)
    assert np.all((sym[middle] >= 0) & (sym[middle] < p))  # only distractors between
    assert np.all(middle.sum(axis=1) == n_in - 3)
    counts = np.bincount(sym[middle], minlength=p)
    assert counts.min() > 0.9 * counts.mean() and counts.max() < 1.1 * counts.mean()
    # the target at the end names the trigger; classes balanced
    label = big_2c.y[np.arange(N_SEQ), n_in - 1]
    np.testing.assert_array_equal(label, (sym[:, 1] == y).astype(np.int32))
    assert abs(label.mean() - 0.5) < 0.03
    assert np.all(big_2c.y[big_2c.mask == 0] == 0)


def test_2c_length_distribution(big_2c):
    q, kmax = 30, 100
    k = big_2c.mask.argmax(axis=1) + 1 - (q + 3)
    assert k.min() == 0 and k.max() <= kmax
    # geometric with continue probability 9/10: P(k = 0) = 0.1, mean 9 (truncation ~0)
    assert abs(np.mean(k == 0) - 0.1) < 0.015
    assert abs(k.mean() - 9.0) < 0.6
    assert abs(np.mean(k >= 10) - 0.9**10) < 0.025


def test_2c_truncation_covers_both_ends():
    t = LongLagTask(variant="hochreiter1997_2c", length=4, distractors=3, max_extra=3)
    bt = sample_np(t, jax.random.key(7), N_SEQ)
    assert bt.x.shape[1] == 4 + 3 + 3
    k = bt.mask.argmax(axis=1) + 1 - 7
    freq = np.bincount(k, minlength=4) / N_SEQ
    assert freq.shape == (4,)
    want = 0.1 * 0.9 ** np.arange(4)
    want = want / want.sum()  # conditioned on k <= 3
    np.testing.assert_allclose(freq, want, atol=0.03)


def test_2c_determinism(task_2c):
    a, b = sample(task_2c, jax.random.key(1), 32), sample(task_2c, jax.random.key(1), 32)
    c = sample(task_2c, jax.random.key(2), 32)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x, c.x)


def test_2c_correct_loss_baseline(task_2c, big_2c):
    logits = perfect_logits(task_2c, big_2c)
    assert bool(jnp.all(task_2c.correct(logits, big_2c)))
    assert float(task_2c.loss(logits, big_2c)) < 1e-6
    flipped = 50.0 * jax.nn.one_hot(1 - big_2c.y, 2) * big_2c.mask[..., None]
    assert not bool(jnp.any(task_2c.correct(flipped, big_2c)))
    only_first = np.array(flipped)
    only_first[1:] = np.asarray(logits[1:])
    got = np.asarray(task_2c.correct(jnp.asarray(only_first), big_2c))
    assert not got[0] and got[1:].all()
    zeros = jnp.zeros_like(logits)
    assert abs(float(task_2c.loss(zeros, big_2c)) - task_2c.baseline_loss) < 1e-6
    assert task_2c.baseline_loss == math.log(2)


def test_solved():
    for t in (LongLagTask(), LongLagTask(variant="hochreiter1997_2c")):
        assert bool(t.solved(0.1, 1.0))
        assert not bool(t.solved(0.0, 1.0 - 1.0 / t.eval_size))
        assert "\n" not in t.describe()


def test_invalid_config():
    with pytest.raises(ValueError, match="hochreiter1997_2a, hochreiter1997_2c") as err:
        LongLagTask(variant="hochreiter1997_2b")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="length"):
        LongLagTask(length=0)
    with pytest.raises(ValueError, match="length"):
        LongLagTask(variant="hochreiter1997_2c", length=-3)
    with pytest.raises(ValueError, match="distractors"):
        LongLagTask(variant="hochreiter1997_2a", length=10, distractors=5)
    with pytest.raises(ValueError, match="distractors"):
        LongLagTask(variant="hochreiter1997_2c", distractors=0)
    with pytest.raises(ValueError, match="max_extra"):
        LongLagTask(variant="hochreiter1997_2c", max_extra=0)
