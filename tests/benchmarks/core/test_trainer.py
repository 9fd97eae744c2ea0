"""The trainer's pure per-seed program: one update, its spec, its precision."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.core.diagnostics import DiagnosticsSpec
from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from models import make_model
from tasks import make_task


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


def test_a_parameter_set_to_nan_diverges_its_seed_at_that_step(small_trainer):
    trainer = small_trainer("lstm")
    params = trainer.model.init(jax.random.key(0))
    bad = {**params, "b_out": params["b_out"].at[0].set(jnp.nan)}
    state = trainer.init_state(bad)
    new, metrics = jax.jit(trainer.train_chunk)(state, jax.random.key(1), jnp.arange(3))
    assert int(new.diverged_at) == 0
    for k in params:  # frozen at their values before the step
        np.testing.assert_array_equal(new.params[k], bad[k])


def test_precision_validation():
    with pytest.raises(
        ValueError, match="unknown train.precision 'fp8'; valid: .*default, float32, tensorfloat32"
    ):
        TrainSpec(precision="fp8")


def _dot_lines(lowered_text):
    lines = [line for line in lowered_text.splitlines() if "dot_general" in line]
    assert lines, "the program has no matrix product"
    return lines


@pytest.mark.parametrize(
    ("precision", "marker"),
    [("float32", "precision = [HIGHEST, HIGHEST]"), ("BF16_BF16_F32", "lhs_precision_type = bf16")],
)
def test_precision_reaches_every_product_of_the_compiled_programs(small_trainer, precision, marker):
    """CPUs compute float32 products in float32 whatever the setting, so the test reads the
    lowered programs: every dot of the training chunk (forward, the hand-written backward,
    the optimizer), of the evaluation and of the full diagnostics names the precision."""
    trainer = dataclasses.replace(small_trainer("lstm"), spec=TrainSpec(precision=precision, batch_size=4))
    trainer = dataclasses.replace(trainer, diagnostics=DiagnosticsSpec(level="full", batch_size=4))
    params = trainer.model.init(jax.random.key(0))
    state = trainer.init_state(params)
    texts = {
        "chunk": jax.jit(trainer.train_chunk).lower(state, jax.random.key(1), jnp.arange(2)).as_text(),
        "evaluate": jax.jit(trainer.evaluate).lower(params, jax.random.key(2)).as_text(),
        "diagnostics": jax.jit(trainer.full_diagnostics).lower(params, jax.random.key(3)).as_text(),
    }
    for name, text in texts.items():
        lines = _dot_lines(text)
        missing = [line for line in lines if marker not in line]
        assert not missing, (name, missing[:2])


@pytest.mark.parametrize("gradient", ["full", "truncated"])
def test_the_training_step_follows_train_gradient(small_trainer, gradient):
    """One plain SGD step moves every parameter by exactly -lr times the gradient that
    ``train.gradient`` names: the truncated one differs from full BPTT in the recurrent
    matrices, and the trainer uses the one asked for."""
    from benchmarks.core.optim import OptimSpec

    trainer = small_trainer("lstm", gradient=gradient)
    trainer = dataclasses.replace(trainer, optim=OptimSpec(name="sgd", lr=0.5, clip="none"))
    params = trainer.model.init(jax.random.key(0))
    new, _ = jax.jit(trainer.train_chunk)(trainer.init_state(params), jax.random.key(1), jnp.arange(1))
    batch = trainer.task.sample(jax.random.fold_in(jax.random.key(1), 0), 8)

    def grads(rule):
        net = dataclasses.replace(trainer.model, gradient=rule)
        return jax.grad(lambda p: trainer.task.loss(net.apply(p, batch.x)[0], batch))(params)

    want, other = grads(gradient), grads("truncated" if gradient == "full" else "full")
    for k in params:
        np.testing.assert_allclose(new.params[k], params[k] - 0.5 * want[k], rtol=1e-6, atol=1e-7, err_msg=k)
    assert not np.allclose(want["R_z"], other["R_z"], rtol=1e-3, atol=0)


def test_a_sigmoid_readout_refuses_a_task_no_output_of_it_could_serve():
    """Outputs in (0, 1) suit a squared error on targets in [0, 1]; a loss on logits would
    squash them twice, targets in [0, 2] are out of reach: one line naming the valid tasks."""
    valid = (
        "adding (hochreiter1997, pascanu2013), latching (hochreiter1997), multiplication"
        " (hochreiter1997, pascanu2013), temporal_order (hochreiter1997_6a, hochreiter1997_6b)"
    )
    for task, why in (
        (make_task("reber"), "task reber (variant hochreiter1997) reads the outputs as logits"),
        (
            make_task("temporal_order"),
            "task temporal_order (variant pascanu2013) reads the outputs as logits",
        ),
        (
            make_task("adding", variant="arjovsky2016"),
            "task adding (variant arjovsky2016) has targets in [0, 2]",
        ),
    ):
        model = make_model("lstm", task.input_size, task.output_size, readout="sigmoid")
        with pytest.raises(ValueError) as info:
            Trainer(model, task, OptimSpec(), TrainSpec())
        assert str(info.value) == (
            "model.readout=sigmoid puts every output in (0, 1), for a squared error on targets in"
            f" [0, 1]; {why}; valid tasks: {valid}; or model.readout=linear"
        )
        Trainer(make_model("lstm", task.input_size, task.output_size), task, OptimSpec(), TrainSpec())
    for name, variant in (
        ("adding", "hochreiter1997"),
        ("latching", "hochreiter1997"),
        ("temporal_order", "hochreiter1997_6b"),
    ):
        task = make_task(name, variant=variant)
        Trainer(
            make_model("gru", task.input_size, task.output_size, readout="sigmoid"),
            task,
            OptimSpec(),
            TrainSpec(),
        )


def test_trainers_that_differ_only_in_the_input_gate_biases_share_their_programs():
    task = make_task("adding")
    a, b = (
        Trainer(
            make_model("lstm_nofg", 2, 1, hidden=4, block_size=2, input_gate_biases=biases),
            task,
            OptimSpec(),
            TrainSpec(),
        )
        for biases in ([-1, -2], [-3, -6])
    )
    assert a != b and a.program() == b.program()
    assert a.program().model.spec.block_size == 2  # the shapes stay
