"""The suite score: how likely an optimizer, restarted independently, has hit the certified
global minimum of an instance within a total budget, averaged over a log range of budgets and
over the suite's instances (docs/scoring.md, "The suite score").

For an instance with hit rate h and mean cost c (equivalent evaluations per restart, all
restarts counted, hit or not), restarting independently until the budget b is spent makes
k = floor(b / c) restarts and hits at least once with probability

    P(b) = 1 - (1 - h)^k.

The instance's score is the mean of P over log10 b in the suite's budget range [b_lo, b_hi] (the
area under that curve on a log axis, divided by its width); the suite score is the mean over
instances. It lies in [0, 1]: 0 with no hit anywhere, 1 when every instance is solved by every
restart for at most b_lo evaluations; it rewards hitting and penalises cost, counts cost in
hardware-independent units, and is defined at zero hits. Its 95% interval is a percentile
bootstrap over restarts (each instance's records resampled with replacement, 1000 times, from a
fixed seed), so it is reproducible bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GRID_POINTS = 601  # log10-budget grid of the area (trapezoid rule)
RESAMPLES = 1000
BOOTSTRAP_SEED = 20261206


@dataclass(frozen=True)
class Outcome:
    """One instance's restarts as the score needs them: hit or not, and cost of each."""

    instance: str
    hits: np.ndarray  # (N,) bool
    costs: np.ndarray  # (N,) equivalent evaluations

    def __post_init__(self):
        if self.hits.ndim != 1 or self.hits.shape != self.costs.shape or self.hits.size == 0:
            raise ValueError(f"{self.instance}: hits and costs must be equal, non-empty 1-D arrays")
        if not np.all(np.isfinite(self.costs)) or np.any(self.costs < 0):
            raise ValueError(f"{self.instance}: costs must be finite and >= 0")


@dataclass(frozen=True)
class Score:
    value: float
    low: float
    high: float
    per_instance: tuple[tuple[str, float], ...]

    def as_dict(self) -> dict:
        return {
            "value": self.value,
            "interval": [self.low, self.high],
            "per_instance": dict(self.per_instance),
        }


def budget_grid(budget_range: tuple[float, float]) -> np.ndarray:
    """The GRID_POINTS budgets, evenly spaced in log10, on which the area is computed."""
    low, high = budget_range
    if not (1 <= low < high and np.isfinite(high)):
        raise ValueError(f"budget range must satisfy 1 <= low < high, not {budget_range}")
    return np.logspace(np.log10(low), np.log10(high), GRID_POINTS)


def solve_probability(hit_rate, mean_cost, budgets: np.ndarray) -> np.ndarray:
    """P(b) = 1 - (1 - h)^floor(b / c) for arrays of h and c (broadcast against budgets)."""
    hit_rate = np.asarray(hit_rate, dtype=np.float64)[..., None]
    mean_cost = np.maximum(np.asarray(mean_cost, dtype=np.float64), 1.0)[..., None]
    restarts = np.floor(budgets / mean_cost)
    with np.errstate(divide="ignore", invalid="ignore"):  # h = 1: log1p(-1) = -inf
        value = -np.expm1(restarts * np.log1p(-hit_rate))
    return np.where(restarts > 0, value, 0.0)


def profile_area(hit_rate, mean_cost, budget_range: tuple[float, float]) -> np.ndarray:
    """Mean of P(b) over log10 b in the range, for arrays of h and c."""
    budgets = budget_grid(budget_range)
    probability = solve_probability(hit_rate, mean_cost, budgets)
    x = np.log10(budgets)
    widths = np.diff(x)
    area = ((probability[..., 1:] + probability[..., :-1]) * widths).sum(axis=-1) / 2
    return area / (x[-1] - x[0])


def suite_score(outcomes: Sequence[Outcome], budget_range: tuple[float, float]) -> Score:
    """The score of a set of instance outcomes, with its bootstrap 95% interval."""
    if not outcomes:
        raise ValueError("a score needs at least one instance")
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    areas, resampled = [], np.zeros(RESAMPLES)
    for outcome in outcomes:
        hits = outcome.hits.astype(np.float64)
        area = float(profile_area(hits.mean(), outcome.costs.mean(), budget_range))
        areas.append((outcome.instance, area))
        picks = rng.integers(0, hits.size, size=(RESAMPLES, hits.size))
        resampled += profile_area(
            hits[picks].mean(axis=1), outcome.costs[picks].mean(axis=1), budget_range
        )
    resampled /= len(outcomes)
    value = float(np.mean([area for _, area in areas]))
    low, high = np.percentile(resampled, [2.5, 97.5])
    return Score(value, float(min(low, value)), float(max(high, value)), tuple(areas))
