"""One-line errors for bad command lines, from the config system's own exceptions.

Hydra composes the command line against the typed schema (:mod:`benchmarks.config`), so
an unknown group option, an unknown key, a value outside an Enum's choices or a value of
the wrong type raises while composing: before any job runs, in a ``-m`` sweep too
(Hydra's sweeper composes every job of a batch before launching it). Hydra prints such
errors over several lines; :func:`one_line_errors` instead turns each into one line built
from the exception's attributes (the missing option and the group's options; the full
key, the schema class and the value node), ``error: ...`` on stderr and exit status 2.
For that, ``benchmarks.train`` runs Hydra with ``HYDRA_FULL_ERROR=1``, which lets them
propagate instead of being printed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn

from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from omegaconf import ListConfig
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError
from omegaconf.nodes import BooleanNode, EnumNode, FloatNode, IntegerNode, StringNode

CONF_DIR = (Path(__file__).resolve().parent.parent / "conf").resolve()
# JAX's persistent cache of compiled programs for the entry point and whatever runs jobs in
# its own process (``JAX_COMPILATION_CACHE_DIR`` chooses another; "" turns it off)
COMPILE_CACHE = Path.home() / ".cache" / "carousel" / "jax"
CONFIG_ERRORS: tuple[type[Exception], ...] = (HydraException, OmegaConfBaseException)
EXPECTED = {
    IntegerNode: "an integer",
    FloatNode: "a number",
    BooleanNode: "true or false",
    StringNode: "a string",
}
ELEMENTS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def group_options(group: str) -> list[str]:
    """The options of a config group: the YAML files in ``conf/<group>/``."""
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


@contextlib.contextmanager
def one_line_errors(*also: type[Exception]) -> Iterator[None]:
    """Turn an error of the config system (Hydra's, OmegaConf's), or of the types ``also``,
    raised inside the block into one line on stderr and exit status 2."""
    try:
        yield
    except (*CONFIG_ERRORS, *also) as e:
        fail(explain(e))


def explain(exc: BaseException) -> str:
    """One line for a composition error, from the attributes of the exception (or of the
    OmegaConf exception that a Hydra one wraps: its ``__cause__`` or ``__context__``)."""
    if isinstance(exc, OSError) and not isinstance(exc, HydraException):
        return f"cannot write {exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
        group, _, name = exc.missing_cfg_file.rpartition("/")
        return f"unknown {group} {name!r}; valid: {', '.join(_options(exc.options))}"
    if isinstance(exc, OverrideParseException):
        return f"cannot parse {exc.override!r}: {exc.message.splitlines()[0]}"
    inner = exc.__cause__ or exc.__context__
    cause = inner if isinstance(exc, HydraException) and isinstance(inner, OmegaConfBaseException) else exc
    if not isinstance(cause, OmegaConfBaseException):
        return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and cause.full_key:
        return f"unknown config key {cause.full_key!r}; valid keys here: {', '.join(_keys(cause))}"
    if isinstance(cause, ValidationError) and isinstance(cause.child_node, EnumNode):
        return _bad_choice(cause.full_key, cause.value, cause.child_node.enum_type)
    if isinstance(cause, ValidationError) and type(cause.child_node) in EXPECTED:
        return f"{cause.full_key} must be {EXPECTED[type(cause.child_node)]}, got {cause.value!r}"
    if isinstance(cause, ValidationError) and isinstance(cause.child_node, ListConfig):
        return f"{cause.full_key} must be a list ([1, 2]; [] for none), got {cause.value!r}"
    if isinstance(cause, ValidationError) and isinstance(cause.parent_node, ListConfig):  # an element
        element = ELEMENTS.get(cause.parent_node._metadata.element_type, "of the list's type")
        return f"{cause.full_key} must be {element}, got {cause.value!r}"
    first = str(cause.msg or type(cause).__name__).splitlines()[0]
    return f"{cause.full_key}: {first}" if cause.full_key else first


def check_additions(overrides: Iterable[str]) -> None:
    """A one-line ValueError for a ``+key=value`` (or ``++``) whose key the schema lacks, from
    the command line alone: before any job of a sweep runs, as for a typo. Group choices
    (``+hydra/launcher=pack``) and Hydra's own keys are Hydra's to check; a task key is
    checked against every task's here, against the chosen task's in ``config.check_schema``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from benchmarks.config import schema_keys, unknown_key

    try:
        given = [o for o in overrides if "=" in o and not o.startswith("-")]
        parsed = OverridesParser.create().parse_overrides(given)
    except HydraException:  # Hydra says what cannot be parsed
        return
    schema = schema_keys()
    groups = {p.name for p in CONF_DIR.iterdir() if p.is_dir()}
    for o in parsed:
        key = o.key_or_group
        if not (o.is_add() or o.is_force_add()) or "/" in key or key in groups or key.startswith("hydra."):
            continue
        node, path = schema, key.split(".")
        for i, part in enumerate(path):
            if not isinstance(node, dict):
                raise ValueError(f"unknown config key {key!r}: {'.'.join(path[:i])} is a value, not a group")
            if part not in node:
                raise unknown_key(path[: i + 1], node)
            node = node[part]


def _options(options: Any) -> list[str]:
    """A group's options as a user picks them: the task schemas, which share the task group
    (``adding_schema``), are left out."""
    from benchmarks.config import SCHEMA_SUFFIX

    return sorted(o for o in options if not o.endswith(SCHEMA_SUFFIX))


def _keys(exc: OmegaConfBaseException) -> list[str]:
    """The keys allowed where ``exc`` found an unknown one: the schema's fields there."""
    if exc.object_type is not None and dataclasses.is_dataclass(exc.object_type):
        return sorted(f.name for f in dataclasses.fields(exc.object_type))
    parent: Any = exc.parent_node
    return sorted(str(k) for k in parent) if parent is not None else []


def _bad_choice(key: Any, value: Any, choices: Any) -> str:
    """``unknown <what> 'value'; valid: ...``, with what the config calls this Enum."""
    from benchmarks.config import CHOICE_KINDS

    kind = CHOICE_KINDS.get(choices, "{key}").format(key=key)
    return f"unknown {kind} {value!r}; valid: {', '.join(m.name for m in choices)}"
