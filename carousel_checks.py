"""Validators shared by models, tasks and the engine: one-line errors that name what is valid.

A module of its own (not in ``tasks`` or ``models``) so that neither package imports the
other, and the engine imports both without either importing it back.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any


def check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> None:
    """Raise a one-line ValueError naming the valid choices when ``value`` is not one."""
    if value not in valid:
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(sorted(valid))}")


def check_positive(name: str, value: int) -> None:
    """Raise a one-line ValueError unless ``value`` is an int (not a bool) above zero."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_finite(name: str, value: float) -> None:
    """Raise a one-line ValueError unless ``value`` is a finite real number (not a bool):
    a NaN or infinite learning rate, scale or bias would only show as a diverged run."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")


def check_finite_fields(spec: Any, prefix: str) -> None:
    """:func:`check_finite` on every float field of the dataclass ``spec``, each named
    ``<prefix>.<field>`` as the config names it; so a float field added later is checked too."""
    for field in dataclasses.fields(spec):
        value = getattr(spec, field.name)
        if isinstance(value, float):
            check_finite(f"{prefix}.{field.name}", value)
