"""Tests for the embedded Reber grammar and its continual version.

The grammar is checked against an acceptor written here independently of the sampler's
automaton tables: the embedded Reber grammar as a regular expression (checked with
``re.fullmatch``), and the same expression as a small syntax tree whose Brzozowski
derivatives decide whether a prefix can still be completed to a grammatical string.
"""

from __future__ import annotations

import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tasks.reber import ContinualReberTask, EmbeddedReberTask

ALPHABET = "BTPSXVE"

# Reber grammar (Cleeremans et al. 1989), written out by hand as a regular expression:
# first reach the node entered by X from node 2 or P from node 5 ("node 4"), loop
# through X T* V P, then leave by S or X T* V V; or go P T* V V without visiting it.
REBER_RE = r"B(?:(?:TS*X|PT*VP)(?:XT*VP)*(?:S|XT*VV)|PT*VV)E"
EMBEDDED_RE = re.compile(rf"B(?:T{REBER_RE}T|P{REBER_RE}P)E")


# --- A tiny regular-expression engine on tuples, for prefix viability -----------------
# Nodes: ("empty",), ("eps",), ("sym", c), ("seq", a, b), ("alt", a, b), ("star", a).
# The smart constructors keep "empty" from appearing inside other nodes, so a node
# denotes the empty language exactly when it is ("empty",).
EMPTY, EPS = ("empty",), ("eps",)


def sym(c):
    return ("sym", c)


def seq(*parts):
    out = EPS
    for p in reversed(parts):
        if p == EMPTY or out == EMPTY:
            return EMPTY
        out = p if out == EPS else (out if p == EPS else ("seq", p, out))
    return out


def alt(*parts):
    opts = sorted({p for p in parts if p != EMPTY})
    if not opts:
        return EMPTY
    out = opts[0]
    for p in opts[1:]:
        out = ("alt", out, p)
    return out


def star(a):
    return EPS if a in (EMPTY, EPS) else ("star", a)


def word(s):
    return seq(*(sym(c) for c in s))


@functools.cache
def nullable(r) -> bool:
    kind = r[0]
    if kind in ("eps", "star"):
        return True
    if kind in ("empty", "sym"):
        return False
    if kind == "seq":
        return nullable(r[1]) and nullable(r[2])
    return nullable(r[1]) or nullable(r[2])


@functools.cache
def deriv(r, c):
    """The language {w : c w in L(r)}."""
    kind = r[0]
    if kind in ("empty", "eps"):
        return EMPTY
    if kind == "sym":
        return EPS if r[1] == c else EMPTY
    if kind == "alt":
        return alt(deriv(r[1], c), deriv(r[2], c))
    if kind == "star":
        return seq(deriv(r[1], c), r)
    first = seq(deriv(r[1], c), r[2])
    return alt(first, deriv(r[2], c)) if nullable(r[1]) else first


REBER_TREE = seq(
    sym("B"),
    alt(
        seq(
            alt(seq(sym("T"), star(sym("S")), sym("X")), seq(sym("P"), star(sym("T")), word("VP"))),
            star(seq(sym("X"), star(sym("T")), word("VP"))),
            alt(sym("S"), seq(sym("X"), star(sym("T")), word("VV"))),
        ),
        seq(sym("P"), star(sym("T")), word("VV")),
    ),
    sym("E"),
)
EMBEDDED_TREE = seq(
    sym("B"),
    alt(seq(sym("T"), REBER_TREE, sym("T")), seq(sym("P"), REBER_TREE, sym("P"))),
    sym("E"),
)


def after(prefix: str):
    r = EMBEDDED_TREE
    for c in prefix:
        r = deriv(r, c)
    return r


def accepts(s: str) -> bool:
    return nullable(after(s))


def legal_next(prefix: str) -> set[str]:
    """Symbols c such that prefix + c is a prefix of some grammatical string."""
    r = after(prefix)
    return {c for c in ALPHABET if deriv(r, c) != EMPTY}


def test_acceptor_itself():
    good = ["BTSSXXTVVE", "BPVVE", "BTXXVPSE", "BPVPXVPXVPXVVE", "BTSXXVPSE", "BPTVPXTTVVE"]
    bad = ["BTSSPXSE", "BPTVVB", "BTXXVVSE", "BPVSPSE", "BTSSSE", "BTXSEE", "BE"]
    for s in good:
        for outer in "TP":
            e = f"B{outer}{s}{outer}E"
            assert EMBEDDED_RE.fullmatch(e) and accepts(e), e
        assert not accepts(f"BT{s}PE") and not EMBEDDED_RE.fullmatch(f"BT{s}PE")
    for s in bad:
        e = f"BT{s}TE"
        assert not EMBEDDED_RE.fullmatch(e) and not accepts(e), e
    assert legal_next("") == {"B"}
    assert legal_next("B") == {"T", "P"}
    assert legal_next("BPBTSSX") == {"X", "S"}
    assert legal_next("BPBTXSE") == {"P"}
    assert legal_next("BPBTXSEP") == {"E"}
    assert legal_next("BPBTXSEPE") == set()


# --- helpers --------------------------------------------------------------------------


def decode(x_row: np.ndarray) -> str:
    """Symbols of the one-hot rows that are not padding."""
    on = x_row.sum(-1) > 0
    assert np.all(x_row[on].sum(-1) == 1.0) and np.all(x_row[on].max(-1) == 1.0)
    assert np.all(np.diff(on.astype(int)) <= 0), "padding only at the end"
    return "".join(ALPHABET[i] for i in np.argmax(x_row[on], -1))


def as_set(y_row: np.ndarray) -> set[str]:
    assert set(np.unique(y_row)) <= {0.0, 1.0}
    return {ALPHABET[i] for i in np.nonzero(y_row)[0]}


def perfect_logits(batch):
    return jnp.where(batch.y > 0.5, 5.0, -5.0)


@pytest.fixture(scope="module")
def reber_batch():
    task = EmbeddedReberTask()
    b = task.sample(jax.random.key(0), 2000)
    return task, jax.tree.map(np.asarray, b)


@pytest.fixture(scope="module")
def stream_batch():
    task = ContinualReberTask(length=600)
    b = task.sample(jax.random.key(1), 40)
    return task, jax.tree.map(np.asarray, b)


# --- embedded Reber ---------------------------------------------------------------------


def test_determinism_and_jit():
    for task in (EmbeddedReberTask(), ContinualReberTask(length=100)):
        a = task.sample(jax.random.key(3), 16)
        b = task.sample(jax.random.key(3), 16)
        c = task.sample(jax.random.key(4), 16)
        d = jax.jit(task.sample, static_argnums=1)(jax.random.key(3), 16)
        for u, v, w in zip(a, b, d, strict=True):
            np.testing.assert_array_equal(u, v)
            np.testing.assert_array_equal(u, w)
        assert not np.array_equal(a.x, c.x)
        assert a.x.shape == (16, task.max_length, 7) and a.x.dtype == jnp.float32
        assert a.y.shape == (16, task.max_length, 7) and a.y.dtype == jnp.float32
        assert a.mask.shape == (16, task.max_length) and a.mask.dtype == jnp.float32
        assert task.input_size == task.output_size == 7
    legacy = EmbeddedReberTask().sample(jax.random.PRNGKey(3), 16)  # legacy keys work too
    np.testing.assert_array_equal(legacy.x, EmbeddedReberTask().sample(jax.random.PRNGKey(3), 16).x)


def test_strings_grammatical_and_legal_sets(reber_batch):
    task, b = reber_batch
    lengths = []
    for i in range(b.x.shape[0]):
        s = decode(b.x[i])
        n = len(s)
        lengths.append(n)
        assert EMBEDDED_RE.fullmatch(s) and accepts(s), s
        assert s[1] == s[-2] and s[1] in "TP", s  # second and penultimate symbols match
        np.testing.assert_array_equal(b.mask[i], (np.arange(task.max_length) < n - 1))
        for t in range(n - 1):
            assert as_set(b.y[i, t]) == legal_next(s[: t + 1]), (s, t)
        assert not b.y[i, n - 1 :].any()
    lengths = np.array(lengths)
    # Exact length law (automaton dynamic programming): min 9, mean 12, P(l > 30) = 1.3e-3.
    assert lengths.min() == 9 and np.mean(lengths > 30) < 0.005
    assert abs(lengths.mean() - 12.0) < 0.3, lengths.mean()


def test_branch_balance(reber_batch):
    _, b = reber_batch
    outer = b.x[:, 1, :]  # second symbol: the outer branch
    inner = b.x[:, 3, :]  # first choice inside the Reber string
    for onehot in (outer, inner):
        t_frac = onehot[:, 1].mean()  # T
        p_frac = onehot[:, 2].mean()  # P
        assert t_frac + p_frac == 1.0
        assert abs(t_frac - 0.5) < 0.04, t_frac  # 2000 draws: sd 0.011
    # the outer branch and the inner choice are independent
    both_t = np.mean(outer[:, 1] * inner[:, 1])
    assert abs(both_t - 0.25) < 0.035, both_t


def test_short_max_length_still_grammatical():
    task = EmbeddedReberTask(max_length=12)
    b = jax.tree.map(np.asarray, task.sample(jax.random.key(5), 500))
    lengths = []
    for i in range(500):
        s = decode(b.x[i])
        lengths.append(len(s))
        assert accepts(s), s
        assert b.mask[i].sum() == len(s) - 1
    assert max(lengths) == 12 and min(lengths) == 9  # forced completions reach the end


def test_correct_and_loss(reber_batch):
    task, b = reber_batch
    b = jax.tree.map(jnp.asarray, b)
    logits = perfect_logits(b)
    assert bool(jnp.all(task.correct(logits, b)))
    np.testing.assert_allclose(task.loss(logits, b), math.log1p(math.exp(-5.0)), rtol=1e-5)
    np.testing.assert_allclose(task.loss(jnp.zeros_like(logits), b), math.log(2.0), rtol=1e-6)
    # garbage at padded steps changes neither loss nor correctness
    junk = jnp.where(b.mask[..., None] > 0, logits, 7.0)
    assert bool(jnp.all(task.correct(junk, b)))
    np.testing.assert_allclose(task.loss(junk, b), task.loss(logits, b), rtol=1e-6)
    # flipping one unit at a valid step fails exactly that sequence
    for i, t, unit in [(0, 0, 0), (7, 5, 3), (11, 2, 6)]:
        assert b.mask[i, t] == 1
        flipped = logits.at[i, t, unit].multiply(-1.0)
        ok = np.asarray(task.correct(flipped, b))
        assert not ok[i] and ok.sum() == ok.size - 1
    # the penultimate step (predict the outer branch): both T and P on is wrong
    n = int(b.mask[2].sum()) + 1
    both = logits.at[2, n - 3, 1:3].set(5.0)
    assert not bool(task.correct(both, b)[2])
    # a threshold just at 0 is not "above"
    assert not bool(task.correct(logits.at[4, 0, 1].set(0.0), b)[4])


def test_solved_and_metadata():
    task = EmbeddedReberTask()
    assert task.eval_size == 256 and task.length == task.max_length == 64
    assert bool(task.solved(0.3, 1.0)) and not bool(task.solved(0.0, 255 / 256))
    assert task.baseline_loss is None and task.target == "regression"
    assert "hochreiter1997" in task.describe() and "256" in task.describe()
    cont = ContinualReberTask()
    assert cont.length == cont.max_length == 1000 and cont.eval_size == 1000
    assert ContinualReberTask(length=300).eval_size == 3334
    assert bool(cont.solved(0.1, 1.0)) and not bool(cont.solved(0.0, 0.999))
    assert "gers2000" in cont.describe() and "10^6" in cont.describe()


def test_invalid_config():
    with pytest.raises(ValueError, match="valid: hochreiter1997"):
        EmbeddedReberTask(variant="gers2000")
    with pytest.raises(ValueError, match="valid: gers2000"):
        ContinualReberTask(variant="hochreiter1997")
    for bad in (0, -3):
        with pytest.raises(ValueError, match="positive"):
            ContinualReberTask(length=bad)
        with pytest.raises(ValueError, match="positive"):
            EmbeddedReberTask(max_length=bad)
    with pytest.raises(ValueError, match=">= 9"):
        EmbeddedReberTask(max_length=8)


# --- continual stream -------------------------------------------------------------------


def test_stream_is_concatenated_strings(stream_batch):
    task, b = stream_batch
    assert np.all(b.mask == 1.0)
    n_strings, outer_t = 0, 0
    for i in range(b.x.shape[0]):
        s = decode(b.x[i])
        assert len(s) == task.length and s[0] == "B"
        start = 0
        for t in range(task.length):
            cur = s[start : t + 1]
            if accepts(cur):  # a string just ended: the next one starts directly
                expected = {"B"}
                if t + 1 < task.length:
                    assert s[t + 1] == "B", (s, t)
                n_strings += 1
                outer_t += cur[1] == "T"
                start = t + 1
            else:
                expected = legal_next(cur)
                assert expected, (s, t)  # still a viable prefix
            assert as_set(b.y[i, t]) == expected, (s, t)
    assert n_strings > 0.9 * b.x.shape[0] * task.length / 12
    assert abs(outer_t / n_strings - 0.5) < 0.05


def test_consecutive_correct(stream_batch):
    task, b = stream_batch
    b = jax.tree.map(jnp.asarray, b)
    logits = perfect_logits(b)
    run = np.asarray(task.consecutive_correct(logits, b))
    assert run.dtype.kind == "i" and np.all(run == task.length)
    assert bool(jnp.all(task.correct(logits, b)))
    first_err = np.arange(b.x.shape[0]) * 15  # 0 .. 585, one per stream
    first_err[-1] = task.length - 1
    sign = np.ones(logits.shape, np.float32)
    for i, k in enumerate(first_err):
        sign[i, k, i % 7] = -1.0
        sign[i, min(k + 3, task.length - 1), 0] = -1.0  # a later error too
    bad = logits * sign
    run = np.asarray(task.consecutive_correct(bad, b))
    np.testing.assert_array_equal(run, first_err)
    assert not np.any(np.asarray(task.correct(bad, b)))
    np.testing.assert_allclose(task.loss(logits, b), math.log1p(math.exp(-5.0)), rtol=1e-5)


# --- continual streams in chunks (train.schedule=stream) ---------------------------------


def parse_stream(s: str) -> tuple[list[set[str]], list[bool]]:
    """The legal-next set after every symbol of a continual stream and whether each symbol
    begins a string, from the acceptor above alone (a stream is strings back to back)."""
    legal, starts, begin = [], [], 0
    for t in range(len(s)):
        starts.append(t == begin)
        cur = s[begin : t + 1]
        if accepts(cur):
            legal.append({"B"})
            begin = t + 1
        else:
            legal.append(legal_next(cur))
            assert legal[-1], (s[: t + 1], "not a prefix of a grammatical string")
    return legal, starts


def test_a_stream_sampled_in_chunks_is_one_continual_stream():
    """Three chunks of 37 symbols (strings cut anywhere), each going on from the position
    the one before returned: the first chunk is the one-shot sampler's stream for its key,
    the three together are the walk of the automaton over their random bits in one piece,
    and an independent parse of the whole stream gives every target and string start."""
    from tasks.reber import _bits, _walk, stream_start

    task = ContinualReberTask(length=37)
    keys = [jax.random.key(k) for k in (11, 12, 13)]
    chunks, position = [], None
    for k in keys:
        chunk = task.sample_stream(k, 5, position)
        chunks.append(jax.tree.map(np.asarray, chunk))
        position = chunk.position
    for got, want in zip(chunks[0].batch, task.sample(keys[0], 5), strict=True):
        np.testing.assert_array_equal(got, want)
    again = task.sample_stream(keys[1], 5, chunks[0].position)
    np.testing.assert_array_equal(again.batch.x, chunks[1].batch.x)

    x = np.concatenate([c.batch.x for c in chunks], axis=1)
    y = np.concatenate([c.batch.y for c in chunks], axis=1)
    starts = np.concatenate([c.starts for c in chunks], axis=1)
    bits = jnp.concatenate([_bits(k, 37, 5) for k in keys])
    sym, legal, _, one_starts, one_end = _walk(bits, stream_start(5), True, None)
    np.testing.assert_array_equal(np.argmax(x, -1), np.asarray(sym))
    np.testing.assert_array_equal(y, np.asarray(legal))
    np.testing.assert_array_equal(starts, np.asarray(one_starts))
    for got, want in zip(position, one_end, strict=True):
        np.testing.assert_array_equal(got, want)

    cut = 0
    for i in range(5):
        s = decode(x[i])
        legal_sets, begins = parse_stream(s)
        assert [as_set(row) for row in y[i]] == legal_sets, s
        assert starts[i].tolist() == begins, s
        cut += sum(not begins[t] for t in (37, 74))  # a chunk boundary inside a string
    assert cut >= 5  # the boundaries did cut strings (mean string length 12)
    assert np.all(np.concatenate([c.batch.mask for c in chunks], axis=1) == 1.0)
