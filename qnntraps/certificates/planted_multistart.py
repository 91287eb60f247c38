"""The stated multistart of a planted certificate: batched L-BFGS from seeded uniform starts.

R starts uniform on [0, 2 pi)^p from the key ``<ID>/multistart`` run batched L-BFGS
(`qnntraps.optimizers.lbfgs.LBFGS`: scipy's L-BFGS-B iteration, with its relative-decrease stop
switched off, ftol = 0, and gtol = 1e-12, because that stop ends a run near L* = 0 at
L ~ 1e-6 where the loss is flat) on the exact CPU evaluator, each with a budget of
GRADIENT_BUDGET gradients. The loss is L = (1 - F)^2, so dL/dtheta = -2 (1 - F) dF/dtheta
vanishes like sqrt(L) near the planted minimum for a reason that says nothing about F; an end
point counts as converged when the fidelity's gradient, |dL/dtheta| / (2 sqrt(L)), has no
component above STATIONARY_GRADIENT, or when L <= REACHED = 1e-12 (F >= 1 - 1e-6: the planted value, reached). The
converged values, rounded to LADDER_DECIMALS, make the ladder (0 for the starts that reached the
planted minimum's value, the spurious values above it) with the number of starts that ended at
each; end points that did not converge are counted apart. The spurious values are what the
multistart found, not every minimum there is.

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
REACHED = 1e-12  # an end with L <= REACHED (F >= 1 - 1e-6) is at the planted value
LADDER_DECIMALS = 6
BATCH = 64  # starts per L-BFGS batch (the end points do not depend on it)


@dataclass(frozen=True)
class PlantedMultistart:
    """Where R starts ended: the distinct rounded values of the converged ends (ascending) with
    how many starts reached each, the number of ends that did not converge, and every end's
    loss (in start order)."""

    starts: int
    values: np.ndarray
    counts: np.ndarray
    unconverged: int
    end_losses: np.ndarray

    def hits(self, tolerance: float) -> int:
        """Starts whose end point is within `tolerance` of L* = 0."""
        return int(np.sum(self.end_losses <= tolerance))

    @property
    def spurious_values(self) -> np.ndarray:
        return self.values[self.values > 0.0]


def starts_key(instance_id: str) -> str:
    return f"{instance_id}/multistart"


def draw_starts(instance_id: str, starts: int, p: int) -> np.ndarray:
    """(starts, p) uniform on [0, 2 pi) from the key."""
    return generator_from_key(starts_key(instance_id)).uniform(0.0, 2 * np.pi, size=(starts, p))


def planted_multistart(
    model: Model,
    instance_id: str,
    starts: int,
    gradient_budget: int = GRADIENT_BUDGET,
    batch: int = BATCH,
) -> PlantedMultistart:
    """Run the stated multistart on `model` (its loss must be >= 0 with minimum 0)."""
    if starts < 1 or gradient_budget < 1 or batch < 1:
        raise ValueError("starts, gradient_budget and batch must be positive")
    evaluator = compile(model, "cpu")
    x0 = draw_starts(instance_id, starts, evaluator.num_parameters)
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
    rounded = np.round(np.maximum(loss[converged], 0.0), LADDER_DECIMALS)
    values, counts = np.unique(rounded, return_counts=True)
    return PlantedMultistart(
        starts, values, counts.astype(np.int64), int(np.sum(~converged)), loss.copy()
    )
