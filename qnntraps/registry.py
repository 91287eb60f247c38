"""The registry of frozen instances and the loader (`qnntraps.load`, `qnntraps.list_instances`).

instances/registry.json is the single source of truth for what exists: ID, file, sha256, format
version, family, p, variant and tags. A file is hashed every time it is opened. Nothing here touches
the network. The data folder is $QNNTRAPS_DATA_DIR if set, else the copy inside the installed
package, else the source checkout's instances/.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from qnntraps.errors import (
    ChecksumMismatchError,
    CorruptFileError,
    MissingFileError,
    RegistryError,
    UnknownInstanceError,
)
from qnntraps.ids import parse_instance_id
from qnntraps.instance import Instance
from qnntraps.store import read_instance

DATA_DIR_VARIABLE = "QNNTRAPS_DATA_DIR"
REGISTRY_NAME = "registry.json"
REGISTRY_FORMAT = "qnntraps-registry"
REGISTRY_VERSION = 1


@dataclass(frozen=True)
class RegistryEntry:
    """One registry line: what an instance is and the sha256 of its file."""

    id: str
    file: str
    sha256: str
    format_version: int
    family: str
    p: int
    variant: str | None
    tags: tuple[str, ...]


def data_dir() -> Path:
    """Folder holding registry.json and the .h5 files."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override)
    packaged = Path(__file__).parent / "_instances"
    if (packaged / REGISTRY_NAME).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "instances"


def read_registry(folder: Path | None = None) -> list[RegistryEntry]:
    """All registry entries of `folder` (default: `data_dir()`)."""
    path = (folder or data_dir()) / REGISTRY_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise RegistryError(
            f"no registry at {path}; set {DATA_DIR_VARIABLE} to a folder with {REGISTRY_NAME} "
            "or reinstall qnntraps"
        ) from error
    except json.JSONDecodeError as error:
        raise RegistryError(
            f"{path} is not valid JSON ({error}); restore it from the release"
        ) from error
    if document.get("format") != REGISTRY_FORMAT or document.get("version") != REGISTRY_VERSION:
        raise RegistryError(f"{path} is not a version-{REGISTRY_VERSION} qnntraps registry")
    try:
        return [
            RegistryEntry(**{**row, "tags": tuple(row["tags"])}) for row in document["instances"]
        ]
    except (KeyError, TypeError) as error:
        raise RegistryError(f"{path} has a malformed entry ({error})") from error


def write_registry(entries: list[RegistryEntry], folder: Path) -> None:
    """Write registry.json atomically, entries in the order given, byte-stable."""
    document = {
        "format": REGISTRY_FORMAT,
        "version": REGISTRY_VERSION,
        "instances": [{**asdict(e), "tags": list(e.tags)} for e in entries],
    }
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    handle, temporary = tempfile.mkstemp(prefix=".registry.", suffix=".tmp", dir=folder)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, folder / REGISTRY_NAME)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def list_instances(
    family: str | None = None,
    p: int | None = None,
    variant: str | None = None,
    tag: str | None = None,
    min_p: int | None = None,
    max_p: int | None = None,
    noisy: bool | None = None,
) -> list[RegistryEntry]:
    """Registry entries matching every filter given (family, exact p, variant, tag, p range, noisy)."""
    entries = read_registry()
    if family is not None and family not in {e.family for e in entries}:
        known = sorted({e.family for e in entries})
        raise UnknownInstanceError(f"no family {family!r}; families are {', '.join(known)}")
    return [
        e
        for e in entries
        if (family is None or e.family == family)
        and (p is None or e.p == p)
        and (variant is None or e.variant == variant)
        and (tag is None or tag in e.tags)
        and (min_p is None or e.p >= min_p)
        and (max_p is None or e.p <= max_p)
        and (noisy is None or (e.variant is not None) == noisy)
    ]


def find_entry(instance_id: str, entries: list[RegistryEntry] | None = None) -> RegistryEntry:
    """The registry entry of an ID; UnknownInstanceError with close suggestions otherwise."""
    parsed = parse_instance_id(instance_id)
    entries = read_registry() if entries is None else entries
    by_id = {e.id: e for e in entries}
    if instance_id in by_id:
        return by_id[instance_id]
    other_versions = sorted(
        e.id
        for e in entries
        if (e.family, e.p, e.variant) == (parsed.family, parsed.p, parsed.variant)
    )
    close = other_versions or difflib.get_close_matches(instance_id, list(by_id), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownInstanceError(
        f"no instance {instance_id!r} in the registry{hint} Run 'qnntraps list' to see every ID."
    )


def instance_path(entry: RegistryEntry) -> Path:
    return data_dir() / entry.file


def verify_file(entry: RegistryEntry) -> Path:
    """Path of the entry's file after checking it exists and its sha256 matches the registry."""
    path = instance_path(entry)
    if not path.is_file():
        raise MissingFileError(
            f"{path} is missing for {entry.id}; reinstall qnntraps or restore it"
        )
    actual = file_sha256(path)
    if actual != entry.sha256:
        raise ChecksumMismatchError(
            f"{path} has sha256 {actual[:16]}..., the registry says {entry.sha256[:16]}...: the file "
            "was modified, truncated or replaced; restore it (or run 'qnntraps verify' to see which)"
        )
    return path


def load(instance_id: str) -> Instance:
    """Load a frozen instance by ID, after checking its sha256 against the registry."""
    entry = find_entry(instance_id)
    instance = read_instance(verify_file(entry))
    if instance.id != entry.id:
        raise CorruptFileError(f"{entry.file} holds {instance.id!r}, not {entry.id!r}")
    return instance
