"""The speed benchmark (``make bench``): carousel against PyTorch and Flax, in one run.

Every number is a median of timed repetitions after warm-up (``block_until_ready`` for
JAX; PyTorch runs synchronously on the CPU), measured side by side in one process tree, so
ratios compare systems under the same machine load. Workloads:

1. ``single_<cell>``: one training step (forward, backward, Adam update; the three systems
   timed in alternating rounds of 4 steps) at B=64, T=200,
   H=128, input 2, float32 for LSTM, GRU (carousel's ``gru_reset_after``: the equations
   of nn.GRU and GRUCell) and tanh RNN: carousel's training step vs
   PyTorch ``nn.LSTM``/``nn.GRU``/``nn.RNN`` vs Flax linen ``nn.RNN`` over
   ``OptimizedLSTMCell``/``GRUCell``/``SimpleCell``. Throughput in steps/s.
2. ``many_seeds``: 32 independent LSTMs, B=20, T=200, H=50, 100 Adam steps each, total
   wall time including compilation (``carousel``: an empty compile cache;
   ``carousel_warm``: the same run again, compiled programs from JAX's persistent cache,
   as in a sweep's later jobs): carousel's default strategy for the backend vs a
   PyTorch loop over models (``torch``), PyTorch in one pinned single-thread process per
   core (``torch_procs``) and a loop of a jitted Flax step (``flax``). Model-steps/s.
3. ``scaling``: carousel's model-steps/s for 1..256 seeds per strategy (10 steps per seed,
   the whole ``train`` call after a warm-up call), and the LSTM step time against T.
4. ``truncated``: the step time of the 1997 truncated gradient over full BPTT (``lstm``,
   ``lstm_nofg``; same shapes as ``single``, interleaved rounds).
   ``overhead``: the per-step gradient probes (``diagnostics=basic``) over a plain step,
   and what the scaled norms (exact over float32's range) cost against sqrt(sum x^2) of
   the raw values, in the plain step (the global norm, the finiteness checks) and with
   probes (the per-step norms inside the backward loop too); all four in interleaved rounds.
   ``sweep_jobs``, ``sweep_packed``, ``sweep_packed_vmap``: a sweep of 3 learning rates x
   3 clipping thresholds x 4 seeds (36 paper-scale LSTMs, 100 Adam steps each, every
   result file written), run job by job as Hydra's launcher does (each job's default
   strategy, compiled programs shared in-process), then packed (:mod:`benchmarks.run.pack`,
   ``hydra/launcher=pack``) with the default strategy and with ``vmap``; each in a fresh
   process with an empty compile cache, so compilation and worker start-up are counted.
   The packed runs' files are compared with the job-by-job ones: identical, or the largest
   difference in the final parameters.
   ``lengths_separate``, ``lengths_padded``: whether lengths should share a program by
   padding to the longest: 3 jobs (T = 50, 100, 200; 4 seeds, 100 steps) packed, one
   program per length, against the cost of one program at T = 200 for all three (what
   padding the shorter jobs with masked steps would run), each cold.
5. ``roofline``: analytic FLOPs per step, achieved GFLOP/s, and this machine's measured
   dense-matmul GFLOP/s (large and at the recurrent matmul's own shape).
6. ``accelerator`` (``--gpu``; added to the others when JAX's default backend is not the
   CPU): N = 1, 4, ... 4,096 paper-scale LSTMs (B=20, T=200, H=50, as ``many_seeds``)
   packed in one program (``vmap``) against one PyTorch ``nn.LSTM`` (cuDNN) and a PyTorch
   loop over the N models (at most 64 of them timed), in true float32 on both sides;
   model-steps/s, device memory, and the share of the dense float32 matmul measured on
   the same device. A failing size (out of memory) is recorded and the run goes on. On a
   CPU-only machine the same code runs on the CPU (``--gpu --quick --max-models 4``: the
   smoke run of the tests).

Writes ``bench_results/speed-<time>.json`` (or ``--out-file``) and prints ``results: <path>`` last.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from scripts.bench.baselines_flax import flax_setup, flax_step_fn
from scripts.bench.baselines_torch import torch_many_procs, torch_many_worker, torch_step_fn

SINGLE = {"B": 64, "T": 200, "H": 128, "D": 2}
PAPER = {"B": 20, "T": 200, "H": 50, "D": 2, "models": 32, "steps": 100}


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# ----------------------------------------------------------------------------- carousel


def carousel_trainer(
    cell: str, B: int, T: int, H: int, level: str = "none", eval_size: int = 64, gradient: str = "full"
):
    from benchmarks.core.diagnostics import DiagnosticsSpec
    from benchmarks.core.optim import OptimSpec
    from benchmarks.core.trainer import Trainer, TrainSpec
    from models import make_model
    from tasks.adding import AddingTask

    task = AddingTask(variant="arjovsky2016", length=T)
    model = make_model(cell, task.input_size, task.output_size, hidden=H)
    spec = TrainSpec(
        steps=PAPER["steps"],
        batch_size=B,
        eval_every=PAPER["steps"],
        eval_size=eval_size,
        stop_when_solved=False,
        gradient=gradient,
    )
    return Trainer(
        model, task, OptimSpec(name="adam", lr=1e-3, clip="none"), spec, DiagnosticsSpec(level=level)
    )


def carousel_step(
    cell: str, B: int, T: int, H: int, level: str = "none", gradient: str = "full"
) -> Callable[[], None]:
    """One jitted training step (data sampled inside, as in real training), each call the
    next step of the same model."""
    import jax
    import jax.numpy as jnp

    trainer = carousel_trainer(cell, B, T, H, level, gradient=gradient)
    state = trainer.init_state(trainer.model.init(jax.random.key(0)))
    chunk = jax.jit(trainer.train_chunk)
    key = jax.random.key(1)
    box = {"state": state, "i": 0}

    def step():
        steps = jnp.arange(box["i"], box["i"] + 1, dtype=jnp.int32)
        box["state"], m = chunk(box["state"], key, steps)
        jax.block_until_ready(m.loss)
        box["i"] += 1

    return step


def carousel_step_time(cell: str, B: int, T: int, H: int, repeats: int, level: str = "none") -> float:
    """Median seconds of one training step."""
    return median_time(carousel_step(cell, B, T, H, level), repeats)


def interleaved(fns: dict[str, Callable[[], None]], rounds: int, reps: int) -> dict[str, float]:
    """Median seconds per call of each function, timed in alternating rounds (after 3
    warm-up calls each), so load from other processes hits all of them alike."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(reps):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def carousel_many(n_models: int, steps: int, strategy: str) -> tuple[float, str]:
    """Wall time of ``train`` for n_models LSTMs at paper scale (compilation included)."""
    import dataclasses

    from benchmarks.run.training_loop import train

    trainer = carousel_trainer("lstm", PAPER["B"], PAPER["T"], PAPER["H"])
    trainer = dataclasses.replace(
        trainer, spec=dataclasses.replace(trainer.spec, steps=steps, eval_every=steps, eval_size=PAPER["B"])
    )
    t = time.perf_counter()
    result = train(trainer, list(range(n_models)), strategy=strategy)
    return time.perf_counter() - t, result.strategy


# ----------------------------------------------------------------------------- sweeps

SWEEP_LR, SWEEP_CLIP, SWEEP_SEEDS, SWEEP_STEPS = (3e-3, 1e-2, 3e-2), (0.5, 1.0, 5.0), 4, 100


def sweep_jobs(
    root: Path, quick: bool, strategy: str = "auto", lengths: tuple[int, ...] | None = None
) -> list[Any]:
    """The benchmark's sweep as packable jobs, each with its run directory under ``root``;
    with ``lengths``, one job per length instead (learning rate 1e-2, threshold 1)."""
    import dataclasses

    from benchmarks.config import Experiment, LoggerSpec
    from benchmarks.core.optim import OptimSpec
    from benchmarks.run.pack import Job

    steps = 20 if quick else SWEEP_STEPS
    grid = [(lr, clip, PAPER["T"]) for lr in SWEEP_LR for clip in SWEEP_CLIP]
    if lengths is not None:
        grid = [(1e-2, 1.0, T) for T in lengths]
    jobs: list[Any] = []
    for lr, clip, T in grid:
        base = carousel_trainer(
            "lstm", PAPER["B"], T // (4 if quick else 1), PAPER["H"], eval_size=PAPER["B"]
        )
        spec = dataclasses.replace(base.spec, steps=steps, eval_every=steps // 2, strategy=strategy)
        optim = OptimSpec(name="adam", lr=lr, clip="global_norm", clip_value=clip)
        trainer = dataclasses.replace(base, optim=optim, spec=spec)
        exp = Experiment(trainer, list(range(SWEEP_SEEDS)), LoggerSpec(name="none"), "lstm", "adding")
        jobs.append(Job(exp, root / f"{len(jobs)}_lr{lr}_clip{clip}_T{T}"))
    return jobs


def _sweep_result(name: str, jobs: list[Any], seconds: float, root: Path) -> dict[str, Any]:
    import json as json_

    models = sum(len(j.experiment.seeds) for j in jobs)
    steps = jobs[0].experiment.trainer.spec.steps
    strategies = sorted({json_.loads((j.out / "summary.json").read_text())["strategy"] for j in jobs})
    return {
        name: {
            "unit": "model-steps/s (whole sweep, compilation and result files included)",
            "carousel": models * steps / seconds,
            "seconds": seconds,
            "jobs": len(jobs),
            "models": models,
            "steps": steps,
            "strategy": ",".join(strategies),
            "root": str(root),
        }
    }


def _compare_with_jobs(root: Path, prior: dict[str, Any]) -> dict[str, Any]:
    """The packed sweep's final parameters and summaries against the job-by-job ones."""
    import json as json_

    alone = Path(prior["sweep_jobs"]["root"])
    worst, same_summaries = 0.0, True
    for job_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        twin = alone / job_dir.name
        for f in ("params_final.npz", "grad_norms.npz"):
            with np.load(job_dir / f) as a, np.load(twin / f) as b:
                for k in a.files:
                    same = np.array_equal(a[k], b[k], equal_nan=True)
                    worst = max(worst, 0.0 if same else float(np.nanmax(np.abs(a[k] - b[k]))))
        sa, sb = (json_.loads((d / "summary.json").read_text())["seeds"] for d in (job_dir, twin))
        same_summaries &= sa == sb
    return {"identical_to_jobs": worst == 0.0 and same_summaries, "max_abs_difference": worst}


def workload_sweep_jobs(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    from benchmarks.run.experiment import run_experiment

    _setup(quick, torch_too=False)
    root = Path(tempfile.mkdtemp(prefix="carousel-bench-sweep-jobs-"))
    jobs = sweep_jobs(root, quick)
    t = time.perf_counter()
    for job in jobs:
        run_experiment(job.experiment, job.out, progress=False)
    w = _sweep_result("sweep_jobs", jobs, time.perf_counter() - t, root)
    print(f"sweep job by job: {w['sweep_jobs']['carousel']:.1f} model-steps/s", flush=True)
    return w


def _packed(
    name: str, quick: bool, prior: dict[str, Any], strategy: str, lengths: tuple[int, ...] | None = None
) -> dict[str, Any]:
    import tempfile

    from benchmarks.run.pack import run_jobs

    _setup(quick, torch_too=False)
    root = Path(tempfile.mkdtemp(prefix=f"carousel-bench-{name}-"))
    jobs = sweep_jobs(root, quick, strategy, lengths)
    t = time.perf_counter()
    outcomes = run_jobs(jobs, root, progress=False)
    seconds = time.perf_counter() - t
    failed = [str(o) for o in outcomes.values() if isinstance(o, Exception)]
    if failed:
        raise RuntimeError(f"packed sweep failed: {failed[0]}")
    w = _sweep_result(name, jobs, seconds, root)
    if "sweep_jobs" in prior and lengths is None:
        w[name].update(_compare_with_jobs(root, prior))
    r = w[name]
    print(
        f"{name}: {r['carousel']:.1f} model-steps/s [{r['strategy']}], identical to job by job:"
        f" {r.get('identical_to_jobs')} (max |difference| {r.get('max_abs_difference')})",
        flush=True,
    )
    return w


def workload_sweep_packed(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    return _packed("sweep_packed", quick, prior, "auto")


def workload_sweep_packed_vmap(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    return _packed("sweep_packed_vmap", quick, prior, "vmap")


def workload_lengths_separate(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    return _packed("lengths_separate", quick, prior, "auto", (50, 100, 200))


def workload_lengths_padded(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    return _packed("lengths_padded", quick, prior, "auto", (200, 200, 200))


# ----------------------------------------------------------------------------- roofline


def lstm_flops(B: int, T: int, H: int, D: int, gates: int = 4) -> float:
    """Matmul FLOPs of one LSTM training step: forward 2*B*(D+H)*gH per step, backward
    twice that (gradients w.r.t. inputs/states and weights); elementwise work ignored."""
    forward = 2.0 * B * (D + H) * gates * H * T
    return 3.0 * forward


def matmul_gflops(n: int, m: int, k: int, repeats: int = 20, precision: str | None = None) -> float:
    """GFLOP/s of a jitted [n, k] x [k, m] float32 matmul on JAX's default device, traced at
    ``precision`` (a ``jax_default_matmul_precision`` value; None: JAX's default, which is
    TF32 on recent NVIDIA GPUs)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, k), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (k, m), jnp.float32)
    with contextlib.nullcontext() if precision is None else jax.default_matmul_precision(precision):
        f = jax.jit(lambda a, b: a @ b).lower(a, b).compile()
    t = median_time(lambda: jax.block_until_ready(f(a, b)), repeats)
    return 2.0 * n * m * k / t / 1e9


# ----------------------------------------------------------------------------- accelerator

ACCEL_MODELS = (1, 4, 16, 64, 256, 1024, 4096)
TORCH_LOOP_TIMED = 64  # models the PyTorch loop times at most; its rate holds for any N


def accel_models(max_models: int | None) -> list[int]:
    """The packed sizes N of the ``accelerator`` workload, at most ``max_models``."""
    cap = ACCEL_MODELS[-1] if max_models is None else max_models
    if cap < 1:
        raise ValueError(f"--max-models must be at least 1, got {cap}")
    return [n for n in ACCEL_MODELS if n <= cap]


def is_oom(e: BaseException) -> bool:
    """Out of device (or host) memory: XLA's RESOURCE_EXHAUSTED, torch's OutOfMemoryError."""
    text = f"{type(e).__name__}: {e}".lower()
    return "outofmemory" in text or "out of memory" in text or "resource_exhausted" in text


def attempt(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``fn()``'s fields with ``status: ok``, or ``status: oom | error`` and the error: one
    size that fails is recorded and the benchmark goes on."""
    try:
        return {"status": "ok", **fn()}
    except Exception as e:  # noqa: BLE001 - every failure is recorded, none stops the run
        import gc

        gc.collect()
        return {"status": "oom" if is_oom(e) else "error", "error": f"{type(e).__name__}: {e}"[:2000]}


def finite_or_none(entry: dict[str, Any]) -> dict[str, Any]:
    """Non-finite numbers become None (JSON has no NaN) and are named in ``nonfinite``."""
    bad = [k for k, v in entry.items() if isinstance(v, float) and not np.isfinite(v)]
    return {**{k: None if k in bad else v for k, v in entry.items()}, **({"nonfinite": bad} if bad else {})}


def with_rates(entry: dict[str, Any], flops_per_model_step: float, peak_gflops: float | None) -> dict:
    """The achieved GFLOP/s of an entry's model-steps/s and its share of the device's peak
    (achieved / the dense matmul measured on the same device in the same run)."""
    rate = entry.get("model_steps_per_s")
    if entry.get("status") != "ok" or rate is None:
        return entry
    gflops = rate * flops_per_model_step / 1e9
    share = gflops / peak_gflops if peak_gflops else None
    return finite_or_none({**entry, "gflops": gflops, "share_of_peak": share})


def device_peak_bytes() -> int | None:
    """JAX's first device's ``peak_bytes_in_use`` (the process's peak so far); None where
    the device keeps no statistics (the CPU)."""
    import jax

    stats = jax.local_devices()[0].memory_stats() or {}
    return int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None


def carousel_packed(n_models: int, steps: int, repeats: int, shape: dict[str, int]) -> dict[str, Any]:
    """N paper-scale LSTMs packed in one program (the ``vmap`` strategy, one device):
    one warm-up chunk of ``steps`` steps (compiles), then the median of ``repeats`` timed
    chunks. ``model_steps_timed`` is read back from the models' Adam step counts."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import optax

    from benchmarks.core.optim import hyper
    from benchmarks.run.strategies import make_strategy
    from benchmarks.run.training_loop import init_params

    trainer = carousel_trainer("lstm", shape["B"], shape["T"], shape["H"], eval_size=shape["B"])
    one_device = {"devices": 1} if hasattr(trainer.spec, "devices") else {}
    spec = dataclasses.replace(trainer.spec, steps=steps, eval_every=steps, **one_device)
    trainer = dataclasses.replace(trainer, spec=spec)
    seeds = list(range(n_models))
    h = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_models,)), hyper(trainer.optim))
    states = jax.jit(jax.vmap(trainer.init_state))(init_params(trainer.model, seeds), h)
    counted = lambda s: int(np.sum(jax.device_get(optax.tree.get(s.opt_state, "count"))))  # noqa: E731
    with make_strategy("vmap", trainer, seeds) as runner:
        chunk = jnp.arange(steps, dtype=jnp.int32)
        t = time.perf_counter()
        states, m = runner.train_chunk(states, chunk)
        jax.block_until_ready(m.loss)
        compile_s = time.perf_counter() - t
        before, times = counted(states), []
        for r in range(repeats):
            t = time.perf_counter()
            states, m = runner.train_chunk(states, chunk + (r + 1) * steps)
            jax.block_until_ready((states, m.loss))
            times.append(time.perf_counter() - t)
        done = counted(states) - before
        nonfinite = int(np.sum(~np.isfinite(np.asarray(jax.device_get(m.loss))[:, -1])))
    seconds = statistics.median(times)
    return {
        "model_steps_per_s": n_models * steps / seconds,
        "model_steps_timed": done,
        "seconds_per_chunk": seconds,
        "first_chunk_s": compile_s,
        "nonfinite_models": nonfinite,
        "peak_bytes_in_use": device_peak_bytes(),
    }


def workload_accelerator(quick: bool, prior: dict[str, Any], max_models: int | None = None) -> dict[str, Any]:
    """carousel's packed LSTMs (``vmap``) for N = 1 ... 4,096 against one PyTorch
    ``nn.LSTM`` (cuDNN on a GPU) and a PyTorch loop over the N models (the first
    :data:`TORCH_LOOP_TIMED` of them timed, each for as many steps as carousel times per
    model), with the share of the device's dense float32 matmul each reaches. Runs on
    whatever JAX's default backend is: a smoke run on a CPU."""
    import jax

    from benchmarks.core.trainer import PRECISIONS, TrainSpec
    from scripts.bench.baselines_torch import cuda_or_cpu, float32_exact, torch_loop, torch_single

    has_torch = torch_installed()
    _setup(quick, torch_too=has_torch)
    backend = jax.default_backend()
    shape = {k: PAPER[k] for k in ("B", "T", "H", "D")} | ({"T": 50} if quick else {})
    steps, repeats = (2, 1) if quick else (20, 3)
    flops = lstm_flops(**shape)
    precision = TrainSpec().precision
    n_peak = (256 if quick else 1024) if backend == "cpu" else 8192
    peak = attempt(lambda: {"gflops": matmul_gflops(n_peak, n_peak, n_peak, precision=PRECISIONS[precision])})
    peak_gflops = peak.get("gflops")
    device = cuda_or_cpu() if has_torch else "none"
    torch_ok = has_torch and (backend == "cpu" or device == "cuda")  # never PyTorch's CPU against a GPU
    no_cuda = (
        {"status": "error", "error": "this PyTorch build has no CUDA (or sees no GPU)"}
        if has_torch
        else {"status": "missing", "error": "PyTorch is not installed: pip install -e '.[bench]'"}
    )
    w: dict[str, Any] = {
        "unit": "model-steps/s",
        "backend": backend,
        "device": str(jax.local_devices()[0]),
        "torch_device": device,
        "shape": shape,
        "steps_per_chunk": steps,
        "timed_chunks": repeats,
        "flops_per_model_step": flops,
        "precision": {"carousel": precision, "jax_matmul_precision": PRECISIONS[precision]}
        | (float32_exact() if has_torch else {}),
        "matmul_peak": {"n": n_peak, "precision": PRECISIONS[precision], **peak},
        "torch_loop_models_timed_max": TORCH_LOOP_TIMED,
        "torch_single": with_rates(
            attempt(lambda: torch_single(steps * repeats, device, shape)) if torch_ok else no_cuda,
            flops,
            peak_gflops,
        ),
        "models": {},
    }
    loops: dict[int, dict[str, Any]] = {}
    oom_at: int | None = None
    for n in accel_models(max_models):
        if oom_at is None:
            c = attempt(functools.partial(carousel_packed, n, steps, repeats, shape))
            oom_at = n if c["status"] == "oom" else None
        else:
            c = {"status": "skipped", "error": f"out of memory at N={oom_at}"}
        timed = min(n, TORCH_LOOP_TIMED)
        if timed not in loops:  # for N above TORCH_LOOP_TIMED the one timing of that many models
            loop = functools.partial(torch_loop, timed, steps * repeats, device, shape)
            loops[timed] = attempt(loop) if torch_ok else no_cuda
        c, t = with_rates(c, flops, peak_gflops), with_rates(loops[timed], flops, peak_gflops)
        ok = c.get("model_steps_per_s") and t.get("model_steps_per_s")
        w["models"][str(n)] = {
            "carousel": c,
            "torch_loop": t,
            "carousel/torch_loop": c["model_steps_per_s"] / t["model_steps_per_s"] if ok else None,
        }
        print(
            f"  accelerator N={n}: carousel {_rate(c)}  torch loop ({timed} timed) {_rate(t)} model-steps/s",
            flush=True,
        )
    return {"accelerator": w}


def _rate(entry: dict[str, Any]) -> str:
    r = entry.get("model_steps_per_s")
    return f"{r:.1f}" if r is not None else entry.get("status", "missing")


# ----------------------------------------------------------------------------- main


def _setup(quick: bool, torch_too: bool = True) -> tuple[dict[str, Any], int, int, int, int, int]:
    """Per workload process: an empty persistent compile cache shared with its workers."""
    import tempfile

    cache = tempfile.mkdtemp(prefix="carousel-bench-cache-")  # starts empty: cold numbers are cold
    os.environ["JAX_COMPILATION_CACHE_DIR"] = cache  # the worker processes inherit it
    import jax

    jax.config.update("jax_compilation_cache_dir", cache)
    if torch_too:
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    w: dict[str, Any] = {}
    B, T, H, D = (SINGLE[k] for k in ("B", "T", "H", "D"))
    return w, (5 if quick else 20), B, (50 if quick else T), H, D


def workload_single(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    import torch  # noqa: F401

    w, reps, B, T, H, D = _setup(quick)
    for cell in ("lstm", "gru", "rnn"):
        # nn.GRU and linen's GRUCell apply the reset gate after the recurrent matmul;
        # the three alternate in rounds, so a slow spell of the machine hits all alike
        steps = {
            "carousel": carousel_step("gru_reset_after" if cell == "gru" else cell, B, T, H),
            "torch": torch_step_fn(cell, B, T, H, D),
            "flax": flax_step_fn(cell, B, T, H, D),
        }
        secs = interleaved(steps, max(reps // 4, 1), 4)
        c, t, f = (1 / secs[k] for k in ("carousel", "torch", "flax"))
        w[f"single_{cell}"] = {
            "unit": "steps/s",
            "carousel": c,
            "torch": t,
            "flax": f,
            "carousel/torch": c / t,
            "carousel/flax": c / f,
            "shape": {"B": B, "T": T, "H": H, "D": D},
        }
        print(f"single_{cell}: carousel {c:.2f}  torch {t:.2f}  flax {f:.2f} steps/s", flush=True)

    return w


def workload_many_seeds(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    import torch  # noqa: F401

    w, reps, B, T, H, D = _setup(quick)
    n, steps = (8, 10) if quick else (PAPER["models"], PAPER["steps"])
    secs, strategy = carousel_many(n, steps, "auto")  # cold: compiles (and fills the cache)
    carousel = n * steps / secs
    secs_warm, _ = carousel_many(n, steps, "auto")  # warm: compiled programs from the cache
    carousel_warm = n * steps / secs_warm
    torch_loop = n * steps / torch_many_worker((-1, n, steps, torch.get_num_threads()))
    torch_procs = n * steps / torch_many_procs(n, steps)
    flax_t = time.perf_counter()
    make_step = flax_setup("lstm", PAPER["B"], PAPER["T"], PAPER["H"], PAPER["D"])
    for m in range(n):
        step = make_step(m)
        for _ in range(steps):
            step()
    flax = n * steps / (time.perf_counter() - flax_t)
    w["many_seeds"] = {
        "unit": "model-steps/s",
        "carousel": carousel,
        "carousel_warm": carousel_warm,
        "carousel_strategy": strategy,
        "carousel_warm/torch": carousel_warm / torch_loop,
        "carousel_warm/torch_procs": carousel_warm / torch_procs,
        "torch": torch_loop,
        "torch_procs": torch_procs,
        "flax": flax,
        "carousel/torch": carousel / torch_loop,
        "carousel/torch_procs": carousel / torch_procs,
        "models": n,
        "steps": steps,
        "includes_compile": True,
    }
    print(
        f"many_seeds ({n} LSTMs x {steps} steps, {strategy}): carousel {carousel:.1f}"
        f" (warm cache {carousel_warm:.1f})  torch {torch_loop:.1f}"
        f"  torch_procs {torch_procs:.1f}  flax {flax:.1f} model-steps/s",
        flush=True,
    )

    return w


def workload_scaling(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    import torch  # noqa: F401

    w, reps, B, T, H, D = _setup(quick)
    scaling: dict[str, Any] = {
        "unit": "model-steps/s (whole train() call, compiled programs warm)",
        "steps_per_seed": 10,
        "seeds": {},
    }
    import jax

    on_cpu = jax.default_backend() == "cpu"
    seed_counts = (1, 4, 16) if quick else (1, 4, 16, 64, 256) if on_cpu else (1, 16, 64, 256, 1024, 4096)
    # on an accelerator the packed models of a sweep are the vmapped axis: 1 to 4,096 of them
    for strategy in ("vmap", "loop", "processes") if on_cpu else ("vmap",):
        for n_seeds in seed_counts:
            carousel_many(n_seeds, 10, strategy)  # warm-up: compile, fill the cache
            secs, _ = carousel_many(n_seeds, 10, strategy)
            scaling["seeds"].setdefault(strategy, {})[str(n_seeds)] = n_seeds * 10 / secs
            rate = n_seeds * 10 / secs
            print(f"  scaling {strategy} {n_seeds} seeds: {rate:.1f} model-steps/s", flush=True)
        print(f"scaling {strategy}: {scaling['seeds'][strategy]}", flush=True)
    scaling["step_time_vs_T"] = {
        str(t_len): carousel_step_time("lstm", PAPER["B"], t_len, PAPER["H"], reps)
        for t_len in ((50, 100, 200) if quick else (50, 100, 200, 500, 1000))
    }
    ts = np.array([int(k) for k in scaling["step_time_vs_T"]])
    secs_T = np.array(list(scaling["step_time_vs_T"].values()))
    slope, intercept = np.polyfit(ts, secs_T, 1)
    resid = secs_T - (slope * ts + intercept)
    scaling["linear_fit"] = {
        "seconds_per_step_of_T": slope,
        "intercept_s": intercept,
        "r2": 1 - float(np.sum(resid**2) / np.sum((secs_T - secs_T.mean()) ** 2)),
    }
    w["scaling"] = scaling
    print(f"step time vs T: {scaling['step_time_vs_T']}", flush=True)

    return w


@contextlib.contextmanager
def raw_norms() -> Iterator[None]:
    """Within: carousel's norms as sqrt(sum x^2) of the raw values (``jnp.linalg.norm``,
    ``optax.tree.norm``) and no elementwise finiteness checks of the gradient and the
    parameters, as before the scaled norm (:func:`models.linalg.norm`) and the divergence
    rule; a step function traced inside keeps them. Only to time what those cost."""
    import jax.numpy as jnp
    import optax

    import benchmarks.core.diagnostics
    import benchmarks.core.trainer
    import models.backward

    names = [
        (models.backward, "norm"),
        (benchmarks.core.diagnostics, "norm"),
        (benchmarks.core.trainer, "tree_norm"),
        (benchmarks.core.trainer, "tree_all_finite"),
    ]
    saved = [getattr(module, name) for module, name in names]

    def raw(x, axis=-1):
        return jnp.sqrt(jnp.sum(x * x, axis=axis))

    for (module, name), fn in zip(names, (raw, raw, optax.tree.norm, lambda tree: True), strict=True):
        setattr(module, name, fn)
    try:
        yield
    finally:
        for (module, name), fn in zip(names, saved, strict=True):
            setattr(module, name, fn)


def traced_step(level: str, raw: bool, B: int, T: int, H: int) -> Callable[[], None]:
    """An LSTM training step, compiled now (with raw norms if ``raw``)."""
    with raw_norms() if raw else contextlib.nullcontext():
        step = carousel_step("lstm", B, T, H, level)
        step()
    return step


def workload_overhead(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    w, reps, B, T, H, D = _setup(quick, torch_too=False)
    # interleaved rounds: a slow spell of the machine hits all alike
    fns = {(lvl, raw): traced_step(lvl, raw, B, T, H) for lvl in ("none", "basic") for raw in (False, True)}
    t = interleaved({f"{lvl}{'_raw' if raw else ''}": fn for (lvl, raw), fn in fns.items()}, reps // 2, 4)
    plain, basic = t["none"], t["basic"]
    w["overhead"] = {
        "unit": "% over a plain step",
        "probes_basic": 100 * (basic / plain - 1),
        "plain_step_s": plain,
        "basic_step_s": basic,
        # the scaled norms against sqrt(sum x^2): the global norm and finiteness checks in
        # the plain step; with probes also the per-step norms inside the backward loop
        "scaled_norm_plain": 100 * (plain / t["none_raw"] - 1),
        "scaled_norm_basic": 100 * (basic / t["basic_raw"] - 1),
        "plain_raw_step_s": t["none_raw"],
        "basic_raw_step_s": t["basic_raw"],
    }
    o = w["overhead"]
    print(f"overhead of probes (basic): {o['probes_basic']:.1f}%", flush=True)
    print(
        f"scaled norms over raw: plain step {o['scaled_norm_plain']:+.1f}%,"
        f" with probes {o['scaled_norm_basic']:+.1f}%",
        flush=True,
    )
    return w


def workload_truncated(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    """The 1997 truncated gradient (``train.gradient=truncated``) against full BPTT: one
    training step of ``lstm`` and ``lstm_nofg``, all four in interleaved rounds."""
    w, reps, B, T, H, D = _setup(quick, torch_too=False)
    fns = {
        f"{cell}_{gradient}": carousel_step(cell, B, T, H, gradient=gradient)
        for cell in ("lstm", "lstm_nofg")
        for gradient in ("full", "truncated")
    }
    t = interleaved(fns, reps // 2, 4)
    w["truncated"] = {"unit": "truncated step / full step", **{f"{k}_step_s": v for k, v in t.items()}}
    for cell in ("lstm", "lstm_nofg"):
        w["truncated"][cell] = t[f"{cell}_truncated"] / t[f"{cell}_full"]
        print(f"truncated over full BPTT, {cell}: {w['truncated'][cell]:.2f}x the step time", flush=True)
    return w


def workload_roofline(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    import torch  # noqa: F401

    w, reps, B, T, H, D = _setup(quick)
    flops = lstm_flops(B, T, H, D)
    step_s = 1 / prior["single_lstm"]["carousel"]
    peak = matmul_gflops(1024, 1024, 1024)
    at_shape = matmul_gflops(B, 4 * H, H, repeats=200)
    w["roofline"] = {
        "unit": "GFLOP/s",
        "flops_per_step": flops,
        "carousel_lstm": flops / step_s / 1e9,
        "torch_lstm": flops * prior["single_lstm"]["torch"] / 1e9,
        "matmul_1024": peak,
        f"matmul_{B}x{H}x{4 * H}": at_shape,
        "carousel_fraction_of_matmul_1024": flops / step_s / 1e9 / peak,
    }
    print(
        f"roofline: carousel LSTM {flops / step_s / 1e9:.2f} GFLOP/s; dense matmul {peak:.1f} GFLOP/s;"
        f" recurrent-shape matmul {at_shape:.2f} GFLOP/s",
        flush=True,
    )
    return w


def workload_roofline_1core(quick: bool, prior: dict[str, Any]) -> dict[str, Any]:
    """The single-LSTM step and the matmuls again on one pinned core with XLA
    single-threaded, as each ``processes`` worker runs: small matmuls gain little from a
    second thread, a 1024^3 matmul nearly twice, so the per-core fraction is the one a
    worker reaches."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()  # before JAX starts
    w, reps, B, T, H, D = _setup(quick, torch_too=False)
    flops = lstm_flops(B, T, H, D)
    step_s = carousel_step_time("lstm", B, T, H, reps)
    flax_s = median_time(flax_step_fn("lstm", B, T, H, D), reps)
    peak = matmul_gflops(1024, 1024, 1024)
    at_shape = matmul_gflops(B, 4 * H, H, repeats=200)
    w["roofline_1core"] = {
        "unit": "GFLOP/s",
        "carousel_lstm_steps_per_s": 1 / step_s,
        "flax_lstm_steps_per_s": 1 / flax_s,
        "carousel_lstm": flops / step_s / 1e9,
        "flax_lstm": flops / flax_s / 1e9,
        "matmul_1024": peak,
        f"matmul_{B}x{H}x{4 * H}": at_shape,
        "carousel_fraction_of_matmul_1024": flops / step_s / 1e9 / peak,
    }
    print(
        f"roofline on one core: carousel LSTM {flops / step_s / 1e9:.2f} GFLOP/s"
        f" (Flax {flops / flax_s / 1e9:.2f}); dense matmul {peak:.1f} GFLOP/s;"
        f" recurrent-shape matmul {at_shape:.2f} GFLOP/s",
        flush=True,
    )
    return w


WORKLOADS = (
    "single",
    "many_seeds",
    "scaling",
    "overhead",
    "truncated",
    "roofline",
    "roofline_1core",
    "sweep_jobs",
    "sweep_packed",
    "sweep_packed_vmap",
    "lengths_separate",
    "lengths_padded",
    "accelerator",
)
CPU_WORKLOADS = WORKLOADS[:-1]  # make bench on a CPU: all but ``accelerator``


def torch_installed() -> bool:
    """Whether PyTorch can be imported (the ``bench`` extra)."""
    return importlib.util.find_spec("torch") is not None


def machine() -> dict[str, Any]:
    import jax

    torch_version = None
    if torch_installed():
        import torch

        torch_version = torch.__version__
    return {
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "torch": torch_version,
    }


def run(
    quick: bool,
    timeout: float = 900.0,
    workloads: tuple[str, ...] = CPU_WORKLOADS,
    max_models: int | None = None,
) -> dict[str, Any]:
    """Every workload in its own process (a clean JAX/PyTorch state each, and a stuck one
    is stopped after ``timeout`` seconds and tried once more)."""
    import subprocess
    import tempfile

    out: dict[str, Any] = {"machine": machine(), "workloads": {}}
    for name in workloads:
        for attempt in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                prior, result = Path(tmp) / "prior.json", Path(tmp) / "result.json"
                prior.write_text(json.dumps(out["workloads"]))
                cmd = [
                    sys.executable,
                    "-m",
                    "scripts.bench.speed",
                    "--workload",
                    name,
                    "--prior",
                    str(prior),
                    "--result",
                    str(result),
                ] + (["--quick"] if quick else [])
                if max_models is not None:
                    cmd += ["--max-models", str(max_models)]
                try:
                    subprocess.run(cmd, check=True, timeout=timeout)
                    out["workloads"].update(json.loads(result.read_text()))
                    break
                except (subprocess.TimeoutExpired, subprocess.CalledProcessError) as e:
                    print(f"workload {name} attempt {attempt} failed: {e}", flush=True)
                    if attempt == 2:
                        out["workloads"][name] = {"error": str(e)}
    return out


def print_accelerator(a: dict[str, Any]) -> None:
    """The ``accelerator`` workload's table: one row per packed size N."""
    peak, prec = a["matmul_peak"], a["precision"]
    peak_text = f"{peak['gflops']:.1f} GFLOP/s" if peak.get("gflops") else peak["status"]
    print(
        f"\naccelerator on {a['device']} (PyTorch on {a['torch_device']}), LSTM {a['shape']},"
        f" precision {prec['carousel']} (torch TF32 matmul {prec.get('torch_cuda_matmul_allow_tf32', '-')},"
        f" cuDNN {prec.get('torch_cudnn_allow_tf32', '-')}); dense {peak['n']}^3 matmul {peak_text}"
    )

    def cell(e: dict[str, Any], key: str, scale: float = 1.0, fmt: str = "10.1f") -> str:
        v, width = e.get(key), fmt.split(".")[0]
        if isinstance(v, int | float):
            return f"{v * scale:{fmt}}"
        return f"{'-' if e.get('status') == 'ok' else e.get('status', '-'):>{width}}"  # None: not measured

    single = a["torch_single"]
    print(
        f"torch nn.LSTM, one model: {cell(single, 'model_steps_per_s', fmt='.1f')} model-steps/s,"
        f" {cell(single, 'share_of_peak', 100, '.2f')}% of peak"
    )
    print("      N   carousel  % of peak     memory MiB   torch loop  % of peak   memory MiB   vs loop")
    for n, r in a["models"].items():
        c, t = r["carousel"], r["torch_loop"]
        ratio = r["carousel/torch_loop"]
        print(
            f"{n:>7s} {cell(c, 'model_steps_per_s')} {cell(c, 'share_of_peak', 100, '10.2f')}"
            f" {cell(c, 'peak_bytes_in_use', 2**-20, '14.1f')} {cell(t, 'model_steps_per_s', fmt='12.1f')}"
            f" {cell(t, 'share_of_peak', 100, '10.2f')} {cell(t, 'max_memory_allocated', 2**-20, '12.1f')}"
            f" {f'{ratio:8.2f}x' if ratio is not None else '       -'}"
        )


def print_table(result: dict[str, Any]) -> None:
    w = {k: v for k, v in result["workloads"].items() if "error" not in v}
    for k, v in result["workloads"].items():
        if "error" in v:
            print(f"{k}: not measured ({v['error']})")
    if "accelerator" in w:
        print_accelerator(w["accelerator"])
    if not all(
        k in w
        for k in ("single_lstm", "single_gru", "single_rnn", "many_seeds", "scaling", "overhead", "roofline")
    ):
        return
    print("\nworkload        unit             carousel      torch  torch_procs       flax  vs torch  vs flax")
    for name in ("single_lstm", "single_gru", "single_rnn", "many_seeds"):
        r = w[name]
        procs = f"{r['torch_procs']:11.1f}" if "torch_procs" in r else " " * 11
        print(
            f"{name:15s} {r['unit']:15s} {r['carousel']:9.2f} {r['torch']:10.2f} {procs} {r['flax']:10.2f}"
            f"  {r['carousel'] / r['torch']:7.2f}x {r['carousel'] / r['flax']:7.2f}x"
        )
    r = w["many_seeds"]
    print(
        f"{'many_seeds_warm':15s} {r['unit']:15s} {r['carousel_warm']:9.2f} {r['torch']:10.2f}"
        f" {r['torch_procs']:11.1f} {r['flax']:10.2f}  {r['carousel_warm'] / r['torch']:7.2f}x"
        f" {r['carousel_warm'] / r['flax']:7.2f}x"
    )
    for strategy, by_n in w["scaling"]["seeds"].items():
        print(f"scaling {strategy:10s} " + "  ".join(f"{n}: {v:.1f}" for n, v in by_n.items()))
    fit = w["scaling"]["linear_fit"]
    print(f"step time vs T: {fit['seconds_per_step_of_T'] * 1e3:.3f} ms per time step, r^2 = {fit['r2']:.4f}")
    o = w["overhead"]
    print(f"probe overhead (diagnostics=basic): {o['probes_basic']:.1f}%")
    print(
        f"scaled norms over sqrt(sum x^2): plain step {o['scaled_norm_plain']:+.1f}%,"
        f" with probes {o['scaled_norm_basic']:+.1f}%"
    )
    if "truncated" in w:
        r = w["truncated"]
        print(f"truncated gradient over full BPTT: lstm {r['lstm']:.2f}x, lstm_nofg {r['lstm_nofg']:.2f}x")
    for name in ("sweep_jobs", "sweep_packed", "sweep_packed_vmap"):
        if name in w:
            r = w[name]
            same = (
                "" if "identical_to_jobs" not in r else f", identical to job by job: {r['identical_to_jobs']}"
            )
            print(
                f"{name}: {r['jobs']} jobs, {r['models']} models x {r['steps']} steps: {r['carousel']:.1f}"
                f" model-steps/s in {r['seconds']:.1f} s [{r['strategy']}]{same}"
            )
    if "lengths_separate" in w and "lengths_padded" in w:
        sep, pad = w["lengths_separate"]["seconds"], w["lengths_padded"]["seconds"]
        print(f"lengths 50/100/200: one program per length {sep:.1f} s, all padded to 200 {pad:.1f} s")
    if "roofline_1core" in w:
        r1 = w["roofline_1core"]
        print(
            f"roofline on one core: carousel LSTM {r1['carousel_lstm']:.1f} GFLOP/s,"
            f" Flax {r1['flax_lstm']:.1f}, dense matmul {r1['matmul_1024']:.1f}"
            f" ({100 * r1['carousel_fraction_of_matmul_1024']:.1f}%)"
        )
    roof = w["roofline"]
    print(
        f"roofline: carousel LSTM {roof['carousel_lstm']:.1f} GFLOP/s, torch {roof['torch_lstm']:.1f},"
        f" dense matmul {roof['matmul_1024']:.1f} ({100 * roof['carousel_fraction_of_matmul_1024']:.1f}%)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("bench_results"), help="folder of the result file")
    parser.add_argument("--out-file", type=Path, help="the result file (default: OUT/speed-<time>.json)")
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="only the accelerator workload, on JAX's default backend (a smoke run on a CPU);"
        " without it, a GPU or TPU backend runs it after the others",
    )
    parser.add_argument(
        "--max-models", type=int, help=f"accelerator workload: packed sizes N up to this (of {ACCEL_MODELS})"
    )
    parser.add_argument("--workload", choices=WORKLOADS, help=argparse.SUPPRESS)
    parser.add_argument("--prior", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_models is not None and args.max_models < 1:
        parser.error(f"--max-models must be at least 1, got {args.max_models}")
    # JAX takes 75% of a GPU's memory at start-up unless told not to; PyTorch shares the GPU
    # in the accelerator workload (the children inherit this)
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if args.workload:  # one workload, in a child process of run()
        prior = json.loads(args.prior.read_text()) if args.prior else {}
        options = {"max_models": args.max_models} if args.workload == "accelerator" else {}
        result = globals()[f"workload_{args.workload}"](args.quick, prior, **options)
        args.result.write_text(json.dumps(result))
        return
    if not torch_installed():
        if not args.gpu:
            print("error: PyTorch is needed for the benchmark: pip install -e '.[bench]'", file=sys.stderr)
            sys.exit(2)
        print(
            "warning: PyTorch is not installed: carousel's rows only (pip install -e '.[bench]')", flush=True
        )
    import jax

    on_cpu = jax.default_backend() == "cpu"
    workloads = ("accelerator",) if args.gpu else CPU_WORKLOADS if on_cpu else WORKLOADS
    if args.gpu and args.quick and on_cpu:  # the tests' smoke run: compile in half the time
        flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    result = run(args.quick, workloads=workloads, max_models=args.max_models)
    print_table(result)
    path = args.out_file or args.out / f"speed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
