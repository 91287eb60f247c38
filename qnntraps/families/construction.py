"""The construction families (docs/construction.md): our explicit instance of You & Wu's Proposition 5.

Ansatz V_l = exp(-i theta_l Z_l), observable M = tensor_l (I + Y_l), Pauli-mixture inputs:
- pinning samples rho = (I + Y_l)/2^p with label 1 (residual cos 2theta_l), one per qubit;
- constraint samples rho = (I + eps X_T)/2^p with label 1 + eps tau_T, tau_T = prod_{l in T} sigma*_l.
`construction` has T = {l} for every l; `construction-coupled` has 2p random 3-sets whose GF(2)
incidence matrix has full column rank (planted XOR-SAT). eps^2 = 1/(8d), d the largest number of
constraints on one qubit, so the local minima in one period are exactly the 2^p vertices
theta_l in {pi/4, 3pi/4} (proof in docs/construction.md) with loss (4 eps^2 / m) * (#violated).
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

from qnntraps.certificates.summary import vertex_point
from qnntraps.certificates.vertex_refinement import refine_vertex_minima
from qnntraps.gf2 import gf2_rank, weight_distribution
from qnntraps.ids import InstanceId, format_instance_id
from qnntraps.instance import (
    Ansatz,
    Certificate,
    Dataset,
    Instance,
    PauliMixtureStates,
    ProductObservable,
    Provenance,
)
from qnntraps.pauli import X, Y, Z
from qnntraps.seeds import generator_from_key, seed_from_key
from qnntraps.simulators.product_form import compile_product_form

GENERATOR_VERSION = 1
FAMILIES = ("construction", "construction-coupled")
CONSTRAINT_SIZE = 3
MAX_RANK_DRAWS = 1000
# The ladder (the weight distribution of the code spanned by A) is enumerated by meet in the
# middle in O(2^p) popcounts: 18 s at p = 32 on two cores. Larger (GPU-scale) instances ship
# without a ladder; their hit tolerance uses the smallest possible spurious value instead.
LADDER_MAX_P = 32


def constraint_sets(p: int, coupled: bool, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """The constraint sets T: singletons, or 2p distinct random 3-sets of full GF(2) rank.

    3-sets are drawn uniformly without replacement from the lexicographic list of all C(p, 3);
    for p = 4, where only 4 exist, each is taken twice. The draw is repeated until the incidence
    matrix has rank p.
    """
    if not coupled:
        return [(l,) for l in range(p)]
    if p < CONSTRAINT_SIZE + 1:
        raise ValueError(f"construction-coupled needs p >= {CONSTRAINT_SIZE + 1}")
    all_sets = list(combinations(range(p), CONSTRAINT_SIZE))
    count = 2 * p
    for _ in range(MAX_RANK_DRAWS):
        if comb(p, CONSTRAINT_SIZE) >= count:
            chosen = rng.choice(len(all_sets), size=count, replace=False)
            sets = [all_sets[i] for i in sorted(chosen.tolist())]
        else:
            sets = sorted(all_sets * -(-count // len(all_sets)))[:count]
        if gf2_rank(incidence_matrix(sets, p)) == p:
            return sets
    raise RuntimeError(f"no full-rank constraint system found in {MAX_RANK_DRAWS} draws")


def incidence_matrix(sets: list[tuple[int, ...]], p: int) -> np.ndarray:
    """0/1 matrix A with A[t, l] = 1 iff qubit l is in constraint set t."""
    matrix = np.zeros((len(sets), p), dtype=np.uint8)
    for t, members in enumerate(sets):
        matrix[t, list(members)] = 1
    return matrix


def _base_id(family: str, p: int, version: int) -> str:
    return format_instance_id(InstanceId(family, p, None, version))


def build_construction(
    family: str, p: int, noise: float | None = None, version: int = 1, key: str | None = None
) -> Instance:
    """Generate a construction-family instance (noise: label-noise standard deviation or None).

    `key` replaces the ID as the seed key of every draw (its label noise: key + "/noise"): a
    held-out instance, fresh but of the same family, variant and p, whose ID stays the public
    one's and whose provenance records the key.
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown construction family {family!r}")
    if version != 1:
        raise ValueError(f"generator knows version 1 of {family}, not {version}")
    coupled = family == "construction-coupled"
    base_id = _base_id(family, p, version)
    rng = generator_from_key(key or base_id)
    signs = rng.integers(0, 2, size=p) * 2 - 1
    sets = constraint_sets(p, coupled, rng)
    incidence = incidence_matrix(sets, p)
    degree = int(incidence.sum(axis=0).max())
    epsilon = 1.0 / np.sqrt(8.0 * degree)

    num_constraints = len(sets)
    m = p + num_constraints
    codes = np.zeros((m, p), dtype=np.int8)
    eps = np.ones(m)
    clean_labels = np.ones(m)
    for l in range(p):
        codes[l, l] = Y
    for t, members in enumerate(sets):
        codes[p + t, list(members)] = X
        eps[p + t] = epsilon
        clean_labels[p + t] = 1.0 + epsilon * float(np.prod(signs[list(members)]))

    ansatz = Ansatz(
        num_qubits=p,
        num_parameters=p,
        generators=np.diag(np.full(p, Z)).astype(np.int8),
        parameter_index=np.arange(p),
        fixed_angles=np.zeros(p),
    )
    observable = ProductObservable(np.tile([1.0, 0.0, 1.0, 0.0], (p, 1)))
    parameters: list[tuple[str, int | float | str]] = [
        ("p", p),
        ("constraint_size", 1 if not coupled else CONSTRAINT_SIZE),
        ("num_constraints", num_constraints),
        ("max_constraints_per_qubit", degree),
        ("epsilon", float(epsilon)),
    ]
    if noise is None:
        instance_id = base_id
        dataset = Dataset(PauliMixtureStates(codes, eps), clean_labels)
    else:
        instance_id = format_instance_id(InstanceId(family, p, f"noise{noise:g}", version))
        noise_key = instance_id if key is None else f"{key}/noise"
        draws = generator_from_key(noise_key).standard_normal(m)
        # Rounded to 1e-12 so that the stored labels cannot depend on the last bit of a libm.
        labels = clean_labels + np.round(noise * draws, 12)
        dataset = Dataset(PauliMixtureStates(codes, eps), labels, noiseless_labels=clean_labels)
        parameters.append(("label_noise_std", float(noise)))
        parameters.append(("noise_seed", seed_from_key(noise_key)))
    if key is not None:
        parameters.append(("seed_key", key))
    provenance = Provenance(
        family=family,
        generator_version=GENERATOR_VERSION,
        seed=seed_from_key(key or base_id),
        parameters=tuple(sorted(parameters)),
    )
    if noise is None:
        certificate = _analytic_certificate(signs, incidence, epsilon, m)
    else:
        form = compile_product_form(ansatz, observable, dataset)
        certificate = refine_vertex_minima(form, planted_signs=signs)
    return Instance(instance_id, ansatz, observable, dataset, certificate, provenance)


def _analytic_certificate(
    signs: np.ndarray, incidence: np.ndarray, epsilon: float, m: int
) -> Certificate:
    """Noise-free certificate: L* = 0 at the planted vertex; ladder from the code's weights.

    Up to LADDER_MAX_P the ladder is enumerated and the tolerance is half its first gap. Beyond,
    the ladder is not stored and the tolerance is half of 4 eps^2 / m, the value of one violated
    constraint: every spurious vertex violates at least one (full GF(2) rank), so this is a
    rigorous lower bound on half the gap, smaller than it by the code's minimum distance.
    """
    p = incidence.shape[1]
    method = (
        "closed form (docs/construction.md): local minima in [0, pi)^p are exactly the 2^p "
        "vertices theta_l in {pi/4, 3pi/4}; vertex value = 4 eps^2 / m * #violated constraints; "
        "the planted vertex is the unique zero since the constraints have full GF(2) rank"
    )
    common = dict(
        kind="analytic",
        global_min_value=0.0,
        global_minimizer=vertex_point(signs),
        method=method,
        num_local_minima=2**p,
        planted_signs=signs,
    )
    if p > LADDER_MAX_P:
        return Certificate(
            **common,
            hit_tolerance=float(2.0 * epsilon**2 / m),
            effort=(
                f"ladder not enumerated (2^{p} vertices, above p = {LADDER_MAX_P}); hit "
                "tolerance = half of 4 eps^2 / m, the least value of a spurious vertex (one "
                "violated constraint)"
            ),
        )
    counts = weight_distribution(incidence)
    violated = np.flatnonzero(counts)
    values = 4.0 * epsilon**2 * violated / m
    return Certificate(
        **common,
        hit_tolerance=float(values[1] / 2),
        effort=f"exact enumeration of the weight distribution of all 2^{p} vertices",
        ladder_values=values,
        ladder_counts=counts[violated],
    )
