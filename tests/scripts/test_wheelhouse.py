"""scripts/wheelhouse.py, ``make wheelhouse`` and ``make install-offline``: carousel
installed into a fresh venv from a wheelhouse, with no index at all.

The fresh venv plays a GPU node whose image already has JAX, Flax, Optax and the big
packages (NumPy, SciPy, pandas, pyarrow, scikit-learn, matplotlib and everything they need):
a ``.pth`` file puts a folder of symlinks to them (their files and ``*.dist-info`` in this
environment's site-packages) on its path, so its pip counts them as installed. Its
``pip freeze`` is the ``--have`` file: the wheelhouse leaves them out, which keeps the
download and the install small. A second venv that sees only pip plays the login node's
python3 and runs ``make wheelhouse``. The install runs with pip's configuration switched
off (``PIP_CONFIG_FILE=/dev/null``, ``PIP_NO_INDEX=1``, no ``PIP_*`` variable of this
machine), so no index, extra index or find-links folder can supply a wheel: with one wheel
taken out of the folder pip fails. In the node's venv, carousel's LSTM gives the output
computed here. Building the wheelhouse needs an index: without one the test is skipped,
except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import inspect
import json
import os
import platform
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path
from subprocess import PIPE

import pytest
from packaging.requirements import Requirement

from scripts import wheelhouse

REPO = Path(__file__).resolve().parents[2]
# a node image with JAX, Flax and Optax, and the big ones (with what they all need): the
# wheelhouse brings the rest (Hydra, OmegaConf, submitit, wandb, wandb-workspaces, ...)
NODE_HAS = ("jax", "jaxlib", "flax", "optax", "numpy", "scipy", "pandas", "pyarrow", "scikit-learn")
NODE_HAS += ("matplotlib",)


def lstm_output() -> float:
    """The summed outputs of a small LSTM over 3 steps (run here and in the fresh venv)."""
    import jax

    from models import make_model

    model = make_model("lstm", 2, 1, hidden=4)
    x = jax.random.normal(jax.random.key(1), (1, 3, 2))
    out, _ = model.apply(model.init(jax.random.key(0)), x)
    return float(out.sum())


IMPORTS = """
import json, flax, optax, hydra, omegaconf, wandb, wandb_workspaces, submitit, jaxtyping, tqdm, yaml
import hydra_plugins.hydra_submitit_launcher, benchmarks.train, sklearn, pandas, pyarrow, scipy
import models; print(json.dumps(models.__file__))
"""


def test_the_script_imports_only_the_standard_library_and_pip():
    """It runs before carousel's dependencies are installed, with any python3."""
    tree = ast.parse(Path(wheelhouse.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m.split(".")[0] for m in imported} - set(sys.stdlib_module_names) == {"pip"}


def test_platforms_take_the_older_c_libraries_too():
    tags = wheelhouse.platforms("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and tags[-4:-3] == ["manylinux_2_5_x86_64"]
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert not any("2_29" in t or "aarch64" in t for t in tags)
    assert wheelhouse.platforms("manylinux2014_aarch64")[0] == "manylinux_2_17_aarch64"
    assert wheelhouse.platforms("musllinux_1_2_x86_64") == ["musllinux_1_2_x86_64", "musllinux_1_1_x86_64"]
    assert wheelhouse.platforms("macosx_14_0_arm64,win_amd64") == ["macosx_14_0_arm64", "win_amd64"]


def test_have_reads_pip_freeze(tmp_path):
    freeze = tmp_path / "freeze.txt"
    freeze.write_text(
        "# a node\nJax==0.10.2\njaxlib==0.10.2+cuda12.cudnn9\nflax @ file:///opt/flax.whl\n"
        "-e git+https://example.org/x.git@abc#egg=my_tools\nOptax===0.2.8  # pinned\n--find-links /x\n"
    )
    assert wheelhouse.read_have(freeze) == {
        "jax": "0.10.2",
        "jaxlib": "0.10.2",
        "flax": "",
        "my-tools": "",
        "optax": "0.2.8",
    }


def test_an_extra_naming_the_project_brings_in_its_extras():
    extras = {"cuda12": ["jax[cuda12]"], "cuda": ["carousel[cuda12]"], "test": ["pytest"]}
    pyproject = {
        "project": {"name": "Carousel", "dependencies": ["jax"], "optional-dependencies": extras},
        "build-system": {"requires": ["setuptools>=68"]},
    }
    reqs, build = wheelhouse.project_requirements(pyproject, ["CUDA"])
    assert (reqs, build) == (["jax", "jax[cuda12]"], ["setuptools>=68"])


def test_an_unknown_extra_is_one_line_naming_the_valid_ones(tmp_path, capsys):
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    with pytest.raises(SystemExit) as exit_info:
        wheelhouse.main([str(tmp_path / "w"), "--extras", "test,cuda11"])
    assert exit_info.value.code == 2
    valid = ", ".join(extras)
    assert capsys.readouterr().err == f"error: unknown extra 'cuda11'; pyproject.toml defines: {valid}\n"
    assert not (tmp_path / "w").exists()


@functools.cache
def _node_packages() -> frozenset[str]:
    """NODE_HAS and everything they need, as installed here."""
    seen: set[str] = set()
    todo = list(NODE_HAS)
    while todo:
        name = wheelhouse.normalise(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in importlib.metadata.distribution(name).requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return frozenset(seen)


def _venv(root: Path, packages: Iterable[str]) -> Path:
    """A fresh venv at ``root`` that sees ``packages`` as installed (symlinks to this
    environment's, in a folder a ``.pth`` file puts on its path); its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = root / "installed-elsewhere"
    site.mkdir()
    for name in packages:
        dist = importlib.metadata.distribution(name)
        tops = {Path(f).parts[0] for f in dist.files or []} - {"..", "__pycache__"}
        assert tops, f"{name} lists no files"
        for top in tops:
            if not (site / top).exists():
                (site / top).symlink_to(Path(str(dist.locate_file(top))))
    (venv_site,) = (root / "lib").glob("python3*/site-packages")
    (venv_site / "elsewhere.pth").write_text(f"{site}\n")
    return root / "bin" / "python"


def _offline_env() -> dict[str, str]:
    """This environment without pip's configuration or any index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return env | {"PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_NO_COMPILE": "1"}


def _make(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(["make", "-C", str(REPO), *args], env=env, stdout=PIPE, stderr=PIPE, text=True)


def _start_wheelhouse(python: Path, wheels: Path, have: Path) -> subprocess.Popen:
    """``make wheelhouse`` run by ``python`` for this Python and machine, leaving out what
    ``have`` lists."""
    glibc = platform.libc_ver()[1].split(".")
    target = [f"PYVER={sys.version_info.major}.{sys.version_info.minor}"]
    target.append(f"PLATFORM=manylinux_{glibc[0]}_{glibc[1]}_{platform.machine()}")
    args = [f"PYTHON={python}", f"WHEELS={wheels}", "EXTRAS=", f"HAVE={have}", "EXCLUDE=pip", *target]
    return _make("wheelhouse", *args, env=dict(os.environ))


def _check_wheelhouse(proc: subprocess.Popen) -> None:
    """The build went through; without an index: skip, or fail in CI."""
    out, err = proc.communicate(timeout=300)
    if proc.returncode and "no package index reachable" in err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no package index reachable: CI reaches PyPI ({err.strip()})")
        pytest.skip(err.strip())
    assert proc.returncode == 0, out + err
    assert "warning: --exclude pip: not in the set, nothing left out" in err


@pytest.mark.parametrize("ci", ["true", ""])
def test_without_an_index_the_install_test_skips_but_fails_in_ci(monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    error = "error: no package index reachable while resolving for the target (NewConnectionError)"
    proc = subprocess.Popen(
        [sys.executable, "-c", f"raise SystemExit({error!r})"], stdout=PIPE, stderr=PIPE, text=True
    )
    with pytest.raises(
        pytest.fail.Exception if ci else pytest.skip.Exception, match="no package index reachable"
    ):
        _check_wheelhouse(proc)


@pytest.mark.slow
def test_install_offline_from_a_wheelhouse_without_what_the_node_has(tmp_path):
    python = _venv(tmp_path / "venv", [*_node_packages(), "pip"])  # the node
    env, wheels = _offline_env(), tmp_path / "wheels"
    freeze = subprocess.run([python, "-m", "pip", "freeze", "--all"], env=env, capture_output=True, text=True)
    (tmp_path / "have.txt").write_text(freeze.stdout)
    assert _node_packages() <= set(wheelhouse.read_have(tmp_path / "have.txt")), freeze.stderr
    login = _venv(tmp_path / "login", ["pip"])  # the standard library and pip, nothing else
    building = _start_wheelhouse(login, wheels, tmp_path / "have.txt")
    expected = lstm_output()  # here, while the wheelhouse downloads
    _check_wheelhouse(building)
    pins = (wheels / "requirements.txt").read_text().split()
    names = {wheelhouse.normalise(p.split("==")[0]) for p in pins}
    assert {"hydra-core", "omegaconf", "submitit", "wandb", "antlr4-python3-runtime", "setuptools"} <= names
    assert not names & _node_packages()
    assert len(list(wheels.glob("*.whl"))) == len(pins)
    assert (wheels / "MANIFEST").read_text().splitlines()[-1].startswith(f"{len(pins)} wheels, ")

    (hydra,) = wheels.glob("hydra_core-*.whl")
    hydra.rename(tmp_path / hydra.name)  # one wheel missing: pip finds it nowhere else
    pip = [python, "-m", "pip", "install", "--dry-run", "--find-links", str(wheels)]
    missing = subprocess.run(
        [*pip, "-r", wheels / "requirements.txt"], env=env, capture_output=True, text=True
    )
    assert "No matching distribution found for hydra-core" in missing.stderr, missing.stdout
    assert missing.returncode
    (tmp_path / hydra.name).rename(hydra)

    installing = _make("install-offline", f"WHEELS={wheels}", f"VENV={tmp_path / 'venv'}", "EXTRAS=", env=env)
    out, err = installing.communicate(timeout=300)
    assert list((tmp_path / "venv").glob(".installed-stamp*")), out + err  # make test installs nothing more
    script = inspect.getsource(lstm_output) + IMPORTS + "print(json.dumps(lstm_output()))\n"
    check = subprocess.run([python, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr[-3000:]
    models_file, value = (json.loads(line) for line in check.stdout.splitlines())
    assert Path(models_file).parent == REPO / "models"  # the editable install of this checkout
    assert value == pytest.approx(expected, rel=1e-6)
