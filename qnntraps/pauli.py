"""Pauli codes (0 = I, 1 = X, 2 = Y, 3 = Z) and the exact one-qubit algebra the simulators share.

Qubit 0 is the first tensor factor everywhere (docs/format.md, "Conventions").
"""

from __future__ import annotations

from functools import reduce

import numpy as np

I, X, Y, Z = 0, 1, 2, 3
PAULI_LETTERS = "IXYZ"

PAULI_MATRICES = np.array(
    [
        [[1, 0], [0, 1]],
        [[0, 1], [1, 0]],
        [[0, -1j], [1j, 0]],
        [[1, 0], [0, -1]],
    ],
    dtype=np.complex128,
)


def _product_table() -> tuple[np.ndarray, np.ndarray]:
    """sigma_a sigma_b = phase[a, b] * sigma_{code[a, b]}, computed from the matrices once."""
    code = np.zeros((4, 4), dtype=np.int8)
    phase = np.zeros((4, 4), dtype=np.complex128)
    for a in range(4):
        for b in range(4):
            prod = PAULI_MATRICES[a] @ PAULI_MATRICES[b]
            for c in range(4):
                ph = np.trace(PAULI_MATRICES[c].conj().T @ prod) / 2
                if abs(ph) > 0.5:
                    code[a, b], phase[a, b] = c, np.round(ph)
    return code, phase


PRODUCT_CODE, PRODUCT_PHASE = _product_table()


def pauli_label(codes: np.ndarray) -> str:
    """Human-readable label, qubit 0 first (for messages only; files never store strings)."""
    return "".join(PAULI_LETTERS[int(c)] for c in codes)


def pauli_string_matrix(codes: np.ndarray) -> np.ndarray:
    """Dense 2^n x 2^n matrix of a Pauli string, qubit 0 the first (most significant) factor."""
    return reduce(np.kron, (PAULI_MATRICES[int(c)] for c in codes), np.ones((1, 1), complex))


def conjugate_by_rotation(
    vector: np.ndarray, generator: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Heisenberg picture of one qubit under exp(-i theta G): returns (a, b, c) with

    exp(i theta G) (sum_s v_s sigma_s) exp(-i theta G) = sum_s (a_s + b_s cos 2theta + c_s sin 2theta) sigma_s.

    Components along I and G are unchanged; an anticommuting sigma_s maps to
    cos 2theta sigma_s + sin 2theta (i G sigma_s), and i G sigma_s is a real signed Pauli.
    """
    vector = np.asarray(vector, dtype=np.float64)
    a = np.zeros(4)
    b = np.zeros(4)
    c = np.zeros(4)
    for s in range(4):
        if s in (I, generator) or generator == I:
            a[s] += vector[s]
            continue
        target = int(PRODUCT_CODE[generator, s])
        sign = (1j * PRODUCT_PHASE[generator, s]).real
        b[s] += vector[s]
        c[target] += sign * vector[s]
    return a, b, c
