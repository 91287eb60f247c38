"""The separable family (docs/separable.md): linearly separable classical data, X/Y-rotation encoding.

p qubits, features x in [0, 2pi)^{2p}; qubit l is prepared as RY(x[2l+1]) RX(x[2l]) |0>; the label
is 1 if w.(x - pi) > 0 else 0 for a seeded random unit vector w. Classes are balanced: samples are
drawn uniformly and kept until each class has m/2. Same ansatz and observable as the construction
family (exp(-i theta_l Z_l), tensor (I + Y)), so y_hat is a product of one-qubit factors
1 + A sin 2theta_l + B cos 2theta_l with A = cos x[2l] sin x[2l+1], B = -sin x[2l].
Label-noise variants flip a seeded fraction of the labels (exactly round(fraction * m) of them).
"""

from __future__ import annotations

import numpy as np

from qnntraps.certificates.branch_and_bound import branch_and_bound
from qnntraps.certificates.multistart import LADDER_DECIMALS, multistart
from qnntraps.certificates.multistart import METHOD as MULTISTART_METHOD
from qnntraps.certificates.summary import summarize_minima
from qnntraps.ids import InstanceId, format_instance_id
from qnntraps.instance import (
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    Instance,
    ProductObservable,
    Provenance,
)
from qnntraps.pauli import Z
from qnntraps.seeds import generator_from_key, seed_from_key
from qnntraps.simulators.product_form import ProductForm, compile_product_form

GENERATOR_VERSION = 1
FAMILY = "separable"
SAMPLES_PER_QUBIT = 20


def separable_data(p: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hyperplane normal w (2p,), features (m, 2p) and 0/1 labels (m,), m = 20 p, balanced.

    Features are drawn in blocks of m uniform points; a point is kept while its class has fewer
    than m/2 members, in drawing order.
    """
    m = SAMPLES_PER_QUBIT * p
    w = rng.standard_normal(2 * p)
    w /= np.linalg.norm(w)
    kept: dict[int, list[np.ndarray]] = {0: [], 1: []}
    while min(len(v) for v in kept.values()) < m // 2:
        block = rng.uniform(0.0, 2 * np.pi, size=(m, 2 * p))
        for x, label in zip(block, (block - np.pi) @ w > 0, strict=True):
            if len(kept[int(label)]) < m // 2:
                kept[int(label)].append(x)
    # Interleave classes in a seeded order so that the file does not list one class first.
    features = np.array(kept[0] + kept[1])
    labels = np.repeat([0.0, 1.0], m // 2)
    order = rng.permutation(m)
    return w, features[order], labels[order]


def separable_parts(p: int, flip: float | None, version: int = 1, key: str | None = None):
    """ID, ansatz, observable, dataset, provenance and w of a separable instance (no certificate).

    `key` replaces the ID as the seed key of the data (of the flips: key + "/flip"): a held-out
    instance of the same p and variant under the public ID, its provenance recording the key.
    """
    if version != 1:
        raise ValueError(f"generator knows version 1 of {FAMILY}, not {version}")
    base_id = format_instance_id(InstanceId(FAMILY, p, None, version))
    w, features, clean = separable_data(p, generator_from_key(key or base_id))
    m = clean.size
    parameters: list[tuple[str, int | float | str]] = [
        ("p", p),
        ("num_samples", m),
        ("class_balance", 0.5),
    ]
    if flip is None:
        instance_id, labels, noiseless = base_id, clean, None
    else:
        instance_id = format_instance_id(InstanceId(FAMILY, p, f"flip{flip:g}", version))
        count = int(round(flip * m))
        flip_key = instance_id if key is None else f"{key}/flip"
        flipped = generator_from_key(flip_key).choice(m, size=count, replace=False)
        labels = clean.copy()
        labels[flipped] = 1.0 - labels[flipped]
        noiseless = clean
        parameters += [
            ("label_flip_fraction", float(flip)),
            ("num_flipped", count),
            ("noise_seed", seed_from_key(flip_key)),
        ]
    if key is not None:
        parameters.append(("seed_key", key))
    ansatz = Ansatz(p, p, np.diag(np.full(p, Z)).astype(np.int8), np.arange(p), np.zeros(p))
    observable = ProductObservable(np.tile([1.0, 0.0, 1.0, 0.0], (p, 1)))
    dataset = Dataset(EncodedFeatures(features), labels, noiseless)
    provenance = Provenance(
        FAMILY, GENERATOR_VERSION, seed_from_key(key or base_id), tuple(sorted(parameters))
    )
    return instance_id, ansatz, observable, dataset, provenance, w


MULTISTART_STARTS = 100_000
BRANCH_AND_BOUND_MAX_P = 4
BRANCH_AND_BOUND_GAP = 1e-9


def certify(form: ProductForm, instance_id: str, progress=None) -> Certificate:
    """Best-known minimum from a 10^5-start multistart; proved by branch and bound for small p."""
    p = form.num_parameters
    result = multistart(form, MULTISTART_STARTS, f"{instance_id}/multistart", progress=progress)
    summary = summarize_minima(form, result.minima, result.values, LADDER_DECIMALS)
    value, minimizer = summary.global_min_value, summary.global_minimizer
    effort = (
        f"{result.starts} uniform starts on [0, 2pi)^{p} (seed key '{instance_id}/multistart'); "
        f"{result.values.size} ended in verified strict local minima, {result.rejected} did not; "
        f"the best value was reached {int(summary.ladder_counts[0])} times"
    )
    method = MULTISTART_METHOD
    kind = "best-known"
    if p <= BRANCH_AND_BOUND_MAX_P:
        proof = branch_and_bound(form, value, minimizer, gap=BRANCH_AND_BOUND_GAP)
        if proof.upper_bound < value - BRANCH_AND_BOUND_GAP:
            raise RuntimeError(
                f"{instance_id}: branch and bound found a point below the multistart"
            )
        kind = "branch-and-bound"
        method += (
            "; branch and bound over [0, pi)^p with interval and mean-value lower bounds "
            f"(outward-rounded) proves that no point is more than {BRANCH_AND_BOUND_GAP:g} below L*"
        )
        effort += f"; branch and bound: {proof.boxes} boxes bounded"
    return Certificate(
        kind=kind,
        global_min_value=value,
        global_minimizer=minimizer,
        hit_tolerance=summary.hit_tolerance,
        method=method,
        effort=effort,
        num_local_minima=None,
        ladder_values=summary.ladder_values,
        ladder_counts=summary.ladder_counts,
    )


def build_separable(
    p: int, flip: float | None = None, version: int = 1, progress=None, key: str | None = None
) -> Instance:
    """Generate and certify a separable instance (flip: fraction of labels flipped, or None;
    key: see `separable_parts`)."""
    instance_id, ansatz, observable, dataset, provenance, _ = separable_parts(p, flip, version, key)
    form = compile_product_form(ansatz, observable, dataset)
    certificate = certify(form, key or instance_id, progress)
    return Instance(instance_id, ansatz, observable, dataset, certificate, provenance)
