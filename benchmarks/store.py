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
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml


def _proc_umask() -> int | None:
    """The umask as Linux shows it in ``/proc/self/status`` (no change to it), or None."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
        return next(int(line.split()[1], 8) for line in lines if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def file_mode() -> int:
    """The mode an ordinary new file gets here: ``0o666`` less the process's umask.

    Read from ``/proc`` where Linux shows it; elsewhere by setting the umask to 0 and
    back, which is process-wide, so a file another thread created in between would get
    mode 0666: fine from the main thread, where the result store writes."""
    mask = _proc_umask()
    if mask is None:
        mask = os.umask(0)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place. The
    temporary file (``mkstemp``: mode 0600) gets the umask's mode first, so results on a
    shared file system are readable by the group or others as the user's umask says. An
    OSError (a full disk, a read-only one) names ``path``, and the file there is as it was."""
    path = Path(path)
    try:
        _write_then_rename(path, data)
    except OSError as e:
        if e.filename != str(path):  # a full disk's write names no file, mkstemp its own
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise


def _write_then_rename(path: Path, data: bytes | memoryview) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = file_mode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
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
    atomic_write(path, buf.getbuffer())  # the buffer itself: no copy of a large checkpoint


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


# ---------------------------------------------------------------------------- streamed parts
#
# Series that grow while a run trains are written in parts, one file per chunk or
# measurement, named by the step it starts at, so nothing is rewritten whole and a resumed
# run rewrites the parts after its checkpoint with identical content: ``NAME.parts/`` holds
# ``part-<step>.npz`` (arrays, first axis = rows), and ``metrics.parquet/`` holds
# ``part-<step>.parquet`` (a Parquet dataset: ``pandas.read_parquet`` reads it whole). When
# the run finishes, each ``NAME.parts/`` is joined once into ``NAME.npz``, the single file
# every reader knows; :func:`read_arrays` reads either, so a run in progress can be read too.


def part_path(root: Path, name: str, step: int, suffix: str) -> Path:
    folder = name if suffix == ".parquet" else f"{name}.parts"
    return Path(root) / folder / f"part-{int(step):012d}{suffix}"


def write_part(root: Path, name: str, step: int, arrays: dict[str, Any]) -> None:
    write_npz(part_path(root, name, step, ".npz"), arrays)


def write_rows(root: Path, name: str, step: int, rows: list[dict[str, Any]]) -> None:
    write_table(part_path(root, name, step, ".parquet"), rows)


def _part_step(part: Path) -> int:
    return int(part.name.split("-")[1].split(".")[0])


def drop_parts_from(root: Path, step: int) -> None:
    """Remove every part (of every series) at or after ``step``: a resumed run writes them again."""
    for part in Path(root).glob("*/part-*"):
        if _part_step(part) >= step:
            part.unlink()


def read_arrays(root: Path, name: str) -> dict[str, np.ndarray]:
    """``NAME``'s arrays: the parts of a run in progress concatenated along their first
    axis, else the joined ``NAME.npz``; empty when the run wrote neither."""
    parts = sorted((Path(root) / f"{name}.parts").glob("part-*.npz"))
    if not parts:
        path = Path(root) / f"{name}.npz"
        if not path.exists():
            return {}
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    loaded = []
    for part in parts:
        with np.load(part) as data:
            loaded.append({k: data[k] for k in data.files})
    return {k: np.concatenate([p[k] for p in loaded]) for k in loaded[0]}


def join_parts(root: Path, name: str) -> None:
    """Join ``NAME.parts/`` into ``NAME.npz`` (atomically) and remove the parts."""
    folder = Path(root) / f"{name}.parts"
    if folder.is_dir():
        arrays = read_arrays(root, name)
        if arrays:
            write_npz(Path(root) / f"{name}.npz", arrays)
        shutil.rmtree(folder)
