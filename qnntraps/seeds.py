"""Documented seeds: every random draw of an instance comes from a seed derived from a string.

seed(key) = first 8 bytes of sha256(b"qnntraps:" + key), big-endian, as an unsigned integer.
The key is an instance ID (see docs/format.md for which ID seeds which draw).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np


def seed_from_key(key: str) -> int:
    """A 64-bit seed from a documented key string."""
    digest = hashlib.sha256(b"qnntraps:" + key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def generator_from_key(key: str) -> np.random.Generator:
    """numpy PCG64 generator seeded by `seed_from_key(key)`."""
    return np.random.Generator(np.random.PCG64(seed_from_key(key)))


class SeededGenerators(Sequence):
    """numpy PCG64 generators of `seeds`, each made when first asked for (the same object on
    every access). Most optimizers never draw a random number, and making a generator costs
    about 30 us: 30 s of a 10^6-restart run if every restart got one."""

    def __init__(self, seeds: Sequence[int]):
        self._seeds = [int(seed) for seed in seeds]
        self._made: dict[int, np.random.Generator] = {}

    def __len__(self) -> int:
        return len(self._seeds)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = range(len(self))[i]  # negative indices, and IndexError past the end
        if i not in self._made:
            self._made[i] = np.random.Generator(np.random.PCG64(self._seeds[i]))
        return self._made[i]
