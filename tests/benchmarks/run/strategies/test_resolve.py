"""Which strategy ``auto`` picks."""


def test_auto_strategy_on_the_cpu():
    from benchmarks.run.strategies import PROCESSES_MIN_MODEL_STEPS, resolve_strategy

    big = PROCESSES_MIN_MODEL_STEPS
    assert resolve_strategy("auto", 8, workers=2, steps=big) == "processes"
    assert resolve_strategy("auto", 8, workers=2, steps=10) == "loop"  # start-up would dominate
    assert resolve_strategy("auto", 1, workers=2, steps=big) == "loop"
    assert resolve_strategy("processes", 4, workers=1) == "loop"
    assert resolve_strategy("vmap", 4) == "vmap"
