"""Shared builders for the engine's tests."""

import pytest

from benchmarks.core.optim import OptimSpec
from benchmarks.core.trainer import Trainer, TrainSpec
from models import make_model
from tasks.adding import AddingTask


def build_small_trainer(name="lstm", steps=6, eval_every=3, **train_kw):
    task = AddingTask(variant="pascanu2013", length=12)
    model = make_model(name, task.input_size, task.output_size, hidden=8)
    spec = TrainSpec(
        steps=steps, batch_size=8, eval_every=eval_every, eval_size=64, stop_when_solved=False, **train_kw
    )
    return Trainer(model, task, OptimSpec(name="adam", lr=1e-2), spec)


@pytest.fixture
def small_trainer():
    """A factory: a tiny LSTM (H=8) on the adding problem at T=12, Adam, no early stop."""
    return build_small_trainer
