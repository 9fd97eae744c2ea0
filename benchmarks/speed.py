"""The speed benchmark (``make bench``): carousel against PyTorch and Flax, in one run.

Every number is a median of timed repetitions after warm-up (``block_until_ready`` for
JAX; PyTorch runs synchronously on the CPU), measured side by side in one process tree, so
ratios compare systems under the same machine load. Workloads:

1. ``single_<cell>``: one training step (forward, backward, Adam update) at B=64, T=200,
   H=128, input 2, float32 for LSTM, GRU and tanh RNN: carousel's training step vs
   PyTorch ``nn.LSTM``/``nn.GRU``/``nn.RNN`` vs Flax linen ``nn.RNN`` over
   ``OptimizedLSTMCell``/``GRUCell``/``SimpleCell``. Throughput in steps/s.
2. ``many_seeds``: 32 independent LSTMs, B=20, T=200, H=50, 100 Adam steps each, total
   wall time including compilation: carousel's default strategy for the backend vs a
   PyTorch loop over models (``torch``), PyTorch in one pinned single-thread process per
   core (``torch_procs``) and a loop of a jitted Flax step (``flax``). Model-steps/s.
3. ``scaling``: carousel's model-steps/s for 1..256 seeds per strategy, and the LSTM step
   time against T (linear cost in T).
4. ``overhead``: the per-step gradient probes (``diagnostics=basic``) over a plain step.
5. ``roofline``: analytic FLOPs per step, achieved GFLOP/s, and this machine's measured
   dense-matmul GFLOP/s (large and at the recurrent matmul's own shape).

Writes ``bench_results/speed-<time>.json`` and prints ``results: <path>`` last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SINGLE = {"B": 64, "T": 200, "H": 128, "D": 2}
PAPER = {"B": 20, "T": 200, "H": 50, "D": 2, "models": 32, "steps": 100}
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


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


def carousel_trainer(cell: str, B: int, T: int, H: int, level: str = "none", eval_size: int = 64):
    from benchmarks.diagnostics import DiagnosticsSpec
    from benchmarks.optim import OptimSpec
    from benchmarks.trainer import Trainer, TrainSpec
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
    )
    return Trainer(
        model, task, OptimSpec(name="adam", lr=1e-3, clip="none"), spec, DiagnosticsSpec(level=level)
    )


def carousel_step_time(cell: str, B: int, T: int, H: int, repeats: int, level: str = "none") -> float:
    """Median seconds of one training step (data sampled inside, as in real training)."""
    import jax
    import jax.numpy as jnp

    trainer = carousel_trainer(cell, B, T, H, level)
    state = trainer.init_state(trainer.model.init(jax.random.key(0)))
    chunk = jax.jit(trainer.train_chunk)
    key = jax.random.key(1)
    box = {"state": state, "i": 0}

    def step():
        steps = jnp.arange(box["i"], box["i"] + 1, dtype=jnp.int32)
        box["state"], m = chunk(box["state"], key, steps)
        jax.block_until_ready(m.loss)
        box["i"] += 1

    return median_time(step, repeats)


def carousel_many(n_models: int, steps: int, strategy: str) -> tuple[float, str]:
    """Wall time of ``train`` for n_models LSTMs at paper scale (compilation included)."""
    import dataclasses

    from benchmarks.trainer import train

    trainer = carousel_trainer("lstm", PAPER["B"], PAPER["T"], PAPER["H"])
    trainer = dataclasses.replace(
        trainer, spec=dataclasses.replace(trainer.spec, steps=steps, eval_every=steps, eval_size=PAPER["B"])
    )
    t = time.perf_counter()
    result = train(trainer, list(range(n_models)), strategy=strategy)
    return time.perf_counter() - t, result.strategy


# ----------------------------------------------------------------------------- PyTorch


def torch_model(cell: str, D: int, H: int):
    import torch

    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](D, H)
    head = torch.nn.Linear(H, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    return rnn, head, torch.optim.Adam(params, lr=1e-3)


def torch_step_fn(cell: str, B: int, T: int, H: int, D: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    rnn, head, opt = torch_model(cell, D, H)
    x, y = torch.rand(T, B, D), torch.rand(B, 1)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(x)
        loss = torch.mean((head(out[-1]) - y) ** 2)
        loss.backward()
        opt.step()

    return step


def torch_many_worker(args: tuple[int, int, int, int]) -> float:
    """One pinned, single-thread process training ``n`` models; returns its wall time."""
    core, n, steps, threads = args
    import torch

    if core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    torch.set_num_threads(threads)
    t = time.perf_counter()
    for m in range(n):
        step = torch_step_fn("lstm", PAPER["B"], PAPER["T"], PAPER["H"], PAPER["D"], seed=m)
        for _ in range(steps):
            step()
    return time.perf_counter() - t


def torch_many_procs(n_models: int, steps: int) -> float:
    import multiprocessing as mp

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [-1]
    share = [n_models // len(cores) + (i < n_models % len(cores)) for i in range(len(cores))]
    ctx = mp.get_context("spawn")
    t = time.perf_counter()
    with ctx.Pool(len(cores)) as pool:
        pool.map(torch_many_worker, [(c, n, steps, 1) for c, n in zip(cores, share, strict=True)])
    return time.perf_counter() - t


# ----------------------------------------------------------------------------- Flax linen


def flax_step_fn(cell: str, B: int, T: int, H: int, D: int, seed: int = 0):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    cells = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "rnn": nn.SimpleCell}

    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.RNN(cells[cell](features=H))(x)
            return nn.Dense(1)(h[:, -1])

    net = Net()
    key = jax.random.key(seed)
    x, y = jax.random.uniform(key, (B, T, D)), jax.random.uniform(key, (B, 1))
    params = net.init(key, x)
    opt = optax.adam(1e-3)

    @jax.jit
    def update(params, opt_state):
        loss, grads = jax.value_and_grad(lambda p: jnp.mean((net.apply(p, x) - y) ** 2))(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    box = {"p": params, "o": opt.init(params)}

    def step():
        box["p"], box["o"], loss = update(box["p"], box["o"])
        jax.block_until_ready(loss)

    return step


# ----------------------------------------------------------------------------- roofline


def lstm_flops(B: int, T: int, H: int, D: int, gates: int = 4) -> float:
    """Matmul FLOPs of one LSTM training step: forward 2*B*(D+H)*gH per step, backward
    twice that (gradients w.r.t. inputs/states and weights); elementwise work ignored."""
    forward = 2.0 * B * (D + H) * gates * H * T
    return 3.0 * forward


def matmul_gflops(n: int, m: int, k: int, repeats: int = 20) -> float:
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, k), jnp.float32)
    b = jax.random.normal(jax.random.key(1), (k, m), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    t = median_time(lambda: jax.block_until_ready(f(a, b)), repeats)
    return 2.0 * n * m * k / t / 1e9


# ----------------------------------------------------------------------------- main


def run(quick: bool) -> dict[str, Any]:
    import jax
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    reps = 5 if quick else 20
    out: dict[str, Any] = {
        "machine": {
            "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()],
            "cpus": os.cpu_count(),
            "jax": jax.__version__,
            "torch": torch.__version__,
        },
        "workloads": {},
    }
    w = out["workloads"]
    B, T, H, D = (SINGLE[k] for k in ("B", "T", "H", "D"))
    if quick:
        T = 50
    for cell in ("lstm", "gru", "rnn"):
        c = 1 / carousel_step_time(cell, B, T, H, reps)
        t = 1 / median_time(torch_step_fn(cell, B, T, H, D), reps)
        f = 1 / median_time(flax_step_fn(cell, B, T, H, D), reps)
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

    n, steps = (8, 10) if quick else (PAPER["models"], PAPER["steps"])
    secs, strategy = carousel_many(n, steps, "auto")
    carousel = n * steps / secs
    torch_loop = n * steps / torch_many_worker((-1, n, steps, torch.get_num_threads()))
    torch_procs = n * steps / torch_many_procs(n, steps)
    flax_t = time.perf_counter()
    for m in range(n):
        step = flax_step_fn("lstm", PAPER["B"], PAPER["T"], PAPER["H"], PAPER["D"], seed=m)
        for _ in range(steps):
            step()
    flax = n * steps / (time.perf_counter() - flax_t)
    w["many_seeds"] = {
        "unit": "model-steps/s",
        "carousel": carousel,
        "carousel_strategy": strategy,
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
        f"many_seeds ({n} LSTMs x {steps} steps, {strategy}): carousel {carousel:.1f}  torch {torch_loop:.1f}"
        f"  torch_procs {torch_procs:.1f}  flax {flax:.1f} model-steps/s",
        flush=True,
    )

    scaling: dict[str, Any] = {"unit": "model-steps/s", "steps_per_seed": 10, "seeds": {}}
    seed_counts = (1, 4, 16) if quick else (1, 4, 16, 64, 256)
    for strategy in ("vmap", "loop", "processes"):
        for n_seeds in seed_counts:
            secs, _ = carousel_many(n_seeds, 10, strategy)
            scaling["seeds"].setdefault(strategy, {})[str(n_seeds)] = n_seeds * 10 / secs
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

    plain = carousel_step_time("lstm", B, T, H, reps, "none")
    basic = carousel_step_time("lstm", B, T, H, reps, "basic")
    w["overhead"] = {
        "unit": "% over a plain step",
        "probes_basic": 100 * (basic / plain - 1),
        "plain_step_s": plain,
        "basic_step_s": basic,
    }
    print(f"overhead of probes (basic): {w['overhead']['probes_basic']:.1f}%", flush=True)

    flops = lstm_flops(B, T, H, D)
    step_s = 1 / w["single_lstm"]["carousel"]
    peak = matmul_gflops(1024, 1024, 1024)
    at_shape = matmul_gflops(B, 4 * H, H, repeats=200)
    w["roofline"] = {
        "unit": "GFLOP/s",
        "flops_per_step": flops,
        "carousel_lstm": flops / step_s / 1e9,
        "torch_lstm": flops * w["single_lstm"]["torch"] / 1e9,
        "matmul_1024": peak,
        f"matmul_{B}x{H}x{4 * H}": at_shape,
        "carousel_fraction_of_matmul_1024": flops / step_s / 1e9 / peak,
    }
    print(
        f"roofline: carousel LSTM {flops / step_s / 1e9:.2f} GFLOP/s; dense matmul {peak:.1f} GFLOP/s;"
        f" recurrent-shape matmul {at_shape:.2f} GFLOP/s",
        flush=True,
    )
    return out


def print_table(result: dict[str, Any]) -> None:
    w = result["workloads"]
    print("\nworkload        unit             carousel      torch  torch_procs       flax  vs torch  vs flax")
    for name in ("single_lstm", "single_gru", "single_rnn", "many_seeds"):
        r = w[name]
        procs = f"{r['torch_procs']:11.1f}" if "torch_procs" in r else " " * 11
        print(
            f"{name:15s} {r['unit']:15s} {r['carousel']:9.2f} {r['torch']:10.2f} {procs} {r['flax']:10.2f}"
            f"  {r['carousel'] / r['torch']:7.2f}x {r['carousel'] / r['flax']:7.2f}x"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions (a smoke run)")
    parser.add_argument("--out", type=Path, default=Path("bench_results"))
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("error: PyTorch is needed for the benchmark: pip install -e '.[bench]'", file=sys.stderr)
        sys.exit(2)
    result = run(args.quick)
    print_table(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"speed-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
