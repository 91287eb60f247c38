"""Counter-based start points and optimizer seeds.

Restart r of an instance whose file has sha256 H starts from

    u_j = (first 8 bytes, big-endian, of chunk j of SHAKE-256(b"qnntraps-start:" + H + b":" + r)
           >> 11) * 2^-53,      theta0_j = 2 pi u_j,      j = 0 .. p-1,

where H is the lower-case hex digest, r is written in decimal and chunk j is bytes 8j .. 8j+7 of
an 8p-byte digest. The point depends only on (H, r): every optimizer sees the same starts in any
order, batched or not, on any machine, and the rule can be re-implemented with any SHAKE-256.

The optimizer's own random generator for restart r is numpy's PCG64 seeded with the first 8 bytes
of SHAKE-256(b"qnntraps-optimizer:" + H + b":" + r): also fixed by (H, r), and unrelated to the
start point.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _shake(prefix: str, sha256: str, restart: int, size: int) -> bytes:
    if restart < 0:
        raise ValueError(f"restart index must be >= 0, not {restart}")
    return hashlib.shake_256(f"{prefix}:{sha256}:{restart}".encode()).digest(size)


def start_point(sha256: str, restart: int, num_parameters: int) -> np.ndarray:
    """The start of restart `restart`: float64 (p,), uniform on [0, 2 pi)."""
    words = np.frombuffer(
        _shake("qnntraps-start", sha256, restart, 8 * num_parameters), dtype=">u8"
    )
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53 * (2 * np.pi)


def start_points(sha256: str, restarts, num_parameters: int) -> np.ndarray:
    """Starts of the given restart indices, shape (len(restarts), p)."""
    rows = [start_point(sha256, int(r), num_parameters) for r in restarts]
    return np.array(rows, dtype=np.float64).reshape(-1, num_parameters)


def optimizer_seed(sha256: str, restart: int) -> int:
    """The seed of the optimizer's own random generator for restart `restart`."""
    return int.from_bytes(_shake("qnntraps-optimizer", sha256, restart, 8), "big")


def optimizer_generator(sha256: str, restart: int) -> np.random.Generator:
    """The optimizer's own random generator for restart `restart`: PCG64(optimizer_seed)."""
    return np.random.Generator(np.random.PCG64(optimizer_seed(sha256, restart)))
