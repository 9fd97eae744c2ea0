"""Training: updates, seed strategies, determinism, divergence isolation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.optim import OptimSpec, make_optimizer
from benchmarks.trainer import Trainer, TrainSpec, init_params, train
from models import make_model
from tasks.adding import AddingTask


def small_trainer(name="lstm", steps=6, eval_every=3, **train_kw):
    task = AddingTask(variant="pascanu2013", length=12)
    model = make_model(name, task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(
        steps=steps, batch_size=8, eval_every=eval_every, eval_size=64, stop_when_solved=False, **train_kw
    )
    return Trainer(model, task, OptimSpec(name="adam", lr=1e-2), spec)


@pytest.mark.parametrize("name", ["rnn", "lstm", "lstm_nofg", "gru"])
def test_one_step_changes_every_parameter(name):
    trainer = small_trainer(name)
    params = trainer.model.init(jax.random.key(0))
    state = trainer.init_state(params)
    new, metrics = jax.jit(trainer.train_chunk)(state, jax.random.key(1), jnp.arange(1))
    for k in params:
        assert not np.allclose(new.params[k], params[k]), k
    assert np.isfinite(metrics.loss).all() and metrics.grad_norm[0] > 0


def test_vmapped_seeds_equal_seeds_run_one_by_one():
    trainer = small_trainer()
    a = train(trainer, [0, 1, 2], strategy="vmap")
    b = train(trainer, [0, 1, 2], strategy="loop")
    assert (a.strategy, b.strategy) == ("vmap", "loop")
    for k in a.params_final:
        np.testing.assert_allclose(a.params_final[k], b.params_final[k], rtol=2e-4, atol=2e-6)
    for ra, rb in zip(a.seeds, b.seeds, strict=True):
        assert ra.final_loss == pytest.approx(rb.final_loss, rel=1e-4)


def test_same_seed_same_summary_and_chunking_does_not_matter():
    a = train(small_trainer(), [3, 4], strategy="loop")
    b = train(small_trainer(), [3, 4], strategy="loop")
    c = train(small_trainer(eval_every=2), [3, 4], strategy="loop")
    drop_time = lambda s: {k: v for k, v in s.items() if k != "wall_time_s"}  # noqa: E731
    assert drop_time(a.summary(8)) == drop_time(b.summary(8))
    for k in a.params_final:
        np.testing.assert_array_equal(a.params_final[k], b.params_final[k])
        np.testing.assert_allclose(a.params_final[k], c.params_final[k], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_nan_in_one_seed_marks_it_diverged_and_spares_the_others(strategy):
    trainer = small_trainer()
    seeds = [0, 1, 2]
    clean = train(trainer, seeds, strategy=strategy)
    params = init_params(trainer.model, seeds)
    params["R_o"] = params["R_o"].at[1, 0, 0].set(jnp.nan)
    faulty = train(trainer, seeds, params_init=params, strategy=strategy)
    assert [s.diverged_at for s in faulty.seeds] == [None, 0, None]
    for i in (0, 2):
        assert faulty.seeds[i].final_loss == clean.seeds[i].final_loss
        for k in params:
            np.testing.assert_array_equal(faulty.params_final[k][i], clean.params_final[k][i])
    # the diverged seed stopped updating: its parameters are its initial ones
    np.testing.assert_array_equal(faulty.params_final["W_z"][1], params["W_z"][1])
    assert faulty.summary(8)["n_diverged"] == 1 and not faulty.seeds[1].solved


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


def test_train_spec_validation():
    with pytest.raises(ValueError, match="non-negative"):
        TrainSpec(steps=-1)
    with pytest.raises(ValueError, match="valid: auto, loop, processes, vmap"):
        TrainSpec(strategy="threads")


def test_worker_processes_give_the_loop_results():
    """Seeds spread over pinned worker processes give exactly the per-seed results of the
    in-process loop (solved seeds freeze, so no seed depends on the others)."""
    task = AddingTask(variant="pascanu2013", length=10)
    model = make_model("lstm", task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(steps=300, batch_size=16, eval_every=100, eval_size=100, workers=2)
    trainer = Trainer(model, task, OptimSpec(name="adam", lr=1e-2), spec)
    seen = []
    loop = train(trainer, [0, 1, 2], strategy="loop")
    procs = train(trainer, [0, 1, 2], strategy="processes", on_eval=lambda step, rows: seen.append(step))
    assert procs.strategy == "processes" and seen == sorted(set(seen)) and seen[0] == 0
    assert [s.steps_to_solve for s in procs.seeds] == [s.steps_to_solve for s in loop.seeds]
    assert [s.final_loss for s in procs.seeds] == pytest.approx([s.final_loss for s in loop.seeds], rel=1e-6)
    for k in loop.params_final:
        np.testing.assert_allclose(procs.params_final[k], loop.params_final[k], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(procs.step_series["global"], loop.step_series["global"], rtol=1e-4)
    assert len(procs.metrics) == len(loop.metrics)


def test_a_solved_seed_stops_training():
    trainer = small_trainer(steps=40, eval_every=10)
    trainer = Trainer(
        trainer.model,
        AddingTask(variant="arjovsky2016", length=12),
        trainer.optim,
        TrainSpec(steps=40, batch_size=8, eval_every=10, eval_size=64),
        trainer.diagnostics,
    )
    result = train(trainer, [0], strategy="loop")
    if result.seeds[0].solved:  # arjovsky2016 is solved once the MSE beats 0.167
        s = result.seeds[0].steps_to_solve
        after = result.step_series["loss"][s:, 0]
        assert np.all(np.isnan(after))
    assert result.seeds[0].solved


def test_auto_strategy_on_the_cpu():
    from benchmarks.trainer import PROCESSES_MIN_MODEL_STEPS, resolve_strategy

    big = PROCESSES_MIN_MODEL_STEPS
    assert resolve_strategy("auto", 8, workers=2, steps=big) == "processes"
    assert resolve_strategy("auto", 8, workers=2, steps=10) == "loop"  # start-up would dominate
    assert resolve_strategy("auto", 1, workers=2, steps=big) == "loop"
    assert resolve_strategy("processes", 4, workers=1) == "loop"
    assert resolve_strategy("vmap", 4) == "vmap"
