"""A run's folder: config.json, restarts.jsonl (one record per restart) and summary.json.

config.json is written once, atomically; a resumed run must match it field for field (only the
number of restarts may grow). restarts.jsonl grows by one appended, fsync'ed block of lines per
chunk; a run killed mid-write leaves at most a partial last line, which the next start cuts off.
summary.json is rewritten atomically (temporary file, then rename) after every chunk.
Floats are written with Python's repr, so they read back bit for bit.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from qnntraps.errors import QnnTrapsError

CONFIG = "config.json"
RECORDS = "restarts.jsonl"
SUMMARY = "summary.json"
RUN_FORMAT = "qnntraps-run/1"


class RunFolderError(QnnTrapsError):
    """A run folder that cannot be resumed as asked (different settings, or damaged files)."""


def write_json_atomic(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=1, allow_nan=False)
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunFolderError(f"cannot read {path}: {error}") from None


def open_run(folder: Path, config: dict) -> dict[int, dict]:
    """Create the run folder or check that it holds this run; return the records already done."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG
    if not path.exists():
        write_json_atomic(path, config)
        return {}
    existing = read_json(path)
    differing = sorted(
        key
        for key in set(existing) | set(config)
        if key != "restarts" and existing.get(key) != config.get(key)
    )
    if differing:
        raise RunFolderError(
            f"{folder} holds a different run (differs in: {', '.join(differing)}); "
            "use a new --out folder, or the same settings to resume"
        )
    if config["restarts"] > existing["restarts"]:
        write_json_atomic(path, config)  # more restarts of the same run: extend it
    return read_records(folder / RECORDS, repair=True)


def read_records(path: Path, repair: bool = False) -> dict[int, dict]:
    """Records by restart index; a partial last line is cut off when `repair` is set."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        if not repair:
            raise RunFolderError(f"{path} ends in a partial line: resume the run to repair it")
        with open(path, "r+b") as stream:
            stream.truncate(end)
    records: dict[int, dict] = {}
    for number, line in enumerate(data[:end].splitlines(), 1):
        try:
            record = json.loads(line)
            records[int(record["restart"])] = record
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise RunFolderError(f"{path}, line {number}: not a restart record") from None
    return records


def append_records(path: Path, records: list[dict]) -> None:
    """Append records as one write, then fsync."""
    block = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records).encode()
    with open(path, "ab") as stream:
        stream.write(block)
        stream.flush()
        os.fsync(stream.fileno())
