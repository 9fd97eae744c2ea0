"""Shared builders for the engine's tests."""

import pytest

from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from models import make_model
from tasks.adding import AddingTask
from tasks.reber import ContinualReberTask


def build_small_trainer(name="lstm", steps=6, eval_every=3, **train_kw):
    task = AddingTask(variant="pascanu2013", length=12)
    model = make_model(name, task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(
        steps=steps, batch_size=8, eval_every=eval_every, eval_size=64, stop_when_solved=False, **train_kw
    )
    return Trainer(model, task, OptimSpec(name="adam", lr=1e-2), spec)


def build_stream_trainer(steps=4, eval_every=2, lanes=2, length=20, **train_kw):
    """An LSTM (H=6) trained online (``train.schedule=stream``, SGD lr 0.5) on ``lanes``
    continual Reber streams in chunks of ``length`` symbols, no early stop."""
    task = ContinualReberTask(length=length)
    model = make_model("lstm", task.input_size, task.output_size, hidden=6)
    spec = TrainSpec(
        steps=steps,
        batch_size=lanes,
        eval_every=eval_every,
        eval_size=4,
        stop_when_solved=False,
        gradient="truncated",
        schedule="stream",
        **train_kw,
    )
    return Trainer(model, task, OptimSpec(name="sgd", lr=0.5, clip="none"), spec)


@pytest.fixture
def small_trainer():
    """A factory: a tiny LSTM (H=8) on the adding problem at T=12, Adam, no early stop."""
    return build_small_trainer


@pytest.fixture
def stream_trainer():
    """A factory: an LSTM (H=6) trained online on continual Reber streams."""
    return build_stream_trainer
