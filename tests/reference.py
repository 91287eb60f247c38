"""Independent references the tests compare against (written from the docs' definitions, not from the package).

closed_form_* use the closed form of docs/construction.md directly: for rho = (I + eps P)/2^p
under V_l = exp(-i theta_l Z_l)
and M = tensor(I + Y), y_hat = 1 + eps * prod_{P_l = Y} cos 2theta_l * prod_{P_l = X} sin 2theta_l.
"""

from __future__ import annotations

import numpy as np

X_CODE, Y_CODE = 1, 2


def closed_form_predictions(pauli_codes: np.ndarray, epsilon: np.ndarray, theta: np.ndarray):
    """y_hat for theta of shape (..., p): returns (..., m)."""
    theta = np.asarray(theta, dtype=np.float64)
    cos = np.cos(2 * theta)[..., None, :]
    sin = np.sin(2 * theta)[..., None, :]
    factor = np.where(pauli_codes == Y_CODE, cos, 1.0) * np.where(pauli_codes == X_CODE, sin, 1.0)
    return 1.0 + epsilon * np.prod(factor, axis=-1)


def closed_form_loss(instance, theta) -> np.ndarray:
    inputs = instance.dataset.inputs
    yhat = closed_form_predictions(inputs.pauli_codes, inputs.epsilon, theta)
    return np.mean((yhat - instance.dataset.labels) ** 2, axis=-1)


def closed_form_loss_and_grad(instance, theta: np.ndarray) -> tuple[float, np.ndarray]:
    """For scipy: loss and gradient of one theta (p,) by the product rule, in plain NumPy."""
    inputs = instance.dataset.inputs
    codes, eps, labels = inputs.pauli_codes, inputs.epsilon, instance.dataset.labels
    cos, sin = np.cos(2 * theta), np.sin(2 * theta)
    factor = np.where(codes == Y_CODE, cos, 1.0) * np.where(codes == X_CODE, sin, 1.0)
    dfactor = np.where(codes == Y_CODE, -2 * sin, 0.0) + np.where(codes == X_CODE, 2 * cos, 0.0)
    m, p = codes.shape
    yhat = 1.0 + eps * np.prod(factor, axis=1)
    residual = yhat - labels
    grad = np.zeros(p)
    for l in range(p):
        others = np.prod(np.delete(factor, l, axis=1), axis=1)
        grad[l] = 2.0 / m * np.sum(residual * eps * others * dfactor[:, l])
    return float(np.mean(residual**2)), grad


def finite_difference_gradient(fun, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of a scalar function."""
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = step
        grad[i] = (fun(theta + e) - fun(theta - e)) / (2 * step)
    return grad


def violated_constraints(instance, signs: np.ndarray) -> int:
    """# constraint samples whose planted parity disagrees with the vertex `signs` (noise-free)."""
    inputs = instance.dataset.inputs
    count = 0
    for codes, eps, label in zip(
        inputs.pauli_codes, inputs.epsilon, instance.dataset.labels, strict=True
    ):
        members = np.flatnonzero(codes == X_CODE)
        if members.size == 0:
            continue
        tau = round((label - 1.0) / eps)
        count += int(np.prod(signs[members]) != tau)
    return count
