"""qnntraps.atomic: atomic and durable writes, errors a user can act on, nothing left behind."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest

from qnntraps import atomic
from qnntraps.atomic import (
    WriteError,
    append_durably,
    atomic_path,
    ensure_folder,
    json_line,
    json_text,
    remove_stale_temporaries,
    write_error,
    write_json_atomic,
)
from qnntraps.errors import QnnTrapsError
from tests.filesystems import fill, read_only_view, small_filesystem


def names(folder):
    return sorted(path.name for path in folder.iterdir())


# --- atomic replacement ---------------------------------------------------------------------------
def test_write_json_atomic_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "data.json"
    target.write_text("old")
    write_json_atomic(target, {"b": 1.0000000000000002, "a": [1, None]})
    assert json.loads(target.read_text()) == {"a": [1, None], "b": 1.0000000000000002}
    assert target.read_text() == json_text({"a": [1, None], "b": 1.0000000000000002})
    assert names(tmp_path) == ["data.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_creates_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "c.json"
    write_json_atomic(target, [1])
    assert json.loads(target.read_text()) == [1]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="drawing failed"):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half a new file")
            raise RuntimeError("drawing failed")
    assert target.read_bytes() == b"old" and names(tmp_path) == ["figure.png"]


def test_an_os_error_while_renaming_becomes_a_write_error(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    target.write_text("{}")

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(WriteError, match="disk is full") as caught:
        write_json_atomic(target, {"new": True})
    assert caught.value.errno == errno.ENOSPC
    assert isinstance(caught.value, QnnTrapsError) and isinstance(caught.value, OSError)
    assert target.read_text() == "{}" and names(tmp_path) == ["summary.json"]


def test_the_file_and_its_folder_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def spy(descriptor):
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(atomic.os, "fsync", spy)
    write_json_atomic(tmp_path / "x.json", 1)
    assert any(name.startswith(str(tmp_path / ".x.json.")) for name in synced)  # the data
    assert str(tmp_path) in synced  # the rename


def test_json_is_strict_and_floats_read_back_bit_for_bit():
    value = 0.1 + 0.2
    assert json.loads(json_line({"x": value}))["x"] == value
    assert json_line({"b": 1, "a": 2}) == '{"b": 1, "a": 2}\n'  # lines keep their order
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="non-finite"):
            json_text({"x": bad})


# --- error messages -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the disk is full: free some space and run the same command again"),
        (errno.EROFS, "the file system is read-only: choose a writable folder"),
        (errno.ENOTDIR, "a part of the path is a file, not a folder: choose another path"),
        (errno.EACCES, "permission denied: choose a folder you can write to"),
    ],
)
def test_write_error_says_what_happened_and_what_to_do(tmp_path, code, words):
    error = write_error(OSError(code, os.strerror(code)), tmp_path / "f")
    assert isinstance(error, WriteError) and error.errno == code
    assert str(error) == f"cannot write {tmp_path / 'f'}: {words}"
    assert "\n" not in str(error)


def test_a_file_in_the_way_of_a_folder(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match="file"):
        ensure_folder(tmp_path / "file")
    with pytest.raises(WriteError, match="file"):
        write_json_atomic(tmp_path / "file" / "sub" / "x.json", 1)
    assert names(tmp_path) == ["file"]


# --- appends --------------------------------------------------------------------------------------
def test_append_durably_appends_and_fsyncs(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd)))
    append_durably(path, b"one\n")
    append_durably(path, b"two\n")
    assert path.read_bytes() == b"one\ntwo\n"
    assert len(calls) >= 2


def test_append_durably_cuts_a_failed_write_back(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"kept\n")

    def fail_after_writing(descriptor):  # the data reached the file, its fsync failed
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fail_after_writing)
    with pytest.raises(WriteError, match="disk is full"):
        append_durably(path, b"lost line\n")
    assert path.read_bytes() == b"kept\n"


def test_remove_stale_temporaries_only_removes_that_names_temporaries(tmp_path):
    for name in (".summary.json.abc.tmp", ".summary.json.x1.tmp", ".config.json.z.tmp", "keep"):
        (tmp_path / name).write_text("")
    assert remove_stale_temporaries(tmp_path, "summary.json") == 2
    assert names(tmp_path) == [".config.json.z.tmp", "keep"]


# --- real file systems ----------------------------------------------------------------------------
def test_a_full_disk_keeps_every_file_whole(tmp_path):
    with small_filesystem(tmp_path / "small", kilobytes=64) as disk:
        records, summary = disk / "records.jsonl", disk / "summary.json"
        append_durably(records, b'{"restart": 0}\n')
        write_json_atomic(summary, {"done": 1})
        fill(disk)
        with pytest.raises(WriteError, match="disk is full"):
            append_durably(records, b"x" * 8192 + b"\n")
        with pytest.raises(WriteError, match="disk is full"):
            write_json_atomic(summary, {"done": 2, "pad": "x" * 8192})
        assert records.read_bytes() == b'{"restart": 0}\n'
        assert json.loads(summary.read_text()) == {"done": 1}
        assert names(disk) == ["ballast", "records.jsonl", "summary.json"]


def test_a_read_only_file_system_is_refused_in_one_line(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "old.json").write_text("[1]")
    with read_only_view(source, tmp_path / "view") as view:
        with pytest.raises(WriteError, match="read-only") as caught:
            write_json_atomic(view / "old.json", [2])
        assert "\n" not in str(caught.value)
        with pytest.raises(WriteError, match="read-only"):
            append_durably(view / "old.json", b"more")
        assert (view / "old.json").read_text() == "[1]"
    assert names(source) == ["old.json"]
