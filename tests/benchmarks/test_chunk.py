"""The pure per-seed training chunk: one update, its spec."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.chunk import TrainSpec


@pytest.mark.parametrize("name", ["rnn", "lstm", "lstm_nofg", "gru"])
def test_one_step_changes_every_parameter(small_trainer, name):
    trainer = small_trainer(name)
    params = trainer.model.init(jax.random.key(0))
    state = trainer.init_state(params)
    new, metrics = jax.jit(trainer.train_chunk)(state, jax.random.key(1), jnp.arange(1))
    for k in params:
        assert not np.allclose(new.params[k], params[k]), k
    assert np.isfinite(metrics.loss).all() and metrics.grad_norm[0] > 0


def test_train_spec_validation():
    with pytest.raises(ValueError, match="non-negative"):
        TrainSpec(steps=-1)
    with pytest.raises(ValueError, match="valid: auto, loop, processes, vmap"):
        TrainSpec(strategy="threads")
