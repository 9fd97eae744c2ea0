"""The embedded Reber grammar (H&S 1997 Exp. 1) and its continual version (Gers et al. 2000).

Both tasks are next-symbol prediction over the 7 symbols ``B T P S X V E`` (indices 0..6,
one-hot inputs, 7 output logits).

Reber grammar (Reber 1967; the version of Cleeremans, Servan-Schreiber & McClelland 1989
used by H&S). A string is ``B``, a walk through six nodes, then ``E``; at every node with
two outgoing edges each edge is taken with probability 1/2::

    node 1: T -> 2 | P -> 3        node 4: X -> 3 | S -> 6
    node 2: S -> 2 | X -> 4        node 5: P -> 4 | V -> 6
    node 3: T -> 3 | V -> 5        node 6: E -> end

e.g. ``BTXSE``, ``BPVVE``, ``BTSSXXTVVE``, ``BPTVPXTTVVE``.

Embedded Reber grammar: ``B T <Reber string> T E`` or ``B P <Reber string> P E`` (the outer
branch, T or P with probability 1/2 each). The second symbol must be reproduced as the
penultimate one, after the whole inner string: that is the long-range dependency. Every
node's two outgoing symbols differ, so a prefix determines the automaton state, and the
set of legal next symbols after a prefix is the set of symbols the state can emit next
(after the inner ``E`` it is the single outer branch symbol).

Sampling is pure JAX: a ``lax.scan`` over ``max_length`` steps runs the flattened
automaton of the embedded grammar (:data:`_SYM`, :data:`_NEXT`) with one fair random bit
per step; the bit is ignored at nodes with a single outgoing edge.

Targets and loss (both variants): the target at step ``t`` is the multi-hot set of legal
symbols after the prefix ``s_0..s_t`` (float32 ``y [B, T, 7]``); the model emits 7 logits
per step, read as 7 independent sigmoid units as in H&S (seven output units, several
active at once). Loss: sigmoid binary cross-entropy, averaged over the 7 units and over
the masked steps. A step is correct when the units with ``sigmoid(logit) > 0.5`` (i.e.
``logit > 0``) are exactly the legal next symbols; a sequence is correct when every masked
step is. H&S's own wording is that the units of the possible next symbols are "always the
most active ones"; the fixed 0.5 threshold used here (the suite's specification) is
stricter and implies it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from carousel_checks import check_choice, check_positive
from tasks.base import Batch, Task

SYMBOLS = "BTPSXVE"
N_SYMBOLS = len(SYMBOLS)
_B, _T, _P, _S, _X, _V, _E = range(N_SYMBOLS)

# Flattened automaton of one embedded Reber string. State s emits _SYM[s, u] and moves to
# _NEXT[s, u] for the random bit u; states with one outgoing edge repeat it in both columns.
_START, _OUTER, _IN_B, _N1, _N2, _N3, _N4, _N5, _N6, _BRANCH, _END_E, _DONE = range(12)
_BRANCH_SYM = -1  # placeholder: emit the outer branch symbol (T or P) chosen at _OUTER
# fmt: off
_SYM = np.array([
    [_B, _B],            # _START: outer B
    [_T, _P],            # _OUTER: the branch, remembered until _BRANCH (T -> 0, P -> 1)
    [_B, _B],            # _IN_B: inner B (Reber node 0)
    [_T, _P],            # node 1
    [_S, _X],            # node 2
    [_T, _V],            # node 3
    [_X, _S],            # node 4
    [_P, _V],            # node 5
    [_E, _E],            # node 6: inner E
    [_BRANCH_SYM] * 2,   # _BRANCH: repeat the second symbol
    [_E, _E],            # _END_E: outer E
    [_B, _B],            # _DONE: nothing is emitted (padding); the entry is unused
], dtype=np.int32)
_NEXT = np.array([
    [_OUTER, _OUTER],
    [_IN_B, _IN_B],
    [_N1, _N1],
    [_N2, _N3],
    [_N2, _N4],
    [_N3, _N5],
    [_N3, _N6],
    [_N4, _N6],
    [_BRANCH, _BRANCH],
    [_END_E, _END_E],
    [_DONE, _DONE],
    [_DONE, _DONE],
], dtype=np.int32)
# fmt: on
_N_STATES = _SYM.shape[0]


def _legal_table() -> np.ndarray:
    """Multi-hot [state, 7]: the symbols a state can emit (the _BRANCH row is filled later)."""
    legal = np.zeros((_N_STATES, N_SYMBOLS), np.float32)
    for s in range(_N_STATES):
        if s not in (_BRANCH, _DONE):
            legal[s, _SYM[s]] = 1.0
    return legal


def _distance_table() -> np.ndarray:
    """Fewest symbols still to emit from each state until _DONE (Bellman iteration)."""
    dist = np.full(_N_STATES, 10**6, np.int64)
    dist[_DONE] = 0
    for _ in range(_N_STATES):
        dist = np.where(np.arange(_N_STATES) == _DONE, 0, 1 + dist[_NEXT].min(axis=1))
    return dist.astype(np.int32)


_LEGAL = _legal_table()
_DIST = _distance_table()
_SHORT = np.argmin(_DIST[_NEXT], axis=1).astype(np.int32)  # the bit of a shortest way out
MIN_STRING_LENGTH = int(_DIST[_START])  # 9, e.g. BTBTXSETE

# P(an embedded string is longer than n symbols), exact (dynamic programming over the
# automaton): n = 40: 5.7e-5, 50: 2.5e-6, 64: 3.3e-8, 80: 2.3e-10, 100: 4.5e-13. Mean
# length 12 (inner Reber string: mean 8, minimum 5).
DEFAULT_MAX_LENGTH = 64


class StreamPosition(NamedTuple):
    """Where a continual stream's automaton stands after its last symbol, per stream:
    ``state`` int32[B] (the flattened automaton's state, :data:`_NEXT`) and ``branch``
    int32[B] (the current string's outer branch, 0 for T and 1 for P; read only until the
    string's penultimate symbol repeats it)."""

    state: Array
    branch: Array


class StreamChunk(NamedTuple):
    """The next symbols of a batch of continual streams (:meth:`ContinualReberTask.sample_stream`):
    ``batch`` (inputs, legal-next targets, a mask of ones), ``starts`` bool[B, T] (the
    symbol is a string's first ``B``) and ``position``, where each stream stands after
    the chunk (pass it to the next call to go on)."""

    batch: Batch
    starts: Array
    position: StreamPosition


def stream_start(batch_size: int) -> StreamPosition:
    """The position of fresh streams: before a string's first symbol."""
    return StreamPosition(jnp.full((batch_size,), _START, jnp.int32), jnp.zeros((batch_size,), jnp.int32))


def _walk(
    bits: Array, position: StreamPosition, continual: bool, budget: int | None
) -> tuple[Array, Array, Array, Array, StreamPosition]:
    """Walk the automaton from ``position`` with one random bit per step (``bits [T, B]``).

    Returns symbols ``[B, T]`` (int32, -1 where nothing is emitted), the legal-next
    multi-hot ``[B, T, 7]`` after each emitted symbol, the state after each step, whether
    each step started at a string's beginning (``_START``), and the position after the
    last step. With ``continual`` the outer E leads back to _START (a stream of strings).
    With a ``budget`` (a string must end within that many symbols), a random choice that
    would leave too few steps to finish is replaced by a shortest way out.
    """
    n_steps = bits.shape[0]
    # Steps left (this one included) for the string to finish; no limit without a budget.
    budget = budget if budget is not None else n_steps + MIN_STRING_LENGTH + 1
    remaining = budget - jnp.arange(n_steps, dtype=jnp.int32)
    sym_tab, next_tab = jnp.asarray(_SYM), jnp.asarray(_NEXT)
    legal_tab, dist, short = jnp.asarray(_LEGAL), jnp.asarray(_DIST), jnp.asarray(_SHORT)
    if continual:
        next_tab = jnp.where(next_tab == _DONE, _START, next_tab)

    def step(carry, inp):
        state, branch = carry
        u, left = inp
        too_long = 1 + dist[next_tab[state, u]] > left
        u = jnp.where(too_long, short[state], u)
        branch = jnp.where(state == _OUTER, u, branch)
        branch_sym = _T + branch  # T = 1, P = 2
        sym = sym_tab[state, u]
        sym = jnp.where(sym == _BRANCH_SYM, branch_sym, sym)
        sym = jnp.where(state == _DONE, -1, sym)
        nxt = next_tab[state, u]
        legal = jnp.where(
            (nxt == _BRANCH)[:, None],
            jax.nn.one_hot(branch_sym, N_SYMBOLS, dtype=jnp.float32),
            legal_tab[nxt],
        )
        return (nxt, branch), (sym, legal, nxt, state == _START)

    (state, branch), (sym, legal, nxt, starts) = jax.lax.scan(step, tuple(position), (bits, remaining))
    return sym.T, jnp.swapaxes(legal, 0, 1), nxt.T, starts.T, StreamPosition(state, branch)


def _bits(key: jax.Array, n_steps: int, batch_size: int) -> Array:
    """One fair random bit per step and sequence, ``[n_steps, batch_size]``."""
    return jax.random.bernoulli(key, 0.5, (n_steps, batch_size)).astype(jnp.int32)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _run_automaton(
    key: jax.Array, batch_size: int, n_steps: int, continual: bool, budget: int | None
) -> tuple[Array, Array, Array]:
    """Walk fresh sequences for ``n_steps`` steps (:func:`_walk` from the start): symbols,
    legal-next multi-hot and the state after each step."""
    sym, legal, nxt, _, _ = _walk(
        _bits(key, n_steps, batch_size), stream_start(batch_size), continual, budget
    )
    return sym, legal, nxt


@functools.partial(jax.jit, static_argnums=(1, 3))
def _stream(key: jax.Array, batch_size: int, position: StreamPosition, n_steps: int) -> StreamChunk:
    sym, legal, _, starts, position = _walk(_bits(key, n_steps, batch_size), position, True, None)
    x = jax.nn.one_hot(sym, N_SYMBOLS, dtype=jnp.float32)
    mask = jnp.ones((batch_size, n_steps), jnp.float32)
    return StreamChunk(Batch(x=x, y=legal, mask=mask), starts, position)


def _step_correct(logits: Array, batch: Batch) -> Array:
    """bool[B, T]: the units with logit > 0 are exactly the legal next symbols."""
    return jnp.all((logits > 0) == (batch.y > 0.5), axis=-1)


def _masked_sigmoid_bce(logits: Array, batch: Batch) -> Array:
    """Sigmoid BCE against the legal-next multi-hot, mean over units and masked steps."""
    bce = -(batch.y * jax.nn.log_sigmoid(logits) + (1.0 - batch.y) * jax.nn.log_sigmoid(-logits))
    per_step = jnp.mean(bce, axis=-1)
    return jnp.sum(per_step * batch.mask) / jnp.maximum(jnp.sum(batch.mask), 1.0)


@dataclasses.dataclass(frozen=True)
class EmbeddedReberTask(Task):
    """Embedded Reber grammar, H&S 1997 Experiment 1 (variant ``"hochreiter1997"``).

    One embedded Reber string per sequence, right-padded with zeros to ``max_length``
    (default 64). Step ``t`` inputs the one-hot symbol ``s_t`` (the final ``E`` included);
    the target is the legal-next multi-hot after ``s_0..s_t``. The mask is 1 on steps
    ``0 .. l-2`` (``l`` the string length): after the final ``E`` nothing follows.

    Strings are never truncated: in the rare case (probability 3.3e-8 per string at the
    default 64) that the random walk would not finish within ``max_length``, the sampler
    takes a shortest way to the end from the point where it must, so every string is
    grammatical and complete (only the length tail beyond ``max_length`` is cut off).
    ``max_length`` must be at least 9, the shortest string.

    Success (H&S Table 1): all ``eval_size = 256`` test strings correct (H&S use 256
    training and 256 separate test strings, following Cleeremans et al. 1989). Published
    (30 trials): LSTM 100% success; Elman net 0%; RTRL "some fraction"; H&S report the
    number of training sequences to success in Table 1.
    """

    variant: str = "hochreiter1997"
    max_length: int = DEFAULT_MAX_LENGTH

    name: ClassVar[str] = "reber"
    VARIANTS: ClassVar[tuple[str, ...]] = ("hochreiter1997",)
    target: ClassVar[str] = "regression"  # float multi-hot targets (multi-label)
    target_range: ClassVar[None] = None  # sigmoid binary cross-entropy on logits
    SYMBOLS: ClassVar[str] = SYMBOLS

    def __post_init__(self) -> None:
        check_choice("reber variant", self.variant, self.VARIANTS)
        check_positive("task.max_length", self.max_length)
        if self.max_length < MIN_STRING_LENGTH:
            raise ValueError(
                f"task.max_length must be >= {MIN_STRING_LENGTH} (the shortest embedded Reber"
                f" string), got {self.max_length}"
            )

    @property
    def length(self) -> int:
        """The padded sequence length (alias of ``max_length``)."""
        return self.max_length

    @property
    def input_size(self) -> int:
        return N_SYMBOLS

    @property
    def output_size(self) -> int:
        return N_SYMBOLS

    @property
    def eval_size(self) -> int:
        """H&S 1997: 256 separate test strings."""
        return 256

    @property
    def baseline_loss(self) -> None:
        """No trivial baseline is published for this task."""
        return None

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        sym, legal, nxt = _run_automaton(
            key, batch_size, self.max_length, continual=False, budget=self.max_length
        )
        emitted = sym >= 0
        x = jax.nn.one_hot(jnp.where(emitted, sym, 0), N_SYMBOLS, dtype=jnp.float32)
        x = x * emitted[..., None]
        mask = (emitted & (nxt != _DONE)).astype(jnp.float32)
        y = legal * mask[..., None]
        return Batch(x=x, y=y, mask=mask)

    def loss(self, outputs: Array, batch: Batch) -> Array:
        """Sigmoid binary cross-entropy, mean over the 7 units and the masked steps."""
        return _masked_sigmoid_bce(outputs, batch)

    def correct(self, outputs: Array, batch: Batch) -> Array:
        """bool[B]: at every masked step, ``logit > 0`` marks exactly the legal symbols.

        ``outputs``: logits ``[B, T, 7]``.
        """
        return jnp.all(_step_correct(outputs, batch) | (batch.mask == 0), axis=-1)

    def solved(self, eval_loss, correct_fraction) -> Array:
        """H&S: every test string predicted correctly (the loss is not part of it)."""
        del eval_loss
        return jnp.asarray(correct_fraction) >= 1.0

    def describe(self) -> str:
        return (
            f"reber/{self.variant}: embedded Reber strings padded to {self.max_length},"
            " next-symbol prediction, 7 sigmoid units vs the legal-next set; correct: units"
            " above 0.5 are exactly the legal symbols at every step; solved: all"
            f" {self.eval_size} strings correct (Hochreiter & Schmidhuber 1997, Exp. 1)"
        )


@dataclasses.dataclass(frozen=True)
class ContinualReberTask(Task):
    """Continual embedded Reber grammar, Gers, Schmidhuber & Cummins 2000 (``"gers2000"``).

    Embedded Reber strings are concatenated into one stream (the next string's ``B``
    directly follows the previous string's final ``E``; the model's state is never
    reset). Each sampled sequence is a stream of ``length`` symbols (default 1000)
    starting at a string's ``B``; the last string is cut off at ``length``. Targets, loss
    and step correctness are those of :class:`EmbeddedReberTask`, over every step (the
    mask is all ones); after an ``E`` that ends a string the legal next set is ``{B}``.

    Gers et al. call a network "perfect" after 10^6 consecutive correct predictions on
    one continual stream; published (100 networks): forget-gate LSTM 18% perfect, with
    learning-rate decay 62%, LSTM without forget gates about 0%. Here the measure is
    reported per stream of ``length`` steps: :meth:`consecutive_correct` counts the
    correct predictions from the start of each stream until its first error, and
    ``solved`` requires every step of ``eval_size = ceil(10^6 / length)`` fresh streams to
    be correct (10^6 predictions in total, 1000 streams at the default length; unlike
    Gers et al. the streams are independent, the state starting afresh in each).

    Training streams as Gers et al.'s (``train.schedule=stream``): :meth:`sample_stream`
    samples a stream in chunks of ``length`` symbols, each chunk going on where the one
    before stopped (:class:`StreamPosition`), so a stream can be as long as training
    lasts; ``length`` is then the chunk, not the stream.
    """

    variant: str = "gers2000"
    length: int = 1000

    name: ClassVar[str] = "continual_reber"
    VARIANTS: ClassVar[tuple[str, ...]] = ("gers2000",)
    target: ClassVar[str] = "regression"  # float multi-hot targets (multi-label)
    target_range: ClassVar[None] = None  # sigmoid binary cross-entropy on logits
    SYMBOLS: ClassVar[str] = SYMBOLS
    PERFECT_RUN: ClassVar[int] = 10**6

    def __post_init__(self) -> None:
        check_choice("continual_reber variant", self.variant, self.VARIANTS)
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
        """Streams whose steps total Gers et al.'s 10^6 predictions."""
        return math.ceil(self.PERFECT_RUN / self.length)

    @property
    def baseline_loss(self) -> None:
        """No trivial baseline is published for this task."""
        return None

    def sample(self, key: jax.Array, batch_size: int) -> Batch:
        """Fresh streams of ``length`` symbols: the first chunk of :meth:`sample_stream`."""
        return self.sample_stream(key, batch_size).batch

    def stream_position(self, batch_size: int) -> StreamPosition:
        """Where fresh streams start: before a string's first symbol."""
        return stream_start(batch_size)

    def sample_stream(
        self,
        key: jax.Array,
        batch_size: int,
        position: StreamPosition | None = None,
        length: int | None = None,
    ) -> StreamChunk:
        """The next ``length`` (default ``task.length``) symbols of ``batch_size`` continual
        streams that stand at ``position`` (default: fresh streams), and where they stand
        after them: a stream of any length is sampled in chunks, each call going on where
        the one before stopped (one fair random bit per symbol, drawn from ``key``; the
        chunk is a pure function of ``key`` and ``position``). ``starts`` marks the symbols
        that begin a string (the outer ``B``), where a new training stream may begin
        (``train.schedule=stream``, :func:`benchmarks.core.online.stream_chunk`)."""
        position = self.stream_position(batch_size) if position is None else position
        return _stream(key, batch_size, position, self.length if length is None else length)

    def loss(self, outputs: Array, batch: Batch) -> Array:
        """Sigmoid binary cross-entropy, mean over the 7 units and all steps."""
        return _masked_sigmoid_bce(outputs, batch)

    def correct(self, outputs: Array, batch: Batch) -> Array:
        """bool[B]: every step of the stream predicted correctly (``outputs`` ``[B, T, 7]``)."""
        return jnp.all(_step_correct(outputs, batch) | (batch.mask == 0), axis=-1)

    def consecutive_correct(self, outputs: Array, batch: Batch) -> Array:
        """int32[B]: correct predictions from the start of each stream until its first error.

        Equals ``length`` for a stream with no error and ``k`` when the first error is at
        step ``k`` (0-based). Gers et al.'s "perfect" needs 10^6 of these in one stream.
        """
        ok = _step_correct(outputs, batch) | (batch.mask == 0)
        return jnp.sum(jnp.cumprod(ok.astype(jnp.int32), axis=-1), axis=-1)

    def solved(self, eval_loss, correct_fraction) -> Array:
        """Every step of every evaluation stream correct (mean fraction correct >= 1)."""
        del eval_loss
        return jnp.asarray(correct_fraction) >= 1.0

    def describe(self) -> str:
        return (
            f"continual_reber/{self.variant}: streams of {self.length} symbols of concatenated"
            " embedded Reber strings, no state reset, 7 sigmoid units vs the legal-next set;"
            f" solved: all {self.eval_size} streams correct at every step ({self.PERFECT_RUN}"
            " predictions; Gers et al. 2000 'perfect' = 10^6 consecutive correct in one"
            " stream)"
        )
