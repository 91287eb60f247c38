"""Exact sequential minimal optimization (SMO): cyclic exact coordinate minimization, 5-point rule.

Derivation in brief (details and a counterexample to the 3-point rule in docs/smo.md). Every
parameter enters one gate V_l = exp(-i theta_l H_l), H_l a Pauli string, so H_l^2 = I and
V_l = cos(theta_l) I - i sin(theta_l) H_l. With the other parameters fixed, each prediction
tr(U rho_k U^dag M) is alpha_k + beta_k cos 2t + gamma_k sin 2t in t = theta_l, and the square loss,
a mean of squares of such functions, is a trigonometric polynomial with frequencies 0, 2 and 4:

    f(t0 + t) = a0 + a1 cos 2t + b1 sin 2t + a2 cos 4t + b2 sin 4t.

Five coefficients need five values: v_k = f(t0 + k pi/5), k = 0..4, equispaced over the period pi
(phi = 2t at phi_k = 2 pi k/5). The length-5 DFT recovers them exactly (5 > 2 * 2: no aliasing).
With w_k = v_k - v_0, c = cos(2 pi/5), c' = cos(4 pi/5), s = sin(2 pi/5), s' = sin(4 pi/5):

    a1 = 2/5 (c (w1 + w4) + c' (w2 + w3)),     b1 = 2/5 (s (v1 - v4) + s' (v2 - v3)),
    a2 = 2/5 (c' (w1 + w4) + c (w2 + w3)),     b2 = 2/5 (s' (v1 - v4) - s (v2 - v3)),
    a0 = v0 + (w1 + w2 + w3 + w4)/5

(centring on v_0 is exact algebra, since 1 + 2c + 2c' = 0). Global minimum of
g(phi) = f(t0 + phi/2) = a0 + Re(C1 z) + Re(C2 z^2), z = e^{i phi}, C1 = a1 - i b1, C2 = a2 - i b2:

    (2 z^2 / i) g'(phi) = 2 C2 z^4 + C1 z^3 - conj(C1) z - 2 conj(C2),

a quartic whose roots on the unit circle are the critical points. Its roots come from companion-
matrix eigenvalues (numpy: one small LAPACK problem per row). Candidates: the angles of all four
roots, the critical points of the frequency-2 and frequency-4 parts alone, and a 24-point grid
(this covers the degenerate case |C2| <= 1e-3 |C1|, where the quartic is ill-conditioned and
skipped, and the constant case); each candidate gets four guarded Newton steps; the lowest wins.

The k = 0 value of the next coordinate is the loss at the point just accepted. We reuse the fitted
polynomial's value there instead of paying a fifth evaluation: for these models the fit is exact,
so the two differ only by rounding (~1e-16 relative), and the error is not amplified (the fitted
value at phi* is sum_k v_k D(phi* - phi_k) with D(x) = (1 + 2 cos x + 2 cos 2x)/5, |D| <= 1). A move
is accepted only when the predicted decrease exceeds a rounding margin of 64 eps max_k |v_k|;
otherwise the row keeps its point and its value exactly. So the true loss never increases and a
converged row stops moving. Cost: 1 evaluation at the start, then 4 per coordinate, 4p per sweep.

All arithmetic on the fit is row-wise numpy (element-wise operations and one eigenvalue problem
per row), so every restart's path is bit-for-bit independent of the batch it runs in (CPU).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.oracles.budget import affordable

NUM_SHIFTS = 5
SHIFT = math.pi / NUM_SHIFTS  # evaluation points theta_l + k pi/5, k = 0..4
GRID_POINTS = 24
NEWTON_STEPS = 4
DEGENERATE_RATIO = 1e-3  # skip the quartic when |C2| <= ratio * |C1|
FINAL_EVALUATION = 1  # the last accepted point's loss is fitted, not evaluated: keep one
ROUNDING_MARGIN = 64.0 * np.finfo(np.float64).eps

_C1, _C2 = math.cos(2 * math.pi / 5), math.cos(4 * math.pi / 5)
_S1, _S2 = math.sin(2 * math.pi / 5), math.sin(4 * math.pi / 5)
_GRID = -math.pi + (2 * math.pi / GRID_POINTS) * np.arange(GRID_POINTS)  # contains 0.0


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy().astype(np.float64, copy=False)
    return np.asarray(x, dtype=np.float64)


def _like(x: np.ndarray, reference) -> torch.Tensor:
    device = reference.device if isinstance(reference, torch.Tensor) else "cpu"
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float64, device=device)


def _coefficients(values: np.ndarray) -> tuple[np.ndarray, ...]:
    """(a0, a1, b1, a2, b2), each (R,), of f(t0 + t) = a0 + a1 cos 2t + b1 sin 2t + a2 cos 4t + ..."""
    v0, v1, v2, v3, v4 = (values[:, k] for k in range(NUM_SHIFTS))
    s14, s23 = (v1 - v0) + (v4 - v0), (v2 - v0) + (v3 - v0)
    d14, d23 = v1 - v4, v2 - v3
    a1 = 0.4 * (_C1 * s14 + _C2 * s23)
    a2 = 0.4 * (_C2 * s14 + _C1 * s23)
    b1 = 0.4 * (_S1 * d14 + _S2 * d23)
    b2 = 0.4 * (_S2 * d14 - _S1 * d23)
    a0 = v0 + 0.2 * (s14 + s23)
    return a0, a1, b1, a2, b2


def fit_coefficients(values) -> torch.Tensor:
    """Fit f(t) = a0 + a1 cos 2t + b1 sin 2t + a2 cos 4t + b2 sin 4t through 5 values.

    values (R, 5): losses at t = k pi/5 (k = 0..4) relative to the current point. Returns (R, 5),
    columns (a0, a1, b1, a2, b2), on values' device.
    """
    values = _numpy(values)
    _check_values(values)
    return _like(np.stack(_coefficients(values), axis=1), values)


def evaluate_fit(coefficients, shifts) -> torch.Tensor:
    """Evaluate fitted polynomials (R, 5) at shifts t (R,) or (R, n) relative to the fit's origin."""
    coef = _numpy(coefficients)
    t = _numpy(shifts)
    column = t.ndim == 1
    t = t.reshape(coef.shape[0], -1)
    a0, a1, b1, a2, b2 = (coef[:, j : j + 1] for j in range(5))
    value = a0 + a1 * np.cos(2 * t) + b1 * np.sin(2 * t) + a2 * np.cos(4 * t) + b2 * np.sin(4 * t)
    return _like(value[:, 0] if column else value, coefficients)


def _delta(phi, a1, b1, a2, b2) -> np.ndarray:
    """g(phi) - g(0), with cos x - 1 written as -2 sin^2(x/2) (accurate near phi = 0)."""
    half, s, c = np.sin(0.5 * phi), np.sin(phi), np.cos(phi)
    return -2.0 * a1 * half * half + b1 * s - 2.0 * a2 * s * s + b2 * (2.0 * s * c)


def _critical_angles(a1, b1, a2, b2) -> np.ndarray:
    """Candidate angles (R, K): quartic roots, critical points of each frequency, a grid."""
    rows = a1.shape[0]
    c1, c2 = a1 - 1j * b1, a2 - 1j * b2
    quartic = np.abs(c2) > DEGENERATE_RATIO * np.abs(c1)
    roots = np.zeros((rows, 4), dtype=np.complex128)
    if quartic.any():
        lead = 2.0 * c2[quartic]
        companion = np.zeros((int(quartic.sum()), 4, 4), dtype=np.complex128)
        # monic z^4 + q3 z^3 + 0 z^2 + q1 z + q0; first row of the companion is -q
        companion[:, 0, 0] = -c1[quartic] / lead
        companion[:, 0, 2] = np.conj(c1[quartic]) / lead
        companion[:, 0, 3] = 2.0 * np.conj(c2[quartic]) / lead
        companion[:, 1, 0] = companion[:, 2, 1] = companion[:, 3, 2] = 1.0
        with np.errstate(all="ignore"):
            roots[quartic] = np.linalg.eigvals(companion)
    root_angles = np.arctan2(roots.imag, roots.real)
    root_angles[~np.isfinite(root_angles)] = 0.0
    first = np.arctan2(b1, a1)[:, None] + np.array([0.0, math.pi])
    second = 0.5 * np.arctan2(b2, a2)[:, None] + (0.5 * math.pi) * np.arange(4)
    grid = np.broadcast_to(_GRID, (rows, GRID_POINTS))
    return np.concatenate([root_angles, first, second, grid], axis=1)


def _newton(phi, a1, b1, a2, b2) -> np.ndarray:
    """Guarded Newton steps on g'(phi) = 0: a step is kept only where g'' > 0 and g does not rise."""
    value = _delta(phi, a1, b1, a2, b2)
    for _ in range(NEWTON_STEPS):
        s, c = np.sin(phi), np.cos(phi)
        s2, c2 = 2.0 * s * c, c * c - s * s
        d1 = -a1 * s + b1 * c - 2.0 * a2 * s2 + 2.0 * b2 * c2
        d2 = -a1 * c - b1 * s - 4.0 * a2 * c2 - 4.0 * b2 * s2
        with np.errstate(all="ignore"):
            trial = np.where(d2 > 0.0, phi - d1 / d2, phi)
        trial = np.where(np.isfinite(trial), trial, phi)
        trial_value = _delta(trial, a1, b1, a2, b2)
        better = trial_value <= value
        phi = np.where(better, trial, phi)
        value = np.where(better, trial_value, value)
    return phi


def fit_and_minimize(values, theta) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact coordinate step: fit the 5 values, return (new_theta (R,), predicted_min (R,)).

    values (R, 5): the loss at theta + k pi/5 (k = 0..4) along one coordinate; theta (R,): that
    coordinate's current value. new_theta = theta + phi*/2 with phi* in [-pi, pi] the global
    minimizer of the fitted polynomial; predicted_min is its value there. Where the predicted
    decrease is within the rounding margin (64 eps max_k |v_k|), the row stays: new_theta = theta
    and predicted_min = values[:, 0], both exactly. Results are on theta's device.
    """
    v = _numpy(values)
    _check_values(v)
    t0 = _numpy(theta).reshape(-1)
    if t0.shape[0] != v.shape[0]:
        raise ValueError(f"theta has {t0.shape[0]} rows, values has {v.shape[0]}")
    _, a1, b1, a2, b2 = (x[:, None] for x in _coefficients(v))
    phi = _newton(_critical_angles(a1[:, 0], b1[:, 0], a2[:, 0], b2[:, 0]), a1, b1, a2, b2)
    phi = phi - (2.0 * math.pi) * np.round(phi / (2.0 * math.pi))  # into [-pi, pi]
    delta = _delta(phi, a1, b1, a2, b2)
    best = np.argmin(delta, axis=1)  # first of equal values; NaN rows pick a NaN and stay
    picked = np.arange(v.shape[0])
    phi, delta = phi[picked, best], delta[picked, best]
    move = delta < -ROUNDING_MARGIN * np.max(np.abs(v), axis=1)
    new_theta = np.where(move, t0 + 0.5 * phi, t0)
    predicted = np.where(move, v[:, 0] + delta, v[:, 0])
    return _like(new_theta, theta), _like(predicted, theta)


def _check_values(values: np.ndarray) -> None:
    if values.ndim != 2 or values.shape[1] != NUM_SHIFTS:
        raise ValueError(f"values must have shape (R, {NUM_SHIFTS}), not {values.shape}")


@dataclass(frozen=True)
class CoordinateStep:
    """State after one coordinate update, passed to `run`'s callback (tensors are copies, CPU)."""

    sweep: int  # 0-based sweep index
    coordinate: int
    rows: torch.Tensor  # (k,) int64: the rows updated in this step
    theta: torch.Tensor  # (R, p): every row's current point
    loss: torch.Tensor  # (R,): every row's accepted loss (NaN where the start was never evaluated)


@dataclass(frozen=True)
class SequentialMinimalOptimizer:
    """Cyclic exact coordinate minimization with the 5-point rule (module docstring, docs/smo.md).

    A row stops when one full sweep lowers its loss by no more than ftol * max(1, |L|), after
    `sweeps` sweeps (None: no limit), or when its budget cannot pay the 4 evaluations of the next
    coordinate plus one more: its final point is its last accepted point, whose loss is fitted,
    not evaluated, and the harness evaluates it once to score it (docs/scoring.md).
    """

    sweeps: int | None = None
    ftol: float = 1e-12

    def __post_init__(self) -> None:
        if self.sweeps is not None and (not isinstance(self.sweeps, int) or self.sweeps < 0):
            raise ValueError(f"sweeps must be None or a non-negative integer, not {self.sweeps!r}")
        if not (math.isfinite(self.ftol) and self.ftol >= 0):
            raise ValueError(f"ftol must be finite and >= 0, not {self.ftol!r}")

    def __call__(self, oracle, x0: torch.Tensor, generators: list | None = None) -> torch.Tensor:
        """Optimize every row of x0 (R, p); `generators` is accepted and unused (deterministic)."""
        return self.run(oracle, x0)

    def run(
        self,
        oracle,
        x0: torch.Tensor,
        callback: Callable[[CoordinateStep], None] | None = None,
    ) -> torch.Tensor:
        """Optimize every row of x0 (R, p); call `callback` after each coordinate update."""
        theta = torch.as_tensor(x0, dtype=torch.float64).detach().cpu().clone()
        restarts, p = theta.shape
        all_rows = torch.arange(restarts)
        loss = torch.full((restarts,), float("nan"), dtype=torch.float64)
        live = _can_pay(oracle, all_rows, 1)
        if bool(live.any()):
            rows = all_rows[live]
            loss[rows] = oracle.loss(theta[rows], rows).detach().cpu().to(torch.float64)
        sweep = 0
        while bool(live.any()) and (self.sweeps is None or sweep < self.sweeps):
            at_start = loss.clone()
            for l in range(p):
                live &= _can_pay(oracle, all_rows, NUM_SHIFTS - 1 + FINAL_EVALUATION)
                if not bool(live.any()):
                    break
                rows = all_rows[live]
                points = theta[rows].repeat(NUM_SHIFTS - 1, 1)  # k-major: k = 1, 1, .., 4, 4
                shifts = SHIFT * torch.arange(1, NUM_SHIFTS, dtype=torch.float64)
                points[:, l] += shifts.repeat_interleave(rows.numel())
                new = oracle.loss(points, rows.repeat(NUM_SHIFTS - 1)).detach().cpu()
                values = torch.cat([loss[rows, None], new.reshape(NUM_SHIFTS - 1, -1).T], dim=1)
                theta[rows, l], loss[rows] = fit_and_minimize(values, theta[rows, l])
                if callback is not None:
                    callback(CoordinateStep(sweep, l, rows.clone(), theta.clone(), loss.clone()))
            else:
                # converged: one sweep gained at most ftol * max(1, |L|); NaN losses stop too
                decrease = at_start - loss
                live &= (decrease > self.ftol * torch.clamp(loss.abs(), min=1.0)) & ~loss.isnan()
            sweep += 1
        return theta.to(device=x0.device)


def _can_pay(oracle, rows: torch.Tensor, evaluations: int) -> torch.Tensor:
    """Mask (CPU) of rows within the wall clock whose loss budget pays `evaluations` more."""
    ok = oracle.can_evaluate_loss(rows).cpu()
    counters = oracle.loss_evals[rows], oracle.grad_evals[rows]
    return ok & affordable(oracle.budget, oracle.dimension, *counters, loss=evaluations)
