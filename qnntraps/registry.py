"""The registry of frozen instances and the loader (`qnntraps.load`, `qnntraps.list_instances`).

instances/registry.json is the single source of truth for what exists: ID, file, sha256, format
version, family, p, variant and tags. It is validated as a whole when read (UTF-8 JSON, exact keys
and types, IDs that follow the ID grammar and agree with family/p/variant, unique IDs and files,
file names that are plain names inside the data folder). A file is read once, hashed, and the same
bytes are parsed. Nothing here touches the network. The data folder is $QNNTRAPS_DATA_DIR if set,
else the copy inside the installed package, else the source checkout's instances/.

Bytes whose sha256 the shipped registry pins are parsed in this process (fast); any other bytes,
e.g. the files of a folder named by $QNNTRAPS_DATA_DIR, are parsed in an isolated child process
with a time limit (`qnntraps.sandbox`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from qnntraps.atomic import write_json_atomic
from qnntraps.errors import (
    ChecksumMismatchError,
    CorruptFileError,
    InvalidInstanceIdError,
    MissingFileError,
    RegistryError,
    UnknownInstanceError,
    UnsupportedFormatError,
)
from qnntraps.ids import parse_instance_id
from qnntraps.instance import Instance
from qnntraps.store import (
    SUPPORTED_FORMAT_VERSIONS,
    open_regular_file,
    read_file_bytes,
    read_instance_bytes,
)

DATA_DIR_VARIABLE = "QNNTRAPS_DATA_DIR"
REGISTRY_NAME = "registry.json"
REGISTRY_FORMAT = "qnntraps-registry"
REGISTRY_VERSION = 1
MAX_REGISTRY_BYTES = 16 * 2**20
MAX_ENTRIES = 100_000
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.h5")
SHA256 = re.compile(r"[0-9a-f]{64}")
TAG = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
MAX_TAGS = 32
FIX = "fix the registry or restore it from the qnntraps release"


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


ENTRY_FIELDS = ("id", "file", "sha256", "format_version", "family", "p", "variant", "tags")


def shipped_data_dir() -> Path:
    """The folder of the instances shipped with qnntraps (ignores $QNNTRAPS_DATA_DIR)."""
    packaged = Path(__file__).parent / "_instances"
    if (packaged / REGISTRY_NAME).is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "instances"


def data_dir() -> Path:
    """Folder holding registry.json and the .h5 files."""
    override = os.environ.get(DATA_DIR_VARIABLE)
    if override:
        return Path(override)
    return shipped_data_dir()


_PARSED: dict[str, tuple[str, tuple[RegistryEntry, ...]]] = {}


def read_registry(folder: Path | None = None) -> list[RegistryEntry]:
    """All registry entries of `folder` (default: `data_dir()`), validated as a whole.

    The file is read every time; its validated entries are reused while its bytes (sha256) stay
    the same, so repeated loads do not re-validate an unchanged registry."""
    path = Path(folder or data_dir()) / REGISTRY_NAME
    data = _registry_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    cached = _PARSED.get(str(path))
    if cached is not None and cached[0] == digest:
        return list(cached[1])
    entries = parse_registry(data, str(path))
    _PARSED[str(path)] = (digest, tuple(entries))
    return entries


def _registry_bytes(path: Path) -> bytes:
    try:
        with open_regular_file(path) as handle:
            if handle is None:
                raise RegistryError(f"{path} is not a regular file; {FIX}")
            data = handle.read(MAX_REGISTRY_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError) as error:
        raise RegistryError(
            f"no registry at {path}; set {DATA_DIR_VARIABLE} to a folder with {REGISTRY_NAME} "
            "or reinstall qnntraps"
        ) from error
    except IsADirectoryError as error:
        raise RegistryError(f"{path} is a folder, not a registry file; {FIX}") from error
    except OSError as error:
        raise RegistryError(f"{path} cannot be read ({error.strerror}); check it") from error
    if len(data) > MAX_REGISTRY_BYTES:
        raise RegistryError(f"{path} is larger than {MAX_REGISTRY_BYTES} bytes; {FIX}")
    return data


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
    return dict(pairs)


def _no_constants(text):
    raise ValueError(f"{text} is not a JSON number")


def parse_registry(data: bytes, name: str) -> list[RegistryEntry]:
    """Validate registry bytes as a whole; RegistryError saying what is wrong otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RegistryError(f"{name} is not UTF-8 text; {FIX}") from error
    try:
        document = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants
        )
    except (ValueError, RecursionError) as error:
        reason = " ".join(str(error).split())[:200] or "too deeply nested"
        raise RegistryError(f"{name} is not valid JSON ({reason}); {FIX}") from error
    if (
        not isinstance(document, dict)
        or document.get("format") != REGISTRY_FORMAT
        or type(document.get("version")) is not int
        or document.get("version") != REGISTRY_VERSION
    ):
        raise RegistryError(
            f"{name} is not a version-{REGISTRY_VERSION} qnntraps registry (a JSON object with "
            f"format {REGISTRY_FORMAT!r} and version {REGISTRY_VERSION}); {FIX}"
        )
    if set(document) != {"format", "version", "instances"}:
        raise RegistryError(
            f"{name} must have exactly the keys format, version and instances; {FIX}"
        )
    rows = document["instances"]
    if not isinstance(rows, list):
        raise RegistryError(f"{name}: instances is not a list; {FIX}")
    if len(rows) > MAX_ENTRIES:
        raise RegistryError(f"{name} lists more than {MAX_ENTRIES} instances; {FIX}")
    entries = [_entry(row, index, name) for index, row in enumerate(rows)]
    for field_name in ("id", "file"):
        seen: set[str] = set()
        for entry in entries:
            value = getattr(entry, field_name)
            if value in seen:
                raise RegistryError(
                    f"{name} lists {field_name} {value!r} twice; each instance appears once; {FIX}"
                )
            seen.add(value)
    return entries


def _entry(row, index: int, name: str) -> RegistryEntry:
    where = f"{name}: entry {index}"
    if not isinstance(row, dict):
        raise RegistryError(f"{where} is not a JSON object; {FIX}")
    if set(row) != set(ENTRY_FIELDS):
        missing = sorted(set(ENTRY_FIELDS) - set(row))
        extra = sorted(set(row) - set(ENTRY_FIELDS))
        raise RegistryError(
            f"{where} has keys {'missing ' + ', '.join(missing) if missing else ''}"
            f"{'; ' if missing and extra else ''}{'unknown ' + ', '.join(map(repr, extra[:5])) if extra else ''}"
            f"; {FIX}"
        )
    expected = {
        "id": (str,),
        "file": (str,),
        "sha256": (str,),
        "format_version": (int,),
        "family": (str,),
        "p": (int,),
        "variant": (str, type(None)),
        "tags": (list,),
    }
    for key, types in expected.items():
        if type(row[key]) not in types:
            words = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise RegistryError(f"{where}: {key} must be a {words}; {FIX}")
    instance_id = row["id"]
    where = f"{name}: entry {index} ({instance_id[:80]!r})"
    try:
        parts = parse_instance_id(instance_id)
    except InvalidInstanceIdError as error:
        raise RegistryError(
            f"{where}: id is not an instance ID (family-pP[-variant]-vN); {FIX}"
        ) from error
    if (row["family"], row["p"], row["variant"]) != (parts.family, parts.p, parts.variant):
        raise RegistryError(f"{where}: family, p and variant do not match the id; {FIX}")
    check_file_name(row["file"], where)
    if not SHA256.fullmatch(row["sha256"]):
        raise RegistryError(f"{where}: sha256 is not 64 lower-case hex digits; {FIX}")
    if row["format_version"] < 1:
        raise RegistryError(f"{where}: format_version must be a positive integer; {FIX}")
    tags = row["tags"]
    if len(tags) > MAX_TAGS or not all(type(t) is str and TAG.fullmatch(t) for t in tags):
        raise RegistryError(
            f"{where}: tags must be a list of at most {MAX_TAGS} lower-case words; {FIX}"
        )
    return RegistryEntry(**{**row, "tags": tuple(tags)})


def check_file_name(file: str, where: str) -> None:
    """A registry file name is a plain .h5 name inside the data folder: no folders, no '..'."""
    if not isinstance(file, str) or not FILE_NAME.fullmatch(file) or ".." in file:
        raise RegistryError(
            f"{where}: file {str(file)[:80]!r} is not a plain file name inside the data folder "
            f"(letters, digits, '.', '_', '-', ending in .h5; no '/' or '..'); {FIX}"
        )


def write_registry(entries: list[RegistryEntry], folder: Path) -> None:
    """Write registry.json atomically, entries in the order given, byte-stable."""
    document = {
        "format": REGISTRY_FORMAT,
        "version": REGISTRY_VERSION,
        "instances": [{**asdict(e), "tags": list(e.tags)} for e in entries],
    }
    write_json_atomic(Path(folder) / REGISTRY_NAME, document)


_SHIPPED_PINS: dict[tuple, frozenset[str]] = {}


def is_shipped_sha256(sha256: str) -> bool:
    """True when the shipped registry (not $QNNTRAPS_DATA_DIR's) pins a file with this sha256."""
    path = shipped_data_dir() / REGISTRY_NAME
    try:
        info = path.stat()
    except OSError:
        return False
    key = (str(path), info.st_mtime_ns, info.st_size, info.st_ino)
    if key not in _SHIPPED_PINS:
        try:
            pins = frozenset(e.sha256 for e in read_registry(path.parent))
        except RegistryError:
            pins = frozenset()
        _SHIPPED_PINS.clear()
        _SHIPPED_PINS[key] = pins
    return sha256 in _SHIPPED_PINS[key]


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


def instance_path(entry: RegistryEntry, folder: Path | None = None) -> Path:
    """Where the entry's file lives: a plain name inside the data folder (checked)."""
    check_file_name(entry.file, f"registry entry {entry.id!r}")
    return Path(folder or data_dir()) / entry.file


def _checked_path(entry: RegistryEntry, folder: Path | None = None) -> Path:
    """The entry's path after refusing a symbolic link that leads outside the data folder."""
    folder = Path(folder or data_dir())
    path = instance_path(entry, folder)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(folder.resolve()):
            raise RegistryError(
                f"{path} is a symbolic link to {target}, outside the data folder; replace it "
                "with the file itself or restore the release"
            )
    if not path.exists():
        raise MissingFileError(
            f"{path} is missing for {entry.id}; reinstall qnntraps or restore it"
        )
    return path


def read_entry_bytes(entry: RegistryEntry, folder: Path | None = None) -> tuple[Path, bytes]:
    """The entry's path and bytes, read once, after checking their sha256 against the registry."""
    path = _checked_path(entry, folder)
    data = read_file_bytes(path)
    actual = hashlib.sha256(data).hexdigest()
    if actual != entry.sha256:
        raise ChecksumMismatchError(
            f"{path} has sha256 {actual[:16]}..., the registry says {entry.sha256[:16]}...: the file "
            "was modified, truncated or replaced; restore it (or run 'qnntraps verify' to see which)"
        )
    return path, data


def verify_file(entry: RegistryEntry) -> Path:
    """Path of the entry's file after checking it exists and its sha256 matches the registry."""
    path, _ = read_entry_bytes(entry)
    return path


def load_entry(entry: RegistryEntry, *, isolate: bool | None = None) -> Instance:
    """Read, hash-check and fully validate the instance of a registry entry.

    isolate=None parses bytes the shipped registry pins in this process and any other bytes in
    the isolated reader; True always isolates (what 'qnntraps verify' should use).
    """
    if entry.format_version not in SUPPORTED_FORMAT_VERSIONS:
        raise UnsupportedFormatError(
            f"{entry.id} has format version {entry.format_version}; this qnntraps reads "
            f"{SUPPORTED_FORMAT_VERSIONS}: upgrade qnntraps to read it"
        )
    path, data = read_entry_bytes(entry)  # its sha256 is entry.sha256 (checked)
    if isolate is None:
        isolate = not is_shipped_sha256(entry.sha256)
    instance = read_instance_bytes(data, str(path), isolate=isolate)
    if instance.id != entry.id:
        raise CorruptFileError(
            f"{entry.file} holds {instance.id!r}, not {entry.id!r}; restore the right file"
        )
    return instance


def load(instance_id: str) -> Instance:
    """Load a frozen instance by ID, after checking its sha256 against the registry."""
    return load_entry(find_entry(instance_id))
