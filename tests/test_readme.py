"""Every command and config key the README names still exists and composes.

Commands: each ``python -m benchmarks.train`` / ``carousel-train`` line in a bash block is
composed and built in-process with its overrides (Hydra's own ``hydra/...`` overrides
aside), every ``scripts/...`` file it runs exists, every ``make`` target it names is in
the Makefile. Keys: every backquoted ``model.*``, ``task.*``, ``train.*``, ``optim.*``,
``diagnostics.*``, ``logger.*`` key is a field of the composed config.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmarks import cli
from benchmarks.config import build, register
from tasks import TASKS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
register()


def bash_lines() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        block = block.replace("\\\n", " ")
        lines += [ln.split("#")[0].strip() for ln in block.splitlines() if ln.split("#")[0].strip()]
    return lines


def train_commands() -> list[list[str]]:
    out = []
    for line in bash_lines():
        words = shlex.split(line)
        for i, w in enumerate(words):
            if w.endswith("carousel-train") or (w == "benchmarks.train" and words[i - 1] == "-m"):
                out.append([a for a in words[i + 1 :] if "=" in a and not a.startswith(("hydra", "-"))])
    return out


def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_the_readme_has_train_commands():
    assert len(train_commands()) >= 4


@pytest.mark.parametrize("overrides", train_commands(), ids=lambda o: " ".join(o)[:60])
def test_every_train_command_composes_and_builds(overrides):
    sweeps = [o for o in overrides if "," in o.partition("=")[2]]
    fixed = [o for o in overrides if o not in sweeps]
    # a sweep: every job of it (the product of the swept values, as Hydra's multirun) must build
    choices = [[f"{o.partition('=')[0]}={v}" for v in o.partition("=")[2].split(",")] for o in sweeps]
    for job in itertools.product(*choices):
        build(compose_config(fixed + list(job)))


def test_every_script_and_make_target_the_readme_runs_exists():
    makefile = (ROOT / "Makefile").read_text()
    for line in bash_lines():
        for script in re.findall(r"(scripts/[\w/]+\.py)", line):
            assert (ROOT / script).is_file(), script
        for module in re.findall(r"-m (scripts\.[\w.]+)", line):
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    for target in re.findall(r"`make (\w+)`", README):
        assert re.search(rf"^{target}:", makefile, re.M), target


def _keys(node, prefix=""):
    out = set()
    for k, v in node.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, f"{prefix}{k}.")
    return out


def test_every_config_key_the_readme_names_exists():
    known = set()
    for task in TASKS:
        known |= _keys(OmegaConf.to_container(compose_config([f"task={task}"])))
    named = set(re.findall(r"`((?:model|task|train|optim|diagnostics|logger)\.[a-z_.]+[a-z_])", README))
    named = {n for n in named if n.rpartition(".")[2] not in ("py", "npz", "json", "yaml", "parquet", "log")}
    assert named, "the README names no config key"
    assert sorted(named - known) == []
