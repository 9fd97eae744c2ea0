"""The result store: atomic files, JSON without NaN, strict reading of files it did not write."""

import errno
import json
import os

import numpy as np
import pandas as pd
import pytest

from benchmarks import store


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "summary.json"
    store.write_json(path, {"success_rate": 0.5})

    def crash(fd):
        raise KeyboardInterrupt  # e.g. the job was killed between write and rename

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        store.write_json(path, {"success_rate": 1.0})
    assert json.loads(path.read_text()) == {"success_rate": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("proc", [True, False], ids=["umask from /proc", "umask set and restored"])
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_result_files_get_the_mode_the_umask_gives(tmp_path, monkeypatch, umask, mode, proc):
    """The temporary file mkstemp makes is 0600 whatever the umask; the file renamed into
    place has 0666 less the umask, as any file the user creates (results on a shared file
    system readable by the group when the umask says so). Both ways of reading the umask."""
    if not proc:
        monkeypatch.setattr(store, "_proc_umask", lambda: None)
    old = os.umask(umask)
    try:
        store.write_json(tmp_path / "summary.json", {"a": 1})
        store.write_npz(tmp_path / "params.npz", {"w": np.zeros(2)})
        assert os.umask(umask) == umask  # the umask is left as it was
    finally:
        os.umask(old)
    for name in ("summary.json", "params.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.npz", "summary.json"]


def test_json_has_no_nan_and_numpy_scalars_become_numbers(tmp_path):
    store.write_json(tmp_path / "s.json", {"a": float("nan"), "b": [np.float32(1.5), np.int64(3)]})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": None, "b": [1.5, 3]}


def test_arrays_and_tables_round_trip(tmp_path):
    arrays = {"R_o": np.arange(6, dtype=np.float32).reshape(2, 3), "layer1.R_z": np.ones((2, 2))}
    store.write_npz(tmp_path / "p.npz", arrays)
    with np.load(tmp_path / "p.npz") as back:
        assert set(back) == set(arrays)
        np.testing.assert_array_equal(back["R_o"], arrays["R_o"])
    rows = [{"step": 0, "seed": 1, "eval_loss": 0.25}, {"step": 100, "seed": 1, "eval_loss": 0.125}]
    store.write_table(tmp_path / "m.parquet", rows)
    assert pd.read_parquet(tmp_path / "m.parquet").to_dict("records") == rows


def test_the_strict_readers_read_what_the_store_writes(tmp_path):
    config = {"model": {"name": "lstm", "hidden": 50, "init": {"recurrent_scale": 0.9}}, "seeds": [0, 1]}
    config["train"] = {"eval_size": None, "stop_when_solved": True, "lr": float("nan")}
    store.write_yaml(tmp_path / "config.yaml", config)
    store.write_json(tmp_path / "summary.json", config)
    expected = {**config, "train": {**config["train"], "lr": None}}
    assert store.read_yaml_strict(tmp_path / "config.yaml") == expected
    assert store.read_json_strict(tmp_path / "summary.json") == expected


def test_the_strict_readers_refuse_a_large_file_before_parsing_it(tmp_path):
    (tmp_path / "config.yaml").write_text("a: 1\n" + "#" * 100)
    assert store.read_yaml_strict(tmp_path / "config.yaml", limit=200) == {"a": 1}
    with pytest.raises(store.UnreadableFile, match=r"^config.yaml: larger than 50 bytes, not read$"):
        store.read_yaml_strict(tmp_path / "config.yaml", limit=50)
    with pytest.raises(store.UnreadableFile, match=r"^missing.json: "):
        store.read_json_strict(tmp_path / "missing.json")


def test_the_strict_yaml_loader_refuses_anchors_and_aliases(tmp_path):
    (tmp_path / "a.yaml").write_text("x: &a 1\ny: 2\n")
    (tmp_path / "b.yaml").write_text("x: 1\ny: *a\n")
    for name, line in (("a.yaml", 1), ("b.yaml", 2)):
        with pytest.raises(store.UnreadableFile, match=f"anchors and aliases are not allowed at line {line}"):
            store.read_yaml_strict(tmp_path / name)


def test_a_full_disk_names_the_file_and_leaves_the_old_one_intact(tmp_path, monkeypatch):
    """ENOSPC as a write raises it (no file name of its own): the error names the file being
    written, the file there keeps its earlier content and no temporary file is left."""
    path = tmp_path / "summary.json"
    store.write_json(path, {"n": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        store.write_json(path, {"n": 2})
    assert (info.value.errno, info.value.filename) == (errno.ENOSPC, str(path))
    assert json.loads(path.read_text()) == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
