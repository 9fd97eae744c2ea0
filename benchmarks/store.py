"""The local result store: one directory per run, every file written atomically.

A run directory holds ``config.yaml`` (the fully resolved config), ``summary.json``,
``metrics.parquet`` (one row per evaluation and seed), ``params_init.npz`` and
``params_final.npz`` (every parameter by name, leading seed axis) and, with diagnostics,
``diagnostics.npz``. Files are written to a temporary name in the same directory and
renamed into place, so a crash never leaves a half-written file, and an interrupted run
keeps whatever it had already stored.

Files read back from a directory that may hold anything (a sweep written by other jobs,
copied or damaged) go through the strict readers: a size limit checked before parsing,
YAML without anchors or aliases, and every failure one :class:`UnreadableFile` line.
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml


def atomic_write(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def jsonable(obj: Any) -> Any:
    """NaN/inf become null (JSON has no NaN); NumPy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(jsonable(obj), indent=2).encode())


def write_yaml(path: Path, obj: Any) -> None:
    atomic_write(path, yaml.safe_dump(jsonable(obj), sort_keys=False).encode())


def write_npz(path: Path, arrays: dict[str, Any]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    atomic_write(path, buf.getvalue())


def write_table(path: Path, table: pd.DataFrame | list[dict[str, Any]]) -> None:
    buf = io.BytesIO()
    pd.DataFrame(table).to_parquet(buf, index=False)
    atomic_write(path, buf.getvalue())


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "summary.json").read_text())


MAX_READ_BYTES = 1_000_000  # a run's config.yaml or summary.json is a few kB


class UnreadableFile(ValueError):
    """A stored file that cannot be read as what it should be; the message is one line
    naming the file and the reason."""


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses anchors and aliases. The store never writes them, and an
    alias "bomb" (each level a list of aliases to the level below) composes into a small
    graph that expands exponentially once anything walks it; refusing the first anchor
    makes such a file cost nothing."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases are not allowed", event.start_mark
            )
        return super().compose_node(parent, index)


def read_limited(path: Path, limit: int = MAX_READ_BYTES) -> str:
    """The text of ``path`` if it is at most ``limit`` bytes of UTF-8, without reading more
    than ``limit`` + 1 bytes (a file still growing cannot slip past the check)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise UnreadableFile(f"{path.name}: {e.strerror or e}") from None
    if len(data) > limit:
        raise UnreadableFile(f"{path.name}: larger than {limit} bytes, not read")
    try:
        return data.decode()
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"{path.name}: not UTF-8 ({e.reason} at byte {e.start})") from None


def read_json_strict(path: Path, limit: int = MAX_READ_BYTES) -> Any:
    """JSON from a file of at most ``limit`` bytes; any failure is :class:`UnreadableFile`."""
    text = read_limited(path, limit)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise UnreadableFile(f"{Path(path).name}: not valid JSON ({_first_line(e)})") from None


def read_yaml_strict(path: Path, limit: int = MAX_READ_BYTES) -> Any:
    """YAML from a file of at most ``limit`` bytes, with :class:`StrictLoader` (no anchors,
    no aliases, plain data only); any failure is :class:`UnreadableFile`."""
    text = read_limited(path, limit)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except (yaml.YAMLError, RecursionError) as e:
        raise UnreadableFile(f"{Path(path).name}: not valid YAML ({_first_line(e)})") from None


def _first_line(exc: BaseException) -> str:
    """An exception as one line: PyYAML's messages span several lines (context, a marker)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{exc.problem}{where}"
    return " ".join(str(exc).split()) or type(exc).__name__
