"""Real file systems that refuse writes, for tests: a tiny tmpfs (disk full) and a read-only bind
mount. Both need root with CAP_SYS_ADMIN (a CI container run as root usually has it); without it
the tests that use them are skipped, and the monkeypatched variants still run."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(["mount", *args], capture_output=True, timeout=30)
    return done.returncode == 0


def _unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


@contextlib.contextmanager
def small_filesystem(path: Path, kilobytes: int = 64) -> Iterator[Path]:
    """A tmpfs of `kilobytes` at `path` (skips the test when it cannot be mounted)."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount("-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(path)):
        pytest.skip("cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        _unmount(path)


@contextlib.contextmanager
def read_only_view(source: Path, path: Path) -> Iterator[Path]:
    """`source` seen read-only at `path` through a bind mount (skips when it cannot be made).

    Permission bits do not stop root, a read-only mount does."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount("--bind", str(source), str(path)):
        pytest.skip("cannot bind-mount here (needs root with CAP_SYS_ADMIN)")
    try:
        if not _mount("-o", "remount,bind,ro", str(path)):
            pytest.skip("cannot remount a bind mount read-only here")
        yield path
    finally:
        _unmount(path)


def fill(folder: Path) -> None:
    """Fill the file system holding `folder` to the last byte."""
    with open(folder / "ballast", "wb", buffering=0) as stream:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while stream.write(b"\0" * size):
                    pass
