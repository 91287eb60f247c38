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

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from qnntraps.oracles.budget import Budget, can_pay, spent_fraction
from qnntraps.simulators.evaluator import Evaluator

MAX_ERROR_LENGTH = 500  # characters of an optimizer's error message kept in a record


class BudgetExceededError(RuntimeError):
    """An optimizer evaluated a row whose budget is spent (a bug in that optimizer's adapter)."""


class RowClosedError(BudgetExceededError):
    """An optimizer evaluated a row whose restart has already ended."""


def update_best(
    best_value: np.ndarray,
    best_point: np.ndarray,
    last_point: np.ndarray,
    rows: np.ndarray,
    theta: np.ndarray,
    value: np.ndarray,
    unique: bool = False,
) -> None:
    """Record evaluated points (in place): each row's best (its first best point when a row is
    given several times; NaN counts as +inf) and its last point in call order.

    `unique` says that no row appears twice (the common case, taken without scatter reductions;
    both paths give the same result).
    """
    if rows.size == 1:  # one point: scalars (most calls of restart-by-restart optimizers)
        row, candidate = rows[0], float(value[0])
        if candidate != candidate:
            candidate = math.inf
        if candidate < best_value[row]:
            best_value[row] = candidate
            best_point[row] = theta[0]
        last_point[row] = theta[0]
        return
    candidate = np.where(np.isnan(value), np.inf, value)
    if unique:
        improved = candidate < best_value[rows]
        if improved.any():
            better = rows[improved]
            best_value[better] = candidate[improved]
            best_point[better] = theta[improved]
        last_point[rows] = theta
        return
    restarts = best_value.size
    lowest = np.full(restarts, np.inf)
    np.minimum.at(lowest, rows, candidate)
    position = np.arange(rows.size)
    at_lowest = candidate == lowest[rows]
    first = np.full(restarts, rows.size, dtype=np.int64)
    np.minimum.at(first, rows[at_lowest], position[at_lowest])
    improved = np.flatnonzero(lowest < best_value)
    best_value[improved] = lowest[improved]
    best_point[improved] = theta[first[improved]]
    last = np.full(restarts, -1, dtype=np.int64)
    np.maximum.at(last, rows, position)
    touched = np.flatnonzero(last >= 0)
    last_point[touched] = theta[last[touched]]


class Oracle:
    """Loss and gradient for a batch of R restarts of dimension p, counted per row.

    Subclasses that evaluate otherwise (the hardware track's ShotOracle) keep the counting,
    budgets, clocks, best points and finishing here and override the hooks `_evaluate_loss`,
    `_evaluate_loss_and_grad`, `_affordable` and `_pay`.

    The counters, best points and flags live in NumPy arrays that are updated in place; the
    public attributes (`loss_evals`, `best_point`, `finished`, ...) are CPU tensors sharing
    their memory, so reading them costs nothing and every call's bookkeeping is a few
    vectorized operations on the rows it touches.
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
        self._on_cpu = torch.device(device).type == "cpu"
        self._loss_evals = np.zeros(restarts, dtype=np.int64)
        self._grad_evals = np.zeros(restarts, dtype=np.int64)
        self._best_value = np.full(restarts, np.inf)
        self._best_point = np.full((restarts, dimension), np.nan)
        self._last_point = np.full((restarts, dimension), np.nan)
        self._final_point = np.full((restarts, dimension), np.nan)
        self._finished = np.zeros(restarts, dtype=bool)
        self._late_calls = np.zeros(restarts, dtype=np.int64)
        self._refused_calls = np.zeros(restarts, dtype=np.int64)
        self.loss_evals = torch.from_numpy(self._loss_evals)
        self.grad_evals = torch.from_numpy(self._grad_evals)
        self.best_value = torch.from_numpy(self._best_value)
        self.best_point = torch.from_numpy(self._best_point)
        self.last_point = torch.from_numpy(self._last_point)
        self.final_point = torch.from_numpy(self._final_point)
        self.finished = torch.from_numpy(self._finished)
        self.late_calls = torch.from_numpy(self._late_calls)
        self.refused_calls = torch.from_numpy(self._refused_calls)
        self._all_rows = np.arange(restarts, dtype=np.int64)
        self._row_flags: dict[int, list[str]] = {}
        self._row_errors: dict[int, str] = {}
        self._clock = np.full(restarts, np.nan)
        self._stopped_by_wall = np.zeros(restarts, dtype=bool)
        # Set by sealed execution: refuse evaluations more than this many seconds past the wall
        # budget (an untrusted worker's own clock is not trusted). None: adapters are trusted.
        self.wall_grace: float | None = None
        # Set by the harness: called with this oracle after evaluations (progress bars); it
        # reads `progress()` and must not evaluate.
        self.observer: Callable[[Oracle], None] | None = None

    # --- budget -------------------------------------------------------------------------------
    def start_clock(self, rows=None) -> None:
        """Start the wall clock of these rows (all when None). Rows that have evaluated keep
        their clock, so a clock cannot be restarted to win more time."""
        rows = self._rows(rows)
        fresh = rows[(self._loss_evals[rows] + self._grad_evals[rows]) == 0]
        self._clock[fresh] = time.perf_counter()

    def elapsed(self, rows=None) -> torch.Tensor:
        return torch.from_numpy(self._elapsed(self._rows(rows)))

    def _elapsed(self, rows: np.ndarray) -> np.ndarray:
        return time.perf_counter() - self._clock[rows]

    def _within_wall(self, rows: np.ndarray) -> np.ndarray:
        if self.budget.wall_seconds is None:
            return np.ones(rows.size, dtype=bool)
        inside = self._elapsed(rows) < self.budget.wall_seconds
        self._stopped_by_wall[rows[~inside]] = True
        return inside

    def can_evaluate_loss(self, rows=None) -> torch.Tensor:
        """Mask (k,) of rows that may make one more loss-only evaluation."""
        return self._can_evaluate(self._rows(rows), "loss")

    def can_evaluate_grad(self, rows=None) -> torch.Tensor:
        """Mask (k,) of rows that may make one more loss-and-gradient evaluation."""
        return self._can_evaluate(self._rows(rows), "gradient")

    def _can_evaluate(self, rows: np.ndarray, kind: str) -> torch.Tensor:
        ok = self._payable(rows, kind)
        mask = torch.from_numpy(ok)
        return mask if self._on_cpu else mask.to(self.device)

    def _payable(self, rows: np.ndarray, kind: str) -> np.ndarray:
        counts = can_pay(
            self.budget, self.dimension, self._loss_evals[rows], self._grad_evals[rows], kind
        )
        return (
            self._within_wall(rows) & self._affordable(rows, kind) & ~self._finished[rows] & counts
        )

    @property
    def stopped_by_wall(self) -> torch.Tensor:
        return torch.from_numpy(self._stopped_by_wall.copy())

    # --- evaluation ---------------------------------------------------------------------------
    def loss(self, theta: torch.Tensor, rows=None) -> torch.Tensor:
        """Loss (k,) at theta (k, p) for rows (k,) (all rows when None). Counts one each.

        A row may appear several times (several points of one restart in one call).
        """
        rows = self._rows(rows)
        theta = self._check(theta, rows)
        unique = self._admit(rows, "loss")
        value = self._evaluate_loss(theta, torch.from_numpy(rows))
        self._record(rows, theta, value, unique)
        return value

    def loss_and_grad(self, theta: torch.Tensor, rows=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (k,) and gradient (k, p) at theta (k, p). Counts one gradient evaluation each."""
        rows = self._rows(rows)
        theta = self._check(theta, rows)
        unique = self._admit(rows, "gradient")
        value, grad = self._evaluate_loss_and_grad(theta, torch.from_numpy(rows))
        self._record(rows, theta, value, unique)
        return value, grad

    def _record(self, rows: np.ndarray, theta: torch.Tensor, value: torch.Tensor, unique: bool):
        update_best(
            self._best_value,
            self._best_point,
            self._last_point,
            rows,
            theta.detach().cpu().numpy(),
            value.detach().cpu().numpy(),
            unique,
        )
        if self.observer is not None:
            self.observer(self)

    def progress(self) -> float:
        """Restarts' worth of work done: a finished row counts 1, another the largest fraction
        of any of its budget's limits it has spent (`budget.spent_fraction`)."""
        elapsed = time.perf_counter() - self._clock
        spent = spent_fraction(
            self.budget, self.dimension, self._loss_evals, self._grad_evals, elapsed
        )
        return float(np.sum(np.where(self._finished, 1.0, spent)))

    # --- the end of a restart -----------------------------------------------------------------
    def finish(self, rows, points) -> None:
        """End these restarts at their recommended points (k, p); see the module docstring.

        Rows already finished are not changed (the call is counted as a late call).
        """
        rows = self._rows(rows)
        points = torch.as_tensor(points, dtype=torch.float64).detach().cpu().numpy()
        if points.shape != (rows.size, self.dimension):
            raise ValueError(
                f"final points have shape {tuple(points.shape)}, expected "
                f"({rows.size}, {self.dimension})"
            )
        again = self._finished[rows]
        np.add.at(self._late_calls, rows[again], 1)
        unique = np.zeros(rows.size, dtype=bool)  # a row given twice in one call: the first counts
        unique[np.unique(rows, return_index=True)[1]] = True
        keep = ~again & unique
        rows, points = rows[keep], points[keep]
        ending = rows.copy()
        finite = np.isfinite(points).all(axis=1)
        for r in rows[~finite].tolist():
            self._flag(r, "non-finite-final-point")
        rows, points = rows[finite], points[finite]
        evaluated = _same_bits(points, self._last_point[rows]) | _same_bits(
            points, self._best_point[rows]
        )
        chosen = points.copy()
        unevaluated = rows[~evaluated]
        if unevaluated.size:
            payable = self._payable(unevaluated, "loss")
            pay_rows = unevaluated[payable]
            at = np.flatnonzero(~evaluated)
            if pay_rows.size:
                theta = torch.from_numpy(np.ascontiguousarray(points[at[payable]]))
                self.loss(theta.to(self.device), pay_rows)  # the final evaluation
            fallback = at[~payable]
            chosen[fallback] = self._best_point[rows[fallback]]
        has_point = np.isfinite(chosen).all(axis=1)
        for r in rows[~has_point].tolist():
            self._flag(r, "final-point-not-evaluated")
        self._final_point[rows[has_point]] = chosen[has_point]
        self._finished[ending] = True

    def fail(self, rows, flag: str, message: str | None = None) -> None:
        """End these restarts without a point: `flag` says why, `message` the optimizer's words."""
        for r in self._rows(rows).tolist():
            if self._finished[r]:
                continue
            self._flag(r, flag)
            if message and r not in self._row_errors:
                self._row_errors[r] = _truncate(message)
            self._finished[r] = True

    def flag(self, rows, flag: str, message: str | None = None) -> None:
        """Add `flag` to these rows whether or not they have ended (their points stay)."""
        for r in self._rows(rows).tolist():
            self._flag(r, flag)
            if message and r not in self._row_errors:
                self._row_errors[r] = _truncate(message)

    def flags(self, row: int) -> list[str]:
        """What went wrong with this row, in a fixed order (empty when nothing did)."""
        flags = list(self._row_flags.get(row, []))
        if not self._finished[row]:
            flags.append("not-finished")
        if self._late_calls[row]:
            flags.append("late-calls")
        if self._refused_calls[row]:
            flags.append("over-budget-calls")
        return flags

    def error(self, row: int) -> str | None:
        return self._row_errors.get(row)

    # --- hooks of subclasses ------------------------------------------------------------------
    def _evaluate_loss(self, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return self._evaluator.loss(theta)

    def _evaluate_loss_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        return self._evaluator.loss_and_grad(theta)

    def _affordable(self, rows: np.ndarray, kind: str) -> np.ndarray | bool:
        """Mask (k,) of rows whose other resources pay for one more evaluation of this kind
        (True: all of them)."""
        return True

    def _pay(self, counts: np.ndarray, kind: str) -> None:
        """Spend other resources on counts[r] evaluations of row r, or raise BudgetExceededError
        having changed nothing."""

    # --- internals ----------------------------------------------------------------------------
    def _flag(self, row: int, flag: str) -> None:
        flags = self._row_flags.setdefault(row, [])
        if flag not in flags:
            flags.append(flag)

    def _counter(self, kind: str) -> np.ndarray:
        return self._loss_evals if kind == "loss" else self._grad_evals

    def _rows(self, rows) -> np.ndarray:
        """Rows as an int64 NumPy array, checked to lie in 0 .. R-1 (all rows when None)."""
        if rows is None:
            return self._all_rows
        if isinstance(rows, torch.Tensor):
            rows = rows.detach().cpu().numpy()
        rows = np.asarray(rows).reshape(-1)
        if rows.dtype != np.int64:
            rows = rows.astype(np.int64)
        if rows.size == 1:
            outside = not 0 <= int(rows[0]) < self.restarts
        else:
            outside = rows.size > 0 and (rows.min() < 0 or rows.max() >= self.restarts)
        if outside:
            raise IndexError(f"oracle rows must lie in 0 .. {self.restarts - 1}")
        return rows

    def _admit(self, rows: np.ndarray, kind: str) -> bool:
        """Charge one evaluation of `kind` to each row (counted with multiplicity), or refuse the
        whole call having charged nothing. Returns whether every row appears once."""
        closed = self._finished[rows]
        if closed.any():
            late = np.unique(rows[closed])
            self._late_calls[late] += 1
            raise RowClosedError(f"{late.size} restart(s) of this call have already ended")
        counts = np.bincount(rows, minlength=self.restarts)
        over = ~can_pay(
            self.budget, self.dimension, self._loss_evals, self._grad_evals, kind, counts
        )
        if self.wall_grace is not None and self.budget.wall_seconds is not None:
            touched = np.unique(rows)
            late = self._elapsed(touched) > self.budget.wall_seconds + self.wall_grace
            over[touched[late]] = True
        if over.any():
            self._refused_calls[over] += 1
            raise BudgetExceededError(f"{kind} budget exceeded for some rows")
        try:
            self._pay(counts, kind)
        except BudgetExceededError:
            self._refused_calls[counts > 0] += 1
            raise
        self._counter(kind)[:] += counts
        return rows.size <= 1 or int(counts.max()) <= 1

    def _check(self, theta: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        theta = torch.as_tensor(theta, dtype=torch.float64, device=self.device)
        if theta.shape != (rows.size, self.dimension):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}, expected ({rows.size}, {self.dimension})"
            )
        return theta.detach()


def _same_bits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of a and b (k, p) that are equal bit for bit (so -0.0 differs from 0.0, NaN never
    matches, which is what 'the point the oracle evaluated' means)."""
    if a.size == 0:
        return np.zeros(a.shape[0], dtype=bool)
    same = (np.ascontiguousarray(a).view(np.int64) == np.ascontiguousarray(b).view(np.int64)).all(
        axis=1
    )
    return same & np.isfinite(b).all(axis=1)


def _truncate(message: str) -> str:
    message = " ".join(str(message).split())
    if len(message) > MAX_ERROR_LENGTH:
        message = message[: MAX_ERROR_LENGTH - 1] + "…"
    return message


def evaluations(oracle: Oracle, row: int) -> int:
    """Loss plus gradient evaluations a row has made."""
    return int(oracle.loss_evals[row]) + int(oracle.grad_evals[row])
