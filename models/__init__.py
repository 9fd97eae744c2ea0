"""Model registry: named presets over the cell families (rnn, lstm, gru).

A preset fixes the fields that make the named model what it is (and its initialisers,
under ``"init"``); every other :class:`~models.base.ModelSpec` field keeps its default
unless the config overrides it. Each preset has its ``conf/model/<name>.yaml``.

LSTM variants (Greff et al. 2015, "LSTM: A Search Space Odyssey"). Greff et al.'s
reference "vanilla" LSTM has peepholes and a forget gate and each of their variants
changes one thing of it; so does every ``lstm_<variant>`` preset here, which therefore
sets ``peepholes=True``. Two exceptions: ``lstm`` is their NP variant (no peepholes, the
common modern LSTM and this package's default), and ``lstm_nofg`` is the 1997 LSTM (no
forget gate, no peepholes; Greff et al.'s NFG is ``lstm_nofg`` + ``model.peepholes=true``).

``lstm1997`` is Hochreiter & Schmidhuber 1997's cell as the paper describes it, where
``lstm_nofg`` keeps only its carousel. Each field and the paper fact it implements (Sec. 4
for the cell, Sec. 5 for the experiments, App. A for the squashing functions; *uncertain*
marks what this suite could not check against the paper's text):

- ``forget_gate=False``: no forget gate, f == 1 exactly (the forget gate came in 2000).
- ``block_size=2``: memory-cell blocks of 2 cells sharing one input and one output gate.
- ``hidden=4``: 2 blocks of 2 cells, the adding and multiplication nets (Sec. 5.4, 5.5;
  the size the ``hochreiter1997`` study uses there). Not the suite's default 50, because
  ``input_gate_biases`` holds one value per block: ``model.hidden=8`` needs 4 values
  (``model.input_gate_biases=[...]``), or ``[]`` for ``model.bias`` on every input gate.
- ``input_gate_biases=(-3.0, -6.0)``: negative initial input-gate biases, more negative
  block by block: the paper's remedy for the drift of the cell states at the start of
  learning (input gates biased towards zero, Sec. 4 and the adding experiment), which also
  switches the blocks on one after another. *Uncertain*: the values (recalled, not read
  from the text: -3 and -6 style for adding and multiplication, -1, -2, -3, -4 for the
  Reber experiment's four blocks), and which experiments gave block-wise values to the
  output gates instead. The other biases stay at ``bias`` (0; *uncertain*: the paper's
  output-gate biases).
- ``squashing="hochreiter1997"``: g(x) = 4 sigmoid(x) - 2 on the cell input, h(x) =
  2 sigmoid(x) - 1 on the cell state before the output gate.
- ``readout="sigmoid"``: sigmoid output units, for the tasks with a squared error on
  targets in [0, 1] (a task whose loss reads logits refuses it: the trainer says which).
- ``init``: every weight from U[-0.1, 0.1] (the range of most of the paper's experiments;
  *uncertain* per experiment, some used [-0.2, 0.2]).

What the preset cannot hold: the 1997 learning rule (``train.gradient=truncated``) and its
online updates (``train.schedule=step``, or ``stream`` on continual streams), and each
experiment's own sizes (``model.hidden`` with ``model.input_gate_biases``). Gers et al.
2000's cell is this one with ``model.forget_gate=true`` and their block-wise biases
(``model.forget_gate_biases``, ``model.output_gate_biases``).

Vanilla RNN initialisations: Pascanu et al. 2013 (Sec. 5) train "sigmoid" (weights from
N(0, 0.01^2)), "basic tanh" (N(0, 0.1^2)) and "smart tanh" networks (W_hh sparse with 15
non-zero incoming weights per unit, spectral radius 0.95, after Sutskever et al. 2013).
Their text gives one distribution for all weights of the first two, so input and readout
kernels are drawn from it too; the smart net differs from the basic one in W_hh only.
The IRNN (Le et al. 2015) has W_hh = I, zero biases and the other weights from
N(0, 0.001^2).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from carousel_checks import check_choice
from models.base import InitSpec, ModelSpec
from models.gru import GRUCell
from models.lstm import LSTMCell
from models.rnn import RNNCell
from models.scan import RecurrentNet


def _normal(std: float) -> InitSpec:
    return InitSpec(
        input="normal",
        input_scale=std,
        recurrent="normal",
        recurrent_scale=std,
        readout="normal",
        readout_scale=std,
    )


_PEEPHOLE = {"cell": "lstm", "peepholes": True}

MODELS: dict[str, dict[str, Any]] = {
    # vanilla RNNs
    "rnn": {"cell": "rnn", "activation": "tanh"},
    "rnn_orthogonal": {
        "cell": "rnn",
        "activation": "tanh",
        "init": InitSpec(input="glorot", recurrent="orthogonal", recurrent_scale=1.0),
    },
    "rnn_sigmoid_pascanu": {"cell": "rnn", "activation": "sigmoid", "init": _normal(0.01)},
    "rnn_tanh_basic": {"cell": "rnn", "activation": "tanh", "init": _normal(0.1)},
    "rnn_tanh_smart": {
        "cell": "rnn",
        "activation": "tanh",
        "init": dataclasses.replace(
            _normal(0.1), recurrent="sparse", recurrent_scale=0.95, recurrent_nonzero=15
        ),
    },
    "irnn": {
        "cell": "rnn",
        "activation": "relu",
        "bias": 0.0,
        "init": InitSpec(
            input="normal",
            input_scale=0.001,
            recurrent="identity",
            recurrent_scale=1.0,
            readout="normal",
            readout_scale=0.001,
        ),
    },
    # LSTMs
    "lstm": {"cell": "lstm", "forget_gate": True},
    "lstm_nofg": {"cell": "lstm", "forget_gate": False},
    "lstm_peephole": {**_PEEPHOLE},
    "lstm_nig": {**_PEEPHOLE, "input_gate": False},
    "lstm_nog": {**_PEEPHOLE, "output_gate": False},
    "lstm_niaf": {**_PEEPHOLE, "input_activation": False},
    "lstm_noaf": {**_PEEPHOLE, "output_activation": False},
    "lstm_cifg": {**_PEEPHOLE, "coupled": True},
    "lstm_fgr": {**_PEEPHOLE, "full_gate_recurrence": True},
    "lstm1997": {
        "cell": "lstm",
        "forget_gate": False,
        "hidden": 4,
        "block_size": 2,
        "input_gate_biases": (-3.0, -6.0),
        "squashing": "hochreiter1997",
        "readout": "sigmoid",
        "init": InitSpec(
            input="uniform",
            input_scale=0.1,
            recurrent="uniform",
            recurrent_scale=0.1,
            readout="uniform",
            readout_scale=0.1,
        ),
    },
    # GRUs
    "gru": {"cell": "gru"},
    "gru_reset_after": {"cell": "gru", "reset_after": True},
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
