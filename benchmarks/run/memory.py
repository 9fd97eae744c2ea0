"""A run's memory, estimated from its shapes and checked before anything is allocated or written.

A size that cannot fit (``task.length=100000000``, ``model.hidden=100000``) would otherwise
start, compile, and then die by the out-of-memory killer, an abort of the XLA runtime or
swap the machine to a standstill, minutes later and with a half-written run directory.
:func:`check_memory` refuses it in :func:`benchmarks.config.build` with one line naming
the estimate and the memory there is.

The estimate counts everything a run holds at its peak, from shapes alone
(``jax.eval_shape`` of the initial training state: nothing is allocated):

- resident, for every seed: the training state, parameters and optimizer state
  (:func:`state_bytes`), twice with ``processes`` (the parent's copy and the worker's);
- on top of it, per seed held at once, the largest of three phases:

  - training: the chunk's new state, ``PARAM_COPIES`` more parameter-sized arrays
    (gradients, the updated parameters, the last finite ones) and ``TRAINING_FACTOR`` times
    the batch (x, y, mask) with the per-step states of every layer that the backward pass
    reads (h; h and c for an LSTM), ``batch x T x (inputs + layers x hidden x states)``,
    and the chunk's per-step gradient-norm series (under ``train.schedule=stream`` also
    its records of where streams ended, ``T x batch`` per step; the carried stream state,
    traces included, is part of the training state);
  - evaluation: ``EVALUATION_FACTOR`` times the whole evaluation set, sampled at once,
    and the hidden states of one batch of at most ``EVAL_BATCH`` sequences;
  - full diagnostics: ``JACOBIAN_FACTOR`` times the one-step state Jacobians of
    ``jacobian_sequences`` sequences, ``sequences x T x (states x hidden)^2``, and the
    diagnostics batch like a training batch;

  or, if larger, what saving a checkpoint holds: a host copy of every seed's state and the
  file's buffer (``SAVE_COPIES``).

The factors are XLA's own buffer sizes (``compiled.memory_analysis()``: arguments,
outputs and temporaries) over the counted arrays, measured on the CPU for RNN, GRU and
LSTM programs with H 64-2048 and T 10-1600 (training 1.8-2.2 times the stored states and
3.3 parameter copies of temporaries, evaluation 1.0-1.1), and for the diagnostics the
measured peak of a real run (6.1 times the Jacobians: XLA's buffers are 4.0-4.9, the rest
is compiling the program), rounded up. ``tests/benchmarks/run/test_memory.py`` holds the
estimate against the measured peak memory of real runs, one per phase: never below it,
and within a factor of 2 (1.15-1.3 when last measured).

Seeds held at once: all of them for ``vmap``, one per worker for ``processes``, one for
``loop``. The memory there is: on a GPU or TPU the device's memory (the arrays live
there); on the CPU the machine's physical memory (``SC_PHYS_PAGES x SC_PAGE_SIZE``), or
the process's cgroup limit where one is set and lower (a SLURM job's ``--mem``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import jax

from benchmarks.core.trainer import EVAL_BATCH, Trainer
from benchmarks.run.strategies import resolve_strategy, usable_cores

BYTES = 4  # float32
TRAINING_FACTOR = 2.5
PARAM_COPIES = 4
EVALUATION_FACTOR = 1.2
JACOBIAN_FACTOR = 7.0
SAVE_COPIES = 2
STATES = {"lstm": 2}  # per-step states stored per layer: h and c for the LSTM, h otherwise


def cgroup_limit(proc: Path = Path("/proc/self/cgroup"), root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The lowest memory limit on this process's cgroup and its parents (v2 ``memory.max``,
    or v1's memory controller ``memory.limit_in_bytes``; SLURM sets it on the job's cgroup,
    a parent of the task's), or None where none is set or readable."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "":
            base, name = root, "memory.max"
        elif "memory" in parts[1].split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        group = base / parts[2].lstrip("/")
        for directory in (group, *group.parents):
            try:
                text = (directory / name).read_text().strip()
            except OSError:
                text = ""
            if text.isdigit():
                limits.append(int(text))
            if directory == base:
                break
    return min(limits, default=None)


def accelerator_memory() -> tuple[int, str] | None:
    """On a GPU or TPU, the first device's memory (``bytes_limit`` of its memory stats);
    None on the CPU or where the device does not say."""
    if jax.default_backend() == "cpu":
        return None
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    limit = stats.get("bytes_limit")
    return (int(limit), f"{device.platform} memory") if limit else None


def memory_available() -> tuple[int, str] | None:
    """The memory a run may use and what it is: an accelerator's own memory, else the
    host's physical memory, or its cgroup limit where that is lower."""
    device = accelerator_memory()
    if device is not None:
        return device
    try:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    limit = cgroup_limit()
    if limit is not None and limit < physical:
        return limit, "the cgroup limit"
    return physical, "physical memory"


def state_bytes(trainer: Trainer) -> tuple[int, int, int]:
    """One seed's parameter bytes, training-state bytes (parameters, optimizer state and
    flags) and number of parameter arrays, from the shapes of its initial state
    (``jax.eval_shape``: nothing allocated)."""
    shapes = jax.eval_shape(lambda: trainer.init_state(trainer.model.init(jax.random.key(0))))

    def nbytes(tree: Any) -> int:
        return sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(tree))

    return nbytes(shapes.params), nbytes(shapes), len(jax.tree.leaves(shapes.params))


def phase_bytes(trainer: Trainer) -> dict[str, tuple[int, str]]:
    """Per seed, each phase's bytes beyond the resident state (see the module docstring)
    and what dominates them."""
    task, model, diag, spec = trainer.task, trainer.model.spec, trainer.diagnostics, trainer.spec
    t_len, states = task.max_length, STATES.get(model.cell, 1)
    targets = 1 if task.target == "classification" else task.output_size  # labels or values
    io = task.input_size + targets + 1  # x, y and mask at one step
    width = model.layers * model.hidden  # one state of every layer at one step
    params, state, arrays = state_bytes(trainer)
    n_eval = task.eval_size if task.held_out else trainer.eval_size
    eval_batch = min(n_eval, EVAL_BATCH)
    n_eval = math.ceil(n_eval / eval_batch) * eval_batch
    probes = states * t_len if diag.probes else 0
    records = t_len * spec.batch_size if spec.schedule == "stream" else 0  # where streams ended
    series = spec.eval_every * (2 + probes + arrays + records)
    activations = spec.batch_size * t_len * (io + width * states)
    phases = {
        "training": (
            state + PARAM_COPIES * params + BYTES * (TRAINING_FACTOR * activations + series),
            f"training batch {spec.batch_size} x {t_len} steps x {width * states} state values",
        ),
        "evaluation": (
            BYTES * EVALUATION_FACTOR * t_len * (n_eval * io + eval_batch * width),
            f"evaluation set {n_eval} x {t_len} steps",
        ),
    }
    if diag.level == "full":
        s = states * model.hidden
        jacobians = diag.jacobian_sequences * t_len * s * s
        batch = diag.batch_size * t_len * (io + width * states)
        what = f"diagnostics: {diag.jacobian_sequences} x {t_len} step Jacobians of {s} x {s}"
        phases["diagnostics"] = (
            2 * params + BYTES * (JACOBIAN_FACTOR * jacobians + TRAINING_FACTOR * batch),
            what,
        )
    return {name: (int(n), what) for name, (n, what) in phases.items()}


def seeds_at_once(trainer: Trainer, n_seeds: int) -> tuple[int, str]:
    """How many seeds' arrays are in memory together, and the strategy that decides it."""
    spec = trainer.spec
    strategy = resolve_strategy(spec.strategy, n_seeds, spec.workers, spec.steps)
    if strategy == "vmap":
        return n_seeds, strategy
    if strategy == "processes":
        return min(spec.workers or len(usable_cores()), n_seeds), strategy
    return 1, strategy


def _size(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def estimate(trainer: Trainer, n_seeds: int) -> tuple[int, str]:
    """The run's peak bytes and a phrase saying what they are: the resident states, and
    the largest phase of the seeds held at once or the host copy and file buffer of every
    seed's state that a checkpoint writes (``saving``)."""
    _, state, _ = state_bytes(trainer)
    at_once, strategy = seeds_at_once(trainer, n_seeds)
    phases = {name: (at_once * n, what) for name, (n, what) in phase_bytes(trainer).items()}
    phases["saving"] = (SAVE_COPIES * n_seeds * state, "the checkpoint's host copy and file buffer")
    phase, (peak, what) = max(phases.items(), key=lambda item: item[1][0])
    resident = (2 if strategy == "processes" else 1) * n_seeds * state
    return resident + peak, (
        f"{_size(resident)} of parameters and optimizer state for {n_seeds} seed(s), "
        f"{_size(peak)} for {phase}: {what}, float32, {at_once} seed(s) at once [{strategy}]"
    )


def check_memory(trainer: Trainer, n_seeds: int) -> None:
    """Raise a one-line ValueError when the run's estimated peak cannot fit in memory."""
    available = memory_available()
    if available is None:  # no way to tell here: let the run try
        return
    have, source = available
    need, what = estimate(trainer, n_seeds)
    if need > have:
        raise ValueError(
            f"this run needs about {_size(need)} of memory ({what}) but {source} is {_size(have)}; "
            "lower task.length, model.hidden, the batch or evaluation size, or the seeds run at once"
        )
