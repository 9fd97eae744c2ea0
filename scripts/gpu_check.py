"""``make gpu-check``: the few minutes of a lent accelerator, spent on what only it can tell.

    .venv/bin/python scripts/gpu_check.py [--size full|smallest] [--out DIR]

Four steps, each in its own process with its own time limit (a step that fails or runs
out of time is recorded and the next one runs), every file under one folder
(``runs/gpu-check/<time>/`` or ``--out``):

1. ``versions.json``: Python, carousel's dependencies as installed, JAX's backend and
   its devices (kind, memory).
2. ``tests.log``, ``tests.xml``: the tests that mean something new on an accelerator
   (:data:`TESTS`: the precision setting reaching every product of the compiled
   programs, a packed sweep equal to its jobs run alone, a pack sharded over the devices
   equal to the pack on one, a preempted pack and a killed run resuming to the same
   numbers), run on the accelerator (``CAROUSEL_TEST_PLATFORM``) with XLA's own
   compilation settings, not the CPU test session's quick ones.
3. ``bench/speed-*.json``: the speed benchmark's accelerator workload
   (``scripts/bench/speed.py --gpu``): carousel packed from 1 to 4,096 LSTMs against
   PyTorch's loop over the same models and cuDNN's ``nn.LSTM``.
4. ``study/``: one study at its ``paper`` scale: ``gradient_over_time`` (Arjovsky et
   al. 2016's figure: 4 models x 10 seeds x 101 steps at T=100, hidden 128), the only
   study whose paper scale fits these minutes (the next smallest, arjovsky2016's, is
   1.6 million model-steps at T up to 750: hours on one GPU).

``summary.json`` holds every step's outcome and seconds, ``summary.md`` the tables, and
the last line printed is the summary. ``--size smallest`` (the default where JAX finds
no accelerator) runs the same steps small enough for a CPU: the benchmark at up to 4
models, the study at its ``smoke`` scale; CI runs it so to test this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STUDY = "gradient_over_time"
TESTS = [
    "tests/benchmarks/core/test_trainer.py::test_precision_reaches_every_product_of_the_compiled_programs",
    "tests/benchmarks/run/test_pack.py::test_packed_sweep_equals_jobs_run_alone",
    "tests/benchmarks/run/test_pack.py::test_launcher_vmap_sweep_equals_jobs_run_alone",
    "tests/benchmarks/run/test_pack.py::test_a_preempted_pack_resumes_to_the_same_numbers",
    "tests/benchmarks/run/test_resume.py::test_a_killed_run_resumes_to_the_same_numbers",
]
# Each step's time limit in seconds, per size: the full sizes add up to 8 minutes.
LIMITS = {
    "full": {"versions": 60, "tests": 150, "bench": 180, "study": 90},
    "smallest": {"versions": 60, "tests": 300, "bench": 240, "study": 240},
}
VERSIONS_CODE = r"""
import importlib.metadata as md, json, platform, sys
names = ["jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "libtpu", "flax", "optax",
         "numpy", "scipy", "hydra-core", "submitit", "wandb", "torch", "carousel"]
packages = {}
for name in names:
    try:
        packages[name] = md.version(name)
    except md.PackageNotFoundError:
        packages[name] = None
import jax
devices = []
for d in jax.devices():
    stats = d.memory_stats() if hasattr(d, "memory_stats") else None
    limit = (stats or {}).get("bytes_limit")
    devices.append({"id": d.id, "platform": d.platform, "kind": d.device_kind,
                    "memory_gib": None if limit is None else round(limit / 2**30, 1)})
print(json.dumps({"python": sys.version.split()[0], "machine": platform.platform(),
                  "backend": jax.default_backend(), "devices": devices, "packages": packages}))
"""


def step(name: str, cmd: list[str], out: Path, limit: float, env: dict[str, str]) -> dict[str, Any]:
    """Run one step's command with its output in ``out/<name>.log``; its outcome: ok,
    failed (the exit status) or timed out, and its seconds."""
    start = time.perf_counter()
    with open(out / f"{name}.log", "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        try:
            rc = subprocess.run(
                cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=limit
            ).returncode
            status = "ok" if rc == 0 else f"failed (exit {rc})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {limit:.0f} s"
    seconds = time.perf_counter() - start
    print(f"gpu-check: {name}: {status} in {seconds:.0f} s (log: {out / (name + '.log')})", flush=True)
    return {"status": status, "seconds": round(seconds, 1)}


def versions(out: Path, limit: float, env: dict[str, str]) -> dict[str, Any]:
    """Step 1: versions.json (read back from the step's own output)."""
    result = step("versions", [sys.executable, "-c", VERSIONS_CODE], out, limit, env)
    lines = (out / "versions.log").read_text().splitlines()
    found = [line for line in lines if line.startswith("{")]
    if result["status"] == "ok" and found:
        info = json.loads(found[-1])
        (out / "versions.json").write_text(json.dumps(info, indent=2) + "\n")
        result["info"] = info
    return result


def test_counts(xml_path: Path) -> dict[str, int]:
    """Passed, failed, skipped and error counts from pytest's JUnit XML."""
    if not xml_path.is_file():
        return {}
    root = ET.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    total["passed"] = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return total


def tests(out: Path, limit: float, env: dict[str, str], platform: str) -> dict[str, Any]:
    """Step 2: the accelerator-relevant tests, on ``platform``."""
    env = {**env, "CAROUSEL_TEST_PLATFORM": platform}
    if platform != "cpu":
        env["CAROUSEL_TEST_XLA_FLAGS"] = ""  # XLA's own settings, as users compile
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"]
    result = step("tests", [*cmd, f"--junitxml={out / 'tests.xml'}", *TESTS], out, limit, env)
    result["counts"] = test_counts(out / "tests.xml")
    return result


def bench(out: Path, limit: float, env: dict[str, str], size: str) -> dict[str, Any]:
    """Step 3: the benchmark's accelerator workload; its JSON is read back."""
    cmd = [sys.executable, "-m", "scripts.bench.speed", "--gpu", "--out", str(out / "bench")]
    cmd += ["--max-models", "4096"] if size == "full" else ["--quick", "--max-models", "4"]
    result = step("bench", cmd, out, limit, env)
    found = sorted((out / "bench").glob("speed-*.json"))
    if found:
        result["file"] = str(found[-1].relative_to(out))
        result["rows"] = bench_rows(json.loads(found[-1].read_text()))
    return result


def bench_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per number of models of the accelerator workload."""
    models = report.get("workloads", {}).get("accelerator", {}).get("models", {})
    rows = []
    for n, row in models.items():
        c, t = row["carousel"], row["torch_loop"]
        rows.append(
            {
                "models": int(n),
                "carousel": c.get("model_steps_per_s") or c.get("status"),
                "carousel_share_of_peak": c.get("share_of_peak"),
                "carousel_peak_gib": _gib(c.get("peak_bytes_in_use")),
                "torch_loop": t.get("model_steps_per_s") or t.get("status"),
                "vs_torch_loop": row.get("carousel/torch_loop"),
            }
        )
    return rows


def _gib(n: int | None) -> float | None:
    return None if n is None else round(n / 2**30, 2)


def study(out: Path, limit: float, env: dict[str, str], size: str) -> dict[str, Any]:
    """Step 4: one study at its paper scale (smoke at the smallest size)."""
    scale = "paper" if size == "full" else "smoke"
    cmd = [sys.executable, "scripts/reproduce.py", STUDY, "--scale", scale, "--out", str(out / "study")]
    result = step("study", cmd, out, limit, env)
    result["scale"] = scale
    path = out / "study" / "reproduction.json"
    if path.is_file():
        report = json.loads(path.read_text())
        verdicts = [c["verdict"] for c in report.get("claims", [])]
        result["verdicts"] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
        result["run_time_s"] = report.get("run_time_s")
    return result


def summary_line(summary: dict[str, Any], out: Path) -> str:
    """The one line that closes the check."""
    info = summary["versions"].get("info", {})
    devices = info.get("devices") or [{}]
    where = f"{len(devices)} x {devices[0].get('kind', '?')} ({info.get('backend', '?')})"
    jax_version = info.get("packages", {}).get("jax", "?")
    counts = summary["tests"].get("counts") or {}
    tests_part = f"tests {counts.get('passed', 0)}/{counts.get('tests', 0)} passed"
    rows = [r for r in summary["bench"].get("rows", []) if isinstance(r["carousel"], float)]
    if rows:
        top = rows[-1]
        ratio = top.get("vs_torch_loop")
        bench_part = f"bench: {top['models']} LSTMs at {top['carousel']:,.0f} model-steps/s"
        bench_part += f" ({ratio:.1f}x the PyTorch loop)" if ratio else ""
        if info.get("packages", {}).get("torch") is None:
            bench_part += " (PyTorch not installed: no baseline)"
    else:
        bench_part = f"bench: {summary['bench']['status']}"
    verdicts = summary["study"].get("verdicts") or {}
    study_part = f"{STUDY} {summary['study']['scale']}: " + (
        ", ".join(f"{n} {v}" for v, n in verdicts.items()) or summary["study"]["status"]
    )
    seconds = sum(s["seconds"] for s in summary.values() if isinstance(s, dict) and "seconds" in s)
    return (
        f"gpu-check: {where}, jax {jax_version}: {tests_part}; {bench_part}; {study_part};"
        f" {seconds / 60:.1f} min; results: {out}"
    )


def has_accelerator(env: dict[str, str]) -> str:
    """JAX's default backend in a fresh process (cpu, gpu, tpu; cpu if JAX fails)."""
    code = "import jax; print(jax.default_backend())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    return done.stdout.strip().splitlines()[-1] if done.returncode == 0 and done.stdout.strip() else "cpu"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=["full", "smallest"], help="default: full on an accelerator")
    parser.add_argument("--out", type=Path, help="results folder (default runs/gpu-check/<time>)")
    args = parser.parse_args(argv)
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    backend = has_accelerator(env)
    size = args.size or ("smallest" if backend == "cpu" else "full")
    out = (args.out or REPO / "runs" / "gpu-check" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")).resolve()
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty; name a new folder with --out (no result is overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    limits = LIMITS[size]
    print(f"gpu-check: backend {backend}, size {size}, results in {out}", flush=True)
    summary: dict[str, Any] = {"backend": backend, "size": size, "started": datetime.now().isoformat()}
    summary["versions"] = versions(out, limits["versions"], env)
    summary["tests"] = tests(out, limits["tests"], env, backend)
    summary["bench"] = bench(out, limits["bench"], env, size)
    summary["study"] = study(out, limits["study"], env, size)
    line = summary_line(summary, out)
    summary["line"] = line
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "summary.md").write_text(summary_markdown(summary))
    print(line, flush=True)
    failed = [k for k in ("versions", "tests", "bench", "study") if summary[k]["status"] != "ok"]
    sys.exit(1 if failed else 0)


def summary_markdown(summary: dict[str, Any]) -> str:
    """summary.md: the steps' outcomes and the benchmark's table."""
    lines = ["# gpu-check", "", summary["line"], "", "| step | outcome | seconds |", "|---|---|---|"]
    lines += [
        f"| {k} | {summary[k]['status']} | {summary[k]['seconds']} |"
        for k in ("versions", "tests", "bench", "study")
    ]
    rows = summary["bench"].get("rows", [])
    if rows:
        keys = list(rows[0].keys())
        lines += ["", "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
