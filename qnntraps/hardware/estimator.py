"""From counts to predictions, losses and gradients: unbiased shot estimators (docs/hardware.md).

Each of the m circuits is measured in one setting and the shots in which one event happened are
counted (measurement.py): c ~ Binomial(S, q) out of S shots, and the prediction is affine in the
event's probability, y = offset + slope q. For M = (x)_l (I + Y_l) (the construction and
classical-encoding families) the event is "every data qubit reads +1 in the Y basis", offset 0
and slope 2^n; for M = Z_0 Z_1 (barren plateau) it is "qubits 0 and 1 read even parity",
y = 2 q - 1. With that,

    y_hat = offset + slope c / S               unbiased for y
    Var y_hat = slope^2 q (1 - q) / S          estimated without bias by slope^2 c (S - c) / (S^2 (S - 1))

Square loss, (y - label)^2 per sample: (y_hat - label)^2 is biased upward by Var y_hat; instead,
with r = label - offset,

    r2_hat = slope^2 c (c - 1) / (S (S - 1)) - 2 r slope c / S + r^2
                                               unbiased for (y - label)^2 = (slope q - r)^2, since
                                               E[c (c - 1)] = S (S - 1) q^2.

The square loss estimate is the mean of r2_hat over the m samples, so it is unbiased (and may be
slightly negative). Its variance, Var L_hat = (1/m^2) sum_k Var r2_hat_k (the samples' shots are
independent), is a polynomial of degree 4 in each q_k (from the binomial factorial moments
E[c_(j)] = S_(j) q^j, c_(j) = c (c - 1) ... (c - j + 1)); replacing q^j by c_(j) / S_(j) gives
an unbiased estimate of it from the counts (needs S >= 4).

Expectation loss, L = (1/m) sum_k label_k y_k: L_hat = (1/m) sum_k label_k y_hat_k is unbiased and
Var L_hat = (1/m^2) sum_k label_k^2 Var y_hat_k, estimated without bias from the counts as above.

The gradient uses the parameter-shift rule, exact for V = exp(-i theta P)
with P a Pauli string: dy/dtheta_l = y(theta + pi/4 e_l) - y(theta - pi/4 e_l). Its estimates

    square:       g_hat_l = (2/m) sum_k (y_hat_k - label_k) (y_hat_k(+l) - y_hat_k(-l))
    expectation:  g_hat_l = (1/m) sum_k label_k (y_hat_k(+l) - y_hat_k(-l))

take the residual from the unshifted circuits' shots and the derivative from the shifted
circuits' independent shots: a product of independent unbiased estimates, so unbiased too.

All of this is pure numpy; it is also the estimator of a noisy device, where it is unbiased for
the noisy loss (the loss of the noisy predictions offset + slope q_noisy).
"""

from __future__ import annotations

import math

import numpy as np

from qnntraps.hardware.measurement import Measurement

VARIANCE_MIN_SHOTS = 4  # the variance estimate replaces q^4 by c_(4) / S_(4)
SHIFT = math.pi / 4  # the parameter-shift for V = exp(-i theta P), eigenvalues of P = +-1


def predictions(counts, shots: int, measurement: Measurement) -> np.ndarray:
    """y_hat = offset + slope c / S for counts c of the measurement's event."""
    return measurement.predictions(np.asarray(counts, dtype=np.float64) / shots)


def prediction_variance(q, shots: int, measurement: Measurement) -> np.ndarray:
    """Var y_hat = slope^2 q (1 - q) / S for the event probability q."""
    q = np.asarray(q, dtype=np.float64)
    return measurement.slope * measurement.slope * (q * (1.0 - q) / shots)


def estimated_prediction_variance(counts, shots: int, measurement: Measurement) -> np.ndarray:
    """Unbiased estimate of Var y_hat from the counts: slope^2 c (S - c) / (S^2 (S - 1))."""
    c = np.asarray(counts, dtype=np.float64)
    slope2 = measurement.slope * measurement.slope
    return slope2 * (c * (shots - c) / (shots * shots * (shots - 1.0)))


def _shifted_labels(labels, measurement: Measurement) -> np.ndarray:
    """r = label - offset: (y - label)^2 = (slope q - r)^2."""
    return np.asarray(labels, dtype=np.float64) - measurement.offset


def square_residuals(counts, shots: int, measurement: Measurement, labels) -> np.ndarray:
    """Unbiased estimates of (y - label)^2, one per sample (last axis)."""
    if shots < 2:
        raise ValueError("the unbiased square-residual estimate needs at least 2 shots")
    c = np.asarray(counts, dtype=np.float64)
    r = _shifted_labels(labels, measurement)
    slope = measurement.slope
    square = slope * slope * (c * (c - 1.0) / (shots * (shots - 1.0)))
    return square - 2.0 * r * (slope * (c / shots)) + r * r


def _square_residual_variance_coefficients(shots: int, measurement: Measurement, labels):
    """(a1, a2, a3, a4) with Var r2_hat = a1 q + a2 q^2 + a3 q^3 + a4 q^4, per label.

    r2_hat = A c (c - 1) - B c + r^2, A = slope^2 / (S (S - 1)), B = 2 r slope / S, and with
    S_j = S (S - 1) ... (S - j + 1): Var c = S q + (S_2 - S^2) q^2,
    Var c(c-1) = 2 S_2 q^2 + 4 S_3 q^3 + (S_4 - S_2^2) q^4,
    Cov(c(c-1), c) = 2 S_2 q^2 + (S_3 - S S_2) q^3.
    """
    s = float(shots)
    s2, s3, s4 = s * (s - 1), s * (s - 1) * (s - 2), s * (s - 1) * (s - 2) * (s - 3)
    slope = measurement.slope
    a = slope * slope * (1.0 / s2)
    b = 2.0 * _shifted_labels(labels, measurement) * slope / s
    return (
        b * b * s,
        2 * a * a * s2 + b * b * (s2 - s * s) - 4 * a * b * s2,
        4 * a * a * s3 - 2 * a * b * (s3 - s * s2),
        np.full_like(b, a * a * (s4 - s2 * s2)),
    )


def square_residual_variance(q, shots: int, measurement: Measurement, labels) -> np.ndarray:
    """Var r2_hat for the event probability q (exact, under Binomial(S, q))."""
    q = np.asarray(q, dtype=np.float64)
    a1, a2, a3, a4 = _square_residual_variance_coefficients(shots, measurement, labels)
    return q * (a1 + q * (a2 + q * (a3 + q * a4)))


def estimated_square_residual_variance(
    counts, shots: int, measurement: Measurement, labels
) -> np.ndarray:
    """Unbiased estimate of Var r2_hat from the counts: q^j replaced by c_(j) / S_(j)."""
    if shots < VARIANCE_MIN_SHOTS:
        raise ValueError("the unbiased variance estimate needs at least 4 shots per circuit")
    c = np.asarray(counts, dtype=np.float64)
    coefficients = _square_residual_variance_coefficients(shots, measurement, labels)
    estimate = np.zeros(np.broadcast_shapes(c.shape, np.shape(coefficients[0])))
    falling_c, falling_s = np.ones_like(c), 1.0
    for j, coefficient in enumerate(coefficients):
        falling_c = falling_c * (c - j)
        falling_s *= shots - j
        estimate = estimate + coefficient * (falling_c / falling_s)
    return estimate


def loss_variance(counts, shots: int, measurement: Measurement, labels) -> np.ndarray:
    """Unbiased estimate of Var L_hat from the counts (last axis: the m samples)."""
    labels = np.asarray(labels, dtype=np.float64)
    if measurement.loss == "expectation":
        per_sample = labels * labels * estimated_prediction_variance(counts, shots, measurement)
    else:
        per_sample = estimated_square_residual_variance(counts, shots, measurement, labels)
    return np.sum(per_sample, axis=-1) / per_sample.shape[-1] ** 2


def loss(counts, shots: int, measurement: Measurement, labels) -> np.ndarray:
    """Unbiased loss estimate over the last axis (the samples), in the dataset's loss form."""
    if measurement.loss == "expectation":
        labels = np.asarray(labels, dtype=np.float64)
        return np.mean(labels * predictions(counts, shots, measurement), axis=-1)
    return np.mean(square_residuals(counts, shots, measurement, labels), axis=-1)


def naive_loss(counts, shots: int, measurement: Measurement, labels) -> np.ndarray:
    """mean_k (y_hat_k - label_k)^2: biased upward by mean_k Var y_hat_k (for comparison only)."""
    residual = predictions(counts, shots, measurement) - np.asarray(labels, dtype=np.float64)
    return np.mean(residual * residual, axis=-1)


def shift_points(theta: np.ndarray) -> np.ndarray:
    """The 1 + 2p points of one gradient: theta, then theta + pi/4 e_l, then theta - pi/4 e_l."""
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    steps = SHIFT * np.eye(theta.size)
    return np.concatenate([theta[None, :], theta + steps, theta - steps])


def gradient(counts: np.ndarray, shots: int, measurement: Measurement, labels) -> np.ndarray:
    """Unbiased gradient estimate from the counts (1 + 2p, m) of the points of shift_points."""
    counts = np.asarray(counts)
    p = (counts.shape[0] - 1) // 2
    labels = np.asarray(labels, dtype=np.float64)
    y = predictions(counts, shots, measurement)
    derivative = y[1 : 1 + p] - y[1 + p :]  # from the shifted shots
    if measurement.loss == "expectation":
        return np.mean(labels[None, :] * derivative, axis=-1)
    residual = y[0] - labels  # from the unshifted shots, independent of the shifted ones
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
