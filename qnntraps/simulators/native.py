"""Build and load the compiled kernels, with gcc, through ctypes: the product form's
(fused_product.c) and the statevector simulator's in-place gates (statevector_kernels.c), in one
library.

`library()` returns the loaded library, or None where it cannot be had: then fused_product.py
runs its torch mirror and statevector.py its torch gates, which give the same bits more
slowly. The library is built once per source and compiler flags into LIBRARY_DIR (named by
their sha256, so a stale build is never loaded): by the README's set-up (`main`), or on first
use.
QNNTRAPS_NATIVE=0 turns it off (the tests use it to run the mirror).

The flags matter for the bits: no fast-math and no contraction into fused multiply-adds, so the
compiled arithmetic is IEEE operation for operation; the vector width (4 lanes with AVX2, 2
without, chosen at run time by __builtin_cpu_supports) does not change any result.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("fused_product.c")
STATEVECTOR_SOURCE = SOURCE.with_name("statevector_kernels.c")
# compiled into one library; fused_product.c includes the .h
SOURCES = (SOURCE, SOURCE.with_name("fused_product_block.h"), STATEVECTOR_SOURCE)
LIBRARY_DIR = Path(__file__).with_name("_native")
FLAGS = ("-O3", "-std=c11", "-fPIC", "-shared", "-fno-fast-math", "-ffp-contract=off", "-Wno-psabi")
ENVIRONMENT_SWITCH = "QNNTRAPS_NATIVE"

_loaded: dict[tuple[Path, str], ctypes.CDLL | None] = {}


class NativeBuildError(RuntimeError):
    """gcc is missing or failed; the torch mirror is used instead."""


@functools.cache
def _digest() -> str:
    """sha256 of the sources and flags, read once per process (library() runs on every call)."""
    digest = hashlib.sha256()
    for source in SOURCES:
        digest.update(source.read_bytes())
    digest.update(" ".join(FLAGS).encode())
    return digest.hexdigest()[:16]


def library_path() -> Path:
    return LIBRARY_DIR / f"fused_product-{_digest()}.so"


def build(compiler: str | None = None) -> Path:
    """Compile the kernel into library_path() (atomically); returns the path."""
    target = library_path()
    if target.exists():
        return target
    compiler = compiler or os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        raise NativeBuildError("no C compiler (gcc or $CC) found")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(handle)
    try:
        done = subprocess.run(
            [compiler, *FLAGS, "-o", temporary, str(SOURCE), str(STATEVECTOR_SOURCE), "-lm"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise NativeBuildError(f"{compiler} failed: {done.stderr.strip()[:500]}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def enabled() -> bool:
    return os.environ.get(ENVIRONMENT_SWITCH, "1") != "0"


def library() -> ctypes.CDLL | None:
    """The kernel's library (built on first use if need be), or None when it cannot be had."""
    if not enabled():
        return None
    path = (LIBRARY_DIR, _digest())  # what library_path() names, without building a path
    if path not in _loaded:
        try:
            lib = ctypes.CDLL(str(build()))
        except (OSError, NativeBuildError):
            lib = None
        if lib is not None:
            lib.qn_product_form.restype = ctypes.c_int
            # arrays go by address (C-contiguous float64, support int64; None for NULL)
            lib.qn_product_form.argtypes = [ctypes.c_int64] * 5 + [ctypes.c_void_p] * 11
            lib.qn_sincos2.restype = None
            lib.qn_sincos2.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 3
            _statevector_signatures(lib)
        _loaded[path] = lib
    return _loaded[path]


def _statevector_signatures(lib: ctypes.CDLL) -> None:
    """statevector_kernels.c: (R, K, N, state, ...) with states and tables by address."""
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    lib.qn_sv_rotate.restype = None
    lib.qn_sv_rotate.argtypes = [i64, i64, i64, ptr, ptr, ptr, i64, i64, i64, i64]
    for name in ("qn_sv_rotate_y", "qn_sv_rotate_z"):
        getattr(lib, name).restype = None
        getattr(lib, name).argtypes = [i64, i64, i64, ptr, ptr, ptr, i64, i64]
    lib.qn_sv_diagonal.restype = None
    lib.qn_sv_diagonal.argtypes = [i64, i64, i64, ptr, ptr, ptr]
    lib.qn_sv_generator_inner.restype = ctypes.c_int
    lib.qn_sv_generator_inner.argtypes = [i64, i64, i64, ptr, ptr, i64, i64, i64, ptr]


def status() -> str:
    """One line: which implementation of the product-form kernel this process uses."""
    if not enabled():
        return f"torch mirror ({ENVIRONMENT_SWITCH}=0)"
    try:
        path = build()
    except (OSError, NativeBuildError) as error:
        return f"torch mirror (the native kernel cannot be built: {error})"
    return f"native ({path})" if library() is not None else "torch mirror (cannot load)"


def main() -> int:
    """Build the kernel (the README's set-up calls this); says what happened in one line."""
    try:
        print("built", build())
    except (OSError, NativeBuildError) as error:
        print(f"the native kernel was not built ({error}); the torch mirror gives the same "
              "results, more slowly", file=sys.stderr)  # fmt: skip
        return 1
    return 0
