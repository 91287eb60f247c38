"""One restart's record: the shape every run, bench, archive and submission stores.

A record (one line of restarts.jsonl, format qnntraps-run/3 or /4: the same records) uses
scipy's names for what `scipy.optimize.OptimizeResult` would say about the restart, plus the
scoring fields, so that an archive can be re-scored with nothing but the instance and these
numbers:

    restart           index of the restart (its start and seed depend only on it and the instance)
    x                 the point the restart is scored at (one its oracle evaluated), or null
    fun               the exact CPU loss at x, or null when x is missing or not finite
    nfev              loss evaluations the oracle counted
    njev              gradient evaluations the oracle counted
    nshots            measurement shots spent (hardware track; 0 on the exact and gpu tracks)
    start_fun         the exact loss at the restart's start point
    gap               fun - L*, or null
    hit               gap <= the hit tolerance, no flag, and more than one evaluation
    equivalent_evals  nfev + 2 p njev
    stopped_by_wall   whether the wall-clock budget ended it
    wall_seconds      the chunk's wall time divided by its restarts (the only field that is not
                      reproducible; comparisons leave it out)
    flags, error      why a restart cannot be a hit (docs/scoring.md), and the optimizer's message

Records written by qnntraps-run/1 and /2 (``final_point``, ``final_loss``, ``loss_evals``,
``grad_evals``, ``shots``, ``start_loss``) are read under the new names. `RestartRecord` is the
typed view; the harness keeps records as plain dicts of this shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

OLD_NAMES = {
    "final_point": "x",
    "final_loss": "fun",
    "loss_evals": "nfev",
    "grad_evals": "njev",
    "shots": "nshots",
    "start_loss": "start_fun",
}
REPRODUCIBLE = (
    "restart",
    "x",
    "fun",
    "nfev",
    "njev",
    "nshots",
    "start_fun",
    "gap",
    "hit",
    "equivalent_evals",
    "stopped_by_wall",
    "flags",
    "error",
)  # fmt: skip  every field but wall_seconds and the hardware track's annotations


@dataclass(frozen=True)
class RestartRecord:
    restart: int
    x: tuple[float, ...] | None
    fun: float | None
    nfev: int
    njev: int
    nshots: int
    start_fun: float
    gap: float | None
    hit: bool
    equivalent_evals: float
    stopped_by_wall: bool
    wall_seconds: float | None
    flags: tuple[str, ...]
    error: str | None

    @classmethod
    def from_dict(cls, record: dict) -> RestartRecord:
        """The typed view of a record checked by `record_problem` (or `normalize`d)."""
        point = record.get("x")
        return cls(
            restart=record["restart"],
            x=None if point is None else tuple(float(v) for v in point),
            fun=record["fun"],
            nfev=record["nfev"],
            njev=record["njev"],
            nshots=record.get("nshots", 0),
            start_fun=record["start_fun"],
            gap=record["gap"],
            hit=record["hit"],
            equivalent_evals=record["equivalent_evals"],
            stopped_by_wall=record["stopped_by_wall"],
            wall_seconds=record.get("wall_seconds"),
            flags=tuple(record.get("flags") or ()),
            error=record.get("error"),
        )

    def as_dict(self) -> dict:
        return {
            "restart": self.restart,
            "x": None if self.x is None else list(self.x),
            "fun": self.fun,
            "nfev": self.nfev,
            "njev": self.njev,
            "nshots": self.nshots,
            "start_fun": self.start_fun,
            "gap": self.gap,
            "hit": self.hit,
            "equivalent_evals": self.equivalent_evals,
            "stopped_by_wall": self.stopped_by_wall,
            "wall_seconds": self.wall_seconds,
            "flags": list(self.flags),
            "error": self.error,
        }


def normalize(record: dict) -> dict:
    """A record under the current names (old names renamed; flags, error and nshots defaulted)."""
    if not isinstance(record, dict):
        return record
    if OLD_NAMES.keys().isdisjoint(record):  # every record written since the rename
        renamed = dict(record)
    else:
        renamed = {OLD_NAMES.get(key, key): value for key, value in record.items()}
    renamed.setdefault("flags", [])
    renamed.setdefault("error", None)
    renamed.setdefault("nshots", 0)
    return renamed


def reproducible_part(record: dict) -> dict:
    """The fields of a record that a re-run must reproduce bit for bit."""
    return {key: record.get(key) for key in REPRODUCIBLE}


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    kind = type(value)  # the two exact types JSON gives first: this runs per coordinate
    if kind is float:
        return math.isfinite(value)
    if kind is int:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def are_numbers(values: list) -> bool:
    """is_number of every element (a final point's coordinates), in one pass when all are floats."""
    if all(type(v) is float for v in values):
        return all(map(math.isfinite, values))
    return all(is_number(v) for v in values)


def record_problem(record) -> str | None:
    """What is wrong with a (normalized) record, or None when it is well formed."""
    if not isinstance(record, dict):
        return "not a JSON object"
    restart = record.get("restart")
    if not (is_int(restart) and restart >= 0):
        return "restart is not a whole number >= 0"
    if not is_number(record.get("start_fun")):
        return "start_fun is not a finite number"
    for key in ("fun", "gap"):
        if key not in record or not (record[key] is None or is_number(record[key])):
            return f"{key} is not a finite number or null"
    for key in ("nfev", "njev", "nshots"):
        if not (is_int(record.get(key)) and record[key] >= 0):
            return f"{key} is not a whole number >= 0"
    equivalent = record.get("equivalent_evals")
    if not (is_number(equivalent) and equivalent >= 0):
        return "equivalent_evals is not a number >= 0"
    for key in ("hit", "stopped_by_wall"):
        if not isinstance(record.get(key), bool):
            return f"{key} is not true or false"
    flags = record.get("flags")
    if not (isinstance(flags, list) and all(isinstance(flag, str) for flag in flags)):
        return "flags is not a list of strings"
    error = record.get("error")
    if not (error is None or isinstance(error, str)):
        return "error is not a string or null"
    point = record.get("x")
    if not (point is None or (isinstance(point, list) and are_numbers(point))):
        return "x is not a list of finite numbers or null"
    if "wall_seconds" in record and not is_number(record["wall_seconds"]):
        return "wall_seconds is not a finite number"
    if record["hit"] and (flags or record["fun"] is None):
        return "a restart with a flag or without a final loss is marked as a hit"
    return None
