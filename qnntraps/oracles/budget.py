"""Budgets: what one restart may spend, counted by the oracle.

Limits are per restart and bounded (MAX_EVALUATIONS, MAX_SHOTS, MAX_WALL_SECONDS) so that every
counter fits a 64-bit integer and every budget a person can type is refused at once, with a reason,
rather than deep inside a run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from qnntraps.errors import QnnTrapsError

MAX_EVALUATIONS = 10**9  # loss or gradient evaluations of one restart
MAX_SHOTS = 10**15  # measurement shots of one restart
MAX_EQUIVALENT_EVALUATIONS = 10**12  # loss + 2p * grad of one restart
MAX_WALL_SECONDS = 10.0**6  # about 11.6 days for one restart


class BudgetSpecError(QnnTrapsError, ValueError):
    """A budget given on the command line or in a file is malformed."""


@dataclass(frozen=True)
class Budget:
    """Per-restart limits; None means unlimited. At least one of the five must be set.

    loss_evals counts loss-only evaluations, grad_evals counts loss-and-gradient evaluations
    (one batched call for one restart counts one), wall_seconds limits the wall-clock time of one
    restart (a batch of restarts evaluated together shares one clock; see docs/scoring.md).
    shots counts measurement shots, summed over every circuit a restart runs: only the hardware
    track spends shots, and it needs this limit (docs/hardware.md). evals limits the
    *equivalent* evaluations, loss_evals + 2p * grad_evals (`equivalent_evaluations`): the one
    unit in which gradient-based and gradient-free methods get the same budget (suites use it).
    """

    loss_evals: int | None = None
    grad_evals: int | None = None
    wall_seconds: float | None = None
    shots: int | None = None
    evals: int | None = None

    def __post_init__(self):
        if (
            self.loss_evals is None
            and self.grad_evals is None
            and self.wall_seconds is None
            and self.shots is None
            and self.evals is None
        ):
            raise BudgetSpecError(
                "a budget needs at least one of loss=, grad=, evals=, wall=, shots="
            )
        for name, limit in (
            ("loss_evals", MAX_EVALUATIONS),
            ("grad_evals", MAX_EVALUATIONS),
            ("shots", MAX_SHOTS),
            ("evals", MAX_EQUIVALENT_EVALUATIONS),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
                shown = {"loss_evals": "loss", "grad_evals": "grad"}.get(name, name)
                raise BudgetSpecError(
                    f"budget {shown}= must be an integer from 0 to {limit:.0e} per restart, "
                    f"not {value!r}"
                )
        wall = self.wall_seconds
        if wall is not None and (
            isinstance(wall, bool)
            or not isinstance(wall, int | float)
            or not (math.isfinite(wall) and 0 < wall <= MAX_WALL_SECONDS)
        ):
            raise BudgetSpecError(
                f"budget wall must be seconds in (0, {MAX_WALL_SECONDS:.0e}] per restart, "
                f"not {wall!r}"
            )

    def as_dict(self) -> dict:
        """The limits by name; `shots` and `evals` only when set, so that budgets without them
        keep the form their config.json files were written with before those limits existed."""
        values = asdict(self)
        for optional in ("shots", "evals"):
            if values[optional] is None:
                del values[optional]
        return values

    def describe(self) -> str:
        parts = [
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in (
                ("loss", self.loss_evals),
                ("grad", self.grad_evals),
                ("wall", self.wall_seconds),
                ("shots", self.shots),
                ("evals", self.evals),
            )
            if value is not None
        ]
        return ",".join(parts)


def require_shots(budget: Budget) -> None:
    """The hardware track's budget must limit shots (BudgetSpecError otherwise)."""
    if budget.shots is None:
        raise BudgetSpecError(
            "the hardware track counts shots: give a budget with shots=N (e.g. --budget "
            "shots=2000000), optionally with loss=, grad= and wall=; the optimizers' default "
            "budgets have no shots"
        )


def parse_budget(text: str) -> Budget:
    """Parse 'loss=20000,grad=2000,evals=40000,wall=60,shots=1000000' (any subset, any order)."""
    fields = {
        "loss": "loss_evals",
        "grad": "grad_evals",
        "evals": "evals",
        "wall": "wall_seconds",
        "shots": "shots",
    }
    values: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key.strip() not in fields:
            raise BudgetSpecError(
                f"cannot read budget item {item!r}: use loss=N, grad=N, evals=N, wall=SECONDS "
                "and/or shots=N, separated by commas"
            )
        name = fields[key.strip()]
        if name in values:
            raise BudgetSpecError(f"budget item {key.strip()!r} is given twice")
        values[name] = _number(key.strip(), raw.strip(), integer=name != "wall_seconds")
    return Budget(**values)


def _number(key: str, raw: str, integer: bool) -> int | float:
    """An integer ('4000', '4_000', '4e3' when whole) or, for wall, a positive float."""
    try:
        value = float(raw)
    except ValueError:
        raise BudgetSpecError(f"budget {key}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise BudgetSpecError(f"budget {key}={raw!r} is not a finite number")
    if not integer:
        return value
    try:
        return int(raw)
    except ValueError:
        if value != int(value):
            raise BudgetSpecError(f"budget {key}={raw!r} is not a whole number") from None
        return int(value)


def equivalent_evaluations(dimension: int, loss_evals, grad_evals):
    """loss_evals + 2p * grad_evals: a parameter-shift gradient costs 2p circuit evaluations."""
    return loss_evals + 2 * dimension * grad_evals


def spent_fraction(budget: Budget, dimension: int, loss_evals, grad_evals, elapsed=None):
    """Per row (NumPy arrays), the largest fraction of any count or wall limit spent, in [0, 1]:
    how far a restart has come through its budget, for progress bars (shots: the hardware
    track caps loss= and grad= at what its shots pay for, so the counts stand for them)."""
    fraction = np.zeros(np.shape(loss_evals))
    limits = [
        (budget.loss_evals, loss_evals),
        (budget.grad_evals, grad_evals),
        (budget.evals, equivalent_evaluations(dimension, loss_evals, grad_evals)),
    ]
    if elapsed is not None:
        limits.append((budget.wall_seconds, np.nan_to_num(elapsed, nan=0.0)))
    for limit, used in limits:
        if limit is not None and limit > 0:
            fraction = np.maximum(fraction, np.asarray(used, dtype=np.float64) / limit)
    return np.clip(fraction, 0.0, 1.0)


def affordable(budget: Budget, dimension: int, loss_evals, grad_evals, loss=0, grad=0):
    """Mask of rows (counters as tensors or arrays) whose count limits — loss=, grad= and
    evals= — pay for `loss` more loss evaluations and `grad` more gradient evaluations. The wall
    clock and shots are the oracle's to check."""
    ok = loss_evals >= 0
    if budget.loss_evals is not None:
        ok = ok & (loss_evals + loss <= budget.loss_evals)
    if budget.grad_evals is not None:
        ok = ok & (grad_evals + grad <= budget.grad_evals)
    if budget.evals is not None:
        spent = equivalent_evaluations(dimension, loss_evals + loss, grad_evals + grad)
        ok = ok & (spent <= budget.evals)
    return ok


def can_pay(budget: Budget, dimension: int, loss_evals, grad_evals, kind: str, count=1):
    """`affordable` for `count` (a number or a per-row array) more evaluations of one kind,
    "loss" or "gradient": the form the oracle and its sealed mirror ask it in."""
    asked = {"loss": count} if kind == "loss" else {"grad": count}
    return affordable(budget, dimension, loss_evals, grad_evals, **asked)


def remaining_loss_evaluations(budget: Budget, dimension: int, loss_evals: int, grad_evals: int):
    """How many more loss evaluations the count limits allow one restart (None: unlimited)."""
    left = []
    if budget.loss_evals is not None:
        left.append(budget.loss_evals - loss_evals)
    if budget.evals is not None:
        left.append(budget.evals - equivalent_evaluations(dimension, loss_evals, grad_evals))
    return max(0, min(left)) if left else None
