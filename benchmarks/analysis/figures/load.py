"""One run directory in memory, as the figures read it.

Only what the trainer stored is read (``summary.json``, ``diagnostics.npz``,
``grad_time.npz``, ``grad_norms.npz``, ``metrics.parquet``), with json, NumPy and pandas,
so a run can be inspected long after training, on a machine without W&B, JAX or a
network. A file the run did not write loads as empty; the figures that need it are
skipped, not failed. A file that cannot be read is a one-line FigureError naming it.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NPZ_FILES = ("diagnostics.npz", "grad_time.npz", "grad_norms.npz")


class FigureError(Exception):
    """A run directory or option the renderer cannot use; the command line prints it as one line."""


@dataclass
class Run:
    """Everything a figure needs from one run directory, already loaded."""

    path: Path
    summary: dict[str, Any]
    diag: dict[str, np.ndarray]  # empty when diagnostics.npz is absent
    grad_time: dict[str, np.ndarray]
    grad_norms: dict[str, np.ndarray]
    metrics: pd.DataFrame  # one row per evaluation and seed; empty without metrics.parquet
    seed_index: int | None  # None: aggregate over every seed

    def missing(self, what: str) -> str:
        """Why a figure is skipped: no full diagnostics at all, or this model lacks ``what``."""
        if not self.diag:
            return f"no diagnostics.npz (the run did not use diagnostics=full), so no {what}"
        return f"diagnostics.npz has no {what} (model {self.summary.get('model', '?')})"

    def seeds(self, a: np.ndarray, axis: int = 1) -> np.ndarray:
        """``a`` with its seed axis moved first, reduced to the chosen seed if there is one."""
        a = np.moveaxis(np.asarray(a, dtype=float), axis, 0)
        return a if self.seed_index is None else a[self.seed_index : self.seed_index + 1]

    @property
    def length(self) -> int | None:
        """Time steps in the stored per-step arrays (may exceed the task's nominal T)."""
        for src in (self.diag, self.grad_time):
            if "grad_h" in src:
                return int(src["grad_h"].shape[-1])
        return None

    def title(self, what: str, seeds_as: str = "mean, band 95% t-interval") -> str:
        """Figure title: what is shown, then model, task, variant, T and which seeds (with
        ``seeds_as``, how the figure reduces them)."""
        s = self.summary
        nominal = s.get("task_length", "?")
        extra = f" ({self.length} time steps)" if self.length not in (None, nominal) else ""
        head = f"{s.get('model', '?')} · {s.get('task', '?')}/{s.get('task_variant', '?')} · T={nominal}"
        if self.seed_index is not None:
            who = f"seed {self.seed_values[self.seed_index]}"
        else:
            who = f"{len(self.seed_values)} seeds: {seeds_as}"
        return f"{what}\n{head}{extra} · {who}"

    @property
    def seed_values(self) -> list[int]:
        """Seed numbers in array order: from summary.json, else 0..S-1 from the arrays."""
        listed = [int(x["seed"]) for x in self.summary.get("seeds", []) if "seed" in x]
        if listed:
            return listed
        for src in (self.diag, self.grad_norms, self.grad_time):
            for k, v in src.items():
                if k != "step" and v.ndim >= 2:
                    return list(range(v.shape[1]))
        return []

    def measured_steps(self) -> set[int]:
        """Every training step at which diagnostics.npz or grad_time.npz holds a measurement."""
        return {int(s) for src in (self.diag, self.grad_time) if "step" in src for s in src["step"]}


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (pyarrow's span several sentences and lines)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of ``path`` in memory ({} if the run did not write it)."""
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise FigureError(f"cannot read {path}: {_one_line(e)}") from e


def load_metrics(path: Path) -> pd.DataFrame:
    """The evaluation rows of ``metrics.parquet`` (a directory of parts); empty if absent."""
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as e:
        raise FigureError(f"cannot read {path}: {_one_line(e)}") from e


def load_run(run_dir: Path, seed: int | None = None) -> Run:
    """Load a run directory; FigureError if it is not one or ``seed`` is not among its seeds."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FigureError(f"no such directory: {run_dir}")
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise FigureError(
            f"not a run directory (no summary.json) nor a sweep (no run directories under it): {run_dir}"
        )
    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError) as e:
        raise FigureError(f"cannot read {summary_path}: {_one_line(e)}") from e
    diag, grad_time, grad_norms = (load_npz(run_dir / name) for name in NPZ_FILES)
    run = Run(run_dir, summary, diag, grad_time, grad_norms, load_metrics(run_dir / "metrics.parquet"), None)
    if seed is not None:
        values = run.seed_values
        if seed not in values:
            raise FigureError(f"seed {seed} is not in this run (seeds: {', '.join(map(str, values))})")
        run.seed_index = values.index(seed)
    return run
