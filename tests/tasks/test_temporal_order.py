"""Tests for tasks.temporal_order: the Pascanu 2013 and H&S 1997 Experiment 6 variants."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.temporal_order import TemporalOrderTask

N = 2000  # large samples for statistics
B = 256  # small batches for the rest (few sizes: each (task, size) compiles once)
VARIANTS = ("pascanu2013", "pascanu2013_3bit", "hochreiter1997_6a", "hochreiter1997_6b")


@functools.partial(jax.jit, static_argnums=(0, 2))
def _jit_sample(task, key, n):
    return task.sample(key, n)


@functools.partial(jax.jit, static_argnums=0)
def _jit_loss(task, outputs, batch):
    return task.loss(outputs, batch)


@functools.partial(jax.jit, static_argnums=0)
def _jit_correct(task, outputs, batch):
    return task.correct(outputs, batch)


def _sample(task: TemporalOrderTask, seed: int, n: int = N):
    batch = _jit_sample(task, jax.random.PRNGKey(seed), n)
    return tuple(np.asarray(a) for a in batch), batch


def _one_hot_logits(labels, k, scale=10.0):
    return scale * jax.nn.one_hot(labels, k, dtype=jnp.float32)


# ----------------------------------------------------------------------------- config


def test_shapes_and_fields():
    t = TemporalOrderTask()
    assert (t.variant, t.length, t.name) == ("pascanu2013", 100, "temporal_order")
    assert (t.input_size, t.output_size, t.max_length, t.eval_size) == (6, 4, 100, 10_000)
    assert t.target == "classification"
    t3 = TemporalOrderTask("pascanu2013_3bit", 57)
    assert (t3.input_size, t3.output_size, t3.max_length) == (6, 8, 57)
    ha = TemporalOrderTask("hochreiter1997_6a")
    hb = TemporalOrderTask("hochreiter1997_6b")
    assert (ha.input_size, ha.output_size, ha.max_length, ha.eval_size) == (8, 4, 110, 2000)
    assert (hb.input_size, hb.output_size, hb.max_length, hb.eval_size) == (8, 8, 110, 2000)
    assert ha.target == hb.target == "regression"
    for v in VARIANTS:
        task = TemporalOrderTask(v)
        hash(task)
        line = task.describe()
        assert v in line and "\n" not in line
        (x, y, m), _ = _sample(task, 0, B)
        assert x.shape == (B, task.max_length, task.input_size) and x.dtype == np.float32
        assert m.shape == (B, task.max_length) and m.dtype == np.float32
        if task.target == "regression":
            assert y.shape == (B, task.max_length, task.output_size) and y.dtype == np.float32
        else:
            assert y.shape == (B, task.max_length) and y.dtype == np.int32


def test_invalid_config_raises_one_line_listing_variants():
    with pytest.raises(ValueError) as err:
        TemporalOrderTask("pascanu2014")
    msg = str(err.value)
    assert "\n" not in msg and all(v in msg for v in VARIANTS)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="task.length"):
            TemporalOrderTask(length=bad)
    with pytest.raises(ValueError, match="100..110"):
        TemporalOrderTask("hochreiter1997_6a", length=200)
    with pytest.raises(ValueError, match=">= 10"):
        TemporalOrderTask("pascanu2013_3bit", length=9)


@pytest.mark.parametrize("variant", VARIANTS)
def test_determinism_per_key(variant):
    task = TemporalOrderTask(variant)
    a, _ = _sample(task, 3, B)
    b, _ = _sample(task, 3, B)
    c, _ = _sample(task, 4, B)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])
    if task.is_hochreiter:  # lengths vary only there
        assert not np.array_equal(a[2], c[2])
    # typed keys work too, deterministically (checked for one variant: each compiles)
    if variant != "pascanu2013":
        return
    typed = [np.asarray(_jit_sample(task, jax.random.key(3), B).x) for _ in range(2)]
    np.testing.assert_array_equal(typed[0], typed[1])


# ----------------------------------------------------------------------------- Pascanu


@pytest.mark.parametrize(
    "variant,length,windows",
    [
        ("pascanu2013", 100, [(10, 19), (50, 59)]),
        ("pascanu2013", 57, [(5, 9), (28, 32)]),
        ("pascanu2013_3bit", 100, [(10, 19), (30, 39), (60, 69)]),
        ("pascanu2013_3bit", 57, [(5, 9), (17, 21), (34, 38)]),
    ],
)
def test_pascanu_layout_windows_and_labels(variant, length, windows):
    task = TemporalOrderTask(variant, length)
    assert task.windows() == tuple(windows)
    (x, y, m), _ = _sample(task, 11)
    n_bits = len(windows)
    k = 2**n_bits
    # one-hot at every step, no padding
    np.testing.assert_array_equal(x.sum(-1), 1.0)
    sym = x.argmax(-1)
    informative = sym < 2
    assert np.all(informative.sum(1) == n_bits)
    # distractors c..f roughly uniform
    dis = sym[~informative]
    assert np.all((dis >= 2) & (dis <= 5))
    np.testing.assert_allclose(np.bincount(dis - 2, minlength=4) / dis.size, 0.25, atol=0.01)
    pos = np.stack([np.nonzero(row)[0] for row in informative])  # sorted, [N, n_bits]
    for i, (lo, hi) in enumerate(windows):
        assert pos[:, i].min() == lo and pos[:, i].max() == hi
        counts = np.bincount(pos[:, i] - lo, minlength=hi - lo + 1)
        assert counts.size == hi - lo + 1 and counts.min() > 0
    bits = np.take_along_axis(sym, pos, axis=1)
    cls = (bits * (2 ** np.arange(n_bits))).sum(1)  # first symbol least significant
    np.testing.assert_array_equal(y[:, -1], cls)
    np.testing.assert_array_equal(y, np.broadcast_to(cls[:, None], y.shape))
    # mask: only the last step
    np.testing.assert_array_equal(m[:, -1], 1.0)
    assert m.sum() == N
    # class balance: 1/K each (4 sigma ~ 0.04 for K=4, 0.03 for K=8)
    freq = np.bincount(cls, minlength=k) / N
    np.testing.assert_allclose(freq, 1.0 / k, atol=0.04 if k == 4 else 0.03)


@pytest.mark.parametrize("variant,k", [("pascanu2013", 4), ("pascanu2013_3bit", 8)])
def test_pascanu_baselines(variant, k):
    task = TemporalOrderTask(variant, 100)
    assert task.baseline_loss == pytest.approx(math.log(k))
    _, batch = _sample(task, 5, N)
    y = np.asarray(batch.y)
    # uniform prediction: exactly log K
    uniform = jnp.zeros((N, 100, k))
    assert float(_jit_loss(task, uniform, batch)) == pytest.approx(math.log(k), rel=1e-5)
    # best constant predictor (empirical class prior): its CE is the class entropy ~ log K
    prior = np.bincount(y[:, -1], minlength=k) / y.shape[0]
    const = jnp.broadcast_to(jnp.log(jnp.asarray(prior, jnp.float32)), (N, 100, k))
    assert float(_jit_loss(task, const, batch)) == pytest.approx(math.log(k), abs=0.01)
    # knowing only the first symbol (the least significant bit) halves the choices
    first = y[:, -1] % 2
    lsb = jnp.where((jnp.arange(k)[None, None, :] % 2) == first[:, None, None], 0.0, -1e9)
    lsb = jnp.broadcast_to(lsb, (N, 100, k))
    assert float(_jit_loss(task, lsb, batch)) == pytest.approx(math.log(k / 2), rel=1e-5)
    # perfect logits: near-zero loss
    assert float(_jit_loss(task, _one_hot_logits(batch.y, k, 30.0), batch)) < 1e-6


@pytest.mark.parametrize("variant,k", [("pascanu2013", 4), ("pascanu2013_3bit", 8)])
def test_pascanu_correct_and_solved(variant, k):
    task = TemporalOrderTask(variant, 100)
    _, batch = _sample(task, 9, B)
    good = _one_hot_logits(batch.y, k)
    assert bool(jnp.all(_jit_correct(task, good, batch)))
    wrong = _one_hot_logits((batch.y + 1) % k, k)
    assert not bool(jnp.any(_jit_correct(task, wrong, batch)))
    # wrong everywhere except the last (masked) step: still correct
    mixed = wrong.at[:, -1].set(good[:, -1])
    assert bool(jnp.all(_jit_correct(task, mixed, batch)))
    # wrong only at the last step of the first 3 sequences
    part = good.at[:3, -1].set(wrong[:3, -1])
    np.testing.assert_array_equal(np.asarray(_jit_correct(task, part, batch)), np.arange(B) >= 3)
    assert bool(task.solved(0.1, 0.995)) and bool(task.solved(5.0, 1.0))
    assert not bool(task.solved(0.0, 0.99)) and not bool(task.solved(0.0, 0.5))


# ----------------------------------------------------------------------------- H&S 1997


@pytest.mark.parametrize(
    "variant,windows",
    [
        ("hochreiter1997_6a", [(10, 20), (50, 60)]),
        ("hochreiter1997_6b", [(10, 20), (33, 43), (66, 76)]),
    ],
)
def test_hochreiter_layout_windows_and_targets(variant, windows):
    task = TemporalOrderTask(variant)
    assert task.windows() == tuple(windows)
    (x, y, m), _ = _sample(task, 21)
    n_bits = len(windows)
    k = 2**n_bits
    lengths = x.sum(-1).sum(-1).astype(int)  # one-hot on valid steps, zero padding
    assert lengths.min() == 100 and lengths.max() == 110
    np.testing.assert_allclose(np.bincount(lengths - 100, minlength=11) / N, 1 / 11, atol=0.03)
    steps = np.arange(110)[None, :]
    valid = steps < lengths[:, None]
    np.testing.assert_array_equal(x.sum(-1), valid.astype(np.float32))
    sym = np.where(valid, x.argmax(-1), -1)
    # E first, trigger B exactly at the last valid step
    assert np.all(sym[:, 0] == 0)
    np.testing.assert_array_equal(sym == 1, steps == lengths[:, None] - 1)
    assert np.all((sym == 0).sum(1) == 1)
    informative = (sym == 6) | (sym == 7)
    assert np.all(informative.sum(1) == n_bits)
    dis = sym[valid & ~informative & (sym > 1)]
    assert dis.size == (lengths - 2 - n_bits).sum()  # every other valid step
    assert np.all((dis >= 2) & (dis <= 5))
    np.testing.assert_allclose(np.bincount(dis - 2, minlength=4) / dis.size, 0.25, atol=0.01)
    pos = np.stack([np.nonzero(row)[0] for row in informative])
    for i, (lo, hi) in enumerate(windows):
        assert pos[:, i].min() == lo and pos[:, i].max() == hi
        assert np.bincount(pos[:, i] - lo, minlength=hi - lo + 1).min() > 0
    bits = np.take_along_axis(sym, pos, axis=1) - 6  # X = 0, Y = 1
    cls = (bits * (2 ** np.arange(n_bits - 1, -1, -1))).sum(1)  # first symbol most significant
    # mask: one-hot at the last valid step; target one-hot there, zero elsewhere
    np.testing.assert_array_equal(m, (steps == lengths[:, None] - 1).astype(np.float32))
    last = y[np.arange(N), lengths - 1]
    np.testing.assert_array_equal(last, np.eye(k, dtype=np.float32)[cls])
    assert y.sum() == N
    freq = np.bincount(cls, minlength=k) / N
    np.testing.assert_allclose(freq, 1.0 / k, atol=0.04 if k == 4 else 0.03)


def test_hochreiter_class_rules():
    """H&S's rules: XX->Q, XY->R, YX->S, YY->U (and XXY->R, YXX->V, ... for 6b)."""
    for variant, rules in [
        ("hochreiter1997_6a", {"XX": 0, "XY": 1, "YX": 2, "YY": 3}),
        ("hochreiter1997_6b", {"XXX": 0, "XXY": 1, "XYX": 2, "YXX": 4, "YYX": 6, "YYY": 7}),
    ]:
        (x, y, m), _ = _sample(TemporalOrderTask(variant), 2, B)
        sym = x.argmax(-1)
        seen = set()
        for i in range(B):
            word = "".join("XY"[s - 6] for s in sym[i] if s >= 6)
            if word in rules:
                seen.add(word)
                assert y[i][m[i] > 0].argmax() == rules[word]
        assert seen == set(rules)


@pytest.mark.parametrize("variant,k", [("hochreiter1997_6a", 4), ("hochreiter1997_6b", 8)])
def test_hochreiter_baseline_correct_and_solved(variant, k):
    task = TemporalOrderTask(variant)
    _, batch = _sample(task, 13, B)
    # constant class prior 1/K on every unit: MSE (1/K)(1 - 1/K)
    const = jnp.full((B, 110, k), 1.0 / k)
    expect = (1 / k) * (1 - 1 / k)
    assert task.baseline_loss == pytest.approx(expect)
    assert float(_jit_loss(task, const, batch)) == pytest.approx(expect, rel=1e-5)
    assert float(_jit_loss(task, batch.y, batch)) == 0.0
    assert not bool(jnp.any(_jit_correct(task, const, batch)))  # the true unit is off by 1 - 1/K
    # the true targets, with garbage at every unmasked step: correct
    garbage = jnp.where(batch.mask[..., None] > 0, batch.y, 5.0)
    assert bool(jnp.all(_jit_correct(task, garbage, batch)))
    assert float(_jit_loss(task, garbage, batch)) == 0.0
    # every unit off by 0.29: correct; one unit off by 0.31: wrong
    assert bool(jnp.all(_jit_correct(task, batch.y + 0.29, batch)))
    off = batch.y.at[:, :, k - 1].add(-0.31)
    assert not bool(jnp.any(_jit_correct(task, off, batch)))
    off_first = batch.y.at[:4, :, 0].add(0.31)
    np.testing.assert_array_equal(np.asarray(_jit_correct(task, off_first, batch)), np.arange(B) >= 4)
    assert bool(task.solved(0.05, 1.0))
    assert not bool(task.solved(0.05, 1999 / 2000))
    assert not bool(task.solved(0.2, 1.0))
