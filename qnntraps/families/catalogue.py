"""The suite: every instance ID that ships, and how to build it from its ID."""

from __future__ import annotations

from qnntraps.errors import UnknownInstanceError
from qnntraps.families.barren_plateau import FAMILY as BARREN_PLATEAU
from qnntraps.families.barren_plateau import build_barren_plateau
from qnntraps.families.barren_plateau import instance_id as barren_plateau_id
from qnntraps.families.construction import FAMILIES as CONSTRUCTION_FAMILIES
from qnntraps.families.construction import build_construction
from qnntraps.families.separable import BRANCH_AND_BOUND_MAX_P, build_separable
from qnntraps.families.separable import FAMILY as SEPARABLE
from qnntraps.families.teacher_student import FAMILY as TEACHER_STUDENT
from qnntraps.families.teacher_student import build_teacher_student, state_manifold_dimension
from qnntraps.families.teacher_student import instance_id as teacher_student_id
from qnntraps.ids import InstanceId, format_instance_id, parse_instance_id
from qnntraps.instance import Instance

NOISE_LEVELS = (0.01, 0.05, 0.1)
NOISE_SIZES = (4, 8, 12, 16)
SEPARABLE_SIZES = (2, 4, 6, 8, 10, 12)
FLIP_FRACTIONS = (0.05, 0.1)
FLIP_SIZES = (4, 8, 12)
# GPU-scale coupled instances (issue 4's GPU track): no ladder stored (LADDER_MAX_P). 62 is the
# largest p whose 2^p local minima fit the format's int64 num_local_minima.
GPU_COUPLED_SIZES = (40, 48, 56, 62)
GPU_TAG = "gpu-scale"
# n -> (layers, redraw), frozen from tools/barren_plateau_depths.py (docs/barren_plateau.md):
# the depth at which the exact gradient variance has plateaued (n <= 12), or the line through
# those depths (n = 14, 16); `redraw` counts axis draws skipped because the certified
# minimizer's construction did not apply.
BARREN_PLATEAU_LAYERS = {
    2: (19, 0),
    4: (35, 0),
    6: (64, 0),
    8: (87, 0),
    10: (132, 0),
    12: (142, 0),
    14: (173, 0),
    16: (200, 0),
}

# n -> (layers, multistart starts, gradients per start): the L sweep at each n straddles the
# critical count p_c = 2^(n+1) - 2 (30, 126, 510), where the state's Jacobian rank saturates
# (docs/teacher_student.md); p = 2 n L. n = 8 gets fewer starts and gradients: its multistart
# costs ~20x n = 6's per gradient.
TEACHER_STUDENT_SWEEP = {
    4: ((1, 2, 3, 4, 6, 8), 64, 5000),
    6: ((2, 4, 6, 8, 10, 12, 16), 64, 5000),
    8: ((4, 8, 16, 24, 40), 16, 2000),
}


def suite_ids() -> list[str]:
    """Every instance ID of the frozen suite, in registry order."""
    ids = [format_instance_id(InstanceId("construction", p, None, 1)) for p in range(2, 21, 2)]
    ids += [
        format_instance_id(InstanceId("construction-coupled", p, None, 1))
        for p in (*range(4, 33, 2), *GPU_COUPLED_SIZES)
    ]
    for family in CONSTRUCTION_FAMILIES:
        for p in NOISE_SIZES:
            for noise in NOISE_LEVELS:
                ids.append(format_instance_id(InstanceId(family, p, f"noise{noise:g}", 1)))
    ids += [format_instance_id(InstanceId(SEPARABLE, p, None, 1)) for p in SEPARABLE_SIZES]
    for p in FLIP_SIZES:
        for flip in FLIP_FRACTIONS:
            ids.append(format_instance_id(InstanceId(SEPARABLE, p, f"flip{flip:g}", 1)))
    ids += [barren_plateau_id(n, layers) for n, (layers, _) in BARREN_PLATEAU_LAYERS.items()]
    for n, (sweep, _, _) in TEACHER_STUDENT_SWEEP.items():
        ids += [teacher_student_id(n, layers) for layers in sweep]
    return ids


def tags_for(instance_id: str) -> list[str]:
    """Registry tags: what a user filters by."""
    parts = parse_instance_id(instance_id)
    if parts.family == BARREN_PLATEAU:
        return ["entangling", "expectation-loss", "noise-free", "spectral"]
    if parts.family == TEACHER_STUDENT:
        side = "over" if parts.p >= state_manifold_dimension(parts.qubits) else "under"
        return ["entangling", "noise-free", "planted", f"{side}-parameterized"]
    tags = ["label-noise" if parts.variant else "noise-free"]
    if parts.family == SEPARABLE:
        tags += ["classical-data", certificate_kind_of_separable(parts.p)]
    else:
        tags += ["pauli-mixture", "analytic" if parts.variant is None else "enumerated"]
    if parts.family == "construction-coupled":
        tags.append("coupled")
    if parts.family == "construction-coupled" and parts.p in GPU_COUPLED_SIZES:
        tags.append(GPU_TAG)
    return sorted(tags)


def certificate_kind_of_separable(p: int) -> str:
    return "branch-and-bound" if p <= BRANCH_AND_BOUND_MAX_P else "best-known"


def build_instance(instance_id: str) -> Instance:
    """Regenerate the instance behind a suite ID from its generator and documented seeds."""
    parts = parse_instance_id(instance_id)
    if instance_id not in suite_ids():
        raise UnknownInstanceError(f"{instance_id!r} is not a suite instance; see 'qnntraps list'")
    if parts.family == BARREN_PLATEAU:
        _, redraw = BARREN_PLATEAU_LAYERS[parts.qubits]
        return build_barren_plateau(parts.qubits, parts.layers, redraw, version=parts.version)
    if parts.family == TEACHER_STUDENT:
        _, starts, budget = TEACHER_STUDENT_SWEEP[parts.qubits]
        return build_teacher_student(
            parts.qubits, parts.layers, starts, budget, version=parts.version
        )
    if parts.family == SEPARABLE:
        flip = None if parts.variant is None else float(parts.variant.removeprefix("flip"))
        return build_separable(parts.p, flip=flip, version=parts.version)
    noise = None
    if parts.variant is not None:
        noise = float(parts.variant.removeprefix("noise"))
    return build_construction(parts.family, parts.p, noise=noise, version=parts.version)
