"""Optimizers and gradient-clipping presets as composable optax transformations.

Clipping presets (applied before the optimizer):
    none         no clipping
    global_norm  rescale the whole gradient to norm <= clip_value (Pascanu et al. 2013 use 1;
                 Sutskever et al. 2014 use 5)
    elementwise  clip every entry to [-clip_value, clip_value] (the uRNN code uses 1)

``regulariser`` is the weight alpha of Pascanu et al. 2013's vanishing-gradient
regulariser (0: off; the paper uses 4, their code 2): alpha * dOmega/dW_hh is added to the
vanilla RNN's recurrent gradient before clipping (:mod:`benchmarks.regulariser`).
"""

from __future__ import annotations

import dataclasses

import optax

from carousel_checks import check_choice, check_finite_fields

OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
CLIPPING = ("none", "global_norm", "elementwise")


@dataclasses.dataclass(frozen=True)
class OptimSpec:
    name: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    clip: str = "global_norm"
    clip_value: float = 1.0
    regulariser: float = 0.0

    def __post_init__(self) -> None:
        check_choice("optimizer", self.name, OPTIMIZERS)
        check_choice("clipping preset", self.clip, CLIPPING)
        check_finite_fields(self, "optim")
        if not self.lr > 0:
            raise ValueError(f"optim.lr must be positive, got {self.lr!r}")
        if self.clip != "none" and not self.clip_value > 0:
            raise ValueError(f"optim.clip_value must be positive, got {self.clip_value!r}")
        if self.regulariser < 0:
            raise ValueError(f"optim.regulariser must be >= 0 (0: off), got {self.regulariser!r}")


def clipping(spec: OptimSpec) -> optax.GradientTransformation:
    if spec.clip == "global_norm":
        return optax.clip_by_global_norm(spec.clip_value)
    if spec.clip == "elementwise":
        return optax.clip(spec.clip_value)
    return optax.identity()


def make_optimizer(spec: OptimSpec) -> optax.GradientTransformation:
    """The clipping preset chained with the named optimizer."""
    base = {
        "sgd": lambda: optax.sgd(spec.lr),
        "momentum": lambda: optax.sgd(spec.lr, momentum=spec.momentum),
        "adam": lambda: optax.adam(spec.lr),
        "rmsprop": lambda: optax.rmsprop(spec.lr),
    }[spec.name]()
    return optax.chain(clipping(spec), base)
