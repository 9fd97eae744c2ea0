"""Tests for sequential digits: sklearn 8x8 (plain/permuted) and local-file MNIST."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from tasks.digits import SequentialDigitsTask

N_SEQ = 4000


@jax.jit(static_argnums=(0, 2))
def sample(task, key, n):
    return task.sample(key, n)


def sample_np(task, key, n):
    return jax.tree.map(np.asarray, sample(task, key, n))


@pytest.fixture(scope="module")
def raw():
    d = load_digits()
    return d.data.astype(np.float32) / 16.0, d.target


@pytest.fixture(scope="module")
def plain():
    return SequentialDigitsTask()


@pytest.fixture(scope="module")
def big(plain):
    return sample_np(plain, jax.random.key(0), N_SEQ)


def test_sklearn_loads_and_splits(plain, raw):
    assert plain.variant == "sklearn8x8" and plain.max_length == 64
    assert (plain.input_size, plain.output_size, plain.target) == (1, 10, "classification")
    assert plain.train_size + plain.eval_size == 1797 == raw[0].shape[0]
    assert plain.eval_size == 359
    ev = jax.tree.map(np.asarray, plain.eval_batch())
    assert ev.x.shape == (359, 64, 1) and ev.y.shape == (359, 64) and ev.mask.shape == (359, 64)
    # the test split is the first N // 5 of default_rng(split_seed).permutation(N)
    order = np.random.default_rng(0).permutation(1797)
    np.testing.assert_allclose(ev.x[..., 0], raw[0][order[:359]], atol=1e-7)
    np.testing.assert_array_equal(ev.y[:, -1], raw[1][order[:359]])
    other = SequentialDigitsTask(split_seed=1).eval_batch()
    assert not np.array_equal(np.asarray(other.y[:, -1]), ev.y[:, -1])
    assert hash(plain) == hash(SequentialDigitsTask())


def test_sample_draws_training_images(plain, big, raw):
    assert big.x.shape == (N_SEQ, 64, 1) and big.x.dtype == np.float32
    assert big.y.shape == (N_SEQ, 64) and big.y.dtype == np.int32
    assert big.x.min() == 0.0 and big.x.max() == 1.0
    np.testing.assert_array_equal(big.mask, np.tile(np.eye(64)[-1], (N_SEQ, 1)))
    assert np.all(big.y[:, :-1] == 0)
    order = np.random.default_rng(0).permutation(1797)
    train = {(raw[0][i].tobytes(), int(raw[1][i])) for i in order[359:]}
    test_only = {raw[0][i].tobytes() for i in order[:359]} - {k for k, _ in train}
    seen = {(row.tobytes(), int(lab)) for row, lab in zip(big.x[..., 0], big.y[:, -1], strict=True)}
    assert seen <= train  # every draw is a training image with its own label
    assert not ({k for k, _ in seen} & test_only)
    assert len(seen) > 0.9 * len(train)  # with replacement, ~94% of 1438 images appear
    freq = np.bincount(big.y[:, -1], minlength=10) / N_SEQ
    assert freq.min() > 0.07 and freq.max() < 0.13  # ten roughly balanced classes


def test_determinism(plain):
    a, b = sample(plain, jax.random.key(1), 64), sample(plain, jax.random.key(1), 64)
    c = sample(plain, jax.random.key(2), 64)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.x, c.x)


def test_permutation(plain):
    perm_task = SequentialDigitsTask(variant="sklearn8x8_permuted")
    perm = perm_task.permutation
    assert plain.permutation is None
    np.testing.assert_array_equal(np.sort(perm), np.arange(64))  # a bijection
    assert not np.array_equal(perm, np.arange(64))
    np.testing.assert_array_equal(perm, SequentialDigitsTask(variant="sklearn8x8_permuted").permutation)
    np.testing.assert_array_equal(perm, np.random.default_rng(0).permutation(64))
    other = SequentialDigitsTask(variant="sklearn8x8_permuted", perm_seed=1).permutation
    assert not np.array_equal(perm, other)
    # the permuted sequence is the plain one permuted (same split, same draws)
    ev_plain, ev_perm = plain.eval_batch(), perm_task.eval_batch()
    np.testing.assert_array_equal(np.asarray(ev_perm.x), np.asarray(ev_plain.x)[:, perm])
    np.testing.assert_array_equal(np.asarray(ev_perm.y), np.asarray(ev_plain.y))
    key = jax.random.key(3)
    s_plain, s_perm = sample(plain, key, 32), sample(perm_task, key, 32)
    np.testing.assert_array_equal(np.asarray(s_perm.x), np.asarray(s_plain.x)[:, perm])
    assert "perm_seed=0" in perm_task.describe()


def test_correct_loss_solved(plain, big):
    logits = 30.0 * jax.nn.one_hot(big.y, 10)
    assert bool(jnp.all(plain.correct(logits, big)))
    assert float(plain.loss(logits, big)) < 1e-6
    wrong = 30.0 * jax.nn.one_hot((big.y + 1) % 10, 10)
    assert not bool(jnp.any(plain.correct(wrong, big)))
    mixed = np.array(logits)
    mixed[:10] = np.asarray(wrong[:10])
    got = np.asarray(plain.correct(jnp.asarray(mixed), big))
    assert not got[:10].any() and got[10:].all()
    # uniform logits: chance-level cross-entropy log(10)
    assert abs(float(plain.loss(jnp.zeros_like(logits), big)) - np.log(10)) < 1e-5
    assert plain.baseline_loss is None
    assert bool(plain.solved(1.0, 0.9)) and not bool(plain.solved(0.0, 0.899))
    strict = SequentialDigitsTask(target_accuracy=0.97)
    assert not bool(strict.solved(0.0, 0.96)) and bool(strict.solved(0.0, 0.97))


def test_length_and_variant_validation():
    assert SequentialDigitsTask(length=64).max_length == 64
    with pytest.raises(ValueError, match="None or 64"):
        SequentialDigitsTask(length=100)
    with pytest.raises(ValueError, match="length"):
        SequentialDigitsTask(length=0)
    with pytest.raises(ValueError, match="mnist, mnist_permuted, sklearn8x8") as err:
        SequentialDigitsTask(variant="cifar")
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="target_accuracy"):
        SequentialDigitsTask(target_accuracy=1.5)
    with pytest.raises(ValueError, match="path"):
        SequentialDigitsTask(path="/tmp/x.npz")


@pytest.mark.parametrize("variant", ["mnist", "mnist_permuted"])
def test_mnist_missing_or_malformed_path(tmp_path, variant):
    bad_txt = tmp_path / "bad.npz"
    bad_txt.write_text("not an archive")
    wrong_shape = tmp_path / "shape.npz"
    np.savez(wrong_shape, x_train=np.zeros((5, 10, 10), np.uint8), y_train=np.zeros(5, np.int64))
    no_labels = tmp_path / "nolabels.npz"
    np.savez(no_labels, x_train=np.zeros((5, 784), np.uint8))
    for path in (
        None,
        str(tmp_path / "missing.npz"),
        str(bad_txt),
        str(wrong_shape),
        str(no_labels),
    ):
        with pytest.raises(ValueError, match=r"x_train \[N,28,28\] or \[N,784\] uint8") as err:
            SequentialDigitsTask(variant=variant, path=path)
        assert "\n" not in str(err.value)


def test_mnist_synthetic_file(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=50)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x, y_train=y)
    t = SequentialDigitsTask(variant="mnist", path=str(path), length=784)
    assert t.max_length == 784 and t.train_size == 40 and t.eval_size == 10
    flat = x.reshape(50, 784).astype(np.float32) / 255.0
    order = np.random.default_rng(0).permutation(50)
    ev = t.eval_batch()
    np.testing.assert_allclose(np.asarray(ev.x[..., 0]), flat[order[:10]], rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(ev.y[:, -1]), y[order[:10]])
    b = sample_np(t, jax.random.key(0), 200)
    assert b.x.shape == (200, 784, 1)
    np.testing.assert_allclose(b.x[..., 0] * 255.0, np.rint(b.x[..., 0] * 255.0), atol=1e-4)
    pixels = np.rint(b.x[..., 0] * 255.0).astype(np.uint8)
    flat_u8 = x.reshape(50, 784)
    train_rows = {(flat_u8[i].tobytes(), int(y[i])) for i in order[10:]}
    drawn = {(r.tobytes(), int(c)) for r, c in zip(pixels, b.y[:, -1], strict=True)}
    assert drawn <= train_rows  # training images (pixels / 255), each with its own label
    # explicit test arrays in [N, 784] form are used as the test split; permuted variant
    path2 = tmp_path / "withtest.npz"
    np.savez(path2, x_train=x.reshape(50, 784), y_train=y, x_test=x[:7], y_test=y[:7])
    tp = SequentialDigitsTask(variant="mnist_permuted", path=str(path2), perm_seed=4)
    assert tp.train_size == 50 and tp.eval_size == 7
    perm = np.random.default_rng(4).permutation(784)
    np.testing.assert_allclose(np.asarray(tp.eval_batch().x[..., 0]), flat[:7][:, perm], rtol=1e-6)
    with pytest.raises(ValueError, match="None or 784"):
        SequentialDigitsTask(variant="mnist", path=str(path), length=64)


def test_first_use_inside_jit_does_not_poison_the_data_cache():
    """The loaded arrays are cached; a first load inside a trace must not cache tracers."""
    from tasks import digits as digits_module

    digits_module._load.cache_clear()
    task = SequentialDigitsTask(variant="sklearn8x8_permuted", perm_seed=11)
    digits_module._load.cache_clear()  # construction loaded it; force the next load into jit
    first = jax.jit(lambda k: task.sample(k, 4).x)(jax.random.key(0))
    second = jax.jit(lambda k: task.sample(k, 4).x.sum())(jax.random.key(0))
    assert float(second) == pytest.approx(float(first.sum()))
