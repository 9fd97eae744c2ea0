"""The copy memory problem of Arjovsky, Shah & Bengio (2016), variant ``"arjovsky2016"``.

A sequence shows 10 data symbols, then a long stretch of blanks, then a delimiter; the
network must then reproduce the 10 symbols in order. Generation rules (the paper and
``memory_problem.py`` of ``amarshah/complex_RNN``), for nominal length ``T``:

- alphabet of 10 symbols: 0 = blank, 1..8 = data, 9 = delimiter; inputs are one-hot
  (``input_size = 10``);
- input (length ``T + 20``): 10 data symbols drawn independently and uniformly from 1..8,
  then ``T - 1`` blanks, the delimiter (at step ``T + 9``), then 10 blanks;
- target: ``T + 10`` blanks, then the 10 data symbols in order (classification with
  ``output_size = 10`` classes at every step; the mask is 1 everywhere);
- loss: mean softmax cross-entropy over all ``T + 20`` steps (and the batch), as in the
  code;
- memoryless baseline: predict blank for the first ``T + 10`` steps and a uniform guess
  over the 8 data symbols for the last 10: cross-entropy ``10 log(8) / (T + 20)``.

The paper reports only the loss against that baseline (LSTM beats it only at T = 100; T in
100, 200, 300, 500). This suite adds a per-sequence criterion: a sequence is correct when
all 10 recalled symbols are right (argmax at the last 10 steps; the blank steps do not
count), and ``solved`` asks that at least 99% of ``eval_size = 10000`` fresh sequences
(the code's test-set size) be correct; report the loss relative to ``baseline_loss`` too.
The TCN repository's version, which repeats the delimiter, is a different task and is not
offered.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from carousel_checks import check_choice, check_positive
from tasks.base import Batch, Task, masked_cross_entropy

N_SYMBOLS = 10
N_RECALL = 10
BLANK = 0
DELIMITER = 9
N_DATA = 8  # data symbols 1..8
SOLVED_CORRECT_FRACTION = 0.99


@dataclasses.dataclass(frozen=True)
class CopyTask(Task):
    """Copy memory (Arjovsky et al. 2016): recall 10 symbols after ``length`` blank steps."""

    variant: str = "arjovsky2016"
    length: int = 100

    name: ClassVar[str] = "copy"
    VARIANTS: ClassVar[tuple[str, ...]] = ("arjovsky2016",)
    target: ClassVar[str] = "classification"
    target_range: ClassVar[None] = None  # softmax cross-entropy on logits

    def __post_init__(self) -> None:
        check_choice("copy variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)

    @property
    def input_size(self) -> int:
        return N_SYMBOLS

    @property
    def output_size(self) -> int:
        return N_SYMBOLS

    @property
    def max_length(self) -> int:
        return self.length + 2 * N_RECALL

    @property
    def eval_size(self) -> int:
        """The test-set size of Arjovsky et al.'s code (1e4 sequences)."""
        return 10000

    @property
    def baseline_loss(self) -> float:
        """Cross-entropy of the memoryless predictor: 10 log(8) / (T + 20)."""
        return N_RECALL * math.log(N_DATA) / self.max_length

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        t_len = self.max_length
        data = jax.random.randint(key, (batch_size, N_RECALL), 1, N_DATA + 1)
        blanks_in = jnp.zeros((batch_size, self.length - 1), dtype=data.dtype)
        delim = jnp.full((batch_size, 1), DELIMITER, dtype=data.dtype)
        tail = jnp.zeros((batch_size, N_RECALL), dtype=data.dtype)
        symbols = jnp.concatenate([data, blanks_in, delim, tail], axis=1)
        blanks_out = jnp.zeros((batch_size, self.length + N_RECALL), dtype=data.dtype)
        y = jnp.concatenate([blanks_out, data], axis=1).astype(jnp.int32)
        x = jax.nn.one_hot(symbols, N_SYMBOLS, dtype=jnp.float32)
        mask = jnp.ones((batch_size, t_len), dtype=jnp.float32)
        return Batch(x=x, y=y, mask=mask)

    def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """Mean softmax cross-entropy over all steps; ``outputs`` are logits ``[B, T + 20, 10]``."""
        return masked_cross_entropy(outputs, batch)

    def correct(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """``bool[B]``: the argmax is right at all of the last 10 (recall) steps."""
        pred = jnp.argmax(outputs[:, -N_RECALL:, :], axis=-1)
        return jnp.all(pred == batch.y[:, -N_RECALL:], axis=-1)

    def solved(self, eval_loss, correct_fraction) -> jax.Array:
        """Suite criterion: at least 99% of the sequences fully recalled."""
        return jnp.asarray(correct_fraction) >= SOLVED_CORRECT_FRACTION

    def describe(self) -> str:
        return (
            f"copy/{self.variant}: T={self.length} (length {self.max_length}), recall 10"
            f" symbols from 1..8 after the delimiter; loss: mean CE over all steps, baseline"
            f" 10 log 8/(T+20) = {self.baseline_loss:.4f}; correct: all 10 recalled;"
            f" solved: >= 99% of {self.eval_size} correct (Arjovsky et al. 2016)"
        )
