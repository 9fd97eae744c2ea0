"""Task registry: every long-dependency task by name, each with named paper variants."""

from __future__ import annotations

import dataclasses
from typing import Any

from carousel_checks import check_choice
from tasks.adding import AddingTask, MultiplicationTask
from tasks.base import Batch, Task
from tasks.copy import CopyTask
from tasks.digits import SequentialDigitsTask
from tasks.latching import LatchingTask
from tasks.long_lag import LongLagTask
from tasks.memorization import MemorizationTask, PermutationTask
from tasks.reber import ContinualReberTask, EmbeddedReberTask
from tasks.temporal_order import TemporalOrderTask

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        AddingTask,
        MultiplicationTask,
        CopyTask,
        TemporalOrderTask,
        MemorizationTask,
        PermutationTask,
        EmbeddedReberTask,
        ContinualReberTask,
        LatchingTask,
        LongLagTask,
        SequentialDigitsTask,
    )
}


def task_fields(name: str) -> tuple[str, ...]:
    """The config fields that the task ``name`` accepts."""
    return tuple(f.name for f in dataclasses.fields(TASKS[name]))


def make_task(name: str, **fields: Any) -> Task:
    """Build a task by name; ``None``-valued fields fall back to the task's defaults.

    Raises a one-line ValueError naming the valid choices for an unknown name, variant
    or field.
    """
    check_choice("task", name, tuple(TASKS))
    accepted = task_fields(name)
    given = {k: v for k, v in fields.items() if v is not None}
    for key in given:
        if key not in accepted:
            raise ValueError(f"task {name!r} has no field {key!r}; valid: {', '.join(accepted)}")
    return TASKS[name](**given)


__all__ = ["TASKS", "Batch", "Task", "make_task", "task_fields"]
