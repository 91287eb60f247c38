"""Dense NumPy reference that follows the conventions of docs/format.md literally.

Small n only; used to check the rest.

Density matrices are built from the definitions (rho = (I + eps P)/2^n, or the RY RX encoding of
|0>), the circuit as U = V_{G-1} ... V_0 with V = exp(-i alpha H) = cos(alpha) I - i sin(alpha) H,
and y_hat = Re tr(U rho U^dag M).
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from qnntraps.errors import UnsupportedStructureError
from qnntraps.model import (
    EncodedFeatures,
    Model,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
)
from qnntraps.pauli import PAULI_MATRICES, pauli_string_matrix

MAX_DENSE_QUBITS = 10


def _check_size(num_qubits: int) -> None:
    if num_qubits > MAX_DENSE_QUBITS:
        raise UnsupportedStructureError(
            f"the dense reference is for at most {MAX_DENSE_QUBITS} qubits, not {num_qubits}"
        )


def input_density_matrices(instance: Model) -> np.ndarray:
    """(m, 2^n, 2^n) density matrices of the dataset's inputs."""
    n = instance.ansatz.num_qubits
    _check_size(n)
    inputs = instance.dataset.inputs
    dim = 2**n
    if isinstance(inputs, PauliMixtureStates):
        return np.array(
            [
                (np.eye(dim) + eps * pauli_string_matrix(codes)) / dim
                for codes, eps in zip(inputs.pauli_codes, inputs.epsilon, strict=True)
            ]
        )
    if isinstance(inputs, EncodedFeatures):
        zero = np.array([1.0, 0.0], dtype=complex)
        states = []
        for x in inputs.features:
            qubits = []
            for q in range(n):
                rx = _rotation(PAULI_MATRICES[1], x[2 * q] / 2)
                ry = _rotation(PAULI_MATRICES[2], x[2 * q + 1] / 2)
                qubits.append(ry @ rx @ zero)
            psi = reduce(np.kron, qubits)
            states.append(np.outer(psi, psi.conj()))
        return np.array(states)
    raise UnsupportedStructureError(f"unknown input type {type(inputs).__name__}")


def _rotation(hermitian_pauli: np.ndarray, angle: float) -> np.ndarray:
    """exp(-i angle P) for a Pauli matrix P (P^2 = I)."""
    return np.cos(angle) * np.eye(hermitian_pauli.shape[0]) - 1j * np.sin(angle) * hermitian_pauli


def gate_angles(instance: Model, theta: np.ndarray) -> np.ndarray:
    """alpha_g for every gate: theta[parameter_index[g]] or the fixed angle."""
    ansatz = instance.ansatz
    index = ansatz.parameter_index
    return np.where(index >= 0, np.asarray(theta)[np.maximum(index, 0)], ansatz.fixed_angles)


def circuit_unitary(instance: Model, angles: np.ndarray) -> np.ndarray:
    """U = V_{G-1} ... V_0 for explicit gate angles."""
    n = instance.ansatz.num_qubits
    _check_size(n)
    unitary = np.eye(2**n, dtype=complex)
    for codes, angle in zip(instance.ansatz.generators, angles, strict=True):
        unitary = _rotation(pauli_string_matrix(codes), angle) @ unitary
    return unitary


def observable_matrix(instance: Model) -> np.ndarray:
    """Dense matrix of M."""
    observable = instance.observable
    _check_size(instance.ansatz.num_qubits)
    if isinstance(observable, ProductObservable):
        factors = [np.einsum("s,sij->ij", f, PAULI_MATRICES) for f in observable.factors]
        return reduce(np.kron, factors)
    if isinstance(observable, PauliSumObservable):
        return sum(
            coef * pauli_string_matrix(codes)
            for codes, coef in zip(observable.pauli_codes, observable.coefficients, strict=True)
        )
    raise UnsupportedStructureError(f"unknown observable type {type(observable).__name__}")


def _predictions_at_angles(instance, angles, rhos, observable) -> np.ndarray:
    unitary = circuit_unitary(instance, angles)
    evolved = unitary @ rhos @ unitary.conj().T
    return np.real(np.einsum("kij,ji->k", evolved, observable))


def predictions(instance: Model, theta) -> np.ndarray:
    """y_hat_k = Re tr(U(theta) rho_k U(theta)^dag M) for one theta (p,)."""
    theta = np.asarray(theta, dtype=np.float64)
    return _predictions_at_angles(
        instance,
        gate_angles(instance, theta),
        input_density_matrices(instance),
        observable_matrix(instance),
    )


def loss(instance: Model, theta) -> float:
    """L(theta) for one theta (p,): (1/m) sum_k (y_hat_k - y_k)^2 for the square loss,
    (1/m) sum_k y_k y_hat_k for the expectation loss."""
    yhat = predictions(instance, theta)
    labels = instance.dataset.labels
    if instance.dataset.loss == "expectation":
        return float(np.mean(labels * yhat))
    return float(np.mean((yhat - labels) ** 2))


def parameter_shift_gradient(instance: Model, theta) -> np.ndarray:
    """dL/dtheta from the parameter-shift rule: for V = exp(-i alpha H) with H^2 = I,
    d y_hat / d alpha = y_hat(alpha + pi/4) - y_hat(alpha - pi/4); summed over the gates of a parameter.
    """
    theta = np.asarray(theta, dtype=np.float64)
    rhos = input_density_matrices(instance)
    observable = observable_matrix(instance)
    angles = gate_angles(instance, theta)
    labels = instance.dataset.labels
    if instance.dataset.loss == "expectation":
        outer = labels
    else:
        outer = 2.0 * (_predictions_at_angles(instance, angles, rhos, observable) - labels)
    grad = np.zeros(instance.ansatz.num_parameters)
    for g, index in enumerate(instance.ansatz.parameter_index):
        if index < 0:
            continue
        plus, minus = angles.copy(), angles.copy()
        plus[g] += np.pi / 4
        minus[g] -= np.pi / 4
        dyhat = _predictions_at_angles(instance, plus, rhos, observable) - _predictions_at_angles(
            instance, minus, rhos, observable
        )
        grad[index] += np.mean(outer * dyhat)
    return grad
