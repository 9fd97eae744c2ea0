"""Model registry: named presets over the cell families (rnn, lstm, gru).

A preset fixes the fields that make the named model what it is; every other
:class:`~models.base.ModelSpec` field keeps its default unless the config overrides it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from models.base import InitSpec, ModelSpec
from models.gru import GRUCell
from models.lstm import LSTMCell
from models.rnn import RNNCell
from models.scan import RecurrentNet
from tasks.base import check_choice

MODELS: dict[str, dict[str, Any]] = {
    "rnn": {"cell": "rnn", "activation": "tanh"},
    "lstm": {"cell": "lstm", "forget_gate": True},
    "lstm_nofg": {"cell": "lstm", "forget_gate": False},
    "gru": {"cell": "gru"},
}

SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(ModelSpec))


def make_spec(name: str, **overrides: Any) -> ModelSpec:
    """The spec of preset ``name`` with the non-``None`` overrides applied."""
    check_choice("model", name, tuple(MODELS))
    given = {k: v for k, v in overrides.items() if v is not None}
    for key in given:
        if key not in SPEC_FIELDS:
            raise ValueError(f"model has no field {key!r}; valid: {', '.join(SPEC_FIELDS)}")
    preset = dict(MODELS[name])
    init = {**dataclasses.asdict(preset.pop("init", InitSpec()))}
    user_init = given.pop("init", {})
    if isinstance(user_init, InitSpec):
        user_init = dataclasses.asdict(user_init)
    for key, value in user_init.items():
        if key not in init:
            raise ValueError(f"model.init has no field {key!r}; valid: {', '.join(init)}")
        if value is not None:
            init[key] = value
    return ModelSpec(**{**preset, **given, "init": InitSpec(**init)})


def make_model(name: str, input_size: int, output_size: int, **overrides: Any) -> RecurrentNet:
    return RecurrentNet(make_spec(name, **overrides), input_size, output_size)


__all__ = [
    "MODELS",
    "GRUCell",
    "InitSpec",
    "LSTMCell",
    "ModelSpec",
    "RNNCell",
    "RecurrentNet",
    "make_model",
    "make_spec",
]
