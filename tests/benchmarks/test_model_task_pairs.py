"""Every model config trains with the task configs it is paired with: composed through
Hydra as a user would (``model=<m> task=<t>``), at a tiny size, one optimizer step via
the Trainer, with a finite loss and gradient.

Each pair costs one compilation (about a second here), so not all models x tasks run.
A model meets a task only through shapes (x: [batch, time, input], outputs: [batch,
time, output]) and the loss, so every model runs exactly one task, assigned round-robin
over the sorted names: with more models than tasks every task runs too, some with two
models of different families.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from benchmarks import cli
from benchmarks.config import build, register

register()

MODELS = cli.group_options("model")
TASKS = cli.group_options("task")
# the task's own sequence-length knob at a small value; digits fixes its length (64)
SMALL = {"digits": [], "reber": ["task.max_length=12"]}
PAIRS = [(m, TASKS[k % len(TASKS)]) for k, m in enumerate(MODELS)]


@pytest.fixture(autouse=True, scope="module")
def quick_compiles():
    """Each pair compiles once and runs once: skip XLA's optimisation passes (a third of
    the time per pair)."""
    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", before)


def composed(overrides):
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_the_pairs_cover_every_model_and_task():
    assert [m for m, _ in PAIRS] == MODELS and {t for _, t in PAIRS} == set(TASKS)
    assert len(MODELS) >= 17 and len(TASKS) <= len(MODELS)


def test_variant_fields_are_config_keys():
    spec = build(
        composed(["model=lstm", "model.peepholes=true", "model.full_gate_recurrence=true"])
    ).trainer.model.spec
    assert spec.peepholes and spec.full_gate_recurrence and not spec.coupled
    spec = build(
        composed(["model=rnn", "model.init.recurrent=sparse", "model.init.recurrent_nonzero=3"])
    ).trainer.model.spec
    assert (spec.init.recurrent, spec.init.recurrent_nonzero) == ("sparse", 3)
    with pytest.raises(ValueError, match="^model.coupled=true .* needs model.forget_gate=true$"):
        build(composed(["model=lstm_cifg", "model.forget_gate=false"]))


@pytest.mark.parametrize(("model", "task"), PAIRS, ids=[f"{m}-{t}" for m, t in PAIRS])
def test_one_training_step_has_a_finite_loss(model, task):
    sizes = SMALL.get(task, ["task.length=10"])
    cfg = composed([f"model={model}", f"task={task}", "model.hidden=4", "train.batch_size=2", *sizes])
    trainer = build(cfg).trainer
    assert trainer.model.spec.hidden == 4 and trainer.spec.batch_size == 2
    state = trainer.init_state(trainer.model.init(jax.random.key(0)))
    new, metrics = trainer.train_chunk(state, jax.random.key(1), jnp.arange(1))
    assert np.isfinite(metrics.loss).all() and np.isfinite(metrics.grad_norm).all()
    assert int(new.diverged_at) == -1
