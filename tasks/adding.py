"""The adding and multiplication problems: two marked values, combined at the sequence end.

Each step carries a pair (value, marker). Exactly two steps are marked with 1.0; the
network must output a function of the two marked values (``X1``, ``X2``) at the last
step. The problem exists in three incompatible published versions, offered here as named
variants that share one generator (``_sample_marked_pairs``); never mix them.

``"hochreiter1997"`` (Hochreiter & Schmidhuber 1997, Section 5.4 Experiment 4 (adding)
and Section 5.5 Experiment 5 (multiplication)):

- per-sequence length ``l`` uniform on the integers ``T .. T + T // 10`` (both included);
  batches are right-padded to ``max_length = T + T // 10``;
- channels ``(value, marker)``; values uniform in [-1, 1] (adding) or [0, 1]
  (multiplication) at every valid step;
- ``X1``: one of the first 10 pairs, uniformly; ``X2``: uniformly one of the first
  ``T // 2 - 1`` pairs that are still unmarked (the first ``T // 2`` pairs without X1's);
- marker 1.0 on the two marked pairs, -1.0 on the first and the last pair (unless the
  first pair is marked: then it keeps marker 1.0), 0.0 elsewhere;
- "in the rare case where the first pair gets marked" H&S set X1 to 0 (adding) or to 1.0
  (multiplication). Here the value of a marked first pair is replaced, whichever of the
  two markers lands there (X2 can be drawn at pair 0 too; the same rule is applied);
- target ``0.5 + (X1 + X2) / 4`` (adding: the sum scaled to [0, 1]) or ``X1 * X2``
  (multiplication) at the last valid step ``l - 1``;
- a sequence is correct when the absolute error at its end is below 0.04. H&S stop
  training once the average training error is below 0.01 and the 2,000 most recent
  sequences were all processed correctly; ``solved`` asks that all ``eval_size = 2000``
  fresh sequences be correct (this implies a mean squared error below 0.04^2 < 0.01, so
  the loss condition needs no separate test).

``"pascanu2013"`` (Pascanu, Mikolov & Bengio 2013; generator ``addition.py`` /
``multiplication.py`` of ``pascanur/trainingRNNs``):

- one length per batch: ``l = T + U{0 .. floor(0.1 T) - 1}``; batches are right-padded
  to ``max_length = T + max(floor(0.1 T) - 1, 0)``;
- channels ``(marker, value)``; values uniform in [0, 1] at every valid step (marked
  steps included);
- ``p0`` uniform on ``[0, floor(0.1 l))``; ``p1 = floor(0.1 l) + U{0 .. floor(0.4 l) - 1}``
  (the code's window, which can end a step or two before ``0.5 l``); markers 1.0 there,
  0.0 elsewhere;
- target ``(X1 + X2) / 2`` (adding) or ``X1 * X2`` (multiplication) at step ``l - 1``;
- a sequence is wrong when its squared error exceeds 0.04; the task is solved when fewer
  than 1% of ``eval_size = 10000`` fresh sequences are wrong (the paper's criterion; the
  code's own early stop waits for 0% wrong).

``"arjovsky2016"`` (Arjovsky, Shah & Bengio 2016; ``adding_problem.py`` of
``amarshah/complex_RNN``; adding only):

- fixed length ``l = T``; channels ``(value, marker)``; values uniform in [0, 1];
- ``p0`` uniform on ``[0, T // 2)``, ``p1`` uniform on ``[T // 2, 2 (T // 2))``;
- target ``X1 + X2`` at the last step;
- the paper's result is a loss curve against the trivial baseline 0.167 (always predicting
  1, whose MSE is Var(X1 + X2) = 1/6); ``eval_size = 10000`` is the code's test-set size.
  ``solved`` needs a margin noise cannot cross: this suite calls a seed solved when its
  evaluation MSE is below 1/12, half the baseline and the MSE of a network that knows one
  of the two numbers exactly and nothing of the other (Var U[0,1]). A constant-output net
  sits at 1/6 with a standard error of about 0.2/sqrt(eval_size), 0.006 at 1,000 sequences:
  a seed at 0.166 is noise around the baseline, not a solution (measured: LSTM and tanh-RNN
  seeds at 0.1662-0.1668 were counted solved under "MSE < 0.167" and then frozen by
  ``stop_when_solved``). The paper has no per-sequence criterion; ``correct`` (squared
  error below 0.04) is this suite's choice, the threshold of the Pascanu variant.

Published: H&S 1997 Table 7 (adding, LSTM): T = 100: 74,000 training sequences to
success; T = 500: 209,000; T = 1000: 853,000. Table 8 (multiplication): T = 100,
1,273,000 sequences. Arjovsky 2016: LSTM beats 0.167 up to T = 400.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp

from carousel_checks import check_choice, check_positive
from tasks.base import Batch, Task, masked_mse

HOCHREITER_ABS_ERROR = 0.04
SQUARED_ERROR_THRESHOLD = 0.04
PASCANU_MAX_WRONG_FRACTION = 0.01
ARJOVSKY_BASELINE_MSE = 0.167
ARJOVSKY_SOLVED_MSE = 1 / 12  # half the baseline: both numbers must be used (module docstring)

# Smallest T for which each variant's marker windows are non-empty and well separated:
# H&S needs the first 10 pairs to end before the last pair (l - 1 >= 10) and T // 2 - 1 >= 1;
# Pascanu needs floor(0.1 l) >= 1; Arjovsky needs T // 2 >= 1.
_MIN_LENGTH = {"hochreiter1997": 11, "pascanu2013": 10, "arjovsky2016": 2}


def _sample_marked_pairs(variant: str, length: int, multiply: bool, key: jax.Array, batch_size: int) -> Batch:
    """The shared generator of both tasks (see the module docstring for the rules)."""
    k_len, k_val, k_a, k_b = jax.random.split(key, 4)
    t = length
    if variant == "hochreiter1997":
        t_max = t + t // 10
        lengths = jax.random.randint(k_len, (batch_size,), t, t_max + 1)
        low = 0.0 if multiply else -1.0
        values = jax.random.uniform(k_val, (batch_size, t_max), minval=low, maxval=1.0)
        p_a = jax.random.randint(k_a, (batch_size,), 0, 10)
        r = jax.random.randint(k_b, (batch_size,), 0, t // 2 - 1)
        p_b = r + (r >= p_a).astype(r.dtype)  # skip the already marked pair
    elif variant == "pascanu2013":
        t_max = t + max(t // 10 - 1, 0)
        l_batch = t + jax.random.randint(k_len, (), 0, max(t // 10, 1))
        lengths = jnp.full((batch_size,), l_batch)
        values = jax.random.uniform(k_val, (batch_size, t_max))
        n0 = l_batch // 10  # floor(0.1 l), exact in integers
        n1 = (4 * l_batch) // 10  # floor(0.4 l)
        p_a = jax.random.randint(k_a, (batch_size,), 0, n0)
        p_b = n0 + jax.random.randint(k_b, (batch_size,), 0, n1)
    else:  # arjovsky2016
        t_max = t
        lengths = jnp.full((batch_size,), t)
        values = jax.random.uniform(k_val, (batch_size, t_max))
        half = t // 2
        p_a = jax.random.randint(k_a, (batch_size,), 0, half)
        p_b = half + jax.random.randint(k_b, (batch_size,), 0, half)

    steps = jnp.arange(t_max)[None, :]
    valid = steps < lengths[:, None]
    last = steps == lengths[:, None] - 1
    marked = (steps == p_a[:, None]) | (steps == p_b[:, None])
    if variant == "hochreiter1997":
        first_value = 1.0 if multiply else 0.0
        values = jnp.where(marked & (steps == 0), first_value, values)
        marker = jnp.where(marked, 1.0, jnp.where((steps == 0) | last, -1.0, 0.0))
    else:
        marker = marked.astype(jnp.float32)
    values = jnp.where(valid, values, 0.0).astype(jnp.float32)
    marker = jnp.where(valid, marker, 0.0).astype(jnp.float32)

    x1 = jnp.take_along_axis(values, p_a[:, None], axis=1)[:, 0]
    x2 = jnp.take_along_axis(values, p_b[:, None], axis=1)[:, 0]
    if multiply:
        target = x1 * x2
    elif variant == "hochreiter1997":
        target = 0.5 + (x1 + x2) / 4.0
    elif variant == "pascanu2013":
        target = (x1 + x2) / 2.0
    else:
        target = x1 + x2

    if variant == "pascanu2013":
        x = jnp.stack([marker, values], axis=-1)
    else:
        x = jnp.stack([values, marker], axis=-1)
    mask = last.astype(jnp.float32)
    y = (mask * target[:, None])[..., None]
    return Batch(x=x, y=y, mask=mask)


class _MarkedPairTask(Task):
    """Methods shared by the adding and multiplication tasks (fields live in subclasses)."""

    variant: str
    length: int
    name: ClassVar[str]
    VARIANTS: ClassVar[tuple[str, ...]]
    target: ClassVar[str] = "regression"
    _MULTIPLY: ClassVar[bool]

    def __post_init__(self) -> None:
        check_choice(f"{self.name} variant", self.variant, self.VARIANTS)
        check_positive("task.length", self.length)
        minimum = _MIN_LENGTH[self.variant]
        if self.length < minimum:
            raise ValueError(f"{self.name}/{self.variant} needs task.length >= {minimum}, got {self.length}")

    @property
    def target_range(self) -> tuple[float, float]:
        """Squared error on 0.5 + (X1 + X2) / 4 or X1 X2 in [0, 1], (X1 + X2) / 2 in [0, 1]
        (pascanu2013), X1 + X2 in [0, 2] (arjovsky2016)."""
        return (0.0, 2.0) if self.variant == "arjovsky2016" and not self._MULTIPLY else (0.0, 1.0)

    @property
    def input_size(self) -> int:
        return 2

    @property
    def output_size(self) -> int:
        return 1

    @property
    def max_length(self) -> int:
        t = self.length
        if self.variant == "hochreiter1997":
            return t + t // 10
        if self.variant == "pascanu2013":
            return t + max(t // 10 - 1, 0)
        return t

    @property
    def eval_size(self) -> int:
        """H&S: the 2,000 most recent sequences; Pascanu and Arjovsky: 10,000."""
        return 2000 if self.variant == "hochreiter1997" else 10000

    @property
    def baseline_loss(self) -> float | None:
        """Arjovsky et al.'s trivial baseline (always predict 1): MSE 0.167; else none."""
        if self.variant == "arjovsky2016" and not self._MULTIPLY:
            return ARJOVSKY_BASELINE_MSE
        return None

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        return _sample_marked_pairs(self.variant, self.length, self._MULTIPLY, key, batch_size)

    def loss(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """Mean squared error at each sequence's last valid step; ``outputs`` is ``[B, T_max, 1]``."""
        outputs = jnp.where(batch.mask[..., None] > 0, outputs, 0.0)
        return masked_mse(outputs, batch)

    def _end_error(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        diff = jnp.where(batch.mask > 0, outputs[..., 0] - batch.y[..., 0], 0.0)
        return jnp.sum(diff, axis=-1)

    def correct(self, outputs: jax.Array, batch: Batch) -> jax.Array:
        """``bool[B]``: H&S abs error < 0.04; Pascanu squared error <= 0.04; Arjovsky squared < 0.04."""
        err = self._end_error(outputs, batch)
        if self.variant == "hochreiter1997":
            return jnp.abs(err) < HOCHREITER_ABS_ERROR
        if self.variant == "pascanu2013":
            return err**2 <= SQUARED_ERROR_THRESHOLD
        return err**2 < SQUARED_ERROR_THRESHOLD

    def solved(self, eval_loss, correct_fraction) -> jax.Array:
        """H&S: all correct; Pascanu: < 1% wrong; Arjovsky: MSE below 1/12 (half the baseline)."""
        frac = jnp.asarray(correct_fraction)
        if self.variant == "hochreiter1997":
            return frac >= 1.0
        if self.variant == "pascanu2013":
            return frac > 1.0 - PASCANU_MAX_WRONG_FRACTION
        return jnp.asarray(eval_loss) < ARJOVSKY_SOLVED_MSE

    def _criterion(self) -> str:
        if self.variant == "hochreiter1997":
            return f"correct: abs error < 0.04; solved: all {self.eval_size} correct"
        if self.variant == "pascanu2013":
            return f"wrong: squared error > 0.04; solved: < 1% of {self.eval_size} wrong"
        return "solved: MSE < 1/12 (half the always-1 baseline 0.167); correct: squared error < 0.04"


_REFERENCES = {
    "hochreiter1997": "Hochreiter & Schmidhuber 1997",
    "pascanu2013": "Pascanu et al. 2013, pascanur/trainingRNNs",
    "arjovsky2016": "Arjovsky et al. 2016, amarshah/complex_RNN",
}


@dataclasses.dataclass(frozen=True)
class AddingTask(_MarkedPairTask):
    """The adding problem; ``variant`` picks the published version (see module docstring).

    ``length`` is the nominal length T.
    """

    variant: str = "pascanu2013"
    length: int = 100

    name: ClassVar[str] = "adding"
    VARIANTS: ClassVar[tuple[str, ...]] = ("hochreiter1997", "pascanu2013", "arjovsky2016")
    _MULTIPLY: ClassVar[bool] = False

    def describe(self) -> str:
        target = {
            "hochreiter1997": "0.5+(X1+X2)/4, values U[-1,1], l in T..T+T//10",
            "pascanu2013": "(X1+X2)/2, values U[0,1], one l per batch in T..T+T//10-1",
            "arjovsky2016": "X1+X2, values U[0,1], l = T",
        }[self.variant]
        return (
            f"adding/{self.variant}: T={self.length}, max_length={self.max_length}, target "
            f"{target}; {self._criterion()} ({_REFERENCES[self.variant]})"
        )


@dataclasses.dataclass(frozen=True)
class MultiplicationTask(_MarkedPairTask):
    """The multiplication problem (target X1 * X2, values U[0, 1]); layout as adding.

    ``max_wrong`` (hochreiter1997 only): the share of evaluation sequences that may be wrong
    when the task counts as solved. H&S stopped their multiplication runs at a share of
    wrong test sequences, not at "all correct" (Table 8: 139 of 2,560, and 14 of 2,560);
    0, the default, is the variant's all-correct rule."""

    variant: str = "pascanu2013"
    length: int = 100
    max_wrong: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.max_wrong < 1.0:
            raise ValueError(f"task.max_wrong must be a share in [0, 1), got {self.max_wrong!r}")
        if self.max_wrong and self.variant != "hochreiter1997":
            raise ValueError(
                f"task.max_wrong is H&S 1997's stopping rule (variant hochreiter1997); the {self.variant}"
                f" variant's rule is fixed: set task.max_wrong=0 or task.variant=hochreiter1997"
            )

    def solved(self, eval_loss, correct_fraction) -> jax.Array:
        """hochreiter1997: at most ``max_wrong`` of the evaluation sequences wrong (all correct
        at 0); the other variants as for adding."""
        if self.variant == "hochreiter1997":
            return jnp.asarray(correct_fraction) >= 1.0 - self.max_wrong
        return super().solved(eval_loss, correct_fraction)

    def _criterion(self) -> str:
        if self.variant == "hochreiter1997" and self.max_wrong:
            wrong = f"{self.max_wrong:.4%} of {self.eval_size}"
            return f"correct: abs error < 0.04; solved: at most {wrong} wrong"
        return super()._criterion()

    name: ClassVar[str] = "multiplication"
    VARIANTS: ClassVar[tuple[str, ...]] = ("hochreiter1997", "pascanu2013")
    _MULTIPLY: ClassVar[bool] = True

    def describe(self) -> str:
        lengths = {
            "hochreiter1997": "l in T..T+T//10, a marked first pair carries 1.0",
            "pascanu2013": "one l per batch in T..T+T//10-1",
        }[self.variant]
        return (
            f"multiplication/{self.variant}: T={self.length}, max_length={self.max_length},"
            f" target X1*X2, values U[0,1], {lengths}; {self._criterion()}"
            f" ({_REFERENCES[self.variant]})"
        )
