import json
import os
import shutil
import struct
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("WANDB_MODE", "disabled")
# The platform the tests and every process they start run on: the CPU unless
# ``CAROUSEL_TEST_PLATFORM`` names another (gpu, tpu: ``scripts/gpu_check.py`` runs the
# accelerator-relevant tests so). Tests read it back from ``JAX_PLATFORMS``.
os.environ["JAX_PLATFORMS"] = (
    os.environ.get("CAROUSEL_TEST_PLATFORM") or os.environ.get("JAX_PLATFORMS") or "cpu"
)


def _session_compilation_cache() -> None:
    """One JAX compilation cache on disk for this test session, shared by the pytest
    workers (``make test`` runs one per core) and every process they start.

    Why: the suite compiles the same programs again and again: after each module (the
    caches are emptied, see ``_free_compiled_programs``), in each pytest worker, and in
    each ``python -m benchmarks.train`` it starts. Every compilation is cached (no minimum
    time or size), so a program compiled once anywhere in the session is read back
    everywhere else. The folder is new per session (``make test`` on a fresh clone pays
    what CI pays; a user's own cache is neither read nor written) and is keyed by
    pytest-xdist's run id, which every worker of one run shares. Set
    ``CAROUSEL_TEST_JAX_CACHE`` to choose the folder yourself."""
    import tempfile

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"
    default = os.path.join(tempfile.gettempdir(), f"carousel-test-jax-{run}")
    folder = os.environ.get("CAROUSEL_TEST_JAX_CACHE") or default
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"


_session_compilation_cache()

# XLA's quick compilation for the test session: LLVM at -O0 and XLA's older CPU fusion
# emitters. Why: compiling is most of the suite's time (1,393 of 2,322 test-seconds,
# measured on 2 cores), and these settings compile the suite's programs about three times
# faster (one LSTM run's 12.3 s of compilation became 3.7 s), while the few-step runs the
# tests train run about as fast (a 3,000-step run's training did slow down about 4x).
# The programs compute the same functions: every test's reference is independent of
# them, and runs compared with each other are compiled alike. Set
# ``CAROUSEL_TEST_XLA_FLAGS`` to test other settings (empty: XLA's defaults, as users run).
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"


def _quick_compilation() -> None:
    flags = os.environ.get("CAROUSEL_TEST_XLA_FLAGS", TEST_XLA_FLAGS)
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


_quick_compilation()

REPO = Path(__file__).resolve().parents[1]

# The test files that took longest (seconds summed over their tests, ``make test`` on 2
# cores, 2026-12-06), longest first. ``make test`` hands whole files to its two pytest
# workers in collection order (``--dist loadfile --no-loadscope-reorder``); starting with
# the longest and ending with the many short ones lets both workers finish together
# (longest-processing-time-first scheduling) instead of one running a long file alone at
# the end. A file missing here only runs later; nothing else depends on the order.
LONGEST_FILES = (
    "tests/scripts/test_reproduce.py",  # 160 s
    "tests/benchmarks/run/test_pack.py",  # 129 s
    "tests/benchmarks/run/test_resume.py",  # 94 s
    "tests/benchmarks/test_train_cli.py",  # 85 s
    "tests/benchmarks/run/test_memory.py",  # 62 s
    "tests/benchmarks/run/test_pack_slurm.py",  # 55 s
    "tests/benchmarks/core/test_diagnostics.py",  # 56 s
    "tests/benchmarks/run/strategies/test_processes.py",  # 47 s
    "tests/scripts/test_wheelhouse.py",  # 44 s
    "tests/benchmarks/run/strategies/test_devices.py",  # 35 s
    "tests/scripts/test_speed.py",  # 30 s
    "tests/benchmarks/test_model_task_pairs.py",  # 27 s
    "tests/benchmarks/analysis/figures/test_figures.py",  # 24 s
    "tests/benchmarks/run/test_training_loop.py",  # 23 s
    "tests/benchmarks/test_config.py",  # 23 s
    "tests/benchmarks/core/test_online.py",  # 22 s
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """After each test module, drop every compiled program (JAX's caches and carousel's,
    :func:`benchmarks.run.training_loop.forget_compiled`).

    Why: each XLA CPU executable maps a few memory regions (about 3.3 per program, measured)
    that stay mapped while a cache holds it, and the suite compiles some 20,000 programs in
    one process. At the kernel's default limit of 65,530 mappings per process
    (``vm.max_map_count``) the next compilation's mmap fails and XLA segfaults (seen at
    test_lstm_fast, 44,600 mappings at 56% of the suite). Programs are rarely shared
    across modules, so little is compiled twice."""
    yield
    if "jax" not in sys.modules:
        return
    import gc

    from benchmarks.run.training_loop import forget_compiled

    forget_compiled()
    gc.collect()


@pytest.fixture(autouse=True)
def _forked_study_sweeps(monkeypatch):
    """A study's sweeps (``python -m benchmarks.train -m ...``) are forked, not started:
    see ``forked_train``."""
    import forked_train

    from benchmarks.studies import base

    monkeypatch.setattr(base, "launch", forked_train.launch)


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }


def _train(run_dir: Path, model: str, steps: int) -> Any:
    args = [
        f"model={model}",
        "task=adding",
        "task.length=20",
        "seeds=2",
        f"train.steps={steps}",
        "train.eval_size=200",
        "diagnostics=full",
        "diagnostics.every=100",
        "logger=none",
        f"hydra.run.dir={run_dir}",
    ]
    import forked_train  # not at the top: it imports carousel, which needs the cache set first

    return forked_train.popen(*args, env=_env())


def _train_figure_runs(root: Path) -> None:
    procs = {"lstm": _train(root / "lstm", "lstm", 200), "rnn": _train(root / "rnn", "rnn", 0)}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name} run failed:\n{err[-2000:]}"


def _once_per_session(name: str, build: Callable[[Path], None]) -> Path | None:
    """A folder that ``build`` fills once per test session, whichever pytest worker asks
    first (the others wait on a lock, then find it done); None outside pytest-xdist, where
    a session fixture already runs once."""
    import fcntl
    import tempfile

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return None
    shared = Path(tempfile.gettempdir()) / f"carousel-test-{name}-{run}"
    with open(f"{shared}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / ".done").exists():
            shutil.rmtree(shared, ignore_errors=True)
            build(shared)
            (shared / ".done").touch()
    return shared


@pytest.fixture(scope="session")
def figure_runs(tmp_path_factory) -> dict[str, Path]:
    """Run directories for the figure tests (renderer and command line): an LSTM trained
    200 steps and an RNN at initialisation (no training, so no grad_time.npz or
    grad_norms.npz), both with full diagnostics, trained concurrently to halve the wall time.
    Trained once per test session and copied into each pytest worker's own folder (the
    tests write figures into them)."""
    root = tmp_path_factory.mktemp("figure_runs")
    shared = _once_per_session("figure-runs", _train_figure_runs)
    if shared is None:
        _train_figure_runs(root)
    else:
        for name in ("lstm", "rnn"):
            shutil.copytree(shared / name, root / name)
    return {"lstm": root / "lstm", "rnn": root / "rnn"}


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the PNG signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _check_pngs(paths: Iterable[Path], names: set[str]) -> None:
    paths = list(paths)
    assert {p.name for p in paths} == names
    for p in paths:
        width, height = _png_size(p)
        assert width >= 700 and height >= 400, (p.name, width, height)
        assert p.stat().st_size > 20_000, f"{p.name} is suspiciously small ({p.stat().st_size} bytes)"


@pytest.fixture
def check_pngs() -> Callable[[Iterable[Path], set[str]], None]:
    """Assert that the PNGs are exactly ``names``, each a real PNG of a sensible size."""
    return _check_pngs


def run_config(hidden: int = 50, clip: str = "global_norm", seeds: Iterable[int] = range(4)) -> dict:
    """A run's config.yaml as the entry point writes it (abridged), for synthetic sweeps."""
    return {
        "model": {"name": "lstm", "cell": "lstm", "hidden": hidden, "init": {"recurrent": "orthogonal"}},
        "task": {"name": "adding", "variant": "pascanu2013", "length": 50},
        "optim": {"name": "adam", "lr": 0.001, "clip": clip, "clip_value": 1.0},
        "train": {"steps": 2000, "batch_size": 20, "eval_size": None},
        "seeds": list(seeds),
    }


def run_summary(seeds: Iterable[int], solved: Iterable[bool]) -> dict:
    """A run's summary.json (abridged): per seed solved at 100 * (seed + 1) steps, or not."""
    per_seed = [
        {"seed": s, "solved": ok, "steps_to_solve": 100 * (s + 1) if ok else None, "diverged_at": None}
        for s, ok in zip(seeds, solved, strict=True)
    ]
    k = sum(s["solved"] for s in per_seed)
    return {
        "success_rate": k / len(per_seed),
        "ci95": [0.0, 1.0],
        "n_solved": k,
        "n_seeds": len(per_seed),
        "n_diverged": 0,
        "wall_time_s": 10.0,
        "seeds": per_seed,
    }


def write_run(run: Path, config: dict | None = None, summary: dict | None = None, **files: str) -> Path:
    """A run directory written by hand: config.yaml, summary.json, then any raw files
    (``error_json="..."`` becomes error.json)."""
    run.mkdir(parents=True, exist_ok=True)
    if config is not None:
        (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    for name, text in files.items():
        (run / name.replace("_", ".")).write_text(text)
    return run


ALIAS_BOMB = "model: {name: lstm}\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)  # 9 ** 9 (387 million) strings once expanded


@pytest.fixture
def fake_runs() -> types.SimpleNamespace:
    """Builders of run directories written by hand: ``config``, ``summary``, ``write`` and
    the ``alias_bomb`` text (see :func:`run_config`, :func:`run_summary`, :func:`write_run`)."""
    return types.SimpleNamespace(
        config=run_config, summary=run_summary, write=write_run, alias_bomb=ALIAS_BOMB
    )


@pytest.fixture
def half_finished_sweep(tmp_path) -> Path:
    """A sweep in progress, written by hand: one config finished in two jobs (seed_offset 0
    and 4: 3 + 2 of 8 seeds solved), another config finished (hidden 100, no clipping, 1 of
    4), one job unfinished, one failed (error.json), one corrupt summary.json, one alias-bomb
    config.yaml, one oversized config.yaml; each job also holds Hydra's .hydra/config.yaml."""
    root = tmp_path / "sweep"
    write_run(root / "0", run_config(), run_summary(range(4), [True, True, False, True]))
    write_run(root / "1", run_config(seeds=range(4, 8)), run_summary(range(4, 8), [True, False, False, True]))
    write_run(root / "2", run_config(100, "none"), run_summary(range(4), [False, True, False, False]))
    write_run(root / "3", run_config(100))
    error = '{"error": "RESOURCE_EXHAUSTED: out of memory", "type": "XlaRuntimeError"}'
    write_run(root / "4", run_config(100, "none", range(4, 8)), error_json=error)
    write_run(root / "5", run_config(), summary_json='{"success_rate": 0.5, "seeds": [')
    write_run(root / "6", config_yaml=ALIAS_BOMB)
    write_run(root / "7", config_yaml="model: {name: lstm}\n# " + "x" * 1_100_000 + "\n")
    for job in root.iterdir():
        write_run(job / ".hydra", config_yaml="model: {name: lstm}\n")
    write_run(root / "8" / ".hydra", config_yaml="model: {name: lstm}\n")  # a job just started
    return root


REPORT_MATRICES = {"lstm": ["R_z", "R_i", "R_f", "R_o"], "rnn": ["W_hh"]}
REPORT_PARAMS = {"lstm": ["R_z", "R_i", "R_f", "R_o", "W_z", "W_out"], "rnn": ["W_hh", "W_xh", "W_out"]}


def _write_run(path: Path, model: str, length: int, seeds=(0, 1)) -> str:
    """A finished run directory as the store writes it (config, summary, the names in its
    .npz files), with made-up numbers; returns its W&B group."""
    import numpy as np

    from benchmarks import tracking

    path.mkdir(parents=True)
    config = {
        "model": {"name": model, "hidden": 8},
        "task": {"name": "adding", "variant": "pascanu2013", "length": length},
        "optim": {"name": "adam", "lr": 0.01},
        "seeds": list(seeds),
    }
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    seed_rows = [{"seed": s, "solved": s == 0, "steps_to_solve": 100 if s == 0 else None} for s in seeds]
    summary = {"success_rate": 0.5, "ci95": [0.09, 0.91], "n_solved": 1, "n_seeds": 2, "seeds": seed_rows}
    (path / "summary.json").write_text(json.dumps(summary))
    np.savez(path / "params_final.npz", **{p: np.zeros((2, 2)) for p in REPORT_PARAMS[model]})
    diag = {f"spectral_radius.{m}": np.ones((1, 2)) for m in REPORT_MATRICES[model]}
    if model == "lstm":
        diag |= {f"path.{k}": np.ones((1, 2, length)) for k in ("cec", "R_z", "total", "residual")}
    np.savez(path / "diagnostics.npz", step=np.zeros(1), **diag)
    return tracking.experiment_group(config)


@pytest.fixture
def report_run():
    """A factory of hand-written finished run directories (the W&B report's tests)."""
    return _write_run
