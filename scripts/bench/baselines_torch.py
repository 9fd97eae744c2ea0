"""PyTorch baselines of the speed benchmark: ``nn.LSTM``/``nn.GRU``/``nn.RNN`` with Adam, one
model at a time or one pinned single-thread process per core. torch is the optional
``bench`` extra: it is imported inside the functions only."""

from __future__ import annotations

import os
import time

SHAPE = {"B": 20, "T": 200, "H": 50, "D": 2}  # the many-models workload's paper-scale LSTM


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
        step = torch_step_fn("lstm", SHAPE["B"], SHAPE["T"], SHAPE["H"], SHAPE["D"], seed=m)
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
