"""Budgets: what one restart may spend, counted by the oracle (DESIGN.md §7)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from qnntraps.errors import QnnTrapsError


class BudgetSpecError(QnnTrapsError, ValueError):
    """A budget given on the command line or in a file is malformed."""


@dataclass(frozen=True)
class Budget:
    """Per-restart limits; None means unlimited. At least one of the three must be set.

    loss_evals counts loss-only evaluations, grad_evals counts loss-and-gradient evaluations
    (one batched call for one restart counts one), wall_seconds limits the wall-clock time of one
    restart (a batch of restarts evaluated together shares one clock; see docs/scoring.md).
    """

    loss_evals: int | None = None
    grad_evals: int | None = None
    wall_seconds: float | None = None

    def __post_init__(self):
        if self.loss_evals is None and self.grad_evals is None and self.wall_seconds is None:
            raise BudgetSpecError("a budget needs at least one of loss=, grad=, wall=")
        for name in ("loss_evals", "grad_evals"):
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
        return asdict(self)

    def describe(self) -> str:
        parts = [
            f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
            for key, value in (
                ("loss", self.loss_evals),
                ("grad", self.grad_evals),
                ("wall", self.wall_seconds),
            )
            if value is not None
        ]
        return ",".join(parts)


def parse_budget(text: str) -> Budget:
    """Parse 'loss=20000,grad=2000,wall=60' (any subset, any order)."""
    fields = {"loss": "loss_evals", "grad": "grad_evals", "wall": "wall_seconds"}
    values: dict[str, int | float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, raw = item.partition("=")
        if not sep or key.strip() not in fields:
            raise BudgetSpecError(
                f"cannot read budget item {item!r}: use loss=N, grad=N and/or wall=SECONDS, "
                "separated by commas"
            )
        name = fields[key.strip()]
        if name in values:
            raise BudgetSpecError(f"budget item {key.strip()!r} is given twice")
        try:
            values[name] = float(raw) if name == "wall_seconds" else int(raw)
        except ValueError:
            raise BudgetSpecError(f"budget {key.strip()}={raw!r} is not a number") from None
    return Budget(**values)
