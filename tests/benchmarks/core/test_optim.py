"""Optimizers and clipping presets."""

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.core.optim import OptimSpec, make_optimizer


def test_clipping_presets():
    g = {"a": jnp.array([3.0, 4.0])}  # norm 5
    out, _ = make_optimizer(OptimSpec(name="sgd", lr=1.0, clip="global_norm", clip_value=1.0)).update(
        g, make_optimizer(OptimSpec(name="sgd", lr=1.0, clip="global_norm")).init(g)
    )
    np.testing.assert_allclose(out["a"], [-0.6, -0.8], rtol=1e-6)
    spec = OptimSpec(name="sgd", lr=1.0, clip="elementwise", clip_value=3.5)
    out, _ = make_optimizer(spec).update(g, make_optimizer(spec).init(g))
    np.testing.assert_allclose(out["a"], [-3.0, -3.5])
    with pytest.raises(ValueError, match="valid: adam, momentum, rmsprop, sgd"):
        OptimSpec(name="adamw")
    with pytest.raises(ValueError, match="valid: elementwise, global_norm, none"):
        OptimSpec(clip="value")


def _tree_norm64(tree):
    return np.sqrt(sum(np.sum(np.asarray(v, np.float64) ** 2) for v in tree.values()))


@pytest.mark.parametrize("entry", [1e15, 1e29, 3e37])
def test_clipping_a_huge_finite_gradient_takes_a_step_of_the_threshold(entry):
    """optax's clip_by_global_norm squares the raw gradient: from entries ~1.8e19 its norm
    is inf and the update exactly 0. Ours gives a step of norm 5 from any finite gradient,
    pointing along it; at 3e37 x 64 entries the norm itself (2.4e38 x ...) is beyond
    float32's largest number."""
    rng = np.random.default_rng(0)
    g = {"a": (rng.standard_normal(48) * entry).astype(np.float32), "b": np.full(16, entry, np.float32)}
    assert np.all(np.isfinite(g["a"]))
    spec = OptimSpec(name="sgd", lr=1.0, clip="global_norm", clip_value=5.0)
    opt = make_optimizer(spec)
    out, _ = opt.update(g, opt.init(g))
    out = {k: -np.asarray(v, np.float64) for k, v in out.items()}
    assert _tree_norm64(out) == pytest.approx(5.0, rel=1e-5)
    for k in g:  # the direction is the gradient's
        np.testing.assert_allclose(out[k], np.asarray(g[k], np.float64) * 5.0 / _tree_norm64(g), rtol=1e-5)


def test_clipping_leaves_small_and_non_finite_gradients_alone():
    g = {"a": jnp.array([3e-30, 4e-30])}
    for clip in ("global_norm", "none"):
        spec = OptimSpec(name="sgd", lr=1.0, clip=clip, clip_value=1.0)
        out, _ = make_optimizer(spec).update(g, make_optimizer(spec).init(g))
        np.testing.assert_array_equal(out["a"], -np.asarray(g["a"]))
    bad = {"a": jnp.array([jnp.nan, 1.0])}
    spec = OptimSpec(name="sgd", lr=1.0, clip="global_norm", clip_value=1.0)
    out, _ = make_optimizer(spec).update(bad, make_optimizer(spec).init(bad))
    assert np.isnan(out["a"][0]) and out["a"][1] == -1.0
