"""The two-sequence (latching) problem: a class given at the start, read out after noise.

Bengio, Simard & Frasconi (1994) introduced the problem of "latching" one bit of
information for a long time; Hochreiter & Schmidhuber (1997), Section 5.3, Experiment 3a
("Bengio et al.'s 2-sequence problem", noise and signal on the same input line) is the
version implemented here, variant ``"hochreiter1997"``.

Generation rules (per sequence, all drawn with ``jax.random``):

- class ``c`` in {0, 1}, each with probability 1/2;
- actual length ``l`` uniform on the integers ``T .. T + T // 10`` (both ends included;
  H&S let the length vary where Bengio et al. fix it);
- one input line: steps ``0 .. N-1`` (``N = n_info``; H&S Table 4 uses N = 3 and N = 1)
  are all ``+1.0`` for class 1 and all ``-1.0`` for class 0; steps
  ``N .. l-1`` are Gaussian noise with mean 0 and variance 0.2 (standard deviation
  ``sqrt(0.2)``); steps ``l ..`` are zero padding;
- regression target at the last valid step ``l-1``: ``1.0`` for class 1, ``0.0`` for
  class 0 (the mask is a one-hot at ``l-1``).

Loss: mean squared error at the last valid step. A sequence is classified correctly when
the absolute output error at the sequence end is below 0.2. H&S stop training, and count
the task as solved, once the average training error is below 0.01 and the 2,000 most
recent sequences were classified correctly; ``solved`` applies the same two conditions to
``eval_size = 2000`` fresh sequences: mean loss < 0.01 and every sequence correct.

Published (H&S 1997 Table 4, LSTM): T = 100, N = 3: 27,380 training sequences to success;
T = 1000, N = 3: 446,850. H&S's variants 3b (noise also on the informative elements) and
3c (targets 0.2/0.8 with target noise) are not in the suite's specification and are not
offered.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import jax
import jax.numpy as jnp

from carousel_checks import check_choice, check_positive
from tasks.base import Batch, Task, masked_mse

NOISE_VARIANCE = 0.2
CORRECT_ABS_ERROR = 0.2
SOLVED_MEAN_LOSS = 0.01


@dataclasses.dataclass(frozen=True)
class LatchingTask(Task):
    """Bengio et al.'s two-sequence problem as H&S 1997 Experiment 3a.

    ``length`` is T (actual lengths T .. T + T//10, right-padded to ``max_length``);
    ``n_info`` is N, the number of leading class-carrying elements.
    """

    variant: str = "hochreiter1997"
    length: int = 100
    n_info: int = 3

    name: ClassVar[str] = "latching"
    VARIANTS: ClassVar[tuple[str, ...]] = ("hochreiter1997",)
    target: ClassVar[str] = "regression"
    target_range: ClassVar[tuple[float, float]] = (0.0, 1.0)  # squared error on 1 or 0

    def __post_init__(self) -> None:
        check_choice("latching variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)
        check_positive("task.n_info", self.n_info)
        if self.n_info > self.length:
            raise ValueError(f"task.n_info must not exceed task.length ({self.length}), got {self.n_info}")

    @property
    def input_size(self) -> int:
        return 1

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        return self.length + self.length // 10

    @property
    def eval_size(self) -> int:
        """H&S judge success on the 2,000 most recent sequences."""
        return 2000

    @property
    def baseline_loss(self) -> float:
        """MSE of the best memoryless predictor (always 0.5, classes equally likely).

        Derived, not a published figure: (0.5^2 + 0.5^2) / 2 = 0.25.
        """
        return 0.25

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        k_cls, k_len, k_noise = jax.random.split(key, 3)
        t_len = self.max_length
        cls = jax.random.bernoulli(k_cls, 0.5, (batch_size,))
        lengths = jax.random.randint(k_len, (batch_size,), self.length, t_len + 1)
        noise = math.sqrt(NOISE_VARIANCE) * jax.random.normal(k_noise, (batch_size, t_len), dtype=jnp.float32)
        steps = jnp.arange(t_len)[None, :]
        sign = jnp.where(cls, 1.0, -1.0).astype(jnp.float32)[:, None]
        x = jnp.where(steps < self.n_info, sign, noise)
        x = jnp.where(steps < lengths[:, None], x, 0.0)
        mask = (steps == lengths[:, None] - 1).astype(jnp.float32)
        y = mask * cls.astype(jnp.float32)[:, None]
        return Batch(x=x[..., None], y=y[..., None], mask=mask)

    def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """Mean squared error at each sequence's last valid step."""
        outputs = jnp.where(batch.mask[..., None] > 0, outputs, 0.0)
        return masked_mse(outputs, batch)

    def correct(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """True when the absolute error at the sequence end is below 0.2."""
        err = jnp.where(batch.mask > 0, jnp.abs(outputs[..., 0] - batch.y[..., 0]), 0.0)
        return jnp.sum(err, axis=-1) < CORRECT_ABS_ERROR

    def solved(self, eval_loss, correct_fraction) -> jax.Array:
        """H&S: average error below 0.01 and all of the 2,000 sequences correct."""
        return (jnp.asarray(eval_loss) < SOLVED_MEAN_LOSS) & (jnp.asarray(correct_fraction) >= 1.0)

    def describe(self) -> str:
        return (
            f"latching/{self.variant}: T={self.length} (l in {self.length}..{self.max_length}),"
            f" N={self.n_info} class values +-1 then N(0, 0.2) noise, target 1/0 at the end;"
            f" correct: abs error < 0.2; solved: mean MSE < 0.01 and all {self.eval_size}"
            " correct (Hochreiter & Schmidhuber 1997, Exp. 3a; Bengio et al. 1994)"
        )
