"""Checkpoints that cannot be read are set aside, not fatal: each corruption of the newest
file falls back to the one before, with one warning naming the file set aside."""

import numpy as np
import pytest

from benchmarks.run.checkpoint import Checkpointer


def state(step):
    return {"w": np.full((3, 4), float(step), np.float32), "n": np.array(step, np.int32)}


def saved(tmp_path, steps=(10, 20)):
    ckpt = Checkpointer(tmp_path, 10)
    for step in steps:
        ckpt.save(state(step), step, 0, {"at": step})
    return Checkpointer(tmp_path, 10)


def truncated(data):
    return data[: len(data) // 2]


def flipped(data):
    """One bit flipped inside the first leaf's float data (zip stores the arrays
    uncompressed, so the bytes of 20.0 can be found)."""
    at = data.index(np.float32(20.0).tobytes()) + 3
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


CORRUPTIONS = {
    "truncated": truncated,
    "random": lambda data: np.random.default_rng(0).bytes(len(data)),
    "empty": lambda data: b"",
    "flipped bit": flipped,
}


@pytest.mark.parametrize("corrupt", list(CORRUPTIONS))
def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path, corrupt, capsys):
    ckpt = saved(tmp_path)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(CORRUPTIONS[corrupt](path.read_bytes()))
    assert ckpt.saved_step() == 10
    states, meta = ckpt.load(state(0))
    np.testing.assert_array_equal(states["w"], state(10)["w"])
    assert meta["recorder"] == {"at": 10} and ckpt.last_saved == 10
    assert not path.exists() and (tmp_path / "checkpoint.npz.corrupt-1").exists()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: checkpoint {path} cannot be read (")
    assert line.endswith("); set aside as checkpoint.npz.corrupt-1")
    if corrupt == "flipped bit":  # zip's CRC of that member sees it
        assert "Bad CRC-32 for file 'leaf0001.npy'" in line


def test_a_valid_zip_whose_arrays_differ_from_their_checksum_is_caught(tmp_path, capsys):
    """A file that zip reads cleanly (its CRCs rewritten) but whose leaf is not the one
    saved: only the checksum written with the checkpoint can tell."""
    ckpt = saved(tmp_path)
    path = tmp_path / "checkpoint.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["leaf0001"] = arrays["leaf0001"] + np.float32(1e-6)
    np.savez(path, **arrays)
    assert ckpt.saved_step() == 10
    assert "(checksum mismatch); set aside as checkpoint.npz.corrupt-1" in capsys.readouterr().err


def test_both_corrupt_start_clean_and_nothing_is_overwritten(tmp_path, capsys):
    ckpt = saved(tmp_path)
    (tmp_path / "checkpoint.npz.corrupt-1").write_bytes(b"an earlier one")
    for name in ("checkpoint.npz", "checkpoint.prev.npz"):
        (tmp_path / name).write_bytes(b"x")
    assert ckpt.saved_step() is None and ckpt.load(state(0)) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.npz.corrupt-1", "checkpoint.npz.corrupt-2", "checkpoint.prev.npz.corrupt-1",
    ]  # fmt: skip
    assert (tmp_path / "checkpoint.npz.corrupt-1").read_bytes() == b"an earlier one"
    assert len(capsys.readouterr().err.splitlines()) == 2


def test_the_last_two_are_kept_and_removed_together(tmp_path):
    ckpt = saved(tmp_path, steps=(10, 20, 30))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.npz", "checkpoint.prev.npz"]
    assert ckpt.saved_step() == 30
    (tmp_path / "checkpoint.npz").unlink()  # a crash between the two renames of a save
    assert Checkpointer(tmp_path, 10).saved_step() == 20
    ckpt.remove()
    assert list(tmp_path.iterdir()) == []
