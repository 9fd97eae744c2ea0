"""Noiseless memorization and random permutation (Pascanu, Mikolov & Bengio 2013).

Both are among the pathological synthetic problems of "On the difficulty of training
recurrent neural networks" and follow the generators ``memorization.py`` and
``permutation.py`` of the authors' ``trainingRNNs`` code. One variant each,
``"pascanu2013"``.

Noiseless memorization (``MemorizationTask``), length ``T + 20``:

- 7 one-hot input channels: 0..4 = the five values, 5 = blank, 6 = go;
- steps 0..9 show the pattern: 10 values drawn independently and uniformly from 0..4
  (the code draws one of the 5^10 patterns uniformly, the same distribution);
- steps 10..T+19 show blank, except step ``T + 10``, which shows go;
- 6 output classes: 0..4 = the values, 5 = blank; the target is blank at steps
  0..T+9 and the pattern, in order, at steps T+10..T+19 (the first recalled value is due
  at the very step the go signal arrives, as in the code).

Loss: softmax cross-entropy averaged over *all* T + 20 steps (blank targets included),
as the code's ``'softmax'`` cost does (mask of ones). A sequence is wrong when the argmax
is wrong at any step (the code's ``report = 'all'``); solved when fewer than 1% of 10,000
fresh sequences are wrong. Baseline (derived, not a published figure): a predictor that
knows the layout but not the pattern (blank with certainty at the first T + 10 steps,
uniform over the 5 values at the last 10) has loss 10 log(5) / (T + 20).

Random permutation (``PermutationTask``), length ``T``:

- 100 one-hot input channels (symbols 0..99); step 0 shows a symbol uniform on {0, 1},
  steps 1..T-1 symbols uniform on {2..99};
- the target is the first symbol, predicted at the last step with a 100-way softmax.

Loss: softmax cross-entropy at the last step; correct when the argmax there is the
first symbol; solved when fewer than 1% of 10,000 fresh sequences are wrong. Trivial
baseline: the best memoryless predictor (1/2 on each of 0 and 1) has loss log 2.
Published: Pascanu 2013 report 2 of 5 runs succeeding.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from carousel_checks import check_choice, check_positive
from tasks.base import Batch, Task, masked_cross_entropy, per_sequence_all_argmax_correct

EVAL_SIZE = 10_000
MAX_WRONG = 0.01

N_VALUES = 5
N_POS = 10
BLANK = N_VALUES  # input channel and output class of the blank
GO = N_VALUES + 1  # input channel of the go signal

N_SYMBOLS = 100


def _masked_ce(outputs: Float[Array, "b t c"], batch: Batch) -> Float[Array, ""]:
    outputs = jnp.where(batch.mask[..., None] > 0, outputs, 0.0)
    return masked_cross_entropy(outputs, batch)


@dataclasses.dataclass(frozen=True)
class MemorizationTask(Task):
    """Pascanu 2013's noiseless memorization: recall 10 values from 5 after T blanks.

    ``length`` is T; every sequence has length ``T + 20``.
    """

    variant: str = "pascanu2013"
    length: int = 100

    name: ClassVar[str] = "memorization"
    VARIANTS: ClassVar[tuple[str, ...]] = ("pascanu2013",)
    target: ClassVar[str] = "classification"
    target_range: ClassVar[None] = None  # softmax cross-entropy on logits

    def __post_init__(self) -> None:
        check_choice("memorization variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)

    @property
    def input_size(self) -> int:
        return N_VALUES + 2

    @property
    def output_size(self) -> int:
        return N_VALUES + 1

    @property
    def max_length(self) -> int:
        return self.length + 2 * N_POS

    @property
    def eval_size(self) -> int:
        return EVAL_SIZE

    @property
    def baseline_loss(self) -> float:
        """Layout known, pattern unknown: 10 log(5) / (T + 20) (derived, not published)."""
        return N_POS * math.log(N_VALUES) / self.max_length

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        t_len = self.max_length
        go_step = self.length + N_POS
        pattern = jax.random.randint(key, (batch_size, N_POS), 0, N_VALUES)
        steps = jnp.arange(t_len)[None, :]
        shown = jnp.pad(pattern, ((0, 0), (0, t_len - N_POS)))
        recalled = jnp.pad(pattern, ((0, 0), (t_len - N_POS, 0)))
        sym = jnp.where(steps < N_POS, shown, jnp.where(steps == go_step, GO, BLANK))
        x = jax.nn.one_hot(sym, self.input_size, dtype=jnp.float32)
        y = jnp.where(steps >= t_len - N_POS, recalled, BLANK).astype(jnp.int32)
        mask = jnp.ones((batch_size, t_len), dtype=jnp.float32)
        return Batch(x=x, y=y, mask=mask)

    def loss(self, outputs: Float[Array, "b t c"], batch: Batch) -> Float[Array, ""]:
        """Softmax cross-entropy averaged over all T + 20 steps."""
        return _masked_ce(outputs, batch)

    def correct(self, outputs: Float[Array, "b t c"], batch: Batch) -> Bool[Array, " b"]:
        """True when the argmax is right at every step (blanks and recalled values)."""
        return per_sequence_all_argmax_correct(outputs, batch)

    def solved(self, eval_loss, correct_fraction) -> Bool[Array, ""]:
        """Fewer than 1% of the evaluation sequences wrong."""
        return jnp.asarray(correct_fraction) > 1.0 - MAX_WRONG

    def describe(self) -> str:
        return (
            f"memorization/{self.variant}: T={self.length} (length {self.max_length}),"
            f" 10 values from 5 shown at steps 0-9, go at step {self.length + N_POS},"
            " recall in the last 10; CE over all steps; correct: every step's argmax;"
            f" solved: < 1% wrong on {self.eval_size} (Pascanu et al. 2013)"
        )


@dataclasses.dataclass(frozen=True)
class PermutationTask(Task):
    """Pascanu 2013's random permutation: recall the first of T symbols at the end.

    ``length`` is T; every sequence has length T.
    """

    variant: str = "pascanu2013"
    length: int = 100

    name: ClassVar[str] = "permutation"
    VARIANTS: ClassVar[tuple[str, ...]] = ("pascanu2013",)
    target: ClassVar[str] = "classification"
    target_range: ClassVar[None] = None  # softmax cross-entropy on logits

    def __post_init__(self) -> None:
        check_choice("permutation variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)

    @property
    def input_size(self) -> int:
        return N_SYMBOLS

    @property
    def output_size(self) -> int:
        return N_SYMBOLS

    @property
    def max_length(self) -> int:
        return self.length

    @property
    def eval_size(self) -> int:
        return EVAL_SIZE

    @property
    def baseline_loss(self) -> float:
        """Best memoryless predictor, 1/2 on each of 0 and 1: log 2."""
        return math.log(2.0)

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        k_first, k_rest = jax.random.split(key)
        t_len = self.length
        first = jax.random.randint(k_first, (batch_size, 1), 0, 2)
        rest = jax.random.randint(k_rest, (batch_size, t_len), 2, N_SYMBOLS)
        steps = jnp.arange(t_len)[None, :]
        sym = jnp.where(steps == 0, first, rest)
        x = jax.nn.one_hot(sym, N_SYMBOLS, dtype=jnp.float32)
        y = jnp.broadcast_to(first, (batch_size, t_len)).astype(jnp.int32)
        mask = jnp.broadcast_to((steps == t_len - 1).astype(jnp.float32), (batch_size, t_len))
        return Batch(x=x, y=y, mask=mask)

    def loss(self, outputs: Float[Array, "b t c"], batch: Batch) -> Float[Array, ""]:
        """100-way softmax cross-entropy at the last step."""
        return _masked_ce(outputs, batch)

    def correct(self, outputs: Float[Array, "b t c"], batch: Batch) -> Bool[Array, " b"]:
        """True when the argmax at the last step is the first symbol."""
        return per_sequence_all_argmax_correct(outputs, batch)

    def solved(self, eval_loss, correct_fraction) -> Bool[Array, ""]:
        """Fewer than 1% of the evaluation sequences wrong."""
        return jnp.asarray(correct_fraction) > 1.0 - MAX_WRONG

    def describe(self) -> str:
        return (
            f"permutation/{self.variant}: T={self.length}, first symbol in {{0,1}}, the rest"
            " in {2..99}, predict the first at the end (100-way softmax); correct: argmax;"
            f" solved: < 1% wrong on {self.eval_size} (Pascanu et al. 2013)"
        )
