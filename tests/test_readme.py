"""Every command and config key a README names still exists and composes; the guides exist.

Every ``README.md`` of the repository counts (the top one and each folder's guide; not
those under ``.venv``, ``runs``, ``.git`` or another hidden or generated directory), each
tested on its own. Commands: each ``python -m benchmarks.train`` / ``carousel-train`` line
in a bash block is composed and built in-process with its overrides (Hydra's own
``hydra/...`` overrides aside), every ``scripts/...`` file it runs exists, every ``make``
target it names is in the Makefile. Keys: every backquoted ``model.*``, ``task.*``,
``train.*``, ``optim.*``, ``diagnostics.*``, ``logger.*`` key is a field of the composed
config. Links: every relative link resolves to a file, and its ``#anchor`` to a heading.
The top README stays short and links every folder's guide.
"""

from __future__ import annotations

import itertools
import os
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
# directories whose README.md files are not the project's (a venv's packages, results, caches)
SKIPPED_DIRS = {".venv", "runs", ".git", "outputs", "multirun", "wandb", "bench_results", "__pycache__"}
# the guides a reader navigates by, each linked from the top README
GUIDES = (
    "benchmarks/README.md",
    "benchmarks/studies/README.md",
    "models/README.md",
    "tasks/README.md",
    "conf/README.md",
    "scripts/README.md",
    "scripts/bench/README.md",
)
TOP_README_MAX_LINES = 210
MAX_LINE_CHARS = 200  # except table rows
register()


def readme_files(root: Path = ROOT) -> list[Path]:
    """Every README.md of the project, top-down, outside skipped and hidden directories."""
    found = []
    for here, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d for d in dirs if d not in SKIPPED_DIRS and not d.startswith(".") and not d.endswith(".egg-info")
        )
        if "README.md" in files:
            found.append(Path(here) / "README.md")
    return found


READMES = readme_files()
TEXTS = {path: path.read_text() for path in READMES}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def bash_lines(text: str) -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        block = block.replace("\\\n", " ")
        lines += [ln.split("#")[0].strip() for ln in block.splitlines() if ln.split("#")[0].strip()]
    return lines


def train_commands(text: str) -> list[list[str]]:
    out = []
    for line in bash_lines(text):
        words = shlex.split(line)
        for i, w in enumerate(words):
            if w.endswith("carousel-train") or (w == "benchmarks.train" and words[i - 1] == "-m"):
                out.append([a for a in words[i + 1 :] if "=" in a and not a.startswith(("hydra", "-"))])
    return out


def compose_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(cli.CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def test_every_folder_guide_exists_and_the_top_readme_links_it():
    top = (ROOT / "README.md").read_text()
    for guide in GUIDES:
        assert (ROOT / guide).is_file(), guide
        assert f"]({guide})" in top or f"]({guide}#" in top, f"README.md does not link {guide}"
    assert {rel(p) for p in READMES} >= {"README.md", *GUIDES}


def test_the_top_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= TOP_README_MAX_LINES
    long = [i + 1 for i, ln in enumerate(lines) if len(ln) > MAX_LINE_CHARS and not ln.startswith("|")]
    assert long == [], f"README.md lines over {MAX_LINE_CHARS} characters: {long}"


def test_the_readmes_have_train_commands():
    assert train_commands(TEXTS[ROOT / "README.md"])
    assert sum(len(train_commands(t)) for t in TEXTS.values()) >= 4


TRAIN_CASES = [(rel(p), o) for p in READMES for o in train_commands(TEXTS[p])]


@pytest.mark.parametrize(
    ("readme", "overrides"), TRAIN_CASES, ids=lambda x: " ".join(x)[:60] if isinstance(x, list) else x
)
def test_every_train_command_composes_and_builds(readme, overrides):
    sweeps = [o for o in overrides if "," in o.partition("=")[2]]
    fixed = [o for o in overrides if o not in sweeps]
    # a sweep: every job of it (the product of the swept values, as Hydra's multirun) must build
    choices = [[f"{o.partition('=')[0]}={v}" for v in o.partition("=")[2].split(",")] for o in sweeps]
    for job in itertools.product(*choices):
        build(compose_config(fixed + list(job)))


@pytest.mark.parametrize("readme", READMES, ids=rel)
def test_every_script_and_make_target_a_readme_runs_exists(readme):
    text = TEXTS[readme]
    makefile = (ROOT / "Makefile").read_text()
    for line in bash_lines(text):
        for script in re.findall(r"(scripts/[\w/]+\.py)", line):
            assert (ROOT / script).is_file(), script
        for module in re.findall(r"-m (scripts\.[\w.]+)", line):
            assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module
    for target in re.findall(r"`make (\w+)`", text):
        assert re.search(rf"^{target}:", makefile, re.M), target


def _keys(node, prefix=""):
    out = set()
    for k, v in node.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _keys(v, f"{prefix}{k}.")
    return out


@pytest.fixture(scope="module")
def known_keys() -> set[str]:
    known = set()
    for task in TASKS:
        known |= _keys(OmegaConf.to_container(compose_config([f"task={task}"])))
    return known


def named_keys(text: str) -> set[str]:
    named = set(re.findall(r"`((?:model|task|train|optim|diagnostics|logger)\.[a-z_.]+[a-z_])", text))
    return {n for n in named if n.rpartition(".")[2] not in ("py", "npz", "json", "yaml", "parquet", "log")}


def test_the_readmes_name_config_keys():
    assert named_keys(TEXTS[ROOT / "README.md"]) | named_keys(TEXTS[ROOT / "conf/README.md"])


@pytest.mark.parametrize("readme", READMES, ids=rel)
def test_every_config_key_a_readme_names_exists(readme, known_keys):
    assert sorted(named_keys(TEXTS[readme]) - known_keys) == []


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


@pytest.mark.parametrize("readme", READMES, ids=rel)
def test_every_relative_link_resolves(readme):
    text = re.sub(r"```.*?```", "", TEXTS[readme], flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not ours to check
        path, _, anchor = target.partition("#")
        dest = (readme.parent / path).resolve() if path else readme
        assert dest.exists(), f"{rel(readme)}: {target}"
        assert dest.is_relative_to(ROOT), f"{rel(readme)}: {target} leaves the repository"
        if anchor:
            assert dest.suffix == ".md", f"{rel(readme)}: {target}"
            assert anchor in anchors(dest.read_text()), f"{rel(readme)}: no heading for {target}"
