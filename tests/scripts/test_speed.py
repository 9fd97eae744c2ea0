"""The benchmark's own arithmetic (the timings themselves are never asserted)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

from scripts.bench import speed

ROOT = Path(__file__).resolve().parents[2]


def test_lstm_flops_counts_the_matmuls_of_forward_and_backward():
    B, T, H, D = 3, 5, 7, 2
    forward = T * 2 * B * (D + H) * 4 * H  # x @ W and h @ R per step
    assert speed.lstm_flops(B, T, H, D) == 3 * forward
    # the forward count agrees with XLA's own cost analysis of x @ W + h @ R at one step
    x, h = jnp.ones((B, D)), jnp.ones((B, H))
    W, R = jnp.ones((D, 4 * H)), jnp.ones((H, 4 * H))
    cost = jax.jit(lambda x, h, W, R: x @ W + h @ R).lower(x, h, W, R).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    assert cost["flops"] == forward / T + B * 4 * H  # XLA also counts the elementwise add


def test_median_time_runs_warmup_and_repeats():
    calls = []
    speed.median_time(lambda: calls.append(1), repeats=7, warmup=2)
    assert len(calls) == 9


# ----------------------------------------------------------------------------- accelerator


def test_make_bench_on_a_cpu_keeps_its_workloads():
    assert speed.CPU_WORKLOADS == (
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
    )
    assert (*speed.CPU_WORKLOADS, "accelerator") == speed.WORKLOADS


def test_packed_sizes_are_capped_by_max_models():
    assert speed.accel_models(None) == [1, 4, 16, 64, 256, 1024, 4096]
    assert speed.accel_models(64) == [1, 4, 16, 64]
    assert speed.accel_models(100) == [1, 4, 16, 64]
    with pytest.raises(ValueError, match="at least 1"):
        speed.accel_models(0)


def test_paper_scale_lstm_flops_by_hand():
    # B=20, T=200, H=50, D=2: per time step [20, 52] x [52, 200] = 2*20*52*200 = 416,000
    # multiply-adds counted twice; 200 steps; backward twice the forward
    assert speed.lstm_flops(20, 200, 50, 2) == 249_600_000


def test_share_of_peak_is_achieved_over_measured():
    r = speed.with_rates({"status": "ok", "model_steps_per_s": 100.0}, 2e9, 400.0)
    assert r["gflops"] == 200.0 and r["share_of_peak"] == 0.5
    assert speed.with_rates({"status": "oom", "error": "x"}, 2e9, 400.0) == {"status": "oom", "error": "x"}
    assert speed.with_rates({"status": "ok", "model_steps_per_s": 1.0}, 1e9, None)["share_of_peak"] is None


def test_nonfinite_numbers_are_recorded_as_missing():
    r = speed.with_rates({"status": "ok", "model_steps_per_s": math.inf}, 1e9, 10.0)
    assert r["model_steps_per_s"] is None and r["gflops"] is None
    assert set(r["nonfinite"]) == {"model_steps_per_s", "gflops", "share_of_peak"}


class OutOfMemoryError(RuntimeError):  # the name of torch.cuda.OutOfMemoryError
    pass


def raises(e: Exception):
    def fn():
        raise e

    return fn


def test_attempt_tells_out_of_memory_from_other_errors():
    xla = RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 8.00GiB.")
    assert speed.attempt(raises(xla))["status"] == "oom"
    assert speed.attempt(raises(OutOfMemoryError("CUDA error")))["status"] == "oom"
    other = speed.attempt(raises(ValueError("bad shape")))
    assert other == {"status": "error", "error": "ValueError: bad shape"}
    assert speed.attempt(lambda: {"x": 1}) == {"status": "ok", "x": 1}


def test_accelerator_records_an_oom_and_goes_on(monkeypatch):
    """carousel runs out of memory at N=16: that row says so, larger N are skipped, the
    PyTorch loop is still timed (on at most 64 models, once per count), nothing raises."""
    from scripts.bench import baselines_torch

    def packed(n, steps, repeats, shape):
        if n >= 16:
            raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory")
        return {"model_steps_per_s": 10.0 * n, "model_steps_timed": n * steps * repeats}

    looped = []

    def loop(n, steps, device, shape):
        looped.append(n)
        return {"model_steps_per_s": 5.0, "model_steps_timed": n * steps, "models_timed": n}

    monkeypatch.setattr(speed, "_setup", lambda *a, **k: None)  # no compile cache, no torch import
    monkeypatch.setattr(speed, "torch_installed", lambda: True)  # the stand-ins below, not PyTorch
    monkeypatch.setattr(speed, "carousel_packed", packed)
    monkeypatch.setattr(speed, "matmul_gflops", lambda *a, **k: 1000.0)
    monkeypatch.setattr(baselines_torch, "cuda_or_cpu", lambda: "cpu")
    monkeypatch.setattr(baselines_torch, "float32_exact", lambda: {})
    monkeypatch.setattr(baselines_torch, "torch_loop", loop)
    monkeypatch.setattr(
        baselines_torch, "torch_single", lambda steps, device, shape: {"model_steps_per_s": 7.0}
    )
    w = speed.workload_accelerator(True, {}, max_models=1024)["accelerator"]
    rows = w["models"]
    assert list(rows) == ["1", "4", "16", "64", "256", "1024"]
    statuses = [rows[n]["carousel"]["status"] for n in rows]
    assert statuses == ["ok", "ok", "oom"] + ["skipped"] * 3
    assert "RESOURCE_EXHAUSTED" in rows["16"]["carousel"]["error"]
    assert rows["64"]["carousel"]["error"] == "out of memory at N=16"
    assert looped == [1, 4, 16, 64]
    assert [rows[n]["carousel/torch_loop"] for n in rows] == [2.0, 8.0, None, None, None, None]
    assert rows["1024"]["torch_loop"]["models_timed"] == 64
    flops = speed.lstm_flops(**w["shape"])
    assert rows["4"]["carousel"]["share_of_peak"] == pytest.approx(40.0 * flops / 1e9 / 1000.0)
    assert w["torch_single"]["share_of_peak"] == pytest.approx(7.0 * flops / 1e9 / 1000.0)


def test_gpu_flag_runs_on_the_cpu_and_writes_one_row_per_size(tmp_path):
    """The accelerator workload's code path end to end (on this CPU: a smoke run); without
    PyTorch (``make test``'s environment) carousel's rows alone, PyTorch's saying so."""
    import importlib.util

    has_torch = importlib.util.find_spec("torch") is not None
    out = tmp_path / "gpu.json"
    cmd = [sys.executable, "-m", "scripts.bench.speed", "--gpu", "--quick", "--max-models", "4"]
    proc = subprocess.run(
        [*cmd, "--out-file", str(out)], capture_output=True, text=True, timeout=240, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == f"results: {out}"
    result = json.loads(out.read_text())
    assert list(result["workloads"]) == ["accelerator"]
    w = result["workloads"]["accelerator"]
    assert list(w["models"]) == ["1", "4"]
    assert w["precision"]["carousel"] == "float32" and w["precision"]["jax_matmul_precision"] == "highest"
    if has_torch:
        assert w["precision"]["torch_cuda_matmul_allow_tf32"] is False
        assert w["precision"]["torch_cudnn_allow_tf32"] is False
    peak = w["matmul_peak"]["gflops"]
    per_model = w["steps_per_chunk"] * w["timed_chunks"]
    for n, row in w["models"].items():
        c, t = row["carousel"], row["torch_loop"]
        assert c["status"] == "ok" and t["status"] == ("ok" if has_torch else "missing")
        # counted by the optimizers themselves: both trained N models for the same steps
        assert c["model_steps_timed"] == int(n) * per_model
        assert c["nonfinite_models"] == 0
        for e in (c, t) if has_torch else (c,):
            assert e["share_of_peak"] == pytest.approx(
                e["model_steps_per_s"] * w["flops_per_model_step"] / 1e9 / peak
            )
        if has_torch:
            assert t["model_steps_timed"] == c["model_steps_timed"]
            assert row["carousel/torch_loop"] == pytest.approx(
                c["model_steps_per_s"] / t["model_steps_per_s"]
            )
        else:
            assert row["carousel/torch_loop"] is None
    assert f"accelerator on {w['device']}" in proc.stdout  # the table printed
