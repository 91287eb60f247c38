"""The counted oracle: the only view of an instance that an optimizer gets (DESIGN.md §7).

An Oracle serves a batch of restarts, rows 0 .. R-1. It evaluates the exact loss (and gradient)
through the product form on the track's device, counts every evaluation per row, keeps each row's
best point so far, and refuses evaluations beyond a row's budget. It knows nothing of the instance's
identity or certificate, and neither does the optimizer.
"""

from __future__ import annotations

import time

import torch

from qnntraps.harness.budget import Budget
from qnntraps.simulators import torch_product


class BudgetExceededError(RuntimeError):
    """An optimizer evaluated a row whose budget is spent (a bug in that optimizer's adapter)."""


class Oracle:
    """Loss and gradient for a batch of R restarts of dimension p, counted per row.

    Subclasses that evaluate otherwise (the hardware track's ShotOracle) keep the counting,
    budgets, clocks and best points here and override the hooks `_evaluate_loss`,
    `_evaluate_loss_and_grad`, `_affordable` and `_pay`.
    """

    def __init__(self, form: torch_product.TorchProductForm, restarts: int, budget: Budget):
        self._form = form
        self._start_counting(form.num_parameters, restarts, budget, form.device)

    def _start_counting(self, dimension: int, restarts: int, budget: Budget, device) -> None:
        self.dimension = dimension
        self.restarts = restarts
        self.budget = budget
        self.device = device
        self.dtype = torch.float64
        self.loss_evals = torch.zeros(restarts, dtype=torch.int64)
        self.grad_evals = torch.zeros(restarts, dtype=torch.int64)
        self.best_value = torch.full((restarts,), float("inf"), dtype=torch.float64)
        self.best_point = torch.full((restarts, self.dimension), float("nan"), dtype=torch.float64)
        self._clock = torch.full((restarts,), float("nan"), dtype=torch.float64)
        self._stopped_by_wall = torch.zeros(restarts, dtype=torch.bool)

    # --- budget -------------------------------------------------------------------------------
    def start_clock(self, rows=None) -> None:
        """Start the wall clock of these rows (all when None); called by the harness."""
        rows = self._rows(rows)
        self._clock[rows] = time.perf_counter()

    def elapsed(self, rows=None) -> torch.Tensor:
        rows = self._rows(rows)
        return time.perf_counter() - self._clock[rows]

    def _within_wall(self, rows: torch.Tensor) -> torch.Tensor:
        if self.budget.wall_seconds is None:
            return torch.ones(rows.numel(), dtype=torch.bool)
        inside = self.elapsed(rows) < self.budget.wall_seconds
        self._stopped_by_wall[rows[~inside]] = True
        return inside

    def can_evaluate_loss(self, rows=None) -> torch.Tensor:
        """Mask (k,) of rows that may make one more loss-only evaluation."""
        return self._can_evaluate(self._rows(rows), "loss")

    def can_evaluate_grad(self, rows=None) -> torch.Tensor:
        """Mask (k,) of rows that may make one more loss-and-gradient evaluation."""
        return self._can_evaluate(self._rows(rows), "gradient")

    def _can_evaluate(self, rows: torch.Tensor, kind: str) -> torch.Tensor:
        counter, limit = self._counter(kind)
        ok = self._within_wall(rows) & self._affordable(rows, kind)
        if limit is not None:
            ok &= counter[rows] < limit
        return ok.to(self.device)

    @property
    def stopped_by_wall(self) -> torch.Tensor:
        return self._stopped_by_wall.clone()

    # --- evaluation ---------------------------------------------------------------------------
    def loss(self, theta: torch.Tensor, rows=None) -> torch.Tensor:
        """Loss (k,) at theta (k, p) for rows (k,) (all rows when None). Counts one each.

        A row may appear several times (several points of one restart in one call).
        """
        rows = self._rows(rows)
        theta = self._check(theta, rows)
        self._charge(rows, "loss")
        value = self._evaluate_loss(theta, rows)
        self._record(rows, theta, value)
        return value

    def loss_and_grad(self, theta: torch.Tensor, rows=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (k,) and gradient (k, p) at theta (k, p). Counts one gradient evaluation each."""
        rows = self._rows(rows)
        theta = self._check(theta, rows)
        self._charge(rows, "gradient")
        value, grad = self._evaluate_loss_and_grad(theta, rows)
        self._record(rows, theta, value)
        return value, grad

    # --- hooks of subclasses ------------------------------------------------------------------
    def _evaluate_loss(self, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return torch_product.loss(self._form, theta)

    def _evaluate_loss_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        return torch_product.loss_and_grad(self._form, theta)

    def _affordable(self, rows: torch.Tensor, kind: str) -> torch.Tensor:
        """Mask (k,) of rows whose other resources pay for one more evaluation of this kind."""
        return torch.ones(rows.numel(), dtype=torch.bool)

    def _pay(self, counts: torch.Tensor, kind: str) -> None:
        """Spend other resources on counts[r] evaluations of row r, or raise BudgetExceededError
        having changed nothing."""

    # --- internals ----------------------------------------------------------------------------
    def _counter(self, kind: str) -> tuple[torch.Tensor, int | None]:
        if kind == "loss":
            return self.loss_evals, self.budget.loss_evals
        return self.grad_evals, self.budget.grad_evals

    def _rows(self, rows) -> torch.Tensor:
        if rows is None:
            return torch.arange(self.restarts)
        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1).cpu()
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= self.restarts):
            raise IndexError(f"oracle rows must lie in 0 .. {self.restarts - 1}")
        return rows

    def _charge(self, rows: torch.Tensor, kind: str) -> None:
        counter, limit = self._counter(kind)
        counts = torch.bincount(rows, minlength=self.restarts)
        if limit is not None and bool((counter + counts > limit).any()):
            raise BudgetExceededError(f"{kind} budget of {limit} exceeded for some rows")
        self._pay(counts, kind)
        counter += counts

    def _check(self, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        theta = torch.as_tensor(theta, dtype=torch.float64, device=self.device)
        if theta.shape != (rows.numel(), self.dimension):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}, expected ({rows.numel()}, {self.dimension})"
            )
        return theta.detach()

    def _record(self, rows: torch.Tensor, theta: torch.Tensor, value: torch.Tensor) -> None:
        """Keep each row's best point; with a row given several times, its first best point."""
        value_cpu, theta_cpu = value.detach().cpu(), theta.cpu()
        candidate = torch.where(torch.isnan(value_cpu), float("inf"), value_cpu)
        lowest = torch.full((self.restarts,), float("inf"), dtype=torch.float64)
        lowest.scatter_reduce_(0, rows, candidate, "amin")
        position = torch.arange(rows.numel())
        at_lowest = candidate == lowest[rows]
        first = torch.full((self.restarts,), rows.numel(), dtype=torch.int64)
        first.scatter_reduce_(0, rows[at_lowest], position[at_lowest], "amin")
        improved = torch.nonzero(lowest < self.best_value).reshape(-1)
        self.best_value[improved] = lowest[improved]
        self.best_point[improved] = theta_cpu[first[improved]]
