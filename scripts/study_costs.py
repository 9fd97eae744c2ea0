"""What a study's scale costs, measured on the protocol that scale runs (``scripts/reproduce.py --costs``).

A step's cost depends on the job: its batch, sequence length and width, its learning rule
(a batch-1 online run with a weight update after every symbol costs per sequence what a
batch of 32 costs per batch), its seeds, evaluations and diagnostics. So a scale's cost is
not one throughput extrapolated over model-steps (what an earlier version of
``--costs`` did, off by an order of magnitude for the papers' batch-1 protocols) but a
measurement per kind of job:

1. every job of the scale is listed from its grids by Hydra's own sweep expansion
   (:func:`jobs`), and built, so a bad grid fails here with its one-line error;
2. the jobs are grouped by what decides a step's cost (:func:`cost_key`: the compiled
   programs, the seeds, the evaluation and diagnostics settings; not the numbers that only
   change values, such as the learning rate, the step budget or the initialisation);
3. one job of each group runs in this process (:func:`probe`) three times, on the job's
   own protocol into a scratch directory: ``k0`` steps to compile, then ``k`` and ``2k``
   steps with the programs compiled. The difference of the last two is ``k`` steps with
   their evaluations and diagnostics (``k`` a whole number of evaluation intervals, and of
   diagnostics intervals under full diagnostics), so the per-step time holds everything a
   step brings with it; what the ``k`` run took beyond its steps is the job's fixed part
   (initial and final evaluation, writing the results), and what the first run took beyond
   that is compiling;
4. a job's estimate is compile + fixed + steps x step time: an upper bound on its wall
   time, as a seed that solves stops early (``train.stop_when_solved``), and each job is
   charged its own compilation although a sweep's later jobs read the compiled programs
   back from JAX's disk cache.

Measurements are kept in ``costs.json`` beside the study's reports, keyed by the job kind
and the machine, so asking again costs nothing and another machine measures afresh.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.studies.base import Grid, jobs

# keys a cost measurement sets on the job it probes: no early stop (a probe's steps all
# run), no checkpoints between its steps, no experiment tracker
PROBE = ("train.stop_when_solved=false", "train.checkpoint_every=0", "logger=none")
MIN_DIFF_S = 1.0  # the k-step difference is read only when it is at least this long ...
MAX_PROBE_S = 120.0  # ... or when the 2k run took this long: then k is as long as it gets


def build_job(overrides: list[str]) -> Any:
    """The :class:`~benchmarks.config.Experiment` of one job's overrides."""
    from hydra import compose, initialize_config_dir

    from benchmarks import cli
    from benchmarks.config import build, register

    register()
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return build(compose(config_name="config", overrides=overrides))


def cost_key(experiment: Any) -> str:
    """What decides a step's cost, as text: the compiled programs (the trainer less its
    numbers, :func:`benchmarks.run.pack.program_key`) without the step budget and the early
    stop, and the number of seeds."""
    from benchmarks.run.pack import program_key

    program = program_key(experiment.trainer)
    spec = dataclasses.replace(program.spec, steps=0, stop_when_solved=False, checkpoint_every=0)
    return f"{dataclasses.replace(program, spec=spec)!r} seeds={len(experiment.seeds)}"


def machine() -> str:
    """The machine a measurement holds for: processor, cores JAX may use, backend."""
    import jax

    return f"{platform.machine()} {os.cpu_count()} cores {jax.default_backend()}"


@dataclasses.dataclass(frozen=True)
class Probe:
    """One kind of job, measured: seconds per step (all seeds, evaluations and diagnostics
    included), the fixed seconds of a run, the seconds of compiling it, and the steps run."""

    step_s: float
    fixed_s: float
    compile_s: float
    k: int

    def seconds(self, steps: int) -> float:
        return self.compile_s + self.fixed_s + steps * self.step_s


def interval(experiment: Any) -> int:
    """The smallest number of steps that holds whole evaluation intervals and, under full
    diagnostics, whole diagnostics intervals."""
    spec, diag = experiment.trainer.spec, experiment.trainer.diagnostics
    every = spec.eval_every
    if diag.level == "full":
        every = math.lcm(every, diag.every)
    return every


def probe(overrides: list[str], run: Callable[[list[str], int], float] | None = None) -> Probe:
    """Measure one job's protocol (see the module docstring). ``run(overrides, steps)``
    trains the job for ``steps`` steps and returns its seconds (default: in this process,
    into a scratch directory)."""
    if run is None:
        _disk_cache()
        run = _run_in_scratch
    k = k0 = interval(build_job(overrides))
    first = run(overrides, k0)  # compiles
    while True:
        once, twice = run(overrides, k), run(overrides, 2 * k)
        if twice - once >= MIN_DIFF_S or twice >= MAX_PROBE_S:
            break
        k *= 4
    step_s = max(twice - once, 0.0) / k
    fixed_s = max(once - k * step_s, 0.0)
    compile_s = max(first - fixed_s - k0 * step_s, 0.0)
    return Probe(step_s=step_s, fixed_s=fixed_s, compile_s=compile_s, k=k)


def _disk_cache() -> None:
    """JAX's persistent cache on, as the entry point has it (:data:`benchmarks.cli.COMPILE_CACHE`).

    Why: a run's compiled programs are keyed by its trainer, step budget included, so the
    ``k`` and ``2k`` runs would each compile afresh in this process and the difference would
    be noise; with the cache both read the same programs back from disk, the same cost in
    each (and what a sweep's job does in its own process)."""
    import jax

    from benchmarks import cli

    if not getattr(jax.config, "jax_compilation_cache_dir"):  # noqa: B009 - typed without it
        jax.config.update(
            "jax_compilation_cache_dir", os.environ.get("JAX_COMPILATION_CACHE_DIR", str(cli.COMPILE_CACHE))
        )


def _run_in_scratch(overrides: list[str], steps: int) -> float:
    """Seconds of one run of ``steps`` steps, as a sweep's job in a fresh process runs it:
    nothing compiled in memory (each run traces again and reads its programs back from the
    disk cache, or compiles those too quick to be kept there)."""
    from benchmarks.run.experiment import run_experiment
    from benchmarks.run.training_loop import forget_compiled

    experiment = build_job([*overrides, *PROBE, f"train.steps={steps}"])
    forget_compiled()
    scratch = Path(tempfile.mkdtemp(prefix="carousel-cost-"))
    try:
        start = time.perf_counter()
        run_experiment(experiment, scratch / "run", progress=False)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure(
    grids: tuple[Grid, ...],
    cache: Path,
    echo: Callable[[str], None] = print,
    run: Callable[[list[str], int], float] | None = None,
) -> dict[str, Any]:
    """A scale's cost: every job with its model-steps and estimated seconds, and the job
    kinds measured (read back from ``cache`` when measured there on this machine before,
    else probed and added to it)."""
    here = machine()
    store = json.loads(cache.read_text()) if cache.is_file() else {}
    listed = []
    for grid in grids:
        for overrides in jobs(grid):
            experiment = build_job(overrides)
            key = hashlib.sha256(f"{cost_key(experiment)} on {here}".encode()).hexdigest()[:16]
            listed.append((grid.name, overrides, experiment, key))
    kinds = {}
    for name, overrides, _, key in listed:
        if key in kinds:
            continue
        if key not in store:
            echo(f"measuring {name}: {' '.join(overrides)}")
            store[key] = {"machine": here, "job": overrides, **dataclasses.asdict(probe(overrides, run))}
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps(store, indent=1) + "\n")  # each kind kept as measured
        kinds[key] = Probe(**{f: store[key][f] for f in ("step_s", "fixed_s", "compile_s", "k")})
    rows = []
    for name, overrides, experiment, key in listed:
        steps = experiment.trainer.spec.steps
        rows.append(
            {
                "grid": name,
                "job": overrides,
                "kind": key,
                "model_steps": steps * len(experiment.seeds),
                "seconds": kinds[key].seconds(steps),
            }
        )
    return {
        "machine": here,
        "jobs": len(rows),
        "kinds": len(kinds),
        "model_steps": sum(r["model_steps"] for r in rows),
        "seconds": sum(r["seconds"] for r in rows),
        "rows": rows,
    }


def hours(seconds: float) -> str:
    """A duration as the table prints it: minutes under an hour, else hours."""
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"
