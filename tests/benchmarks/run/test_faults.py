"""Faults of the file system, each one line and exit status 2 with earlier files intact:
a full disk (ENOSPC) and a read-only one (EROFS), on a small tmpfs mounted for the test
(where this machine lets a test mount one; the injected form is in test_store.py)."""

import os
import subprocess
import uuid
from pathlib import Path

import forked_train
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
RUN = [
    "model=lstm", "model.hidden=8", "task.length=10", "seeds=2", "train.steps=400", "train.eval_every=50",
    "train.eval_size=64", "train.batch_size=8", "train.checkpoint_every=100", "train.strategy=loop",
    "logger=none",
]  # fmt: skip


@pytest.fixture
def tmpfs(tmp_path):
    """A mount factory: ``tmpfs(size, read_only)`` gives a fresh tmpfs; unmounted after."""
    mounted = []

    def mount(size: str, read_only: bool = False) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        options = f"size={size}" + (",ro" if read_only else "")
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], check=False)


def train(*args):
    env = {
        **os.environ,
        "WANDB_MODE": "disabled",
        "JAX_PLATFORMS": os.environ["JAX_PLATFORMS"],
        "PYTHONPATH": str(REPO),
    }
    proc = forked_train.run(*args, env=env)
    lines = [line for line in proc.stderr.splitlines() if line.strip() and "step/s" not in line]
    return proc.returncode, lines


def test_a_full_disk_is_one_line_and_the_files_written_before_stay_intact(tmpfs):
    run = tmpfs("48k") / "run"
    code, lines = train(*RUN, f"hydra.run.dir={run}")
    assert code == 2
    [line] = lines
    assert line.startswith(f"error: cannot write {run}/") and line.endswith(": No space left on device")
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["hidden"] == 8
    assert not list(run.rglob(".*.tmp"))  # no half-written file left behind


@pytest.mark.parametrize("sweep", [False, True])
def test_a_read_only_directory_is_one_line(tmpfs, sweep):
    where = tmpfs("1m", read_only=True) / f"run-{uuid.uuid4().hex[:6]}"
    args = (
        ["-m", *RUN, "seeds=1,2", f"hydra.sweep.dir={where}"] if sweep else [*RUN, f"hydra.run.dir={where}"]
    )
    code, lines = train(*args)
    assert code == 2
    assert lines == [f"error: cannot write {where}: Read-only file system"]
