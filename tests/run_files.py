"""Run directories compared number for number (the tests of packing, SLURM packs and
sharded packs share it)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

# how it ran, not what it computed
VOLATILE = ("wall_time_s", "pack", "strategy")


def assert_same_runs(a: Path, b: Path, ignore_train: tuple[str, ...] = ("strategy", "workers")) -> None:
    """Every job directory under ``a`` holds exactly the numbers of its twin under ``b``:
    each array of each .npz (NaN where NaN), each metrics row, the summary and config less
    timings and the ``train.*`` settings in ``ignore_train`` (how the models were run)."""
    dirs = sorted(p.name for p in a.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert dirs and dirs == sorted(p.name for p in b.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in dirs:
        files = sorted(f.name for f in (a / name).iterdir() if f.suffix in (".npz", ".parquet", ".json"))
        assert files == sorted(
            f.name for f in (b / name).iterdir() if f.suffix in (".npz", ".parquet", ".json")
        )
        for f in files:
            fa, fb = a / name / f, b / name / f
            if f.endswith(".npz"):
                with np.load(fa) as x, np.load(fb) as y:
                    assert sorted(x.files) == sorted(y.files), f
                    for k in x.files:
                        np.testing.assert_array_equal(x[k], y[k], err_msg=f"{name}/{f}:{k}")
            elif f.endswith(".parquet"):
                pd.testing.assert_frame_equal(pd.read_parquet(fa), pd.read_parquet(fb), check_exact=True)
            else:
                x, y = json.loads(fa.read_text()), json.loads(fb.read_text())
                for d in (x, y):
                    for k in VOLATILE:
                        d.pop(k, None)
                    for k in ignore_train:
                        d.get("train", {}).pop(k, None)
                assert x == y, f"{name}/{f}"
