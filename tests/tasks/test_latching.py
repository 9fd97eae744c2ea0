"""Tests for the two-sequence / latching problem (H&S 1997 Exp. 3a)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.latching import LatchingTask

N_SEQ = 4000


@pytest.fixture(scope="module")
def task():
    return LatchingTask()


@pytest.fixture(scope="module")
def big(task):
    b = jax.jit(task.sample, static_argnums=1)(jax.random.key(0), N_SEQ)
    return jax.tree.map(np.asarray, b)


def lengths_of(batch):
    return np.argmax(batch.mask, axis=1) + 1


def test_shapes_and_properties(task, big):
    assert task.max_length == 110
    assert big.x.shape == (N_SEQ, 110, 1) and big.x.dtype == np.float32
    assert big.y.shape == (N_SEQ, 110, 1) and big.y.dtype == np.float32
    assert big.mask.shape == (N_SEQ, 110) and big.mask.dtype == np.float32
    assert (task.input_size, task.output_size, task.target) == (1, 1, "regression")
    assert task.eval_size == 2000
    assert hash(task) == hash(LatchingTask())
    assert "0.2" in task.describe() and "\n" not in task.describe()


def test_determinism(task):
    a = task.sample(jax.random.key(3), 16)
    b = task.sample(jax.random.key(3), 16)
    c = task.sample(jax.random.key(4), 16)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x, c.x)
    legacy = task.sample(jax.random.PRNGKey(3), 16)
    assert legacy.x.shape == a.x.shape


def test_lengths_cover_window_and_mask(big):
    lengths = lengths_of(big)
    assert big.mask.sum(axis=1).tolist() == [1.0] * N_SEQ
    assert lengths.min() == 100 and lengths.max() == 110
    assert set(np.unique(lengths)) == set(range(100, 111))
    steps = np.arange(110)[None, :]
    # padding after the end is exactly zero, the last valid step is noise (non-zero)
    assert np.all(big.x[..., 0][steps >= lengths[:, None]] == 0.0)
    assert np.all(big.x[np.arange(N_SEQ), lengths - 1, 0] != 0.0)
    # targets only at the last valid step
    assert np.all(big.y[..., 0][big.mask == 0] == 0.0)


def test_class_values_and_prior(big):
    cls = big.y[..., 0].sum(axis=1)
    assert set(np.unique(cls)) == {0.0, 1.0}
    assert abs(cls.mean() - 0.5) < 0.03
    sign = 2.0 * cls - 1.0
    np.testing.assert_array_equal(big.x[:, :3, 0], np.repeat(sign[:, None], 3, axis=1))


def test_noise_statistics(big):
    lengths = lengths_of(big)
    steps = np.arange(110)[None, :]
    noise = big.x[..., 0][(steps >= 3) & (steps < lengths[:, None])]
    assert noise.size > 380_000
    assert abs(noise.var() - 0.2) < 0.02
    assert abs(noise.var() - 0.2) < 0.005  # tighter: the standard error is ~0.0005
    assert abs(noise.mean()) < 0.01
    # Gaussian, not uniform: about 31.7% beyond one standard deviation
    assert abs(np.mean(np.abs(noise) > np.sqrt(0.2)) - 0.3173) < 0.01
    # the noise says nothing about the class
    cls = big.y[..., 0].sum(axis=1)
    first_noise = big.x[:, 3, 0]
    assert abs(first_noise[cls == 1].mean() - first_noise[cls == 0].mean()) < 0.05


def test_n_info_and_long_t():
    t = LatchingTask(length=1000, n_info=1)
    b = t.sample(jax.random.key(1), 64)
    assert b.x.shape == (64, 1100, 1)
    lengths = np.argmax(np.asarray(b.mask), axis=1) + 1
    assert lengths.min() >= 1000 and lengths.max() <= 1100
    cls = np.asarray(b.y[..., 0]).sum(axis=1)
    np.testing.assert_array_equal(np.asarray(b.x[:, 0, 0]), 2 * cls - 1)
    assert np.all(np.abs(np.asarray(b.x[:, 1, 0])) != 1.0)


def test_correct_and_loss(task):
    b = task.sample(jax.random.key(5), 256)
    exact = b.y
    assert bool(jnp.all(task.correct(exact, b)))
    assert float(task.loss(exact, b)) == 0.0
    # outputs away from the end do not matter, not even NaN
    noisy = jnp.where(b.mask[..., None] > 0, exact, jnp.nan)
    assert bool(jnp.all(task.correct(noisy, b)))
    assert float(task.loss(noisy, b)) == 0.0
    assert bool(jnp.all(task.correct(exact + 0.19 * b.mask[..., None], b)))
    assert not bool(jnp.any(task.correct(exact + 0.21 * b.mask[..., None], b)))
    assert not bool(jnp.any(task.correct(exact - 0.21 * b.mask[..., None], b)))
    # perturb only the first sequence
    bump = jnp.zeros_like(exact).at[0].set(0.5 * b.mask[0, :, None])
    got = np.asarray(task.correct(exact + bump, b))
    assert not got[0] and got[1:].all()


def test_memoryless_baseline(task, big):
    half = np.full_like(big.y, 0.5)
    loss = float(task.loss(jnp.asarray(half), big))
    assert abs(loss - task.baseline_loss) < 1e-6 and task.baseline_loss == 0.25
    assert not bool(jnp.any(task.correct(jnp.asarray(half), big)))


def test_solved_criterion(task):
    assert bool(task.solved(0.005, 1.0))
    assert not bool(task.solved(0.02, 1.0))
    assert not bool(task.solved(0.005, 1999 / 2000))


def test_invalid_config():
    with pytest.raises(ValueError, match="hochreiter1997") as err:
        LatchingTask(variant="bengio")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="length"):
        LatchingTask(length=0)
    with pytest.raises(ValueError, match="n_info"):
        LatchingTask(n_info=0)
    with pytest.raises(ValueError, match="n_info"):
        LatchingTask(length=5, n_info=6)
