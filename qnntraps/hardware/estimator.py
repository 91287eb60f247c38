"""From counts to predictions, losses and gradients: unbiased shot estimators (docs/hardware.md).

The suite's observable is M = (x)_l (I + Y_l) on the n data qubits. Since (I + Y)/2 is the
projector onto |+i>, M = 2^n |+i><+i|^{(x) n}: one measurement setting suffices. Measure every
data qubit in the Y basis (sdg, then h, then measure; eigenvalue +1 reads bit 0) and count the
shots c, out of S, in which every data qubit reads +1. With q the probability of that outcome,
c ~ Binomial(S, q) and

    y_hat = 2^n c / S                          unbiased for y = <M> = 2^n q
    Var y_hat = 4^n q (1 - q) / S              estimated without bias by 4^n c (S - c) / (S^2 (S - 1))
    (y_hat - y)^2 is biased upward by Var y_hat; instead
    r2_hat = 4^n c (c - 1) / (S (S - 1)) - 2 label 2^n c / S + label^2
                                               unbiased for (y - label)^2, since
                                               E[c (c - 1)] = S (S - 1) q^2.

The loss estimate is the mean of r2_hat over the m samples, so it is unbiased (and may be
slightly negative). Its variance, Var L_hat = (1/m^2) sum_k Var r2_hat_k (the samples' shots are
independent), is a polynomial of degree 4 in each q_k (from the binomial factorial moments
E[c_(j)] = S_(j) q^j, c_(j) = c (c - 1) ... (c - j + 1)); replacing q^j by c_(j) / S_(j) gives
an unbiased estimate of it from the counts (needs S >= 4).

The gradient uses the parameter-shift rule, exact for V = exp(-i theta P)
with P a Pauli string: dy/dtheta_l = y(theta + pi/4 e_l) - y(theta - pi/4 e_l). Its estimate

    g_hat_l = (2/m) sum_k (y_hat_k - label_k) (y_hat_k(+l) - y_hat_k(-l))

takes the residual from the unshifted circuits' shots and the derivative from the shifted
circuits' independent shots: a product of independent unbiased estimates, so unbiased too.

All of this is pure numpy; it is also the estimator of a noisy device, where it is unbiased for
the noisy loss (the mean over samples of (q_noisy 2^n - label)^2).
"""

from __future__ import annotations

import math

import numpy as np

VARIANCE_MIN_SHOTS = 4  # the variance estimate replaces q^4 by c_(4) / S_(4)
SHIFT = math.pi / 4  # the parameter-shift for V = exp(-i theta P), eigenvalues of P = +-1


def predictions(counts, shots: int, num_qubits: int) -> np.ndarray:
    """y_hat = 2^n c / S for counts c of the all-(+1) outcome."""
    return np.ldexp(np.asarray(counts, dtype=np.float64) / shots, num_qubits)


def prediction_variance(q, shots: int, num_qubits: int) -> np.ndarray:
    """Var y_hat = 4^n q (1 - q) / S for the all-(+1) probability q."""
    q = np.asarray(q, dtype=np.float64)
    return np.ldexp(q * (1.0 - q) / shots, 2 * num_qubits)


def estimated_prediction_variance(counts, shots: int, num_qubits: int) -> np.ndarray:
    """Unbiased estimate of Var y_hat from the counts: 4^n c (S - c) / (S^2 (S - 1))."""
    c = np.asarray(counts, dtype=np.float64)
    return np.ldexp(c * (shots - c) / (shots * shots * (shots - 1.0)), 2 * num_qubits)


def square_residuals(counts, shots: int, num_qubits: int, labels) -> np.ndarray:
    """Unbiased estimates of (y - label)^2, one per sample (last axis)."""
    if shots < 2:
        raise ValueError("the unbiased square-residual estimate needs at least 2 shots")
    c = np.asarray(counts, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    square = np.ldexp(c * (c - 1.0) / (shots * (shots - 1.0)), 2 * num_qubits)
    return square - 2.0 * labels * predictions(c, shots, num_qubits) + labels * labels


def _square_residual_variance_coefficients(shots: int, num_qubits: int, labels):
    """(a1, a2, a3, a4) with Var r2_hat = a1 q + a2 q^2 + a3 q^3 + a4 q^4, per label.

    r2_hat = A c (c - 1) - B c + label^2, A = 4^n / (S (S - 1)), B = 2 label 2^n / S, and with
    S_j = S (S - 1) ... (S - j + 1): Var c = S q + (S_2 - S^2) q^2,
    Var c(c-1) = 2 S_2 q^2 + 4 S_3 q^3 + (S_4 - S_2^2) q^4,
    Cov(c(c-1), c) = 2 S_2 q^2 + (S_3 - S S_2) q^3.
    """
    s = float(shots)
    s2, s3, s4 = s * (s - 1), s * (s - 1) * (s - 2), s * (s - 1) * (s - 2) * (s - 3)
    a = np.ldexp(1.0 / s2, 2 * num_qubits)
    b = np.ldexp(2.0 * np.asarray(labels, dtype=np.float64) / s, num_qubits)
    return (
        b * b * s,
        2 * a * a * s2 + b * b * (s2 - s * s) - 4 * a * b * s2,
        4 * a * a * s3 - 2 * a * b * (s3 - s * s2),
        np.full_like(b, a * a * (s4 - s2 * s2)),
    )


def square_residual_variance(q, shots: int, num_qubits: int, labels) -> np.ndarray:
    """Var r2_hat for the all-(+1) probability q (exact, under Binomial(S, q))."""
    q = np.asarray(q, dtype=np.float64)
    a1, a2, a3, a4 = _square_residual_variance_coefficients(shots, num_qubits, labels)
    return q * (a1 + q * (a2 + q * (a3 + q * a4)))


def estimated_square_residual_variance(counts, shots: int, num_qubits: int, labels) -> np.ndarray:
    """Unbiased estimate of Var r2_hat from the counts: q^j replaced by c_(j) / S_(j)."""
    if shots < VARIANCE_MIN_SHOTS:
        raise ValueError("the unbiased variance estimate needs at least 4 shots per circuit")
    c = np.asarray(counts, dtype=np.float64)
    coefficients = _square_residual_variance_coefficients(shots, num_qubits, labels)
    estimate = np.zeros(np.broadcast_shapes(c.shape, np.shape(coefficients[0])))
    falling_c, falling_s = np.ones_like(c), 1.0
    for j, coefficient in enumerate(coefficients):
        falling_c = falling_c * (c - j)
        falling_s *= shots - j
        estimate = estimate + coefficient * (falling_c / falling_s)
    return estimate


def loss_variance(counts, shots: int, num_qubits: int, labels) -> np.ndarray:
    """Unbiased estimate of Var L_hat from the counts (last axis: the m samples)."""
    per_sample = estimated_square_residual_variance(counts, shots, num_qubits, labels)
    return np.sum(per_sample, axis=-1) / per_sample.shape[-1] ** 2


def loss(counts, shots: int, num_qubits: int, labels) -> np.ndarray:
    """Unbiased loss estimate mean_k r2_hat_k over the last axis (the samples)."""
    return np.mean(square_residuals(counts, shots, num_qubits, labels), axis=-1)


def naive_loss(counts, shots: int, num_qubits: int, labels) -> np.ndarray:
    """mean_k (y_hat_k - label_k)^2: biased upward by mean_k Var y_hat_k (for comparison only)."""
    residual = predictions(counts, shots, num_qubits) - np.asarray(labels, dtype=np.float64)
    return np.mean(residual * residual, axis=-1)


def shift_points(theta: np.ndarray) -> np.ndarray:
    """The 1 + 2p points of one gradient: theta, then theta + pi/4 e_l, then theta - pi/4 e_l."""
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    steps = SHIFT * np.eye(theta.size)
    return np.concatenate([theta[None, :], theta + steps, theta - steps])


def gradient(counts: np.ndarray, shots: int, num_qubits: int, labels) -> np.ndarray:
    """Unbiased gradient estimate from the counts (1 + 2p, m) of the points of shift_points."""
    counts = np.asarray(counts)
    p = (counts.shape[0] - 1) // 2
    y = predictions(counts, shots, num_qubits)
    residual = y[0] - np.asarray(labels, dtype=np.float64)  # from the unshifted shots
    derivative = y[1 : 1 + p] - y[1 + p :]  # from the shifted shots, independent of them
    return 2.0 * np.mean(residual[None, :] * derivative, axis=-1)


def relative_error(q: float, shots: int) -> float:
    """Relative standard error of y_hat: sqrt((1 - q) / (q S))."""
    return math.sqrt((1.0 - q) / (q * shots))


def shots_for_relative_error(q: float, relative: float) -> int:
    """Shots per circuit for a relative standard error `relative` of y_hat: (1 - q) / (q rel^2)."""
    return math.ceil((1.0 - q) / (q * relative * relative))


def circuits_per_evaluation(num_samples: int, num_parameters: int, gradient: bool) -> int:
    """m circuits for a loss, m (1 + 2p) for a loss and its parameter-shift gradient."""
    return num_samples * (1 + 2 * num_parameters) if gradient else num_samples
