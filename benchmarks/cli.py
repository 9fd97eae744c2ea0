"""One-line errors for bad command lines, before any JAX work starts.

Hydra reports a bad override as a multi-line message; a researcher should instead see
one line that names what is valid. :func:`check_argv` composes the config with the
same overrides through Hydra's compose API and builds the experiment, turning every
failure into ``error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, NoReturn

CONF_DIR = (Path(__file__).resolve().parent.parent / "conf").resolve()
GROUPS = ("model", "task", "optim", "logger", "diagnostics", "experiment")
PASS_THROUGH_FLAGS = (
    "-h",
    "--help",
    "--hydra-help",
    "--info",
    "-i",
    "--cfg",
    "-c",
    "--shell-completion",
    "-sc",
    "--config-name",
    "-cn",
    "--config-path",
    "-cp",
    "--config-dir",
    "-cd",
    "--package",
    "-p",
    "--resolve",
)


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def _valid_keys(path: str) -> list[str]:
    """The keys the schema allows next to the dotted ``path``."""
    import dataclasses
    import typing

    from benchmarks.config import Config

    cls: Any = Config
    for part in path.split(".")[:-1]:
        cls = typing.get_type_hints(cls).get(part)
        if cls is None or not dataclasses.is_dataclass(cls):
            return []
    return sorted(f.name for f in dataclasses.fields(cls))


def explain(exc: BaseException) -> str:
    """A one-line message for a Hydra/OmegaConf composition error."""
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    m = re.search(r"Could not find '([^/']+)/([^']+)'", text)
    if m and m.group(1) in GROUPS:
        group, name = m.groups()
        return f"unknown {group} {name!r}; valid: {', '.join(group_options(group))}"
    detail = str(cause) if cause is not None else text
    m = re.search(r"full_key: (\S+)", detail)
    if "not in struct" in detail or re.search(r"Key '[^']+' not in '", detail):
        key = m.group(1) if m else re.search(r"'([^']+)'", text).group(1)  # type: ignore[union-attr]
        return f"unknown config key {key!r}; valid keys here: {', '.join(_valid_keys(key))}"
    first = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    return f"{m.group(1)}: {first}" if m else first


def check_argv(argv: list[str]) -> None:
    """Validate a single-run command line; sweeps are validated per job instead."""
    if any(a.split("=")[0] in PASS_THROUGH_FLAGS for a in argv):
        return
    multirun = "-m" in argv or "--multirun" in argv
    overrides = [a for a in argv if not a.startswith("-")]
    user = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    for o in user:
        key, _, value = o.lstrip("+~").partition("=")
        if key in GROUPS:
            choices = group_options(key)
            for v in value.split(",") if multirun else [value]:
                if v not in choices:
                    fail(f"unknown {key} {v!r}; valid: {', '.join(choices)}")
    if multirun:
        return
    from hydra import compose, initialize_config_dir

    from benchmarks.config import build, register

    register()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=user)
    except Exception as e:  # noqa: BLE001 - every composition failure becomes one line
        fail(explain(e))
    try:
        build(cfg)
    except ValueError as e:
        fail(str(e))
