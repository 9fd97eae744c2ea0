"""The ``processes`` seed strategy: seeds spread over pinned single-thread worker processes.

Small recurrent models (B=20, H=50) leave a multi-core CPU mostly idle inside one step:
XLA's intra-op threads cannot split a [20, 50] x [50, 200] matmul usefully, and vmapping
seeds was measured slower than looping them. One process per core, pinned to it
(``sched_setaffinity``) with XLA limited to one thread, runs its share of the seeds with
the ``loop`` strategy; the parent relays progress and merges the results. Each seed's
numbers are those of the in-process strategies: a seed depends only on its own keys, and
a seed that finishes early (solved or diverged) keeps its final state, which is what the
merged time series repeat for the steps its worker did not run.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import queue as queue_lib
from collections.abc import Callable
from typing import Any

import numpy as np

SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def usable_cores() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def frozen_row(row: dict, step: int) -> dict:
    """The row a finished (frozen) seed would have at a later evaluation: same evaluation,
    no training statistics."""
    return dict(row, step=step, train_loss=math.nan, grad_norm_mean=math.nan, grad_norm_max=math.nan)


def _worker(job: tuple[Any, list[int], Any, int | None, Any, int]) -> Any:
    trainer, seeds, params_init, core, events, wid = job
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {core})
    # XLA reads its flags when the backend starts, which happens at the first JAX operation.
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    from benchmarks.trainer import train

    result = train(
        trainer,
        seeds,
        params_init=params_init,
        strategy="loop",
        on_eval=lambda step, rows: events.put(("eval", wid, step, rows)),
    )
    events.put(("done", wid, result.steps_run, None))
    return result


class _Relay:
    """Calls ``on_eval`` once per evaluation step with every seed's row, in seed order;
    a worker that has finished contributes its last rows again (its seeds are frozen)."""

    def __init__(self, n_workers: int, on_eval: Callable | None):
        self.pending: list[list[tuple[int, list[dict]]]] = [[] for _ in range(n_workers)]
        self.last: list[list[dict] | None] = [None] * n_workers
        self.ended = [False] * n_workers
        self.on_eval = on_eval

    def add(self, kind: str, wid: int, step: int, rows: Any) -> None:
        if kind == "eval":
            self.pending[wid].append((step, rows))
        else:
            self.ended[wid] = True
        self.flush()

    def flush(self) -> None:
        while True:
            heads = [p[0][0] if p else None for p in self.pending]
            live = [h for h in heads if h is not None]
            if not live:
                return
            step = min(live)
            ready = all(
                h == step or (h is None and self.ended[w]) or (h is not None and h > step)
                for w, h in enumerate(heads)
            )
            if not ready:
                return
            merged: list[dict] = []
            for w, h in enumerate(heads):
                if h == step:
                    self.last[w] = self.pending[w].pop(0)[1]
                last = self.last[w]
                if last is not None:
                    merged.extend(r if h == step else frozen_row(r, step) for r in last)
            if self.on_eval is not None:
                self.on_eval(step, sorted(merged, key=lambda r: r["seed"]))


def train_processes(
    trainer: Any,
    seeds: list[int],
    params_init: Any,
    on_eval: Callable | None,
    workers: int | None,
) -> Any:
    """Train ``seeds`` in pinned worker processes and merge their results."""
    from benchmarks.trainer import RunResult

    cores = usable_cores()
    n_workers = max(1, min(workers or len(cores), len(seeds)))
    groups = [list(range(len(seeds)))[w::n_workers] for w in range(n_workers)]
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        events = manager.Queue()
        relay = _Relay(n_workers, on_eval)
        jobs = [
            (
                trainer,
                [seeds[i] for i in g],
                {k: v[np.asarray(g)] for k, v in params_init.items()},
                cores[w % len(cores)] if len(cores) >= n_workers else None,
                events,
                w,
            )
            for w, g in enumerate(groups)
        ]
        with ctx.Pool(n_workers) as pool:
            pending = [pool.apply_async(_worker, (job,)) for job in jobs]
            while not all(p.ready() for p in pending) or not events.empty():
                try:
                    relay.add(*events.get(timeout=0.2))
                except queue_lib.Empty:
                    for p in pending:
                        if p.ready() and not p.successful():
                            p.get()  # re-raises the worker's exception
            results = [p.get() for p in pending]
    return merge(results, groups, len(seeds), RunResult)


def merge(results: list[Any], groups: list[list[int]], n: int, result_class: type) -> Any:
    """One RunResult from the workers' results, seeds back in their original order."""
    order = np.argsort(np.concatenate([np.asarray(g) for g in groups]))
    done = max(r.steps_run for r in results)

    def cat(arrays: list[np.ndarray], axis: int) -> np.ndarray:
        return np.take(np.concatenate(arrays, axis=axis), order, axis=axis)

    seeds = [s for r in results for s in r.seeds]
    params = [
        {k: cat([r.params_init[k] for r in results], 0) for k in results[0].params_init},
        {k: cat([r.params_final[k] for r in results], 0) for k in results[0].params_final},
    ]
    eval_steps = sorted({row["step"] for r in results for row in r.metrics})
    rows = []
    for r in results:
        by_step: dict[int, list[dict]] = {}
        for row in r.metrics:
            by_step.setdefault(row["step"], []).append(row)
        last: list[dict] = []
        for step in eval_steps:
            last = by_step.get(step) or [frozen_row(x, step) for x in last]
            rows.extend(last)
    rows.sort(key=lambda row: (row["step"], row["seed"]))

    def padded(r: Any, key: str, length: int, fill: Any) -> np.ndarray:
        a = np.asarray(r.step_series[key])
        pad = np.full((length - a.shape[0], *a.shape[1:]), fill, dtype=a.dtype)
        return np.concatenate([a, pad])

    step_series: dict[str, np.ndarray] = {}
    if results[0].step_series:
        for key in results[0].step_series:
            if key == "step":
                continue
            fill = False if key == "explode" else np.nan
            step_series[key] = cat([padded(r, key, done, fill) for r in results], 1)
        step_series["step"] = np.arange(done)

    grad_time: dict[str, np.ndarray] = {}
    longest = max(results, key=lambda r: len(r.grad_time.get("step", [])))
    if longest.grad_time:
        c = len(longest.grad_time["step"])
        grad_time["step"] = longest.grad_time["step"]
        for key in longest.grad_time:
            if key != "step":
                grad_time[key] = cat([_pad_rows(r.grad_time[key], c) for r in results], 1)

    diagnostics = _merge_diagnostics([r.diagnostics for r in results], [r.steps_run for r in results], order)
    return result_class(
        [seeds[i] for i in order],
        "processes",
        done,
        params[0],
        params[1],
        rows,
        max(r.wall_time_s for r in results),
        step_series,
        grad_time,
        diagnostics,
    )


def _pad_rows(a: np.ndarray, rows: int) -> np.ndarray:
    pad = np.full((rows - a.shape[0], *a.shape[1:]), np.nan, dtype=np.float64)
    return np.concatenate([a.astype(np.float64), pad])


def _merge_diagnostics(diags: list[dict], ends: list[int], order: np.ndarray) -> dict[str, np.ndarray]:
    """Keep the steps every worker measured, or that came after a worker had finished (its
    frozen seeds then repeat their last measurement)."""
    if not diags or not diags[0]:
        return {}
    steps = sorted({int(s) for d in diags for s in d["step"]})
    keep = [s for s in steps if all(s in d["step"] or s > end for d, end in zip(diags, ends, strict=True))]
    out: dict[str, np.ndarray] = {"step": np.asarray(keep)}
    for key in diags[0]:
        if key == "step":
            continue
        per_worker = []
        for d in diags:
            idx = [int(np.searchsorted(d["step"], s, side="right")) - 1 for s in keep]
            per_worker.append(np.asarray(d[key])[idx])
        out[key] = np.take(np.concatenate(per_worker, axis=1), order, axis=1)
    return out
