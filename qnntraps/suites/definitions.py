"""Suite definitions: frozen data like instances, one JSON file per suite ID under data/.

A suite names its track, its instances with the restarts and the per-restart budget of each, the
budget range of its score, and its held-out rule. Content never changes under an ID: data/pins.json
pins every file's sha256, and a file that does not match its pin is refused (a changed suite is a
new ID, say quick-v2). Every file is validated as a whole before use: types, known instances,
unique entries, budgets through `Budget`, the track's requirements (shots on the hardware track).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from qnntraps.errors import QnnTrapsError
from qnntraps.ids import parse_instance_id
from qnntraps.oracles.budget import Budget, BudgetSpecError, require_shots
from qnntraps.registry import find_entry

SUITE_FORMAT = "qnntraps-suite"
SUITE_VERSION = 1
TRACKS = ("exact", "gpu", "hardware")
DATA = Path(__file__).resolve().parent / "data"
PINS = "pins.json"
_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*-v[1-9][0-9]*$")
_FIELDS = {"format", "version", "id", "track", "description", "score", "held_out", "entries"}
_BUDGET_KEYS = {"loss": "loss_evals", "grad": "grad_evals", "evals": "evals", "shots": "shots"}


class SuiteError(QnnTrapsError):
    """An unknown suite ID, or a suite file that is malformed or does not match its pin."""


@dataclass(frozen=True)
class SuiteEntry:
    """One instance of a suite: how many seeded restarts, and what each restart may spend."""

    instance: str
    restarts: int
    budget: Budget


@dataclass(frozen=True)
class HeldOutRule:
    """What verification runs besides the public instances: for every public entry whose family
    is in `families` and whose p is in `p`, a fresh instance of the same family, variant and p,
    generated in memory at verification time from a seed chosen then, run `restarts` times with
    the entry's budget (`held_out_entries`). No families: the suite is for development and is
    not ranked."""

    description: str
    families: tuple[str, ...] = ()
    p: tuple[int, ...] = ()
    restarts: int = 0


@dataclass(frozen=True)
class Suite:
    id: str
    track: str
    description: str
    budget_range: tuple[float, float]  # total equivalent evaluations, the score's axis
    held_out: HeldOutRule
    entries: tuple[SuiteEntry, ...]
    sha256: str

    @property
    def ranked(self) -> bool:
        return bool(self.held_out.families)

    @property
    def restarts(self) -> int:
        return sum(entry.restarts for entry in self.entries)


def held_out_entries(suite: Suite) -> tuple[SuiteEntry, ...]:
    """The public entries that verification mirrors with fresh instances, with the held-out
    restart count."""
    rule = suite.held_out
    chosen = []
    for entry in suite.entries:
        parsed = parse_instance_id(entry.instance)
        if parsed.family in rule.families and parsed.p in rule.p:
            chosen.append(SuiteEntry(entry.instance, rule.restarts, entry.budget))
    return tuple(chosen)


def suite_ids() -> list[str]:
    """Every pinned suite ID, in order."""
    return sorted(_pins())


def load_suite(suite_id: str) -> Suite:
    """The suite `suite_id`, checked against its pin and validated (SuiteError otherwise)."""
    pins = _pins()
    if suite_id not in pins:
        known = ", ".join(sorted(pins))
        raise SuiteError(f"unknown suite {suite_id!r}; the suites are {known}")
    path = DATA / f"{suite_id}.json"
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SuiteError(f"cannot read {path}: {error.strerror}; reinstall qnntraps") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != pins[suite_id]:
        raise SuiteError(
            f"{path} does not match its pinned sha256 (a suite never changes under its ID); "
            "restore the file, or give the changed suite a new ID"
        )
    return parse_suite(data, str(path), digest)


def parse_suite(data: bytes, name: str, sha256: str = "") -> Suite:
    """Validate the bytes of a suite file as a whole; SuiteError names the first problem."""

    def fail(problem: str) -> SuiteError:
        return SuiteError(f"{name}: {problem}")

    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_refuse)
    except (UnicodeDecodeError, ValueError) as error:
        raise fail(f"not a JSON suite file ({error})") from None
    if not isinstance(document, dict) or set(document) != _FIELDS:
        raise fail(f"a suite file is a JSON object with exactly the fields {sorted(_FIELDS)}")
    if (document["format"], document["version"]) != (SUITE_FORMAT, SUITE_VERSION):
        raise fail(f"not a version-{SUITE_VERSION} {SUITE_FORMAT} file")
    suite_id, track = document["id"], document["track"]
    if not isinstance(suite_id, str) or not _ID.match(suite_id):
        raise fail(f"id {suite_id!r} is not of the form name-vN")
    if track not in TRACKS:
        raise fail(f"track {track!r} is not one of {', '.join(TRACKS)}")
    if not isinstance(document["description"], str) or not document["description"]:
        raise fail("description must be a non-empty string")
    budget_range = _budget_range(document["score"], fail)
    held_out = _held_out(document["held_out"], fail)
    entries = document["entries"]
    if not isinstance(entries, list) or not entries:
        raise fail("entries must be a non-empty list")
    parsed = tuple(_entry(row, k, track, fail) for k, row in enumerate(entries))
    seen = [entry.instance for entry in parsed]
    if len(set(seen)) != len(seen):
        raise fail("an instance is listed twice")
    suite = Suite(suite_id, track, document["description"], budget_range, held_out, parsed, sha256)
    if held_out.families and not held_out_entries(suite):
        raise fail("held_out names no family and p of any entry: nothing would be held out")
    return suite


def _entry(row, index: int, track: str, fail) -> SuiteEntry:
    where = f"entries[{index}]"
    if not isinstance(row, dict) or set(row) != {"instance", "restarts", "budget"}:
        raise fail(f"{where} must be an object with instance, restarts and budget")
    instance, restarts, budget = row["instance"], row["restarts"], row["budget"]
    try:
        find_entry(instance)
    except QnnTrapsError as error:
        raise fail(f"{where}: {error}") from None
    if isinstance(restarts, bool) or not isinstance(restarts, int) or not 1 <= restarts <= 10**7:
        raise fail(f"{where}: restarts must be a whole number from 1 to 1e7")
    if not isinstance(budget, dict) or not budget or set(budget) - set(_BUDGET_KEYS):
        raise fail(f"{where}: budget must be an object of {', '.join(_BUDGET_KEYS)}")
    try:
        limits = Budget(**{_BUDGET_KEYS[key]: value for key, value in budget.items()})
        if track == "hardware":
            require_shots(limits)
    except BudgetSpecError as error:
        raise fail(f"{where}: {error}") from None
    return SuiteEntry(instance, restarts, limits)


def _budget_range(score, fail) -> tuple[float, float]:
    if not isinstance(score, dict) or set(score) != {"budget_range"}:
        raise fail("score must be an object with budget_range [low, high]")
    bounds = score["budget_range"]
    if not (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        and all(math.isfinite(b) for b in bounds)
        and 1 <= bounds[0] < bounds[1]
    ):
        raise fail("score.budget_range must be [low, high] with 1 <= low < high")
    return float(bounds[0]), float(bounds[1])


def _held_out(rule, fail) -> HeldOutRule:
    keys = {"description", "families", "p", "restarts"}
    if not isinstance(rule, dict) or set(rule) != keys:
        raise fail(f"held_out must be an object with {', '.join(sorted(keys))}")
    families, p, restarts = rule["families"], rule["p"], rule["restarts"]
    if not isinstance(rule["description"], str) or not rule["description"]:
        raise fail("held_out.description must be a non-empty string")
    if not (isinstance(families, list) and all(isinstance(f, str) for f in families)):
        raise fail("held_out.families must be a list of family names")
    if not (isinstance(p, list) and all(isinstance(v, int) and v >= 2 for v in p)):
        raise fail("held_out.p must be a list of whole numbers >= 2")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 0:
        raise fail("held_out.restarts must be a whole number >= 0")
    if bool(families) != bool(restarts) or bool(families) != bool(p):
        raise fail("held_out names families, p and restarts together, or none of them")
    return HeldOutRule(rule["description"], tuple(families), tuple(p), restarts)


def _pins() -> dict[str, str]:
    try:
        pins = json.loads((DATA / PINS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SuiteError(f"cannot read the suite pins {DATA / PINS}: {error}") from None
    if not isinstance(pins, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in pins.items()
    ):
        raise SuiteError(f"{DATA / PINS} is not an object of suite ID to sha256")
    return pins


def _refuse(name: str):
    raise ValueError(f"{name} is not a number a suite may hold")
