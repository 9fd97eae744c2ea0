"""The listener protocol's pieces: a chunk's share of the models, several listeners as one."""

import numpy as np

from benchmarks.run.history import Listener, Listeners, MemorySink, TrainedChunk


def test_a_chunks_share_of_the_models_renumbers_them_from_zero():
    series = {"step": np.arange(3), "loss": np.arange(12.0).reshape(3, 4), "explode": np.zeros((3, 4), bool)}
    events = {"step": np.array([0, 1, 2]), "seed": np.array([0, 2, 3]), "norm": np.array([5.0, 6.0, 7.0])}
    grad_time = {"step": np.asarray(3), "grad_h": np.arange(8.0).reshape(4, 2)}
    part = TrainedChunk(series, events, grad_time).models(range(2, 4))
    assert part.first == 0 and part.series["step"].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(part.series["loss"], series["loss"][:, 2:])
    assert part.events["seed"].tolist() == [0, 1] and part.events["norm"].tolist() == [6.0, 7.0]
    assert part.events["step"].tolist() == [1, 2]
    np.testing.assert_array_equal(part.grad_time["grad_h"], grad_time["grad_h"][2:])
    assert TrainedChunk(series, events, None).models(range(0, 1)).grad_time is None
    assert part.streams is None
    streams = {"seed": np.array([0, 2, 3, 3]), "length": np.array([4, 5, 6, 7]), "symbol": np.arange(4)}
    part = TrainedChunk(series, events, None, streams).models(range(2, 4))
    assert part.streams["seed"].tolist() == [0, 1, 1] and part.streams["length"].tolist() == [5, 6, 7]
    assert part.streams["symbol"].tolist() == [1, 2, 3]


class Quiet(Listener):
    """The protocol's own no-ops."""


class Counting(Listener):
    """Counts its evaluations; keeps that count across a checkpoint."""

    def __init__(self):
        self.evaluations = 0

    def on_eval(self, step, rows):
        self.evaluations += 1

    def on_checkpoint(self, step):
        return {"evaluations": self.evaluations}

    def on_resume(self, state):
        self.evaluations = state["evaluations"]


def test_listeners_tell_each_in_turn_and_hand_each_its_own_state_back():
    memory, counting = MemorySink(), Counting()
    both = Listeners([memory, counting, Quiet()])
    both.on_eval(0, [{"step": 0}])
    both.on_diagnostics(0, {"lyapunov": np.ones((1, 2))})
    assert memory.rows == [{"step": 0}] and counting.evaluations == 1
    assert memory.result()[3]["step"].tolist() == [0]
    state = both.on_checkpoint(10)
    assert state == [None, {"evaluations": 1}, None]
    again = Counting()
    Listeners([MemorySink(), again, Quiet()]).on_resume(state)
    assert again.evaluations == 1
    assert Listeners([MemorySink()]).on_checkpoint(10) is None  # nothing to keep
