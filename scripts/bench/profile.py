"""Interleaved A/B timings of single training steps, for profiling on a shared machine.

Every candidate is built and compiled first; then the timed rounds alternate between them
(``reps`` calls of each per round, median over all), so load from other processes hits
all candidates alike. Pin the process to one core: ``taskset -c 1 python -m
scripts.bench.profile cells``. Modes:

- ``cells``: carousel's step against Flax linen's for lstm, gru (reset after) and rnn;
- ``probes``: the LSTM step with ``diagnostics=basic`` against ``none``;
- ``parts``: where an LSTM step's time goes (data sampling, forward + loss, forward +
  backward, the whole step with Adam, the whole step with probes).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from scripts.bench.baselines_flax import flax_step_fn
from scripts.bench.speed import SINGLE, carousel_trainer, interleaved
from scripts.bench.speed import carousel_step as speed_step

CAROUSEL_CELL = {"lstm": "lstm", "gru": "gru_reset_after", "rnn": "rnn"}


def carousel_step(cell: str, level: str = "none", B: int = 64, T: int = 200, H: int = 128):
    """One jitted training step (data sampled inside), as in ``speed.carousel_step_time``."""
    return speed_step(cell, B, T, H, level)


def lstm_parts(B: int, T: int, H: int) -> dict[str, Callable[[], None]]:
    """Jitted pieces of one LSTM step, each on the same batch and parameters."""
    import jax
    import optax

    from benchmarks.core import diagnostics as dg

    trainer = carousel_trainer("lstm", B, T, H)
    model, task = trainer.model, trainer.task
    params = model.init(jax.random.key(0))
    key = jax.random.key(1)
    batch = task.sample(key, B)
    opt = trainer.optimizer()
    opt_state = opt.init(params)

    sample = jax.jit(lambda k: task.sample(k, B))
    forward = jax.jit(lambda p, b: task.loss(model.apply(p, b.x)[0], b))
    grads = jax.jit(lambda p, b: dg.loss_and_grads(model, task, p, b, None)[:2])
    probed = jax.jit(lambda p, b: dg.loss_and_grads(model, task, p, b, 0, norms=True))

    @jax.jit
    def adam(p, s, g):
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    g0 = grads(params, batch)[1]
    run = lambda f, *a: lambda: jax.block_until_ready(f(*a))  # noqa: E731
    return {
        "sample": run(sample, key),
        "forward+loss": run(forward, params, batch),
        "forward+backward": run(grads, params, batch),
        "forward+backward+probes": run(probed, params, batch),
        "adam": run(adam, params, opt_state, g0),
        "step": carousel_step("lstm", "none", B, T, H),
        "step+probes": carousel_step("lstm", "basic", B, T, H),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("cells", "probes", "parts"))
    parser.add_argument("--cells", default="lstm,gru,rnn")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    B, T, H, D = SINGLE["B"], SINGLE["T"], SINGLE["H"], SINGLE["D"]
    if args.mode == "cells":
        for cell in args.cells.split(","):
            fns = {
                "carousel": carousel_step(CAROUSEL_CELL[cell], "none", B, T, H),
                "flax": flax_step_fn(cell, B, T, H, D),
            }
            t = interleaved(fns, args.rounds, args.reps)
            print(
                f"{cell}: carousel {1 / t['carousel']:.2f} steps/s, flax {1 / t['flax']:.2f} steps/s,"
                f" ratio {t['flax'] / t['carousel']:.3f}x",
                flush=True,
            )
    elif args.mode == "probes":
        fns = {
            "none": carousel_step("lstm", "none", B, T, H),
            "basic": carousel_step("lstm", "basic", B, T, H),
        }
        t = interleaved(fns, args.rounds, args.reps)
        print(
            f"lstm step: none {1e3 * t['none']:.2f} ms, basic {1e3 * t['basic']:.2f} ms,"
            f" overhead {100 * (t['basic'] / t['none'] - 1):.1f}%"
        )
    else:
        t = interleaved(lstm_parts(B, T, H), args.rounds, args.reps)
        for name, s in t.items():
            print(f"{name:>26s}: {1e3 * s:8.2f} ms")


if __name__ == "__main__":
    main()
