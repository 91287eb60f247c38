"""Budgets: what one restart may spend, counted by the oracle (DESIGN.md §7)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from qnntraps.errors import QnnTrapsError


class BudgetSpecError(QnnTrapsError, ValueError):
    """A budget given on the command line or in a file is malformed."""


@dataclass(frozen=True)
class Budget:
    """Per-restart limits; None means unlimited. At least one of the four must be set.

    loss_evals counts loss-only evaluations, grad_evals counts loss-and-gradient evaluations
    (one batched call for one restart counts one), wall_seconds limits the wall-clock time of one
    restart (a batch of restarts evaluated together shares one clock; see docs/scoring.md).
    shots counts measurement shots, summed over every circuit a restart runs: only the hardware
    track spends shots, and it needs this limit (docs/hardware.md).
    """

    loss_evals: int | None = None
    grad_evals: int | None = None
    wall_seconds: float | None = None
    shots: int | None = None

    def __post_init__(self):
        if (
            self.loss_evals is None
            and self.grad_evals is None
            and self.wall_seconds is None
            and self.shots is None
        ):
            raise BudgetSpecError("a budget needs at least one of loss=, grad=, wall=, shots=")
        for name in ("loss_evals", "grad_evals", "shots"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise BudgetSpecError(
                    f"budget {name} must be a non-negative integer, not {value!r}"
                )
        if self.wall_seconds is not None and not (
            math.isfinite(self.wall_seconds) and self.wall_seconds > 0
        ):
            raise BudgetSpecError(
                f"budget wall must be positive seconds, not {self.wall_seconds!r}"
            )

    def as_dict(self) -> dict:
        """The limits by name; `shots` only when set, so that budgets without shots (every
        exact- and GPU-track run) keep the form their config.json files were written with."""
        values = asdict(self)
        if values["shots"] is None:
            del values["shots"]
        return values

    def describe(self) -> str:
        parts = [
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in (
                ("loss", self.loss_evals),
                ("grad", self.grad_evals),
                ("wall", self.wall_seconds),
                ("shots", self.shots),
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
    """Parse 'loss=20000,grad=2000,wall=60,shots=1000000' (any subset, any order)."""
    fields = {"loss": "loss_evals", "grad": "grad_evals", "wall": "wall_seconds", "shots": "shots"}
    values: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key.strip() not in fields:
            raise BudgetSpecError(
                f"cannot read budget item {item!r}: use loss=N, grad=N, wall=SECONDS and/or "
                "shots=N, separated by commas"
            )
        name = fields[key.strip()]
        if name in values:
            raise BudgetSpecError(f"budget item {key.strip()!r} is given twice")
        try:
            values[name] = float(raw) if name == "wall_seconds" else int(raw)
        except ValueError:
            raise BudgetSpecError(f"budget {key.strip()}={raw!r} is not a number") from None
    return Budget(**values)
