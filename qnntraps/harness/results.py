"""A run's folder: config.json, restarts.jsonl (one record per restart) and summary.json.

* ``config.json`` is written once, atomically (`qnntraps.atomic`), by the run that creates the
  folder. A resumed run must match it field for field, except ``restarts`` (more restarts extend
  the run; fewer are refused, since the folder holds records beyond them) and ``chunk`` (records
  do not depend on it: the file keeps the chunk size of the run that created the folder).
* ``restarts.jsonl`` grows by one appended, fsync'ed block of lines per chunk
  (`qnntraps.atomic.append_durably`: a failed write, a full disk say, is cut back off). A run
  killed mid-write leaves at most a partial last line, which the next run cuts off.
* ``summary.json`` is rewritten atomically after every chunk. It is derived data: `run_summary`
  recomputes it from the other two files, and `qnntraps report` does exactly that.
* ``.lock`` is the run lock (`RunLock`): one run writes a folder at a time.

Every record line is checked when read (`parse_record`); a line that is not a restart record is a
`RunFolderError` naming the file and line; records of older formats are read under the current
names (`qnntraps.harness.records`). Floats are written with Python's repr, so
they read back bit for bit.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from qnntraps.atomic import (
    WriteError,
    append_durably,
    ensure_folder,
    json_line,
    remove_stale_temporaries,
    write_error,
    write_json_atomic,
)
from qnntraps.errors import QnnTrapsError
from qnntraps.harness.records import is_int, is_number, normalize, record_problem

__all__ = [
    "CONFIG",
    "LOCK",
    "RECORDS",
    "READABLE_FORMATS",
    "RUN_FORMAT",
    "SUMMARY",
    "RecordsFile",
    "RunFolderError",
    "RunLock",
    "append_records",
    "check_run",
    "load_records",
    "lock_holder",
    "open_run",
    "parse_record",
    "read_config",
    "read_json",
    "read_records",
    "write_json_atomic",
]

CONFIG = "config.json"
RECORDS = "restarts.jsonl"
SUMMARY = "summary.json"
LOCK = ".lock"
RUN_FORMAT = "qnntraps-run/4"  # /4: config.json names the oracle's arithmetic
# /1: written before sealed execution; records have no flags/error and were scored at the
# optimizer's recommendation without a final evaluation. /2: records under the old names
# (final_point, final_loss, loss_evals, grad_evals, shots, start_loss). Both are still read
# (reports, under the current names), never resumed.
READABLE_FORMATS = ("qnntraps-run/1", "qnntraps-run/2", "qnntraps-run/3", RUN_FORMAT)

#: Config fields a resumed run may change: more restarts extend the run; records do not depend on
#: the chunk size, so the first run's chunk stays in config.json whatever later runs use.
RESUMABLE_FIELDS = frozenset({"restarts", "chunk"})


class RunFolderError(QnnTrapsError):
    """A run folder that cannot be used as asked (another run, damaged files, a run in progress)."""


# --- JSON files -----------------------------------------------------------------------------------
def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _loads(text: str | bytes):
    """json.loads that refuses NaN and Infinity (which Python's json accepts by default)."""
    return json.loads(text, parse_constant=_reject_constant)


def read_json(path: Path):
    """The JSON in `path`, or a RunFolderError naming the file."""
    path = Path(path)
    try:
        return _loads(path.read_bytes())
    except (OSError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise RunFolderError(f"cannot read {path}: {error}") from None


def read_config(folder: Path) -> dict:
    """The run configuration in `folder`/config.json, checked for the fields every reader uses."""
    path = Path(folder) / CONFIG
    config = read_json(path)
    problem = None
    if not isinstance(config, dict):
        problem = "not a JSON object"
    elif config.get("format") not in READABLE_FORMATS:
        problem = f"format is {config.get('format')!r}, not {RUN_FORMAT!r}"
    elif not (is_int(config.get("restarts")) and config["restarts"] >= 1):
        problem = "restarts is not a whole number >= 1"
    elif not all(isinstance(config.get(key), str) for key in ("instance", "optimizer")):
        problem = "instance or optimizer is missing"
    elif not (is_number(config.get("global_min_value")) and is_number(config.get("hit_tolerance"))):
        problem = "global_min_value or hit_tolerance is not a finite number"
    if problem:
        raise RunFolderError(
            f"{path} is not a qnntraps run configuration ({problem}); "
            "move that folder away, or use another --out"
        )
    return config


# --- records --------------------------------------------------------------------------------------
def parse_record(line: bytes | str, path: Path, number: int) -> dict:
    """One record line, checked and under the current names (`qnntraps.harness.records`).

    Raises RunFolderError naming `path` and line `number` for anything that is not a record.
    """
    try:
        record = normalize(_loads(line))
        problem = record_problem(record)
    except ValueError as error:
        problem = f"not JSON: {error}"
    if problem:
        raise RunFolderError(
            f"{path}, line {number}: not a restart record ({problem}); restore the file, or "
            f"delete that line and run the same command again to recompute that restart"
        )
    return record


@dataclass(frozen=True)
class RecordsFile:
    """The records of a restarts.jsonl, by restart index (the last record of an index wins).

    `whole` is the length in bytes of its whole lines; `torn` says that bytes follow them (a
    partial last line: a run killed mid-write, or one appending right now).
    """

    path: Path
    records: dict[int, dict]
    whole: int
    torn: bool


def load_records(path: Path, keep_final_points: bool = True) -> RecordsFile:
    """Read and check every whole line of `path` (missing: no records); writes nothing.

    `keep_final_points=False` drops each record's ``x`` (saves memory on big runs).
    """
    path = Path(path)
    records: dict[int, dict] = {}
    whole = 0
    torn = False
    try:
        stream = open(path, "rb")
    except FileNotFoundError:
        return RecordsFile(path, records, 0, False)
    except OSError as error:
        raise RunFolderError(f"cannot read {path}: {error.strerror or error}") from None
    with stream:
        for number, line in enumerate(stream, 1):
            if not line.endswith(b"\n"):
                torn = True
                break
            record = parse_record(line, path, number)
            if not keep_final_points:
                record.pop("x", None)
            records[record["restart"]] = record
            whole += len(line)
    return RecordsFile(path, records, whole, torn)


def read_records(
    path: Path, repair: bool = False, *, allow_partial: bool = False
) -> dict[int, dict]:
    """Records by restart index. A partial last line is cut off when `repair` is set, ignored
    when `allow_partial` is set (a reader of a run in progress), and refused otherwise."""
    loaded = load_records(path)
    if loaded.torn:
        if repair:
            _cut(loaded.path, loaded.whole)
        elif not allow_partial:
            raise RunFolderError(
                f"{path} ends in a partial line: run the same command again to repair it"
            )
    return loaded.records


def _cut(path: Path, size: int) -> None:
    try:
        with open(path, "r+b") as stream:
            stream.truncate(size)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as error:
        raise write_error(error, path) from error


def append_records(path: Path, records: list[dict]) -> None:
    """Append records as one durable write (all of them or, on failure, none)."""
    block = "".join(json_line(record) for record in records).encode()
    append_durably(path, block)


# --- checking and opening a run folder --------------------------------------------------------------
def _check_path(folder: Path) -> None:
    """Refuse a folder that cannot be created or written, before anything is written."""
    if folder.exists():
        if not folder.is_dir():
            raise WriteError(
                f"cannot use {folder} as a run folder: it is a file; choose another --out"
            )
        existing = folder
    else:
        existing = folder.parent
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise WriteError(
                f"cannot create {folder}: {existing} is a file, not a folder; choose another --out"
            )
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = errno.EROFS if _read_only(existing) else errno.EACCES
        raise write_error(OSError(reason, os.strerror(reason)), folder)


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _differences(existing: dict, config: dict) -> list[str]:
    keys = (set(existing) | set(config)) - RESUMABLE_FIELDS
    return sorted(key for key in keys if existing.get(key) != config.get(key))


def _check_same_run(folder: Path, existing: dict, config: dict) -> None:
    if existing.get("format") != RUN_FORMAT:
        raise RunFolderError(
            f"{folder} holds a run written by an older qnntraps ({existing.get('format')}): "
            "`qnntraps report` still reads it, but it cannot be resumed; use a new --out folder"
        )
    differing = _differences(existing, config)
    if differing:
        raise RunFolderError(
            f"{folder} holds a different run (differs in: {', '.join(differing)}); "
            "use a new --out folder, or the same settings to resume"
        )
    held, asked = existing["restarts"], config["restarts"]
    if asked < held:
        raise RunFolderError(
            f"{folder} holds a {held}-restart run, not {asked}: give --restarts {held} (or more, "
            f"to extend it) to resume it, or use another --out for a {asked}-restart run"
        )


def _existing_config(folder: Path) -> dict | None:
    """The folder's config, or None for a new or empty folder; refuses records without one."""
    if (folder / CONFIG).exists():
        return read_config(folder)
    records = folder / RECORDS
    if records.exists() and records.stat().st_size > 0:
        raise RunFolderError(
            f"{folder} holds {RECORDS} but no {CONFIG}: restore {CONFIG}, or use another --out"
        )
    return None


def check_run(folder: Path, config: dict) -> None:
    """Check that `folder` can hold this run (new, or the same run resumed); writes nothing.

    Raises WriteError when the folder cannot be created or written (a file in the way, a
    read-only file system) and RunFolderError when it holds another run or fewer restarts are
    asked for than it holds.
    """
    folder = Path(folder)
    _check_path(folder)
    if not folder.exists():
        return
    existing = _existing_config(folder)
    if existing is not None:
        _check_same_run(folder, existing, config)


def open_run(folder: Path, config: dict) -> dict[int, dict]:
    """Create the run folder or check that it holds this run; return the records already done.

    Call it holding the folder's `RunLock`. Everything is checked before anything is written:
    a new folder gets config.json; a resumed one gets its torn last line (if any) cut off and,
    when more restarts are asked for, config.json with the new restart count (and every other
    field, chunk included, as it was).
    """
    folder = ensure_folder(Path(folder))
    existing = _existing_config(folder)
    if existing is None:
        _remove_stale_temporaries(folder)
        write_json_atomic(folder / CONFIG, config)
        return {}
    _check_same_run(folder, existing, config)
    loaded = load_records(folder / RECORDS)  # checks every line before anything is written
    _remove_stale_temporaries(folder)
    if loaded.torn:
        _cut(loaded.path, loaded.whole)
    if config["restarts"] > existing["restarts"]:
        write_json_atomic(folder / CONFIG, {**existing, "restarts": config["restarts"]})
    return loaded.records


def _remove_stale_temporaries(folder: Path) -> None:
    """Hidden temporaries of config.json and summary.json left by a run killed mid-write."""
    for name in (CONFIG, SUMMARY):
        remove_stale_temporaries(folder, name)


# --- the run lock -----------------------------------------------------------------------------------
def _read_pid(descriptor: int) -> int | None:
    try:
        text = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class RunLock:
    """Exclusive lock of a run folder: ``with RunLock(folder): ...`` (creates the folder).

    An advisory `fcntl.flock` on ``folder/.lock``, non-blocking: a folder locked by another run
    (another process, or another RunLock in this one) raises RunFolderError at once, naming the
    pid written in the file. The kernel releases the lock when the holder exits or dies, SIGKILL
    included, so no stale lock is ever left; the file itself stays (removing it would race).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self._descriptor: int | None = None

    def __enter__(self) -> RunLock:
        ensure_folder(self.folder)
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise write_error(error, self.path) from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(descriptor)
            os.close(descriptor)
            raise RunFolderError(_busy_message(self.folder, pid)) from None
        except OSError as error:
            os.close(descriptor)
            raise write_error(error, self.path) from error
        try:
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        except OSError as error:
            os.close(descriptor)  # closing releases the lock
            raise write_error(error, self.path) from error
        self._descriptor = descriptor
        return self

    def __exit__(self, *exc_info) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, 0)  # no stale pid for the next reader
        os.close(descriptor)  # releases the lock


def _busy_message(folder: Path, pid: int | None) -> str:
    who = f"pid {pid}" if pid else "pid unknown"
    return (
        f"{folder} is being written by another qnntraps run ({who}); "
        "wait for it to finish or use another --out"
    )


def lock_holder(folder: Path) -> int | None:
    """None when no run holds `folder`'s lock; else the holder's pid (0 when it is unknown).

    Only reads: a folder without a lock file, or one that cannot be opened, is not locked.
    """
    try:
        descriptor = os.open(Path(folder) / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(descriptor) or 0
    except OSError:
        return None
    finally:
        os.close(descriptor)  # also releases the shared lock just taken
    return None
