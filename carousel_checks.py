"""Validators shared by models, tasks and the engine: one-line errors that name what is valid.

A module of its own (not in ``tasks`` or ``models``) so that neither package imports the
other, and the engine imports both without either importing it back.
"""

from __future__ import annotations


def check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> None:
    """Raise a one-line ValueError naming the valid choices when ``value`` is not one."""
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(sorted(valid))}")


def check_positive(name: str, value: int) -> None:
    """Raise a one-line ValueError unless ``value`` is an int (not a bool) above zero."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
