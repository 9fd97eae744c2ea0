"""The shape of the code base: imports run one way, no cycles, short functions, a short
run path, and nothing points outside the repository.

Imports run ``scripts -> benchmarks -> models, tasks``; ``models`` and ``tasks`` import
nothing from each other or from ``benchmarks``/``scripts``; ``carousel_checks`` (the shared
validators) imports nothing of the project. Inside ``benchmarks`` the groups run one way
too: the pure kernel (``core``) and the results side (``analysis``) import only the shared
modules (``store``, ``stats``, ``tracking``), the run side (``run``) calls the kernel, and
the entry point and config sit on top. Every import statement counts, also those
inside functions, because a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("benchmarks", "models", "tasks", "scripts")
# which top-level parts may import which (a part may always import itself)
ALLOWED = {
    "scripts": {"benchmarks", "models", "tasks", "carousel_checks"},
    "benchmarks": {"models", "tasks", "carousel_checks"},
    "models": {"carousel_checks"},
    "tasks": {"carousel_checks"},
    "carousel_checks": set(),
}
# Inside benchmarks: which group may import which (a group may always import itself). A
# group is a subpackage (core, run, analysis, studies) or a module at the top of benchmarks.
SHARED = {"benchmarks.store", "benchmarks.stats", "benchmarks.tracking"}
GROUP_ALLOWED = {
    "benchmarks.core": SHARED,
    "benchmarks.analysis": SHARED,
    "benchmarks.run": SHARED | {"benchmarks.core", "benchmarks.analysis", "benchmarks.config"},
    # a study's measurements of untrained nets call the kernel (imported when asked, so
    # reading the studies' results stays free of JAX)
    "benchmarks.studies": SHARED | {"benchmarks.analysis", "benchmarks.core"},
    "benchmarks.config": {"benchmarks.core", "benchmarks.run"},
    "benchmarks.cli": {"benchmarks.config"},
    "benchmarks.train": {"benchmarks.cli", "benchmarks.config", "benchmarks.run"},
    "benchmarks.store": set(),
    "benchmarks.stats": set(),
    "benchmarks.tracking": set(),
}
MAX_FUNCTION_LINES = 60  # signature and body; the docstring (equations, reasons) does not count
# Functions allowed to be longer, with the reason (a test keeps the list honest).
LONG_FUNCTIONS: dict[str, str] = {}


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project."""
    mods = {"carousel_checks": root / "carousel_checks.py"}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an import of ``name`` loads (the longest known prefix)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in modules:
            return ".".join(parts[:k])
    return None


def import_edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    edges: dict[str, set[str]] = {}
    for mod, path in modules.items():
        targets: set[str] = set()
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in node.names] + [base]
            for name in names:
                target = _resolve(name, modules)
                if target is not None and target != mod:
                    targets.add(target)
        # ``from pkg import sub`` also yields ``pkg``; keep only the most specific target
        edges[mod] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                return stack[stack.index(t) :] + [t]
            if t not in state and (found := visit(t)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def forbidden_edges(edges: dict[str, set[str]]) -> list[str]:
    top = lambda m: m.split(".")[0]  # noqa: E731
    return [
        f"{m} -> {t}"
        for m, ts in edges.items()
        for t in ts
        if top(t) != top(m) and top(t) not in ALLOWED[top(m)]
    ]


def engine_group(module: str) -> str:
    """``benchmarks.run.pack`` -> ``benchmarks.run``; ``benchmarks.store`` -> itself."""
    parts = module.split(".")
    return ".".join(parts[:2])


def forbidden_group_edges(edges: dict[str, set[str]]) -> list[str]:
    """Imports inside ``benchmarks`` against :data:`GROUP_ALLOWED` (an unknown group too)."""
    inside = lambda m: m.startswith("benchmarks.")  # noqa: E731
    return [
        f"{m} -> {t}"
        for m, ts in edges.items()
        if inside(m)
        for t in ts
        if inside(t)
        and engine_group(t) != engine_group(m)
        and engine_group(t) not in GROUP_ALLOWED.get(engine_group(m), set())
    ]


def test_no_import_cycle_and_no_forbidden_edge():
    edges = import_edges(project_modules())
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])
    assert forbidden_edges(edges) == []
    assert forbidden_group_edges(edges) == []


def test_every_module_of_the_engine_is_in_a_known_group():
    groups = {engine_group(m) for m in project_modules() if m.startswith("benchmarks.")}
    assert groups == set(GROUP_ALLOWED)


def test_the_group_check_would_fail_on_the_kernel_importing_the_run_side():
    edges = {
        "benchmarks.core.trainer": {"benchmarks.run.history", "benchmarks.stats"},
        "benchmarks.analysis.results": {"benchmarks.core.optim"},
        "benchmarks.run.pack": {"benchmarks.core.trainer", "benchmarks.analysis.results"},
    }
    assert sorted(forbidden_group_edges(edges)) == [
        "benchmarks.analysis.results -> benchmarks.core.optim",
        "benchmarks.core.trainer -> benchmarks.run.history",
    ]


def test_the_checks_would_fail_on_a_cycle_and_on_a_forbidden_edge(tmp_path):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "carousel_checks.py").write_text("")
    (tmp_path / "benchmarks" / "a.py").write_text("from benchmarks import b\n")
    (tmp_path / "benchmarks" / "b.py").write_text("def f():\n    from benchmarks.a import x\n")
    (tmp_path / "models" / "m.py").write_text("from tasks.base import Batch\n")
    (tmp_path / "tasks" / "base.py").write_text("")
    edges = import_edges(project_modules(tmp_path))
    assert find_cycle(edges) == ["benchmarks.a", "benchmarks.b", "benchmarks.a"]
    assert forbidden_edges(edges) == ["models.m -> tasks.base"]


def long_functions() -> dict[str, int]:
    out = {}
    for pkg in ("benchmarks", "models", "tasks"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                    doc = node.body[0]
                    if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                        lines -= doc.end_lineno - doc.lineno + 1  # type: ignore[operator]
                    if lines > MAX_FUNCTION_LINES:
                        out[f"{path.relative_to(ROOT)}::{node.name}"] = lines
    return out


def test_functions_are_short_except_the_listed_ones():
    assert set(long_functions()) == set(LONG_FUNCTIONS), long_functions()


@pytest.mark.parametrize("folder", ["benchmarks", "models", "tasks", "conf", "scripts", "tests"])
def test_the_top_level_folders_exist(folder):
    assert (ROOT / folder).is_dir()


# Notes kept outside this repository: no tracked file may name them or point at the folder
# that holds them, so the repository reads on its own. Built from parts so that this file
# does not name them either.
OUTSIDE_NAMES = tuple(f"{name}.md" for name in ("TASKS", "DESIGN", "STYLE"))
OUTSIDE_DIR = "shared" + "/"


def tracked_files(root: Path = ROOT) -> list[str]:
    """The repository's tracked files (``git ls-files``), relative to its root."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):  # no .git (an export): every file but the ignored
        ignored = {".git", ".venv", ".pytest_cache", ".ruff_cache", ".mypy_cache", "runs", "outputs"}
        ignored |= {"multirun", "__pycache__"}
        return [
            str(p.relative_to(root))
            for p in sorted(root.rglob("*"))
            if p.is_file()
            and not any(d in ignored or d.endswith(".egg-info") for d in p.relative_to(root).parts[:-1])
        ]
    return [p for p in out.stdout.decode().split("\0") if p]


def outside_references(text: str, tracked: list[str]) -> list[str]:
    """The names of outside notes in ``text``, and every path into a folder named like the
    outside one that is not a folder of the repository (absolute, home, ``..`` or absent)."""
    hits = [name for name in OUTSIDE_NAMES if name.lower() in text.lower()]
    for m in re.finditer(r"[\w./~-]*" + re.escape(OUTSIDE_DIR), text):
        ref = m.group()
        outside = ref.startswith(("/", "~")) or ".." in ref.split("/")
        inside = ref.removeprefix("./")
        if outside or not any(t.startswith(inside) for t in tracked):
            hits.append(ref)
    return hits


def test_no_tracked_file_points_outside_the_repository():
    tracked = tracked_files()
    found = {}
    for name in tracked:
        try:
            text = (ROOT / name).read_text()
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the work tree
        if hits := outside_references(text, tracked):
            found[name] = hits
    assert found == {}


def test_the_outside_check_would_fail():
    tracked = ["benchmarks/analysis/figures/draw.py", "data/" + OUTSIDE_DIR + "x.csv"]
    names = "see " + OUTSIDE_NAMES[0] + " and " + OUTSIDE_NAMES[2].lower()
    assert outside_references(names, tracked) == [OUTSIDE_NAMES[0], OUTSIDE_NAMES[2]]
    assert outside_references("/work/" + OUTSIDE_DIR + "notes", tracked) == ["/work/" + OUTSIDE_DIR]
    assert outside_references("../" + OUTSIDE_DIR, tracked) == ["../" + OUTSIDE_DIR]
    assert outside_references("in " + OUTSIDE_DIR + "hooks", tracked) == [OUTSIDE_DIR]
    assert outside_references("data/" + OUTSIDE_DIR + "x.csv; shared drawing", tracked) == []


# A plain run with a spy in the training step: the project modules on the call stack when
# the step is traced, outermost first.
RUN_PATH_SPY = """
import inspect, json, sys
from benchmarks import train
from benchmarks.core import trainer
norm, stacks = trainer.tree_norm, []
def spy(tree):
    stacks.append([f.frame.f_globals.get("__name__", "") for f in reversed(inspect.stack(0))])
    return norm(tree)
trainer.tree_norm = spy
sys.argv[0] = "carousel-train"
train.main()
print("STACK", json.dumps(stacks[0]))
"""


@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_a_plain_run_reaches_its_training_step_through_five_modules(tmp_path, strategy):
    """``python -m benchmarks.train`` to the compiled training step of a plain run, as the
    call stack has it: the entry point, the experiment, the training loop, the strategy,
    the trainer. A reader also opens ``benchmarks/run/strategies/__init__.py`` (``make_strategy``):
    six modules in all. (The ``processes`` strategy traces the same step in its workers.)"""
    args = ["model=rnn", "model.hidden=4", "task.length=10", "seeds=1", "train.steps=2"]
    args += ["train.eval_every=2", "train.eval_size=8", "train.batch_size=4", "diagnostics=none"]
    args += ["logger=none", f"train.strategy={strategy}", f"hydra.run.dir={tmp_path}"]
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", RUN_PATH_SPY, *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    stack = json.loads(proc.stdout.split("STACK ", 1)[1])
    path = list(dict.fromkeys(m for m in stack if m.split(".")[0] in PACKAGES))
    assert path == [
        "benchmarks.train",
        "benchmarks.run.experiment",
        "benchmarks.run.training_loop",
        f"benchmarks.run.strategies.{strategy}",
        "benchmarks.core.trainer",
    ]
