"""A lower bound on a run's memory, checked before anything is allocated or written.

A size that cannot fit (``task.length=100000000``) would otherwise start, compile, and
then die by the out-of-memory killer or swap the machine to a standstill, minutes later
and with a half-written run directory. :func:`check_memory` refuses it in
:func:`benchmarks.config.build` with one line naming the estimate and the memory there is.

The estimate counts only float32 arrays every run of that config surely holds, so it is a
lower bound: a config it refuses cannot fit, one it passes may still run out (XLA's
temporaries, the backward pass's residuals beyond the stored states, other processes).
Per seed, the largest of three phases:

- training: the batch (x, y, mask) and the per-step states of every layer that the
  backward pass reads (h; h and c for an LSTM), ``batch x T x (inputs + layers x hidden x states)``;
- evaluation: the whole evaluation set, sampled at once, and the hidden states of one
  chunk of at most ``EVAL_CHUNK`` sequences, ``eval x T x inputs + chunk x T x layers x hidden``;
- full diagnostics: the one-step state Jacobians of ``jacobian_sequences`` sequences,
  ``sequences x T x (states x hidden)^2``, and the diagnostics batch's states;

times the seeds held at once: all of them for ``vmap``, one per worker for ``processes``,
one for ``loop``. The memory there is: on a GPU or TPU the device's memory (the arrays
live there); on the CPU the machine's physical memory (``SC_PHYS_PAGES x SC_PAGE_SIZE``),
or the process's cgroup limit where one is set and lower (a SLURM job's ``--mem``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax

from benchmarks.chunk import EVAL_CHUNK, Trainer
from benchmarks.strategies import resolve_strategy, usable_cores

BYTES = 4  # float32
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


def largest_arrays(trainer: Trainer) -> dict[str, tuple[int, str]]:
    """Per seed, each phase's bytes (see the module docstring) and how they were counted."""
    task, model, diag = trainer.task, trainer.model.spec, trainer.diagnostics
    t_len, states = task.max_length, STATES.get(model.cell, 1)
    targets = 1 if task.target == "classification" else task.output_size  # labels or values
    io = task.input_size + targets + 1  # x, y and mask at one step
    width = model.layers * model.hidden  # one state of every layer at one step
    batch = trainer.spec.batch_size
    n_eval = task.eval_size if hasattr(task, "eval_batch") else trainer.eval_size
    chunk = min(n_eval, EVAL_CHUNK)
    n_eval = math.ceil(n_eval / chunk) * chunk
    phases = {
        "training": (
            batch * t_len * (io + width * states),
            f"training batch {batch} x {t_len} steps x {width * states} state values",
        ),
        "evaluation": (
            t_len * (n_eval * io + chunk * width),
            f"evaluation set {n_eval} x {t_len} steps",
        ),
    }
    if diag.level == "full":
        s = states * model.hidden
        n = diag.jacobian_sequences * t_len * s * s + diag.batch_size * t_len * (io + width * states)
        what = f"diagnostics: {diag.jacobian_sequences} x {t_len} step Jacobians of {s} x {s}"
        phases["diagnostics"] = (n, what)
    return {name: (n * BYTES, what) for name, (n, what) in phases.items()}


def seeds_at_once(trainer: Trainer, n_seeds: int) -> tuple[int, str]:
    """How many seeds' arrays are in memory together, and the strategy that decides it."""
    spec = trainer.spec
    strategy = resolve_strategy(spec.strategy, n_seeds, spec.workers, spec.steps)
    if strategy == "vmap":
        return n_seeds, strategy
    if strategy == "processes":
        return min(spec.workers or len(usable_cores()), n_seeds), strategy
    return 1, strategy


def _gb(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(trainer: Trainer, n_seeds: int) -> None:
    """Raise a one-line ValueError when the run's largest arrays cannot fit in memory."""
    available = memory_available()
    if available is None:  # no way to tell here: let the run try
        return
    have, source = available
    per_seed, what = max(largest_arrays(trainer).values())
    at_once, strategy = seeds_at_once(trainer, n_seeds)
    need = per_seed * at_once
    if need > have:
        raise ValueError(
            f"this run needs at least {_gb(need)} of memory ({what}, float32, "
            f"{at_once} seed(s) at once [{strategy}]) but {source} is {_gb(have)}; "
            "lower task.length, model.hidden, the batch or evaluation size, or the seeds run at once"
        )
