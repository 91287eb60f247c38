"""The stated multistart of a planted certificate: batched L-BFGS from seeded uniform starts.

R starts uniform on [0, 2 pi)^p from the key ``<ID>/multistart`` run batched L-BFGS
(`qnntraps.optimizers.lbfgs.LBFGS`: scipy's L-BFGS-B iteration, with its relative-decrease stop
switched off, ftol = 0, and gtol = 1e-12, because that stop ends a run near L* = 0 at
L ~ 1e-6 where the loss is flat) on the exact CPU evaluator, each with a budget of
GRADIENT_BUDGET gradients. The loss is L = (1 - F)^2, so dL/dtheta = -2 (1 - F) dF/dtheta
vanishes like sqrt(L) near the planted minimum for a reason that says nothing about F; an end
point counts as converged when the fidelity's gradient, |dL/dtheta| / (2 sqrt(L)), has no
component above STATIONARY_GRADIENT, or when L <= REACHED = 1e-8 (F >= 1 - 1e-4: the planted
value, reached). REACHED is that high on purpose: along soft directions of the Hessian
(eigenvalues down to 1e-8) and near the critical count, where convergence slows down, ends meet
the stationarity test while L is still 1e-12 to 1e-8; with a threshold of 1e-12 they were
stored as "spurious values" at L ~ 1e-12 and the tolerance rule made the hit tolerance 5e-13.
Slow approach or a minimum that shallow, such an end is as good as theta* for every purpose and
is counted with it (the spurious minima found and checked lie at L >= 1e-8:
docs/teacher_student.md).

The converged values make the ladder, with the number of starts that ended at each: 0 for the
starts that reached the planted value, the others (the spurious values, > REACHED) rounded to
LADDER_DIGITS significant digits (twice that many just above REACHED, so that none rounds down
onto it): significant digits, not decimals, because they range from 1e-6
to 1e-1, and three because the same minimum reached from two starts agrees to about that many
digits when its Hessian has eigenvalues as small as 1e-7. End points that did not converge are
counted apart. The spurious values are what the multistart found, not every minimum there is.

On the CPU the end points are bit-identical from run to run and however the starts are batched
(L-BFGS and the statevector evaluator are row-independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.model import Model
from qnntraps.optimizers.lbfgs import LBFGS
from qnntraps.oracles.budget import Budget
from qnntraps.oracles.oracle import Oracle
from qnntraps.seeds import generator_from_key
from qnntraps.simulators import compile

GRADIENT_BUDGET = 5000
STATIONARY_GRADIENT = 1e-6  # on dF/dtheta
REACHED = 1e-8  # an end with L <= REACHED (F >= 1 - 1e-4) is at the planted value
LADDER_DIGITS = 3  # significant digits of a spurious ladder value
BATCH = 64  # starts per L-BFGS batch (the end points do not depend on it)


@dataclass(frozen=True)
class PlantedMultistart:
    """Where R starts ended: the distinct rounded values of the converged ends (ascending) with
    how many starts reached each, the number of ends that did not converge, and every end's
    loss, point (R, p) and whether it converged (in start order)."""

    starts: int
    values: np.ndarray
    counts: np.ndarray
    end_losses: np.ndarray
    end_points: np.ndarray
    converged: np.ndarray

    @property
    def unconverged(self) -> int:
        return int(np.sum(~self.converged))

    def hits(self, tolerance: float) -> int:
        """Starts whose end point is within `tolerance` of L* = 0."""
        return int(np.sum(self.end_losses <= tolerance))

    @property
    def spurious_values(self) -> np.ndarray:
        return self.values[self.values > 0.0]


def ladder_value(loss: float) -> float:
    """A converged end's ladder value: 0 at the planted value (L <= REACHED), else L rounded to
    LADDER_DIGITS significant digits, or to 2 LADDER_DIGITS where that rounding would not exceed
    REACHED (L just above 1e-8): a spurious value stays above REACHED, and so above the
    tolerance, which is never below REACHED."""
    if loss <= REACHED:
        return 0.0
    value = float(f"{loss:.{LADDER_DIGITS}g}")
    return value if value > REACHED else float(f"{loss:.{2 * LADDER_DIGITS}g}")


def starts_key(key: str) -> str:
    """The seed key of the starts: `key` is the instance ID (or a held-out instance's key)."""
    return f"{key}/multistart"


def draw_starts(key: str, starts: int, p: int) -> np.ndarray:
    """(starts, p) uniform on [0, 2 pi) from the key."""
    return generator_from_key(starts_key(key)).uniform(0.0, 2 * np.pi, size=(starts, p))


def planted_multistart(
    model: Model,
    key: str,
    starts: int,
    gradient_budget: int = GRADIENT_BUDGET,
    batch: int = BATCH,
) -> PlantedMultistart:
    """Run the stated multistart on `model` (its loss must be >= 0 with minimum 0), starts
    drawn from `key` (the instance ID, or a held-out instance's key)."""
    if starts < 1 or gradient_budget < 1 or batch < 1:
        raise ValueError("starts, gradient_budget and batch must be positive")
    evaluator = compile(model, "cpu")
    x0 = draw_starts(key, starts, evaluator.num_parameters)
    ends = []
    for begin in range(0, starts, batch):
        block = torch.from_numpy(x0[begin : begin + batch].copy())
        oracle = Oracle(evaluator, block.shape[0], Budget(grad_evals=gradient_budget))
        ends.append(LBFGS(gtol=1e-12, ftol=0.0)(oracle, block))
    end = torch.cat(ends)
    loss, grad = evaluator.loss_and_grad(end)
    loss, largest = loss.numpy(), grad.abs().amax(dim=1).numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        fidelity_gradient = largest / (2.0 * np.sqrt(np.maximum(loss, 0.0)))
    converged = (loss <= REACHED) | (fidelity_gradient <= STATIONARY_GRADIENT)
    rounded = [ladder_value(value) for value in loss[converged]]
    values, counts = np.unique(np.array(rounded, dtype=np.float64), return_counts=True)
    return PlantedMultistart(
        starts,
        values,
        counts.astype(np.int64),
        loss.copy(),
        end.numpy().copy(),
        converged,
    )
