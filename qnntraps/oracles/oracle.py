"""The counted oracle: the only view of an instance that an optimizer gets.

An Oracle serves a batch of restarts, rows 0 .. R-1. It evaluates the exact loss (and gradient)
through the instance's compiled evaluator on the track's device, counts every evaluation per row, keeps each row's
best and last evaluated points, and refuses evaluations beyond a row's budget. It knows nothing of
the instance's identity or certificate, and neither does the optimizer.

A restart ends with `finish(rows, points)`: the optimizer's recommended point. The point a
restart is scored at is always one its oracle evaluated: the recommendation itself when it is
(bit for bit) the row's last or best evaluated point; otherwise the oracle evaluates it once more
and charges that loss evaluation to the row ("the final evaluation"); when the budget cannot pay
for it, the row's best evaluated point. Nothing is returned to the optimizer. A finished row is
closed: later calls for it are refused and counted (`late_calls`), and so are calls beyond the
budget (`refused_calls`). `fail(rows, flag, message)` ends rows that have no recommendation (the
optimizer raised, its worker died). `flags(row)` lists what went wrong with a row; a flagged
restart is never a hit (docs/scoring.md).
"""

from __future__ import annotations

import time

import torch

from qnntraps.oracles.budget import Budget, can_pay
from qnntraps.simulators.evaluator import Evaluator

MAX_ERROR_LENGTH = 500  # characters of an optimizer's error message kept in a record


class BudgetExceededError(RuntimeError):
    """An optimizer evaluated a row whose budget is spent (a bug in that optimizer's adapter)."""


class RowClosedError(BudgetExceededError):
    """An optimizer evaluated a row whose restart has already ended."""


def update_best(
    best_value: torch.Tensor,
    best_point: torch.Tensor,
    last_point: torch.Tensor,
    rows: torch.Tensor,
    theta: torch.Tensor,
    value: torch.Tensor,
) -> None:
    """Record evaluated points (in place): each row's best (its first best point when a row is
    given several times; NaN counts as +inf) and its last point in call order.

    One function for the oracle and the sealed worker's view of it, so both agree bit for bit.
    """
    value_cpu, theta_cpu = value.detach().cpu(), theta.detach().cpu()
    restarts = best_value.numel()
    candidate = torch.where(torch.isnan(value_cpu), float("inf"), value_cpu)
    lowest = torch.full((restarts,), float("inf"), dtype=torch.float64)
    lowest.scatter_reduce_(0, rows, candidate, "amin")
    position = torch.arange(rows.numel())
    at_lowest = candidate == lowest[rows]
    first = torch.full((restarts,), rows.numel(), dtype=torch.int64)
    first.scatter_reduce_(0, rows[at_lowest], position[at_lowest], "amin")
    improved = torch.nonzero(lowest < best_value).reshape(-1)
    best_value[improved] = lowest[improved]
    best_point[improved] = theta_cpu[first[improved]]
    last = torch.full((restarts,), -1, dtype=torch.int64)
    last.scatter_reduce_(0, rows, position, "amax")
    touched = torch.nonzero(last >= 0).reshape(-1)
    last_point[touched] = theta_cpu[last[touched]]


class Oracle:
    """Loss and gradient for a batch of R restarts of dimension p, counted per row.

    Subclasses that evaluate otherwise (the hardware track's ShotOracle) keep the counting,
    budgets, clocks, best points and finishing here and override the hooks `_evaluate_loss`,
    `_evaluate_loss_and_grad`, `_affordable` and `_pay`.
    """

    def __init__(self, evaluator: Evaluator, restarts: int, budget: Budget):
        self._evaluator = evaluator
        self._start_counting(evaluator.num_parameters, restarts, budget, evaluator.device)

    def _start_counting(self, dimension: int, restarts: int, budget: Budget, device) -> None:
        self.dimension = dimension
        self.restarts = restarts
        self.budget = budget
        self.device = device
        self.dtype = torch.float64
        self.loss_evals = torch.zeros(restarts, dtype=torch.int64)
        self.grad_evals = torch.zeros(restarts, dtype=torch.int64)
        self.best_value = torch.full((restarts,), float("inf"), dtype=torch.float64)
        self.best_point = torch.full((restarts, dimension), float("nan"), dtype=torch.float64)
        self.last_point = torch.full((restarts, dimension), float("nan"), dtype=torch.float64)
        self.final_point = torch.full((restarts, dimension), float("nan"), dtype=torch.float64)
        self.finished = torch.zeros(restarts, dtype=torch.bool)
        self.late_calls = torch.zeros(restarts, dtype=torch.int64)
        self.refused_calls = torch.zeros(restarts, dtype=torch.int64)
        self._row_flags: dict[int, list[str]] = {}
        self._row_errors: dict[int, str] = {}
        self._clock = torch.full((restarts,), float("nan"), dtype=torch.float64)
        self._stopped_by_wall = torch.zeros(restarts, dtype=torch.bool)
        # Set by sealed execution: refuse evaluations more than this many seconds past the wall
        # budget (an untrusted worker's own clock is not trusted). None: adapters are trusted.
        self.wall_grace: float | None = None

    # --- budget -------------------------------------------------------------------------------
    def start_clock(self, rows=None) -> None:
        """Start the wall clock of these rows (all when None). Rows that have evaluated keep
        their clock, so a clock cannot be restarted to win more time."""
        rows = self._rows(rows)
        fresh = rows[(self.loss_evals[rows] + self.grad_evals[rows]) == 0]
        self._clock[fresh] = time.perf_counter()

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
        counts = can_pay(
            self.budget, self.dimension, self.loss_evals[rows], self.grad_evals[rows], kind
        )
        ok = self._within_wall(rows) & self._affordable(rows, kind) & ~self.finished[rows]
        return (ok & counts).to(self.device)

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
        self._admit(rows, "loss")
        value = self._evaluate_loss(theta, rows)
        update_best(self.best_value, self.best_point, self.last_point, rows, theta, value)
        return value

    def loss_and_grad(self, theta: torch.Tensor, rows=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (k,) and gradient (k, p) at theta (k, p). Counts one gradient evaluation each."""
        rows = self._rows(rows)
        theta = self._check(theta, rows)
        self._admit(rows, "gradient")
        value, grad = self._evaluate_loss_and_grad(theta, rows)
        update_best(self.best_value, self.best_point, self.last_point, rows, theta, value)
        return value, grad

    # --- the end of a restart -----------------------------------------------------------------
    def finish(self, rows, points) -> None:
        """End these restarts at their recommended points (k, p); see the module docstring.

        Rows already finished are not changed (the call is counted as a late call).
        """
        rows = self._rows(rows)
        points = torch.as_tensor(points, dtype=torch.float64).detach().cpu()
        if points.shape != (rows.numel(), self.dimension):
            raise ValueError(
                f"final points have shape {tuple(points.shape)}, expected "
                f"({rows.numel()}, {self.dimension})"
            )
        again = self.finished[rows]
        self.late_calls.index_add_(0, rows[again], torch.ones(int(again.sum()), dtype=torch.int64))
        unique = torch.ones(rows.numel(), dtype=torch.bool)
        seen: set[int] = set()
        for i, r in enumerate(rows.tolist()):  # a row given twice in one call: the first counts
            unique[i] = r not in seen
            seen.add(r)
        keep = ~again & unique
        rows, points = rows[keep], points[keep]
        ending = rows.clone()
        finite = torch.isfinite(points).all(dim=1)
        for r in rows[~finite].tolist():
            self._flag(r, "non-finite-final-point")
        rows, points = rows[finite], points[finite]
        evaluated = _same_bits(points, self.last_point[rows]) | _same_bits(
            points, self.best_point[rows]
        )
        chosen = points.clone()
        unevaluated = rows[~evaluated]
        if unevaluated.numel():
            payable = self._can_evaluate(unevaluated, "loss").cpu()
            pay_rows = unevaluated[payable]
            if pay_rows.numel():
                at = (~evaluated).nonzero().reshape(-1)[payable]
                self.loss(points[at].to(self.device), pay_rows)  # the final evaluation
            fallback = (~evaluated).nonzero().reshape(-1)[~payable]
            chosen[fallback] = self.best_point[rows[fallback]]
        has_point = torch.isfinite(chosen).all(dim=1)
        for r in rows[~has_point].tolist():
            self._flag(r, "final-point-not-evaluated")
        self.final_point[rows[has_point]] = chosen[has_point]
        self.finished[ending] = True

    def fail(self, rows, flag: str, message: str | None = None) -> None:
        """End these restarts without a point: `flag` says why, `message` the optimizer's words."""
        for r in self._rows(rows).tolist():
            if bool(self.finished[r]):
                continue
            self._flag(r, flag)
            if message and r not in self._row_errors:
                self._row_errors[r] = _truncate(message)
            self.finished[r] = True

    def flag(self, rows, flag: str, message: str | None = None) -> None:
        """Add `flag` to these rows whether or not they have ended (their points stay)."""
        for r in self._rows(rows).tolist():
            self._flag(r, flag)
            if message and r not in self._row_errors:
                self._row_errors[r] = _truncate(message)

    def flags(self, row: int) -> list[str]:
        """What went wrong with this row, in a fixed order (empty when nothing did)."""
        flags = list(self._row_flags.get(row, []))
        if not bool(self.finished[row]):
            flags.append("not-finished")
        if int(self.late_calls[row]):
            flags.append("late-calls")
        if int(self.refused_calls[row]):
            flags.append("over-budget-calls")
        return flags

    def error(self, row: int) -> str | None:
        return self._row_errors.get(row)

    # --- hooks of subclasses ------------------------------------------------------------------
    def _evaluate_loss(self, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self._evaluator.loss(theta)

    def _evaluate_loss_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        return self._evaluator.loss_and_grad(theta)

    def _affordable(self, rows: torch.Tensor, kind: str) -> torch.Tensor:
        """Mask (k,) of rows whose other resources pay for one more evaluation of this kind."""
        return torch.ones(rows.numel(), dtype=torch.bool)

    def _pay(self, counts: torch.Tensor, kind: str) -> None:
        """Spend other resources on counts[r] evaluations of row r, or raise BudgetExceededError
        having changed nothing."""

    # --- internals ----------------------------------------------------------------------------
    def _flag(self, row: int, flag: str) -> None:
        flags = self._row_flags.setdefault(row, [])
        if flag not in flags:
            flags.append(flag)

    def _counter(self, kind: str) -> torch.Tensor:
        return self.loss_evals if kind == "loss" else self.grad_evals

    def _rows(self, rows) -> torch.Tensor:
        if rows is None:
            return torch.arange(self.restarts)
        rows = torch.as_tensor(rows, dtype=torch.int64).reshape(-1).cpu()
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= self.restarts):
            raise IndexError(f"oracle rows must lie in 0 .. {self.restarts - 1}")
        return rows

    def _admit(self, rows: torch.Tensor, kind: str) -> None:
        """Charge one evaluation of `kind` to each row (counted with multiplicity), or refuse the
        whole call having charged nothing."""
        closed = self.finished[rows]
        if bool(closed.any()):
            late = torch.unique(rows[closed])
            self.late_calls[late] += 1
            raise RowClosedError(f"{late.numel()} restart(s) of this call have already ended")
        counts = torch.bincount(rows, minlength=self.restarts)
        over = ~can_pay(self.budget, self.dimension, self.loss_evals, self.grad_evals, kind, counts)
        if self.wall_grace is not None and self.budget.wall_seconds is not None:
            touched = torch.unique(rows)
            late = self.elapsed(touched) > self.budget.wall_seconds + self.wall_grace
            over[touched[late]] = True
        if bool(over.any()):
            self.refused_calls[over] += 1
            raise BudgetExceededError(f"{kind} budget exceeded for some rows")
        try:
            self._pay(counts, kind)
        except BudgetExceededError:
            self.refused_calls[counts > 0] += 1
            raise
        self._counter(kind).add_(counts)

    def _check(self, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        theta = torch.as_tensor(theta, dtype=torch.float64, device=self.device)
        if theta.shape != (rows.numel(), self.dimension):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}, expected ({rows.numel()}, {self.dimension})"
            )
        return theta.detach()


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Rows of a and b (k, p) that are equal bit for bit (so -0.0 differs from 0.0, NaN never
    matches, which is what 'the point the oracle evaluated' means)."""
    if a.numel() == 0:
        return torch.zeros(a.shape[0], dtype=torch.bool)
    same = (a.contiguous().view(torch.int64) == b.contiguous().view(torch.int64)).all(dim=1)
    return same & torch.isfinite(b).all(dim=1)


def _truncate(message: str) -> str:
    message = " ".join(str(message).split())
    if len(message) > MAX_ERROR_LENGTH:
        message = message[: MAX_ERROR_LENGTH - 1] + "…"
    return message


def evaluations(oracle: Oracle, row: int) -> int:
    """Loss plus gradient evaluations a row has made."""
    return int(oracle.loss_evals[row]) + int(oracle.grad_evals[row])
