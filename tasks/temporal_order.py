"""The temporal order problem: classify a sequence by the order of a few rare symbols.

A sequence of distractor symbols hides two (or three) informative symbols, each one of
two kinds, at widely separated random positions; the class is the ordered tuple of
their kinds and must be read out at the last step. Two published families exist under
this name and are offered as separate variants (never mixed):

``pascanu2013`` and ``pascanu2013_3bit`` (Pascanu, Mikolov & Bengio 2013, "On the
difficulty of training recurrent neural networks"; generators ``tempOrder.py`` and
``tempOrder3bit.py`` of the authors' ``trainingRNNs`` code):

- 6 one-hot input channels: 0 = A, 1 = B, 2..5 = the distractors c, d, e, f;
- every sequence has length ``l = T`` (``length``; T >= 10 so the windows are non-empty);
  every step holds a distractor drawn uniformly from {c, d, e, f}, except:
- with ``w = floor(l / 10)``: the first informative step ``p0`` is uniform on
  ``[w, 2w)``; for ``pascanu2013`` the second ``p1`` is uniform on
  ``[floor(l/2), floor(l/2) + w)``; for ``pascanu2013_3bit`` ``p1`` is uniform on
  ``[floor(3l/10), floor(3l/10) + w)`` and a third ``p2`` on
  ``[floor(6l/10), floor(6l/10) + w)`` (the windows never overlap);
- each informative step shows A (bit 0) or B (bit 1), each with probability 1/2;
- class ``v0 + 2 v1`` (4 classes) or ``v0 + 2 v1 + 4 v2`` (8 classes), as in the code
  (the *first* symbol is the least significant bit).

Loss: softmax cross-entropy at the last step. A sequence is correct when the argmax at
the last step is its class; solved when fewer than 1% of 10,000 fresh sequences are
wrong (the paper's criterion; the released code stops at 0 errors). Trivial baseline:
the uniform prediction gives cross-entropy log 4 (log 8 for 3 bits); classes are
balanced, 1/4 (1/8) each.

``hochreiter1997_6a`` and ``hochreiter1997_6b`` (Hochreiter & Schmidhuber 1997, "Long
short-term memory", Section 5.6, Experiment 6a / 6b):

- 8 one-hot input channels, in this order: 0 = E, 1 = B, 2..5 = a, b, c, d, 6 = X, 7 = Y;
- the actual length ``l`` is uniform on the integers 100..110 (both ends included) and
  batches are right-padded with zeros to 110; the ``length`` field is fixed by the
  paper, so it must stay at its default 100 (any other value raises);
- step 0 is E, step ``l - 1`` is the trigger B, every other step is uniform on
  {a, b, c, d}, except the relevant steps (0-based step indices, E at step 0): for 6a
  ``t1`` uniform on [10, 20] and ``t2`` on [50, 60]; for 6b ``t1`` on [10, 20], ``t2`` on
  [33, 43], ``t3`` on [66, 76] (all inclusive); each shows X or Y with probability 1/2;
- classes follow H&S's rules with X = 0, Y = 1 and the *first* symbol the most
  significant bit: 6a: XX -> Q = 0, XY -> R = 1, YX -> S = 2, YY -> U = 3; 6b: XXX -> Q = 0,
  XXY -> R = 1, XYX -> S = 2, XYY -> U = 3, YXX -> V = 4, YXY -> A = 5, YYX -> B = 6,
  YYY -> C = 7;
- regression target: the class's one-hot vector over 4 (6b: 8) output units at the
  last valid step only (the mask is a one-hot at ``l - 1``).

Loss: mean squared error (mean over output units) at the last valid step. A sequence is
classified correctly when the absolute error of *every* output unit is below 0.3. H&S
stop training once the average training error is below 0.1 and the 2,000 most recent
sequences were classified correctly; ``solved`` applies both conditions to
``eval_size = 2000`` fresh sequences (with this per-unit mean the loss condition is
implied by all sequences being correct). Trivial baseline (derived, not a published
figure): always predicting the class prior 1/K on every unit gives MSE (1/K)(1 - 1/K),
0.1875 for 6a and 0.109375 for 6b.

Published: Pascanu 2013 Figure 7 (success rate against length, 5 seeds per setting);
H&S 1997 Table 9: 6a solved after 31,390 training sequences, 6b after 571,100.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from carousel_checks import check_choice, check_positive
from tasks.base import (
    Batch,
    Task,
    masked_cross_entropy,
    masked_mse,
    per_sequence_all_argmax_correct,
)

PASCANU_EVAL_SIZE = 10_000
PASCANU_MAX_WRONG = 0.01
HOCHREITER_MIN_LENGTH = 100
HOCHREITER_MAX_LENGTH = 110
HOCHREITER_EVAL_SIZE = 2000
HOCHREITER_CORRECT_ABS_ERROR = 0.3
HOCHREITER_SOLVED_MEAN_LOSS = 0.1

# Inclusive windows [lo, hi] of the relevant steps in H&S's Experiment 6.
HOCHREITER_WINDOWS: dict[str, tuple[tuple[int, int], ...]] = {
    "hochreiter1997_6a": ((10, 20), (50, 60)),
    "hochreiter1997_6b": ((10, 20), (33, 43), (66, 76)),
}

# Input channels of the H&S variants.
H_E, H_B, H_FIRST_DISTRACTOR, H_X = 0, 1, 2, 6


@dataclasses.dataclass(frozen=True)
class TemporalOrderTask(Task):
    """Temporal order: classify by the order of 2 or 3 widely separated symbols.

    ``length`` is T for the Pascanu variants (every sequence has length T, T >= 10); the
    H&S variants fix the lengths to 100..110, so ``length`` must stay at 100 for them.
    """

    variant: str = "pascanu2013"
    length: int = 100

    name: ClassVar[str] = "temporal_order"
    VARIANTS: ClassVar[tuple[str, ...]] = (
        "pascanu2013",
        "pascanu2013_3bit",
        "hochreiter1997_6a",
        "hochreiter1997_6b",
    )

    def __post_init__(self) -> None:
        check_choice("temporal_order variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)
        if self.is_hochreiter and self.length != HOCHREITER_MIN_LENGTH:
            raise ValueError(
                f"temporal_order variant {self.variant!r} fixes the lengths to "
                f"{HOCHREITER_MIN_LENGTH}..{HOCHREITER_MAX_LENGTH}; task.length must be "
                f"{HOCHREITER_MIN_LENGTH} (the default), got {self.length!r}"
            )
        if not self.is_hochreiter and self.length < 10:
            raise ValueError(
                f"temporal_order variant {self.variant!r} needs task.length >= 10 "
                f"(its windows are floor(T/10) steps wide), got {self.length!r}"
            )

    @property
    def is_hochreiter(self) -> bool:
        return self.variant.startswith("hochreiter")

    @property
    def n_bits(self) -> int:
        """Number of informative symbols (2 or 3)."""
        return 3 if self.variant in ("pascanu2013_3bit", "hochreiter1997_6b") else 2

    @property
    def target(self) -> str:
        return "regression" if self.is_hochreiter else "classification"

    @property
    def target_range(self) -> tuple[float, float] | None:
        """H&S: squared error on one-hot targets in [0, 1]; Pascanu: cross-entropy on logits."""
        return (0.0, 1.0) if self.is_hochreiter else None

    @property
    def input_size(self) -> int:
        return 8 if self.is_hochreiter else 6

    @property
    def output_size(self) -> int:
        return 2**self.n_bits

    @property
    def max_length(self) -> int:
        return HOCHREITER_MAX_LENGTH if self.is_hochreiter else self.length

    @property
    def eval_size(self) -> int:
        return HOCHREITER_EVAL_SIZE if self.is_hochreiter else PASCANU_EVAL_SIZE

    @property
    def baseline_loss(self) -> float:
        """Loss of the best memoryless (constant) predictor.

        Pascanu: the uniform distribution, CE log(K). H&S (derived, not published): the
        class prior 1/K on every output unit, MSE (1/K)(1 - 1/K).
        """
        k = self.output_size
        if self.is_hochreiter:
            return (1.0 / k) * (1.0 - 1.0 / k)
        return math.log(k)

    def windows(self) -> tuple[tuple[int, int], ...]:
        """Inclusive [lo, hi] step windows of the informative symbols, in order."""
        if self.is_hochreiter:
            return HOCHREITER_WINDOWS[self.variant]
        t = self.length
        w = t // 10
        starts = (w, t // 2) if self.n_bits == 2 else (w, 3 * t // 10, 6 * t // 10)
        return tuple((s, s + w - 1) for s in starts)

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        k_pos, k_bit, k_dis, k_len = jax.random.split(key, 4)
        t_len = self.max_length
        n = self.n_bits
        lo = jnp.array([w[0] for w in self.windows()], dtype=jnp.int32)
        hi = jnp.array([w[1] for w in self.windows()], dtype=jnp.int32)
        pos = jax.random.randint(k_pos, (batch_size, n), lo, hi + 1)
        bits = jax.random.randint(k_bit, (batch_size, n), 0, 2)
        steps = jnp.arange(t_len)[None, :]
        if self.is_hochreiter:
            first = H_FIRST_DISTRACTOR
            sym = jax.random.randint(k_dis, (batch_size, t_len), first, first + 4)
            for i in range(n):
                sym = jnp.where(steps == pos[:, i : i + 1], H_X + bits[:, i : i + 1], sym)
            lengths = jax.random.randint(
                k_len, (batch_size, 1), HOCHREITER_MIN_LENGTH, HOCHREITER_MAX_LENGTH + 1
            )
            sym = jnp.where(steps == 0, H_E, sym)
            sym = jnp.where(steps == lengths - 1, H_B, sym)
            valid = steps < lengths
            x = jax.nn.one_hot(sym, 8, dtype=jnp.float32) * valid[..., None]
            weights = 2 ** jnp.arange(n - 1, -1, -1)  # first symbol most significant
            cls = jnp.sum(bits * weights, axis=-1)
            mask = (steps == lengths - 1).astype(jnp.float32)
            y = jax.nn.one_hot(cls, self.output_size, dtype=jnp.float32)[:, None, :]
            y = y * mask[..., None]
            return Batch(x=x, y=y, mask=mask)
        sym = jax.random.randint(k_dis, (batch_size, t_len), 2, 6)
        for i in range(n):
            sym = jnp.where(steps == pos[:, i : i + 1], bits[:, i : i + 1], sym)
        x = jax.nn.one_hot(sym, 6, dtype=jnp.float32)
        weights = 2 ** jnp.arange(n)  # first symbol least significant, as in the code
        cls = jnp.sum(bits * weights, axis=-1).astype(jnp.int32)
        y = jnp.broadcast_to(cls[:, None], (batch_size, t_len))
        mask = jnp.broadcast_to((steps == t_len - 1).astype(jnp.float32), (batch_size, t_len))
        return Batch(x=x, y=y, mask=mask)

    def loss(self, outputs: Float[Array, "b t o"], batch: Batch) -> Float[Array, ""]:
        """Pascanu: softmax CE at the last step. H&S: MSE (mean over units) at the end."""
        outputs = jnp.where(batch.mask[..., None] > 0, outputs, 0.0)
        if self.is_hochreiter:
            return masked_mse(outputs, batch)
        return masked_cross_entropy(outputs, batch)

    def correct(self, outputs: Float[Array, "b t o"], batch: Batch) -> Bool[Array, " b"]:
        """Pascanu: argmax right at the last step. H&S: every unit's abs error < 0.3."""
        if self.is_hochreiter:
            ok = jnp.all(jnp.abs(outputs - batch.y) < HOCHREITER_CORRECT_ABS_ERROR, axis=-1)
            return jnp.all(ok | (batch.mask == 0), axis=-1)
        return per_sequence_all_argmax_correct(outputs, batch)

    def solved(self, eval_loss, correct_fraction) -> Bool[Array, ""]:
        """Pascanu: < 1% wrong. H&S: mean loss < 0.1 and every sequence correct."""
        cf = jnp.asarray(correct_fraction)
        if self.is_hochreiter:
            return (jnp.asarray(eval_loss) < HOCHREITER_SOLVED_MEAN_LOSS) & (cf >= 1.0)
        return cf > 1.0 - PASCANU_MAX_WRONG

    def describe(self) -> str:
        spans = ", ".join(f"[{a},{b}]" for a, b in self.windows())
        if self.is_hochreiter:
            exp = self.variant.rsplit("_", 1)[1]
            return (
                f"temporal_order/{self.variant}: l in {HOCHREITER_MIN_LENGTH}.."
                f"{HOCHREITER_MAX_LENGTH}, X/Y at steps {spans}, {self.output_size} classes,"
                " MSE at the end; correct: every output's abs error < 0.3; solved: mean MSE"
                f" < 0.1 and all {self.eval_size} correct (Hochreiter & Schmidhuber 1997,"
                f" Exp. {exp})"
            )
        return (
            f"temporal_order/{self.variant}: T={self.length}, A/B at steps {spans},"
            f" {self.output_size} classes, softmax CE at the last step; correct: argmax;"
            f" solved: < 1% wrong on {self.eval_size} (Pascanu et al. 2013)"
        )
