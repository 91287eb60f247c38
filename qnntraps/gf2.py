"""Linear algebra over GF(2) for the planted parity constraints (construction-coupled)."""

from __future__ import annotations

import numpy as np


def gf2_rank(matrix: np.ndarray) -> int:
    """Rank over GF(2) of a 0/1 matrix, by Gaussian elimination."""
    rows = np.array(matrix, dtype=np.uint8) % 2
    rank = 0
    num_rows, num_cols = rows.shape
    for col in range(num_cols):
        pivot = next((r for r in range(rank, num_rows) if rows[r, col]), None)
        if pivot is None:
            continue
        rows[[rank, pivot]] = rows[[pivot, rank]]
        mask = rows[:, col].astype(bool)
        mask[rank] = False
        rows[mask] ^= rows[rank]
        rank += 1
    return rank


def column_masks(incidence: np.ndarray) -> np.ndarray:
    """Each column of a 0/1 (n_rows <= 64, n_cols) matrix as a uint64 bit mask of its rows."""
    n_rows = incidence.shape[0]
    if n_rows > 64:
        raise ValueError("at most 64 rows fit a uint64 mask")
    weights = np.left_shift(np.uint64(1), np.arange(n_rows, dtype=np.uint64))
    return np.bitwise_or.reduce(
        np.where(incidence.astype(bool), weights[:, None], np.uint64(0)), axis=0
    )


def _span(masks: np.ndarray) -> np.ndarray:
    """All 2^len(masks) XOR combinations of the masks (the span, with multiplicity)."""
    span = np.zeros(1, dtype=np.uint64)
    for mask in masks:
        span = np.concatenate([span, span ^ mask])
    return span


def weight_distribution(incidence: np.ndarray, chunk: int = 256) -> np.ndarray:
    """counts[w] = #{x in GF(2)^n_cols : |A x| = w} for the 0/1 matrix A (n_rows <= 64).

    Meet in the middle: A x = A_1 x_1 xor A_2 x_2, so the 2^n_cols weights come from all pairs of
    two half-spans; memory O(2^(n_cols/2)), time O(2^n_cols) popcounts.
    """
    n_rows, n_cols = incidence.shape
    masks = column_masks(incidence)
    half = n_cols // 2
    left, right = _span(masks[:half]), _span(masks[half:])
    counts = np.zeros(n_rows + 1, dtype=np.int64)
    for start in range(0, right.size, chunk):
        block = np.bitwise_count(left[None, :] ^ right[start : start + chunk, None])
        counts += np.bincount(block.ravel(), minlength=n_rows + 1)
    return counts
