"""The training loop: determinism, divergence isolation, early stop, strategies agree."""

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.core.trainer import Trainer, TrainSpec
from benchmarks.run.checkpoint import Checkpointer
from benchmarks.run.history import Listener
from benchmarks.run.training_loop import init_params, train
from tasks.adding import AddingTask


def test_vmapped_seeds_equal_seeds_run_one_by_one(small_trainer):
    trainer = small_trainer()
    a = train(trainer, [0, 1, 2], strategy="vmap")
    b = train(trainer, [0, 1, 2], strategy="loop")
    assert (a.strategy, b.strategy) == ("vmap", "loop")
    for k in a.params_final:
        np.testing.assert_allclose(a.params_final[k], b.params_final[k], rtol=2e-4, atol=2e-6)
    for ra, rb in zip(a.seeds, b.seeds, strict=True):
        assert ra.final_loss == pytest.approx(rb.final_loss, rel=1e-4)


def test_same_seed_same_summary_and_chunking_does_not_matter(small_trainer):
    a = train(small_trainer(), [3, 4], strategy="loop")
    b = train(small_trainer(), [3, 4], strategy="loop")
    c = train(small_trainer(eval_every=2), [3, 4], strategy="loop")
    drop_time = lambda s: {k: v for k, v in s.items() if k != "wall_time_s"}  # noqa: E731
    assert drop_time(a.summary(8)) == drop_time(b.summary(8))
    for k in a.params_final:
        np.testing.assert_array_equal(a.params_final[k], b.params_final[k])
        np.testing.assert_allclose(a.params_final[k], c.params_final[k], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("strategy", ["vmap", "loop"])
def test_nan_in_one_seed_marks_it_diverged_and_spares_the_others(small_trainer, strategy):
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


def test_a_solved_seed_stops_training(small_trainer):
    trainer = small_trainer(steps=40, eval_every=10)
    trainer = Trainer(
        trainer.model,
        AddingTask(variant="arjovsky2016", length=12),
        trainer.optim,
        TrainSpec(steps=200, batch_size=8, eval_every=10, eval_size=64),
        trainer.diagnostics,
    )
    result = train(trainer, [0], strategy="loop")
    if result.seeds[0].solved:  # arjovsky2016 is solved once the MSE is below 1/12
        s = result.seeds[0].steps_to_solve
        after = result.step_series["loss"][s:, 0]
        assert np.all(np.isnan(after))
    assert result.seeds[0].solved


@pytest.mark.parametrize("strategy", ["vmap", "loop", "processes"])
def test_exploding_events_stop_counting_at_divergence_under_every_strategy(small_trainer, strategy):
    """A seed that diverges at step 0 has exactly one event (its non-finite gradient), not
    one per step it sat frozen afterwards."""
    trainer = small_trainer(steps=30, eval_every=10, workers=2)
    params = init_params(trainer.model, [0, 1])
    params["R_o"] = params["R_o"].at[1, 0, 0].set(jnp.nan)
    result = train(trainer, [0, 1], params_init=params, strategy=strategy)
    assert result.seeds[1].diverged_at == 0 and result.seeds[1].explode_events == 1
    assert result.step_series["explode"][:, 1].tolist() == [True] + [False] * 29


class _StopAfter(Listener):
    """Interrupts a run after its ``chunks``-th chunk (as a Ctrl-C would)."""

    def __init__(self, chunks):
        self.left = chunks

    def on_chunk(self, chunk):
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt


def test_a_stream_run_resumes_from_its_checkpoint_to_the_same_numbers(stream_trainer, tmp_path):
    """``train.schedule=stream``: the lanes' carried state (h, c, traces, live flags, runs
    and the data streams' positions) is in the checkpoint, with the stream counts; a run
    interrupted after its checkpoint at step 4 and resumed gives the uninterrupted run's
    parameters, summary and every stream record after the checkpoint."""
    trainer = stream_trainer(steps=8, eval_every=2, checkpoint_every=4)
    whole = train(trainer, [0, 1], strategy="loop")
    with pytest.raises(KeyboardInterrupt):
        train(trainer, [0, 1], strategy="loop", listener=_StopAfter(3), checkpoint=Checkpointer(tmp_path, 4))
    assert Checkpointer(tmp_path, 4).saved_step() == 4
    resumed = train(trainer, [0, 1], strategy="loop", checkpoint=Checkpointer(tmp_path, 4))
    drop_time = lambda s: {k: v for k, v in s.items() if k != "wall_time_s"}  # noqa: E731
    assert drop_time(resumed.summary(2)) == drop_time(whole.summary(2))
    for k in whole.params_final:
        np.testing.assert_array_equal(resumed.params_final[k], whole.params_final[k], err_msg=k)
    after = whole.streams["step"] >= 4
    for k, v in whole.streams.items():
        np.testing.assert_array_equal(resumed.streams[k], v[after], err_msg=k)
    # a training stream ran across the checkpoint: its length needs the carried state
    start = whole.streams["symbol"] - whole.streams["length"]
    assert np.any((start < 4 * 20) & after)
    seeds = whole.summary(2)["seeds"]
    assert all(s["streams"] == np.sum(whole.streams["seed"] == i) for i, s in enumerate(seeds))


def test_a_diverged_seed_records_no_streams_and_vmap_agrees_with_the_loop(stream_trainer):
    """A NaN in seed 1's weights: it diverges at step 0, counts no stream and no symbol,
    and the other seed's streams are those of a clean run; vmapped seeds give the loop's
    stream records."""
    trainer = stream_trainer(steps=4)
    clean = train(trainer, [0, 1], strategy="loop")
    params = init_params(trainer.model, [0, 1])
    params["R_o"] = params["R_o"].at[1, 0, 0].set(jnp.nan)
    faulty = train(trainer, [0, 1], params_init=params, strategy="loop")
    assert [s.diverged_at for s in faulty.seeds] == [None, 0]
    assert (faulty.seeds[1].streams, faulty.seeds[1].symbols) == (0, 0)
    assert (faulty.seeds[0].streams, faulty.seeds[0].symbols) == (
        clean.seeds[0].streams,
        clean.seeds[0].symbols,
    )
    assert not np.any(faulty.streams["seed"] == 1)
    vmapped = train(trainer, [0, 1], strategy="vmap")
    for k, v in clean.streams.items():
        np.testing.assert_array_equal(vmapped.streams[k], v, err_msg=k)
