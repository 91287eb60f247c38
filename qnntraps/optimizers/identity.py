"""The code identity of an optimizer, found without importing (running) any of its code.

A run's config.json records, for the optimizer it ran: the distribution that provides it and its
version (where it is an installed package), the files of its top-level module or package, and a
sha256 over them:

    sha256( for each file, in sorted order of its path relative to the package's folder:
            path (UTF-8) + b"\\0" + sha256(file bytes) (32 bytes) )

over the files whose names end in .py, .pyx, .pxd, .so or .pyd. A built-in baseline's identity is
that of the qnntraps.optimizers subpackage (every built-in and the adapters that drive them), so
that a baseline's entry stays verifiable while the rest of qnntraps changes around it: a change
to the harness that changed what a baseline does shows up as records that differ on re-run.
The module is located the way `import` would find it — the current
working directory first, then sys.path — but by the path finder alone, which reads directories
and never executes the module, so the harness's process runs no plug-in code to compute it.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.metadata
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

SOURCE_SUFFIXES = (".py", ".pyx", ".pxd", ".so", ".pyd")
MAX_FILES = 50_000  # a package with more source files than this is not hashed whole


@dataclass(frozen=True)
class CodeIdentity:
    """Which code an optimizer name resolves to."""

    name: str  # as given: a built-in, an entry point or module:callable
    module: str | None  # the top-level module holding it
    distribution: str | None  # the installed distribution providing that module, if any
    version: str | None
    files: int  # how many source files the hash covers
    sha256: str | None  # None when the module's files could not be found or read
    note: str | None = None  # why sha256 is None, or what it does not cover

    def as_dict(self) -> dict:
        return asdict(self)


def code_identity(name: str, builtin: bool) -> CodeIdentity:
    """The identity of the optimizer `name` (built-in, entry point or module:callable)."""
    if builtin:
        return _identity(name, "qnntraps", inside="optimizers")
    if ":" in name:
        return _identity(name, name.partition(":")[0].split(".")[0])
    for entry in importlib.metadata.entry_points(group="qnntraps.optimizers"):
        if entry.name == name:
            identity = _identity(name, entry.value.partition(":")[0].split(".")[0])
            if entry.dist is not None and identity.distribution is None:
                return CodeIdentity(
                    **{**identity.as_dict(), "distribution": entry.dist.name,
                       "version": entry.dist.version}
                )  # fmt: skip
            return identity
    return CodeIdentity(name, None, None, None, 0, None, "no such optimizer")


def _identity(name: str, top: str, inside: str | None = None) -> CodeIdentity:
    distribution, version = _distribution(top)
    location = _locate(top)
    if location is not None and inside is not None:
        location, top = location / inside, f"{top}.{inside}"
    if location is None:
        return CodeIdentity(name, top, distribution, version, 0, None, f"module {top!r} not found")
    files = _source_files(location)
    note = None
    if files is None:
        return CodeIdentity(
            name, top, distribution, version, 0, None,
            f"more than {MAX_FILES} source files: not hashed",
        )  # fmt: skip
    try:
        digest = _digest(location, files)
    except OSError as error:
        return CodeIdentity(
            name, top, distribution, version, len(files), None,
            f"cannot read its files: {error}",
        )  # fmt: skip
    return CodeIdentity(name, top, distribution, version, len(files), digest, note)


def _search_path() -> list[str]:
    return [os.getcwd()] + [entry for entry in sys.path if entry]


def _locate(top: str) -> Path | None:
    """The file or package folder of top-level module `top`, found without importing it."""
    module = sys.modules.get(top)
    origin = getattr(module, "__file__", None) if module is not None else None
    if origin is None:
        try:
            spec = importlib.machinery.PathFinder.find_spec(top, _search_path())
        except (ImportError, ValueError, OSError):
            spec = None
        if spec is None:
            return None
        if spec.submodule_search_locations:
            locations = list(spec.submodule_search_locations)
            return Path(locations[0]) if locations else None
        origin = spec.origin
    if origin is None:
        return None
    path = Path(origin)
    return path.parent if path.name == "__init__.py" else path


def _source_files(location: Path) -> list[Path] | None:
    if location.is_file():
        return [location]
    files = []
    for folder, subfolders, names in os.walk(location):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for file_name in names:
            if file_name.endswith(SOURCE_SUFFIXES):
                files.append(Path(folder) / file_name)
                if len(files) > MAX_FILES:
                    return None
    return sorted(files, key=lambda f: f.relative_to(location).as_posix())


def _digest(location: Path, files: list[Path]) -> str:
    total = hashlib.sha256()
    base = location.parent if location.is_file() else location
    for path in files:
        inner = hashlib.sha256()
        with open(path, "rb") as stream:
            for block in iter(lambda stream=stream: stream.read(1 << 20), b""):
                inner.update(block)
        total.update(path.relative_to(base).as_posix().encode("utf-8") + b"\0")
        total.update(inner.digest())
    return total.hexdigest()


def _distribution(top: str) -> tuple[str | None, str | None]:
    if top == "qnntraps":  # an editable install maps no top-level name to its distribution
        try:
            return "qnntraps", importlib.metadata.version("qnntraps")
        except importlib.metadata.PackageNotFoundError:
            return "qnntraps", None
    try:
        names = importlib.metadata.packages_distributions().get(top, [])
    except Exception:  # a broken metadata folder somewhere on sys.path
        names = []
    for distribution in sorted(set(names)):
        try:
            return distribution, importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None, None
