"""One numeric environment on every x86-64 machine with AVX2: the exact track's last bits.

numpy, OpenBLAS and torch choose their SIMD kernels by the processor they run on, and a
reduction or a matrix kernel written for AVX-512 rounds differently from its AVX2 twin. An
optimizer that calls them (CMA-ES's eigendecomposition, SciPy's COBYLA) then gives different
last bits on an AVX-512 machine than on an AVX2 one, and its leaderboard records would not
re-run identically. So `import qnntraps` asks all three for their AVX2 kernels, through the
variables they read when they load, before it imports numpy:

- ``OPENBLAS_CORETYPE=Haswell`` (the AVX2 kernels of NumPy's and SciPy's OpenBLAS);
- ``NPY_DISABLE_CPU_FEATURES`` naming the AVX-512 groups (numpy 2.4 and later name them
  X86_V4, AVX512_ICL, AVX512_SPR; earlier numpy is left alone);
- ``ATEN_CPU_CAPABILITY=avx2`` (torch's CPU kernels).

Only where the processor has AVX2 and FMA (x86-64 Linux); only variables the user has not set
(set one yourself, even to an empty value, to keep it from us); none at all with
``QNNTRAPS_PIN_NUMERICS=0``. A process that imported numpy or torch before qnntraps keeps the
kernels it loaded, but the sealed workers, which run submissions, always start with these
variables. docs/scoring.md ("Bit-identical on the CPU") says what this covers.
"""

from __future__ import annotations

import os
import platform

SWITCH = "QNNTRAPS_PIN_NUMERICS"
NUMPY_GROUPS = "X86_V4 AVX512_ICL AVX512_SPR"  # numpy >= 2.4's AVX-512 dispatch targets


def cpu_flags() -> frozenset[str]:
    """The processor's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as stream:
            for line in stream:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _numpy_version() -> tuple[int, int]:
    """numpy's (major, minor), without importing numpy. importlib.metadata costs about 30 ms to
    import, so it is loaded here, and `pin` asks only on AVX-512 processors."""
    from importlib import metadata

    try:
        major, minor = metadata.version("numpy").split(".")[:2]
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return (0, 0)


def pinned_variables(
    flags: frozenset[str], machine: str, numpy_version: tuple[int, int]
) -> dict[str, str]:
    """The variables that select AVX2 kernels on a processor with these flags."""
    if machine not in ("x86_64", "AMD64") or not {"avx2", "fma"} <= flags:
        return {}
    variables = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2"}
    if "avx512f" in flags and numpy_version >= (2, 4):
        variables["NPY_DISABLE_CPU_FEATURES"] = NUMPY_GROUPS
    return variables


def pin(environ=os.environ) -> dict[str, str]:
    """Set the variables the user has not set (unless QNNTRAPS_PIN_NUMERICS=0); returns them."""
    if environ.get(SWITCH, "1") == "0":
        return {}
    flags = cpu_flags()
    numpy_version = _numpy_version() if "avx512f" in flags else (0, 0)  # only they need it
    wanted = pinned_variables(flags, platform.machine(), numpy_version)
    added = {key: value for key, value in wanted.items() if key not in environ}
    environ.update(added)
    return added
