"""The one way qnntraps writes a file: atomically, durably, and with errors a user can act on.

Every writer in the package goes through this module. A write lands in a temporary file in the
destination's own folder, is flushed and fsync'ed, is renamed over the destination (atomic on
POSIX), and then the folder itself is fsync'ed so the rename survives a power cut. A reader
therefore sees the old file or the new one, never a mix; a failed write (disk full, read-only
folder, a kill) leaves the old file untouched and no temporary file behind, except after SIGKILL,
which leaves one hidden ``.NAME.*.tmp`` that `remove_stale_temporaries` clears.

JSON is written one way too (`json_text`): UTF-8, sorted keys, indent 1, ``allow_nan=False`` and
Python's ``repr`` for floats, so every float reads back bit for bit and no NaN can sneak in.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from qnntraps.errors import QnnTrapsError

TEMPORARY_SUFFIX = ".tmp"


class WriteError(QnnTrapsError, OSError):
    """A file could not be written (disk full, read-only folder, no permission, not a folder)."""


def _describe(error: OSError, path: Path) -> str:
    reasons = {
        errno.ENOSPC: "the disk is full: free some space and run the same command again",
        errno.EDQUOT: "the disk quota is exhausted: free some space and run the same command again",
        errno.EROFS: "the file system is read-only: choose a writable folder",
        errno.EACCES: "permission denied: choose a folder you can write to",
        errno.EPERM: "permission denied: choose a folder you can write to",
        errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
        errno.EISDIR: "the path is a folder: give a file name",
        errno.ENOENT: "a part of the path does not exist or cannot be created",
        errno.ENAMETOOLONG: "the path is too long",
    }
    reason = reasons.get(error.errno, error.strerror or str(error))
    return f"cannot write {path}: {reason}"


def write_error(error: OSError, path: Path) -> WriteError:
    """A WriteError that says what went wrong with `path` and what to do."""
    wrapped = WriteError(_describe(error, Path(path)))
    wrapped.errno = error.errno
    return wrapped


def ensure_folder(folder: Path) -> Path:
    """Create `folder` (and its parents) or raise a WriteError saying why it cannot be."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file sits where the folder should be
        raise WriteError(f"cannot use {folder} as a folder: a file of that name exists") from error
    except OSError as error:
        raise write_error(error, folder) from error
    if not folder.is_dir():
        raise WriteError(f"cannot use {folder} as a folder: it is not a folder")
    return folder


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int = 0o644) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success move it over `path` atomically.

    For writers that need a file name (h5py, matplotlib): write the temporary path inside the
    block. The temporary file is fsync'ed, given `mode`, renamed, and the folder fsync'ed. On any
    exception the temporary file is removed and `path` is untouched; OSErrors become WriteError.
    """
    path = Path(path)
    folder = ensure_folder(path.parent)
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX, dir=folder
        )
    except OSError as error:
        raise write_error(error, path) from error
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, QnnTrapsError):
            raise write_error(error, path) from error
        raise
    fsync_folder(folder)


def write_bytes_atomic(path: str | Path, data: bytes, mode: int = 0o644) -> Path:
    """Write `data` to `path` atomically and durably; returns the path."""
    path = Path(path)
    with atomic_path(path, mode) as temporary, open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
    return path


def write_text_atomic(path: str | Path, text: str, mode: int = 0o644) -> Path:
    """Write UTF-8 `text` to `path` atomically and durably; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"), mode)


def json_text(data, *, indent: int | None = 1, sort_keys: bool = True) -> str:
    """The JSON text qnntraps writes: no NaN or infinity, floats by repr, UTF-8 safe, newline."""
    try:
        return json.dumps(data, indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"
    except ValueError as error:  # a NaN or infinity: a bug in the caller, never user input
        raise ValueError(f"refusing to write non-finite numbers as JSON: {error}") from None


def json_line(data) -> str:
    """One compact JSON line (JSONL), same rules as `json_text`."""
    return json_text(data, indent=None, sort_keys=False)


def write_json_atomic(path: str | Path, data, *, sort_keys: bool = True) -> Path:
    """Write `data` as JSON (`json_text`) to `path` atomically and durably; returns the path."""
    return write_text_atomic(path, json_text(data, sort_keys=sort_keys))


def append_durably(path: str | Path, data: bytes) -> None:
    """Append `data` with one write and fsync it; on failure cut the file back to its old size.

    A disk that fills mid-write leaves the file as it was (not a partial record), so a record
    file is always a whole number of lines as far as this function is concerned.
    """
    path = Path(path)
    try:
        stream = open(path, "ab")
    except OSError as error:
        raise write_error(error, path) from error
    with stream:
        size = stream.seek(0, os.SEEK_END)
        try:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        except OSError as error:
            with contextlib.suppress(OSError):
                stream.truncate(size)
                stream.flush()
            raise write_error(error, path) from error
    if size == 0:
        fsync_folder(path.parent)


def remove_stale_temporaries(folder: str | Path, name: str) -> int:
    """Remove the hidden temporaries `atomic_path` leaves for `name` when killed; returns how many."""
    removed = 0
    for leftover in Path(folder).glob(f".{name}.*{TEMPORARY_SUFFIX}"):
        with contextlib.suppress(OSError):
            leftover.unlink()
            removed += 1
    return removed
