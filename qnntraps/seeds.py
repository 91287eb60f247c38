"""Documented seeds: every random draw of an instance comes from a seed derived from a string.

seed(key) = first 8 bytes of sha256(b"qnntraps:" + key), big-endian, as an unsigned integer.
The key is an instance ID (see docs/format.md for which ID seeds which draw).
"""

from __future__ import annotations

import hashlib

import numpy as np


def seed_from_key(key: str) -> int:
    """A 64-bit seed from a documented key string."""
    digest = hashlib.sha256(b"qnntraps:" + key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def generator_from_key(key: str) -> np.random.Generator:
    """numpy PCG64 generator seeded by `seed_from_key(key)`."""
    return np.random.Generator(np.random.PCG64(seed_from_key(key)))
