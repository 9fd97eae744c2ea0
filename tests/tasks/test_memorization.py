"""Tests for tasks.memorization: Pascanu 2013's noiseless memorization and permutation."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.memorization import MemorizationTask, PermutationTask

N = 2000  # large samples for statistics
B = 256  # small batches for the rest (few sizes: each (task, size) compiles once)
T = 50


@functools.partial(jax.jit, static_argnums=(0, 2))
def _jit_sample(task, key, n):
    return task.sample(key, n)


@functools.partial(jax.jit, static_argnums=0)
def _jit_loss(task, outputs, batch):
    return task.loss(outputs, batch)


@functools.partial(jax.jit, static_argnums=0)
def _jit_correct(task, outputs, batch):
    return task.correct(outputs, batch)


def _sample(task, seed: int, n: int = N):
    batch = _jit_sample(task, jax.random.PRNGKey(seed), n)
    return tuple(np.asarray(a) for a in batch), batch


def _one_hot_logits(labels, k, scale=10.0):
    return scale * jax.nn.one_hot(labels, k, dtype=jnp.float32)


# ----------------------------------------------------------------------------- both


@pytest.mark.parametrize("cls", [MemorizationTask, PermutationTask])
def test_config_and_invalid_values(cls):
    task = cls()
    assert (task.variant, task.length) == ("pascanu2013", 100)
    assert task.target == "classification" and task.eval_size == 10_000
    hash(task)
    line = task.describe()
    assert task.name in line and "pascanu2013" in line and "\n" not in line
    with pytest.raises(ValueError) as err:
        cls("hochreiter1997")
    msg = str(err.value)
    assert "\n" not in msg and "valid: pascanu2013" in msg
    for bad in (0, -1):
        with pytest.raises(ValueError, match="task.length"):
            cls(length=bad)


@pytest.mark.parametrize("cls", [MemorizationTask, PermutationTask])
def test_determinism_per_key(cls):
    task = cls(length=T)
    a, _ = _sample(task, 3, B)
    b, _ = _sample(task, 3, B)
    c, _ = _sample(task, 4, B)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])
    typed = [np.asarray(_jit_sample(task, jax.random.key(3), B).x) for _ in range(2)]
    np.testing.assert_array_equal(typed[0], typed[1])
    x, y, m = a
    assert x.shape == (B, task.max_length, task.input_size) and x.dtype == np.float32
    assert y.shape == (B, task.max_length) and y.dtype == np.int32
    assert m.shape == (B, task.max_length) and m.dtype == np.float32


# ----------------------------------------------------------------------------- memorization


def test_memorization_layout():
    task = MemorizationTask(length=T)
    assert (task.input_size, task.output_size, task.max_length) == (7, 6, T + 20)
    (x, y, m), _ = _sample(task, 1)
    np.testing.assert_array_equal(x.sum(-1), 1.0)
    sym = x.argmax(-1)
    pattern = sym[:, :10]
    assert pattern.min() == 0 and pattern.max() == 4  # values only, no blank/go
    np.testing.assert_allclose(np.bincount(pattern.ravel(), minlength=5) / pattern.size, 0.2, atol=0.01)
    assert len({tuple(r) for r in pattern}) > 0.99 * N  # 5^10 patterns: nearly all distinct
    # blanks from step 10 on, except the go signal at step T + 10 (and only there)
    expect_tail = np.full(T + 10, 5)
    expect_tail[T] = 6
    np.testing.assert_array_equal(sym[:, 10:], np.broadcast_to(expect_tail, (N, T + 10)))
    # targets: blank for T + 10 steps, then the pattern in order (first one due at the go)
    np.testing.assert_array_equal(y[:, : T + 10], 5)
    np.testing.assert_array_equal(y[:, T + 10 :], pattern)
    # the loss covers all steps
    np.testing.assert_array_equal(m, 1.0)


def test_memorization_baseline_correct_and_solved():
    task = MemorizationTask(length=T)
    _, batch = _sample(task, 2, B)
    k, t_len = 6, T + 20
    # layout known, pattern unknown: blank for sure, then uniform over the 5 values
    steps = jnp.arange(t_len)[:, None]
    informed = jnp.where(
        steps < T + 10,
        jnp.where(jnp.arange(k) == 5, 0.0, -1e9),
        jnp.where(jnp.arange(k) < 5, 0.0, -1e9),
    )
    informed = jnp.broadcast_to(informed, (B, t_len, k))
    expect = 10 * math.log(5) / (T + 20)
    assert task.baseline_loss == pytest.approx(expect)
    assert float(_jit_loss(task, informed, batch)) == pytest.approx(expect, rel=1e-5)
    # the uniform prediction over 6 classes at every step: log 6
    uniform = jnp.zeros((B, t_len, k))
    assert float(_jit_loss(task, uniform, batch)) == pytest.approx(math.log(6), rel=1e-5)
    # the true targets are correct with near-zero loss
    good = _one_hot_logits(batch.y, k, 30.0)
    assert bool(jnp.all(_jit_correct(task, good, batch)))
    assert float(_jit_loss(task, good, batch)) < 1e-6
    # a single wrong step anywhere (a blank step, or one recalled value) makes it wrong
    wrong = _one_hot_logits((batch.y + 1) % k, k)
    bad_blank = good.at[:3, 20].set(wrong[:3, 20])
    np.testing.assert_array_equal(np.asarray(_jit_correct(task, bad_blank, batch)), np.arange(B) >= 3)
    bad_recall = good.at[:5, T + 15].set(wrong[:5, T + 15])
    np.testing.assert_array_equal(np.asarray(_jit_correct(task, bad_recall, batch)), np.arange(B) >= 5)
    # the informed-but-memoryless predictor gets essentially nothing right (ties -> value 0)
    assert float(jnp.mean(_jit_correct(task, informed, batch))) < 0.01
    assert bool(task.solved(0.0, 0.995)) and not bool(task.solved(0.0, 0.99))
    assert not bool(task.solved(0.0, 0.0))


# ----------------------------------------------------------------------------- permutation


def test_permutation_layout():
    task = PermutationTask(length=T)
    assert (task.input_size, task.output_size, task.max_length) == (100, 100, T)
    (x, y, m), _ = _sample(task, 5)
    np.testing.assert_array_equal(x.sum(-1), 1.0)
    sym = x.argmax(-1)
    first = sym[:, 0]
    assert set(np.unique(first)) == {0, 1}
    assert abs(first.mean() - 0.5) < 0.04  # 4 sigma at N = 2000
    rest = sym[:, 1:]
    assert rest.min() == 2 and rest.max() == 99
    counts = np.bincount(rest.ravel(), minlength=100)
    assert counts[:2].sum() == 0
    expect = rest.size / 98  # 1000 per symbol; 6 sigma ~ 190
    assert counts[2:].min() > expect - 190 and counts[2:].max() < expect + 190
    np.testing.assert_array_equal(y, np.broadcast_to(first[:, None], y.shape))
    np.testing.assert_array_equal(m[:, -1], 1.0)
    assert m.sum() == N


def test_permutation_baseline_correct_and_solved():
    task = PermutationTask(length=T)
    _, batch = _sample(task, 6)
    y = np.asarray(batch.y)
    k = 100
    assert task.baseline_loss == pytest.approx(math.log(2))
    # best memoryless predictor: 1/2 on each of 0 and 1
    half = jnp.where(jnp.arange(k) < 2, math.log(0.5), -1e9)
    half = jnp.broadcast_to(half, (N, T, k))
    assert float(_jit_loss(task, half, batch)) == pytest.approx(math.log(2), rel=1e-5)
    # with the empirical prior of the first symbol the CE is its entropy, ~ log 2
    p1 = y[:, 0].mean()
    prior = jnp.where(jnp.arange(k) == 0, math.log(1 - p1), -1e9)
    prior = jnp.where(jnp.arange(k) == 1, math.log(p1), prior)
    prior = jnp.broadcast_to(prior, (N, T, k))
    assert float(_jit_loss(task, prior, batch)) == pytest.approx(math.log(2), abs=0.005)
    # its argmax (a tie, resolved to 0) is right about half of the time
    assert abs(float(jnp.mean(_jit_correct(task, half, batch))) - 0.5) < 0.04
    # the uniform prediction over 100 symbols: log 100
    uniform = jnp.zeros((N, T, k))
    assert float(_jit_loss(task, uniform, batch)) == pytest.approx(math.log(100), rel=1e-5)
    good = _one_hot_logits(batch.y, k, 30.0)
    assert bool(jnp.all(_jit_correct(task, good, batch)))
    assert float(_jit_loss(task, good, batch)) < 1e-6
    wrong = _one_hot_logits((batch.y + 1) % k, k)
    assert not bool(jnp.any(_jit_correct(task, wrong, batch)))
    # only the last step counts
    mixed = wrong.at[:, -1].set(good[:, -1])
    assert bool(jnp.all(_jit_correct(task, mixed, batch)))
    assert float(_jit_loss(task, mixed, batch)) < 1e-6
    assert bool(task.solved(0.0, 0.995)) and not bool(task.solved(0.0, 0.99))
