"""PyTorch baselines of the speed benchmark: ``nn.LSTM``/``nn.GRU``/``nn.RNN`` with Adam, one
model at a time or one pinned single-thread process per core, on the CPU or on a CUDA GPU
(cuDNN's fused LSTM there; :func:`float32_exact` turns TF32 off, as carousel's default
``train.precision=float32`` does for its own matmuls). torch is the optional ``bench``
extra: it is imported inside the functions only."""

from __future__ import annotations

import os
import time
from typing import Any

SHAPE = {"B": 20, "T": 200, "H": 50, "D": 2}  # the many-models workload's paper-scale LSTM


def float32_exact() -> dict[str, Any]:
    """True float32 matmuls and convolutions on CUDA (PyTorch's cuDNN default is TF32 on
    Ampere and later); returns the settings, for the result file."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return {
        "torch_cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "torch_cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "torch_float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


def cuda_or_cpu() -> str:
    """``cuda`` where this PyTorch sees a GPU, else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def synchronize(device: str) -> None:
    """Wait for the GPU's queued work (CUDA runs asynchronously); nothing on the CPU."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def torch_model(cell: str, D: int, H: int, device: str = "cpu"):
    import torch

    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](D, H).to(device)
    head = torch.nn.Linear(H, 1).to(device)
    params = list(rnn.parameters()) + list(head.parameters())
    return rnn, head, torch.optim.Adam(params, lr=1e-3)


def torch_setup(cell: str, B: int, T: int, H: int, D: int, seed: int = 0, device: str = "cpu"):
    """One model, its Adam and its fixed batch on ``device``; returns ``(step, optimizer)``
    (the optimizer's state counts the steps taken)."""
    import torch

    torch.manual_seed(seed)
    rnn, head, opt = torch_model(cell, D, H, device)
    x, y = torch.rand(T, B, D, device=device), torch.rand(B, 1, device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        out, _ = rnn(x)
        loss = torch.mean((head(out[-1]) - y) ** 2)
        loss.backward()
        opt.step()

    return step, opt


def torch_step_fn(cell: str, B: int, T: int, H: int, D: int, seed: int = 0, device: str = "cpu"):
    return torch_setup(cell, B, T, H, D, seed, device)[0]


def adam_steps(opt: Any) -> int:
    """Steps an Adam optimizer has taken (its first parameter's ``step``)."""
    states = [s for s in opt.state.values() if "step" in s]
    return int(states[0]["step"]) if states else 0


def peak_memory(device: str) -> int | None:
    """``torch.cuda.max_memory_allocated`` since the last :func:`reset_peak_memory`; None on the CPU."""
    import torch

    return int(torch.cuda.max_memory_allocated()) if device.startswith("cuda") else None


def reset_peak_memory(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def torch_single(steps: int, device: str, shape: dict[str, int] = SHAPE, warmup: int = 3) -> dict[str, Any]:
    """One ``nn.LSTM`` (cuDNN on a GPU) trained for ``steps`` timed steps after ``warmup``
    steps, synchronised before and after: model-steps/s and peak device memory."""
    B, T, H, D = (shape[k] for k in ("B", "T", "H", "D"))
    reset_peak_memory(device)
    step, opt = torch_setup("lstm", B, T, H, D, device=device)
    for _ in range(warmup):
        step()
    synchronize(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    seconds = time.perf_counter() - t
    return {
        "model_steps_per_s": steps / seconds,
        "model_steps_timed": adam_steps(opt) - warmup,
        "seconds": seconds,
        "max_memory_allocated": peak_memory(device),
    }


def torch_loop(n_models: int, steps: int, device: str, shape: dict[str, int] = SHAPE) -> dict[str, Any]:
    """A PyTorch loop over ``n_models`` models, as a researcher without packing trains a
    sweep: each model its own ``nn.LSTM`` and Adam, built and trained for ``steps`` steps,
    one after another on ``device``. One untimed model first (CUDA context, cuDNN plans);
    the timed models are synchronised before and after; ``model_steps_timed`` is read back
    from the optimizers' step counts."""
    B, T, H, D = (shape[k] for k in ("B", "T", "H", "D"))
    reset_peak_memory(device)
    warm, _ = torch_setup("lstm", B, T, H, D, seed=n_models, device=device)  # not a timed one
    for _ in range(2):
        warm()
    synchronize(device)
    done = 0
    t = time.perf_counter()
    for m in range(n_models):
        step, opt = torch_setup("lstm", B, T, H, D, seed=m, device=device)
        for _ in range(steps):
            step()
        done += adam_steps(opt)
    synchronize(device)
    seconds = time.perf_counter() - t
    return {
        "model_steps_per_s": n_models * steps / seconds,
        "model_steps_timed": done,
        "models_timed": n_models,
        "seconds": seconds,
        "max_memory_allocated": peak_memory(device),
    }


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
