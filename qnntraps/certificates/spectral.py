"""Spectral certificates: L* = mean(y) lambda_min(M) for the expectation loss with y > 0.

Every prediction y_hat_k = tr(U rho_k U^dag M) is at least lambda_min(M), so the loss
(1/m) sum_k y_k y_hat_k is at least mean(y) lambda_min(M); a point that attains the bound is a
global minimizer. `observable_minimum` computes lambda_min exactly for the observables the
format holds: Pauli sums of Z-type strings (diagonal: the least of 2^n basis-state values),
product observables (per-qubit eigenvalues), and other Pauli sums densely up to 12 qubits.
"""

from __future__ import annotations

import numpy as np

from qnntraps.errors import UnsupportedStructureError
from qnntraps.model import Observable, PauliSumObservable, ProductObservable
from qnntraps.pauli import PAULI_MATRICES, I, Z, pauli_string_matrix

MAX_DIAGONAL_QUBITS = 26
MAX_DENSE_QUBITS = 12


def observable_minimum(observable: Observable, num_qubits: int) -> float:
    """The smallest eigenvalue of M."""
    if isinstance(observable, ProductObservable):
        low, high = 1.0, 1.0
        for row in observable.factors:
            eigen = np.linalg.eigvalsh(np.einsum("s,sij->ij", row, PAULI_MATRICES))
            products = [low * eigen[0], low * eigen[1], high * eigen[0], high * eigen[1]]
            low, high = min(products), max(products)
        return float(low)
    if not isinstance(observable, PauliSumObservable):
        raise UnsupportedStructureError(f"unknown observable type {type(observable).__name__}")
    codes, coefficients = observable.pauli_codes, observable.coefficients
    if np.all((codes == I) | (codes == Z)):
        if num_qubits > MAX_DIAGONAL_QUBITS:
            raise UnsupportedStructureError(
                f"a diagonal observable on more than {MAX_DIAGONAL_QUBITS} qubits"
            )
        best = np.inf
        chunk = min(2**num_qubits, 2**20)
        for start in range(0, 2**num_qubits, chunk):
            index = np.arange(start, start + chunk)
            bits = (
                index[:, None] >> np.arange(num_qubits - 1, -1, -1)[None, :]
            ) & 1  # qubit 0 first
            values = np.zeros(chunk)
            for row, coefficient in zip(codes, coefficients, strict=True):
                parity = np.sum(bits[:, row == Z], axis=1) & 1
                values += coefficient * (1 - 2 * parity)
            best = min(best, float(values.min()))
        return best
    if num_qubits > MAX_DENSE_QUBITS:
        raise UnsupportedStructureError(
            f"a non-diagonal Pauli sum on more than {MAX_DENSE_QUBITS} qubits"
        )
    matrix = sum(c * pauli_string_matrix(row) for row, c in zip(codes, coefficients, strict=True))
    return float(np.linalg.eigvalsh(matrix)[0])
