"""The local result store: one directory per run, every file written atomically.

A run directory holds ``config.yaml`` (the fully resolved config), ``summary.json``,
``metrics.parquet`` (one row per evaluation and seed), ``params_init.npz`` and
``params_final.npz`` (every parameter by name, leading seed axis) and, with diagnostics,
``diagnostics.npz``. Files are written to a temporary name in the same directory and
renamed into place, so a crash never leaves a half-written file, and an interrupted run
keeps whatever it had already stored.
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


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place. The
    temporary file (``mkstemp``: mode 0600) gets the umask's mode first, so results on a
    shared file system are readable by the group or others as the user's umask says."""
    path = Path(path)
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
    atomic_write(path, buf.getvalue())


def write_table(path: Path, table: pd.DataFrame | list[dict[str, Any]]) -> None:
    buf = io.BytesIO()
    pd.DataFrame(table).to_parquet(buf, index=False)
    atomic_write(path, buf.getvalue())


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def find_runs(root: Path) -> list[Path]:
    """Every run directory (one holding summary.json) under ``root``, sorted."""
    return sorted(p.parent for p in Path(root).rglob("summary.json"))


def collect(root: Path) -> pd.DataFrame:
    """One row per run under ``root``: model, task, variant, length, success rate, interval."""
    rows = []
    for run in find_runs(root):
        s = read_summary(run)
        cfg = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").exists() else {}
        model, task = cfg.get("model", {}), cfg.get("task", {})
        solved_steps = [x["steps_to_solve"] for x in s["seeds"] if x["steps_to_solve"] is not None]
        rows.append(
            {
                "run": str(run),
                "model": model.get("name"),
                "task": task.get("name"),
                "variant": task.get("variant"),
                "length": task.get("length"),
                "seeds": s["n_seeds"],
                "solved": s["n_solved"],
                "diverged": s["n_diverged"],
                "success_rate": s["success_rate"],
                "ci95_low": s["ci95"][0],
                "ci95_high": s["ci95"][1],
                "median_steps_to_solve": float(np.median(solved_steps)) if solved_steps else None,
                "wall_time_s": s.get("wall_time_s"),
            }
        )
    return pd.DataFrame(rows)
