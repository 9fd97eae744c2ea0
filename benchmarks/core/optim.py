"""Optimizers and gradient-clipping presets as composable optax transformations.

Clipping presets (applied before the optimizer):
    none         no clipping
    global_norm  rescale the whole gradient to norm <= clip_value (Pascanu et al. 2013 use 1;
                 Sutskever et al. 2014 use 5)
    elementwise  clip every entry to [-clip_value, clip_value] (the uRNN code uses 1)

``regulariser`` is the weight alpha of Pascanu et al. 2013's vanishing-gradient
regulariser (0: off; the paper uses 4, their code 2): alpha * dOmega/dW_hh is added to the
vanilla RNN's recurrent gradient before clipping (:mod:`benchmarks.core.regulariser`).

The optimizer's *name* fixes the shape of its state and is part of the compiled program;
every number (learning rate, momentum, clipping kind and threshold, regulariser weight) is
a :class:`Hyper`, an input of the program carried in each model's training state. So
jobs that differ only in these numbers share one compiled program, and a packed sweep
(:mod:`benchmarks.run.pack`) trains them side by side in it. Clipping is one transformation
for all three presets: a global-norm threshold and an elementwise bound, each +inf when
its preset is off, which passes the gradient through unchanged (:func:`clip_by_global_norm`,
then ``optax.clip``).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from carousel_checks import check_choice, check_finite_fields
from models.linalg import tree_scaled

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


class Hyper(NamedTuple):
    """The numbers of an :class:`OptimSpec`, as arrays: one model's (scalars) or a stack."""

    lr: jax.Array
    momentum: jax.Array
    clip_kind: jax.Array  # int32: the index of the preset in CLIPPING
    clip_value: jax.Array
    regulariser: jax.Array


def hyper(spec: OptimSpec) -> Hyper:
    """The spec's numbers as float32 (the clipping kind as int32) scalars."""
    f32 = lambda v: jnp.asarray(v, jnp.float32)  # noqa: E731
    return Hyper(
        f32(spec.lr),
        f32(spec.momentum),
        jnp.asarray(CLIPPING.index(spec.clip), jnp.int32),
        f32(spec.clip_value),
        f32(spec.regulariser),
    )


def clip_by_global_norm(max_norm: float | jax.Array) -> optax.GradientTransformation:
    """Rescale the whole gradient to norm ``max_norm`` when its norm is larger.

    Why not ``optax.clip_by_global_norm``: it forms sqrt(sum g^2) of the raw gradient, which
    is inf once an entry passes ~1.8e19, and then returns g * max_norm / inf = 0, so an
    exploding step, the one clipping exists for, is silently skipped. Here the norm is
    m * r with m the largest magnitude and r = ||g / m|| in [1, sqrt(n)]
    (:func:`models.linalg.tree_scaled`), and the clipped gradient is (g / m) * (max_norm / r):
    a step of norm exactly ``max_norm`` (to float32 rounding) for every finite gradient, even
    one whose norm exceeds float32's range. A gradient with a non-finite entry passes
    through unchanged (its seed diverges there, :mod:`benchmarks.core.trainer`); ``max_norm`` =
    +inf passes every gradient through."""

    def update(updates, state, params=None):
        del params
        m, r = tree_scaled(updates)
        over = m * r > max_norm  # False for NaN; m * r = inf > any finite max_norm
        factor = max_norm / jnp.where(over, r, 1.0)
        clipped = jax.tree.map(lambda g: jnp.where(over, (g / m) * factor, g).astype(g.dtype), updates)
        return clipped, state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def clipping(h: Hyper) -> optax.GradientTransformation:
    """Global-norm clipping, then elementwise clipping, each with threshold +inf (the
    gradient unchanged) unless ``h.clip_kind`` names it."""
    inf = jnp.float32(jnp.inf)
    by_norm = jnp.where(h.clip_kind == CLIPPING.index("global_norm"), h.clip_value, inf)
    by_entry = jnp.where(h.clip_kind == CLIPPING.index("elementwise"), h.clip_value, inf)
    return optax.chain(clip_by_global_norm(by_norm), optax.clip(by_entry))


def make_optimizer(spec: OptimSpec, h: Hyper | None = None) -> optax.GradientTransformation:
    """The clipping preset chained with the named optimizer, its numbers from ``h``
    (default: the spec's own); only ``spec.name`` is read from the spec then."""
    h = hyper(spec) if h is None else h
    base = {
        "sgd": lambda: optax.sgd(h.lr),
        "momentum": lambda: optax.sgd(h.lr, momentum=h.momentum),
        "adam": lambda: optax.adam(h.lr),
        "rmsprop": lambda: optax.rmsprop(h.lr),
    }[spec.name]()
    return optax.chain(clipping(h), base)
