"""detkit.io: the one writer of user files (atomic: complete new file or untouched old one)
and its JSON/pickle readers with errors naming the file."""

import errno
import os
import stat

import pytest

from detkit.io import (
    atomic_write,
    read_json,
    read_pickle,
    write_bytes,
    write_json,
    write_pickle,
    write_text,
)


def test_writers_round_trip(tmp_path):
    write_json(tmp_path / "a" / "m.json", {"bbox_mAP": 0.5, "classes": ["car"]}, indent=1)
    write_pickle(tmp_path / "r.pkl", [(1, 2), None])
    write_text(tmp_path / "s.md", "| a |\n")
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert read_json(tmp_path / "a" / "m.json") == {"bbox_mAP": 0.5, "classes": ["car"]}
    assert read_pickle(tmp_path / "r.pkl") == [(1, 2), None]
    assert (tmp_path / "s.md").read_text() == "| a |\n"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    mode = stat.S_IMODE(os.stat(tmp_path / "r.pkl").st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # the usual mode, not mkstemp's 0600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json(target, {"a": object()})
    assert read_json(target) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_disk_full_names_the_file(tmp_path):
    target = tmp_path / "results.pkl"
    target.write_bytes(b"old")

    def write(file):
        file.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="no space left on device while writing .*results.pkl"):
        atomic_write(target, write)
    assert target.read_bytes() == b"old"


def test_readers_name_the_bad_file(tmp_path):
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        read_json(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="bad.pkl is not a readable pickle"):
        read_pickle(tmp_path / "bad.pkl")
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")
