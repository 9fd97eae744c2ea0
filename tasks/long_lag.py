"""Noise-free and distractor-filled long time lags: Hochreiter & Schmidhuber 1997, Exp. 2.

Both variants hide one binary choice (the symbol ``x`` or ``y``) at the start of a
sequence and ask for it at the end; in between the net sees symbols that say nothing
about it. Symbols are one-hot ("local") input vectors; targets are class indices
(softmax cross-entropy on logits; H&S trained sigmoid output units on squared error, the
suite's classification convention is used instead).

Variant ``"hochreiter1997_2a"`` (Task 2a, "noise-free sequences with long time lags"),
``length`` = p:

- p + 1 symbols ``a_1 .. a_{p-1}, a_p = x, a_{p+1} = y``; symbol ``a_i`` is index
  ``i - 1`` (so x = p - 1, y = p); ``input_size = output_size = p + 1``;
- exactly two sequences, each chosen with probability 1/2:
  ``(y, a_1, ..., a_{p-1}, y)`` and ``(x, a_1, ..., a_{p-1}, x)``, p + 1 elements;
- next-symbol prediction: the input is the first p elements, the target at step t is
  element t + 1, so steps ``0 .. p-2`` predict ``a_1 .. a_{p-1}`` and the last step
  (``p - 1``, input ``a_{p-1}``) must predict the first element; every step carries an
  error signal (mask all ones) as in the paper; ``max_length = p``;
- memoryless baseline (derived, not published): everything but the last target is
  deterministic, the last is a fair coin, so mean cross-entropy ``log(2) / p``.

Variant ``"hochreiter1997_2c"`` (Task 2c, "very long time lags, no local regularities"),
``length`` = q (the minimal time lag minus one), ``distractors`` = p (``None``: p = q):

- p + 4 symbols: distractors ``a_1 .. a_p`` (indices ``0 .. p-1``), ``e`` (p),
  ``b`` (p + 1), ``x`` (p + 2), ``y`` (p + 3); ``input_size = p + 4``;
- a sequence is ``(b, s, d_1, ..., d_{q+k}, e, s)`` with the trigger ``s`` in {x, y}
  (probability 1/2 each) and i.i.d. distractors ``d_j`` uniform on ``a_1 .. a_p``
  (the paper's index bound "``<= q``" is read as the evident typo for ``<= p``); H&S
  build it as a prefix of length q + 2 followed, step by step, by another distractor with
  probability 9/10 or ``e`` with probability 1/10, so ``k`` is geometric,
  ``P(k) = 0.1 * 0.9^k``, and the shortest sequence has q + 4 elements;
- static shapes need a bound: ``k`` is drawn from the geometric distribution
  *conditioned* on ``k <= max_extra`` (default 100, which removes a tail of mass
  ``0.9^101 ~ 2.4e-5``); ``max_length = q + max_extra + 3``;
- the net sees every element but the last (``l = q + k + 3`` input steps, right-padded
  with zero vectors) and gets an error signal only at the last input step (input ``e``),
  where the target is the trigger: class 0 for ``x``, class 1 for ``y``. As in the paper
  there are 2 output units (``output_size = 2``);
- memoryless baseline (derived): ``log(2)``.

Criterion (both variants, as the suite specifies it): a sequence is correct when the
argmax of the final prediction is the first symbol (2a) / the trigger (2c); solved when
every sequence of ``eval_size`` fresh ones is correct. ``eval_size`` is 256 for 2a (it has
only two distinct sequences) and 10,000 for 2c, the size of H&S's 2c criterion ("error of
both output units below 0.2 for 10,000 successive, randomly chosen input sequences";
argmax stands in for their 0.2 threshold on sigmoid outputs). H&S report LSTM solving 2a
with p = 100 and 2c in Table 3 for q up to 1000 (p from 50 to 1000).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from carousel_checks import check_choice, check_positive
from tasks.base import Batch, Task, masked_cross_entropy, per_sequence_all_argmax_correct

CONTINUE_PROB = 0.9  # 2c: probability of one more distractor before the trigger e


@dataclasses.dataclass(frozen=True)
class LongLagTask(Task):
    """H&S 1997 Experiment 2: variants 2a (two fixed sequences) and 2c (distractors).

    ``length`` is p for 2a and q for 2c; ``distractors`` (2c only) is p, ``None`` meaning
    p = q; ``max_extra`` (2c only) bounds the geometric number of extra distractors.
    """

    variant: str = "hochreiter1997_2a"
    length: int = 100
    distractors: int | None = None
    max_extra: int = 100

    name: ClassVar[str] = "long_lag"
    VARIANTS: ClassVar[tuple[str, ...]] = ("hochreiter1997_2a", "hochreiter1997_2c")
    target: ClassVar[str] = "classification"
    target_range: ClassVar[None] = None  # softmax cross-entropy on logits

    def __post_init__(self) -> None:
        check_choice("long_lag variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)
        check_positive("task.max_extra", self.max_extra)
        if self.distractors is not None:
            check_positive("task.distractors", self.distractors)
            if self.variant == "hochreiter1997_2a" and self.distractors != self.length:
                raise ValueError(
                    "task.distractors applies to hochreiter1997_2c only (in 2a p = length);"
                    f" got distractors={self.distractors} with length={self.length}"
                )

    @property
    def p(self) -> int:
        """The paper's p: 2a's sequence parameter, 2c's number of distractor symbols."""
        if self.variant == "hochreiter1997_2a":
            return self.length
        return self.length if self.distractors is None else self.distractors

    @property
    def input_size(self) -> int:
        return self.p + 1 if self.variant == "hochreiter1997_2a" else self.p + 4

    @property
    def output_size(self) -> int:
        return self.p + 1 if self.variant == "hochreiter1997_2a" else 2

    @property
    def max_length(self) -> int:
        if self.variant == "hochreiter1997_2a":
            return self.length
        return self.length + self.max_extra + 3

    @property
    def eval_size(self) -> int:
        return 256 if self.variant == "hochreiter1997_2a" else 10_000

    @property
    def baseline_loss(self) -> float:
        """Cross-entropy of the best memoryless predictor (derived, not published)."""
        if self.variant == "hochreiter1997_2a":
            return math.log(2.0) / self.length
        return math.log(2.0)

    # Symbol indices of 2c.
    @property
    def sym_e(self) -> int:
        return self.p

    @property
    def sym_b(self) -> int:
        return self.p + 1

    @property
    def sym_x(self) -> int:
        return self.p + 2

    @property
    def sym_y(self) -> int:
        return self.p + 3

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        if self.variant == "hochreiter1997_2a":
            return self._sample_2a(key, batch_size)
        return self._sample_2c(key, batch_size)

    def _sample_2a(self, key: jax.Array, batch_size: int) -> Batch:
        p = self.length
        is_y = jax.random.bernoulli(key, 0.5, (batch_size,))
        first = jnp.where(is_y, p, p - 1).astype(jnp.int32)[:, None]  # y = p, x = p - 1
        steps = jnp.arange(p, dtype=jnp.int32)[None, :]
        # input: (first, a_1, ..., a_{p-1}); a_i is index i - 1
        inputs = jnp.where(steps == 0, first, steps - 1)
        # target: (a_1, ..., a_{p-1}, first)
        labels = jnp.where(steps == p - 1, first, steps)
        x = jax.nn.one_hot(inputs, p + 1, dtype=jnp.float32)
        mask = jnp.ones((batch_size, p), jnp.float32)
        return Batch(x=x, y=labels.astype(jnp.int32), mask=mask)

    def _sample_2c(self, key: jax.Array, batch_size: int) -> Batch:
        q, p, t_len = self.length, self.p, self.max_length
        k_cls, k_extra, k_dist = jax.random.split(key, 3)
        is_y = jax.random.bernoulli(k_cls, 0.5, (batch_size,))
        # k ~ geometric P(k) = 0.1 * 0.9^k conditioned on k <= max_extra (inverse CDF).
        tail = CONTINUE_PROB ** (self.max_extra + 1)
        u = jax.random.uniform(k_extra, (batch_size,))
        k = jnp.floor(jnp.log1p(-u * (1.0 - tail)) / math.log(CONTINUE_PROB))
        k = jnp.clip(k.astype(jnp.int32), 0, self.max_extra)
        n_in = q + k + 3  # input steps: b, trigger, q + k distractors, e
        steps = jnp.arange(t_len, dtype=jnp.int32)[None, :]
        last = (n_in - 1)[:, None]
        trigger = jnp.where(is_y, self.sym_y, self.sym_x).astype(jnp.int32)[:, None]
        dist = jax.random.randint(k_dist, (batch_size, t_len), 0, p, dtype=jnp.int32)
        sym = jnp.where(steps == 0, self.sym_b, jnp.where(steps == 1, trigger, dist))
        sym = jnp.where(steps == last, self.sym_e, sym)
        sym = jnp.where(steps > last, -1, sym)  # one_hot(-1) is the zero padding vector
        x = jax.nn.one_hot(sym, p + 4, dtype=jnp.float32)
        mask = (steps == last).astype(jnp.float32)
        labels = (mask * is_y.astype(jnp.float32)[:, None]).astype(jnp.int32)
        return Batch(x=x, y=labels, mask=mask)

    def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """Mean softmax cross-entropy over the masked steps."""
        outputs = jnp.where(batch.mask[..., None] > 0, outputs, 0.0)
        return masked_cross_entropy(outputs, batch)

    def correct(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """True when the argmax at the sequence's final target step is right."""
        steps = jnp.arange(batch.mask.shape[1])[None, :]
        last = jnp.max(jnp.where(batch.mask > 0, steps, -1), axis=-1, keepdims=True)
        final_only = (steps == last).astype(batch.mask.dtype)
        return per_sequence_all_argmax_correct(outputs, batch._replace(mask=final_only))

    def solved(self, eval_loss, correct_fraction) -> jax.Array:
        """Every one of ``eval_size`` fresh sequences correct."""
        del eval_loss
        return jnp.asarray(correct_fraction) >= 1.0

    def describe(self) -> str:
        if self.variant == "hochreiter1997_2a":
            body = (
                f"p={self.length}: (x|y, a_1..a_{self.length - 1}, x|y), next-symbol prediction at every step"
            )
        else:
            body = (
                f"q={self.length}, p={self.p} distractors: (b, x|y, q+k distractors, e, x|y),"
                f" k~Geom(0.9)<= {self.max_extra}, prediction at the end only"
            )
        return (
            f"long_lag/{self.variant}: {body}; correct: final argmax right; solved: all"
            f" {self.eval_size} correct (Hochreiter & Schmidhuber 1997, Exp. 2)"
        )
