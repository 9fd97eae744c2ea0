"""Optimizers and clipping presets."""

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.optim import OptimSpec, make_optimizer


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
