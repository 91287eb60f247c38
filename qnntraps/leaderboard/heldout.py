"""Held-out instances: fresh instances of a suite's families, generated in memory at verification.

For a public entry (say construction-p4-noise0.05-v1) and a seed S chosen by the verifier, the
held-out instance is the same family, variant and p generated with the seed key
``heldout/S/<public ID>`` in place of the ID (`build_construction(..., key=)`,
`build_separable(..., key=)`, `build_teacher_student(..., key=)`), certified the way the family
certifies (analytic, enumerated, multistart plus branch and bound for separable at p <= 4, about
30 s; planted for teacher-student, whose hit tolerance comes from a fresh multistart of the
public file's size, minutes at n = 6). Its restarts' starts are
keyed by the sha256 of that seed key, so they are unrelated to the public starts. The instance
lives only in the verifier's process: nothing is written, and a sealed optimizer sees it only
through the oracle, as always.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from qnntraps.families.catalogue import TEACHER_STUDENT_SWEEP
from qnntraps.families.construction import FAMILIES as CONSTRUCTION_FAMILIES
from qnntraps.families.construction import build_construction
from qnntraps.families.separable import BRANCH_AND_BOUND_MAX_P, build_separable
from qnntraps.families.separable import FAMILY as SEPARABLE
from qnntraps.families.teacher_student import FAMILY as TEACHER_STUDENT
from qnntraps.families.teacher_student import build_teacher_student
from qnntraps.ids import parse_instance_id
from qnntraps.instance import Instance


@dataclass(frozen=True)
class HeldOutInstance:
    public_id: str  # the suite entry it mirrors
    key: str  # the seed key of every draw
    sha256: str  # keys the restarts' starts and seeds (sha256 of the key)
    instance: Instance


class HeldOutError(ValueError):
    pass


def held_out_key(seed: int, public_id: str) -> str:
    return f"heldout/{seed}/{public_id}"


def held_out_instance(public_id: str, seed: int) -> HeldOutInstance:
    """The held-out counterpart of suite entry `public_id` under the verifier's `seed`."""
    parsed = parse_instance_id(public_id)
    key = held_out_key(seed, public_id)
    if parsed.family in CONSTRUCTION_FAMILIES:
        noise = None if parsed.variant is None else float(parsed.variant.removeprefix("noise"))
        instance = build_construction(parsed.family, parsed.p, noise, parsed.version, key=key)
    elif parsed.family == SEPARABLE:
        if parsed.p > BRANCH_AND_BOUND_MAX_P:
            raise HeldOutError(
                f"{public_id}: separable instances are held out only at p <= "
                f"{BRANCH_AND_BOUND_MAX_P}, where branch and bound proves their minimum"
            )
        flip = None if parsed.variant is None else float(parsed.variant.removeprefix("flip"))
        instance = build_separable(parsed.p, flip, parsed.version, key=key)
    elif parsed.family == TEACHER_STUDENT:
        if parsed.qubits not in TEACHER_STUDENT_SWEEP:
            raise HeldOutError(f"{public_id}: no multistart size is set for n = {parsed.qubits}")
        _, starts, budget = TEACHER_STUDENT_SWEEP[parsed.qubits]
        instance = build_teacher_student(
            parsed.qubits, parsed.layers, starts, budget, parsed.version, key=key
        )
    else:
        raise HeldOutError(f"{public_id}: no generator for family {parsed.family!r}")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return HeldOutInstance(public_id, key, digest, instance)
