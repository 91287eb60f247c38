"""The barren-plateau family (docs/barren_plateau.md), after McClean et al. (2018).

n qubits start in |0...0>; RY(pi/4) = exp(-i pi/8 Y) acts on every qubit; then L layers, each
one rotation exp(-i theta_(l,q) P_(l,q)) per qubit q about an axis P_(l,q) drawn uniformly from
{X, Y, Z}, followed by CZ(q, q+1) for q = 0 .. n-2. The loss is <Z_0 Z_1> (the expectation
loss, one input, weight 1). Parameter l n + q is the rotation of layer l on qubit q.

In the format a CZ is three fixed Z-type rotations, CZ = e^(i pi/4) exp(-i pi/4 Z_a)
exp(-i pi/4 Z_b) exp(+i pi/4 Z_a Z_b), and |0...0> is the encoded-features input with all
features 0. Axes are drawn layer by layer from the key ``barren-plateau-nN-vV`` (``/redraw-k``
appended for the k-th redraw), so the circuit of depth L is the first L layers of any deeper
one. The certificate is spectral: L* = -1, the smallest eigenvalue of Z_0 Z_1, attained at a
stored theta* constructed in closed form (`constructed_minimizer`) and checked to 1e-12; a draw
where the construction does not apply is redrawn.
"""

from __future__ import annotations

import numpy as np

from qnntraps.ids import InstanceId, format_instance_id
from qnntraps.model import (
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    GradientVariance,
    PauliSumObservable,
)
from qnntraps.pauli import Y, Z
from qnntraps.seeds import generator_from_key, seed_from_key

FAMILY = "barren-plateau"
GENERATOR_VERSION = 1
CZ_ANGLES = ((0, np.pi / 4), (1, np.pi / 4), (2, -np.pi / 4))  # Z_a, Z_b, Z_a Z_b
HIT_FRACTION = 0.01  # hit tolerance = 1% of the observable's spectral range (2 for Z0 Z1)
MINIMIZER_DECIMALS = 12


def axes_key(n: int, version: int, redraw: int = 0) -> str:
    base = f"{FAMILY}-n{n}-v{version}"
    return base if redraw == 0 else f"{base}/redraw-{redraw}"


def draw_axes(n: int, layers: int, key: str) -> np.ndarray:
    """(layers, n) Pauli codes in {1, 2, 3}, drawn layer by layer from `key`."""
    rng = generator_from_key(key)
    return np.stack([rng.integers(1, 4, size=n) for _ in range(layers)]).astype(np.int8)


def cz_ladder(n: int) -> list[tuple[dict[int, int], float]]:
    """CZ(q, q + 1) for q = 0 .. n - 2 as fixed Z-type rotations ({qubit: Z}, angle), in order of
    application (CZ_ANGLES each)."""
    gates = []
    for q in range(n - 1):
        for which, angle in CZ_ANGLES:
            qubits = (q,) if which == 0 else (q + 1,) if which == 1 else (q, q + 1)
            gates.append((dict.fromkeys(qubits, Z), angle))
    return gates


def circuit(axes: np.ndarray) -> Ansatz:
    """The ansatz of the family for rotation axes (L, n)."""
    layers, n = axes.shape
    generators, index, angles = [], [], []

    def gate(codes: dict[int, int], parameter: int, angle: float) -> None:
        row = np.zeros(n, dtype=np.int8)
        for qubit, code in codes.items():
            row[qubit] = code
        generators.append(row)
        index.append(parameter)
        angles.append(angle)

    for q in range(n):
        gate({q: Y}, -1, np.pi / 8)
    for layer in range(layers):
        for q in range(n):
            gate({q: int(axes[layer, q])}, layer * n + q, 0.0)
        for codes, angle in cz_ladder(n):
            gate(codes, -1, angle)
    return Ansatz(n, layers * n, np.array(generators), np.array(index), np.array(angles))


def observable(n: int) -> PauliSumObservable:
    codes = np.zeros((1, n), dtype=np.int8)
    codes[0, :2] = Z
    return PauliSumObservable(codes, np.array([1.0]))


def dataset(n: int) -> Dataset:
    return Dataset(EncodedFeatures(np.zeros((1, 2 * n))), np.array([1.0]), loss="expectation")


def instance_id(n: int, layers: int, version: int = 1) -> str:
    return format_instance_id(InstanceId(FAMILY, n * layers, None, version, n, layers))


def spectral_certificate(
    minimizer: np.ndarray, effort: str, variance: GradientVariance
) -> Certificate:
    return Certificate(
        kind="spectral",
        global_min_value=-1.0,
        global_minimizer=minimizer,
        hit_tolerance=2.0 * HIT_FRACTION,
        method=(
            "spectral: L* = -1 is the smallest eigenvalue of Z0 Z1, a lower bound on <Z0 Z1>; "
            "theta* constructed (layers 2, 4, ... at angle 0, so consecutive CZ ladders cancel; "
            "qubit 0 rotated to |0> and qubit 1 to |1> at their first Y axis in layers 1, 3, ...), "
            "rounded to 12 decimals; |L(theta*) + 1| <= 1e-12 checked"
        ),
        effort=effort,
        gradient_variance=variance,
    )


# --- depth: where the exact gradient variance has reached its plateau ------------------------

PLATEAU_WINDOW = 0.05  # within 5% of the variance at the reference depth, at every depth beyond
REFERENCE_LAYERS_PER_QUBIT = 20  # reference depth D = 20 n


def plateau_depth(by_depth: np.ndarray) -> int:
    """The smallest L such that the variance at every depth from L to len(by_depth) is within
    PLATEAU_WINDOW of the variance at the last depth (the reference)."""
    reference = by_depth[-1]
    outside = np.flatnonzero(np.abs(by_depth - reference) > PLATEAU_WINDOW * reference)
    return 1 if outside.size == 0 else int(outside[-1]) + 2


# --- the certified minimizer -------------------------------------------------------------------

# exp(-i t Y) RY(pi/4)|0> = cos(t + pi/8)|0> + sin(t + pi/8)|1>: |0> (up to sign) at 7pi/8,
# |1> at 3pi/8.
TO_ZERO, TO_ONE = 7 * np.pi / 8, 3 * np.pi / 8


def constructed_minimizer(axes: np.ndarray) -> np.ndarray | None:
    """theta* with <Z0 Z1> = -1, or None when this construction does not apply.

    With every rotation of layers 2, 4, 6, ... (counting from 1) at angle 0, the CZ ladder of
    each such layer cancels the ladder of the layer before it (CZ^2 = I and all CZs commute), so
    U is a product of one-qubit rotations followed by at most one ladder (when L is odd), which
    commutes with Z0 Z1. In layers 1, 3, 5, ..., qubit 0 is rotated to |0> (up to sign) and
    qubit 1 to |1> at their first Y axis; every other angle is 0. Without a Y axis on qubit 0 or
    on qubit 1 in those layers the construction does not apply and the axes are redrawn.
    """
    layers, n = axes.shape
    kept = np.arange(0, layers, 2)
    theta = np.zeros((layers, n))
    for qubit, angle in ((0, TO_ZERO), (1, TO_ONE)):
        with_y = [layer for layer in kept if axes[layer, qubit] == Y]
        if not with_y:
            return None
        theta[with_y[0], qubit] = angle
    return np.round(theta.reshape(-1), MINIMIZER_DECIMALS)


# --- the gradient variance stored in each file ------------------------------------------------

EXACT_MAX_QUBITS = 12
SAMPLES = 512
Z_95 = 1.959963984540054


def exact_variance(axes: np.ndarray) -> GradientVariance:
    from qnntraps.certificates.gradient_variance import gradient_variance_by_depth

    by_depth = gradient_variance_by_depth(axes)
    return GradientVariance(float(by_depth[-1]), "exact", by_depth=by_depth)


def sampled_variance(model, key: str, samples: int = SAMPLES, batch: int = 8) -> GradientVariance:
    """Mean of (dL/dtheta_0)^2 at `samples` uniform points drawn from `key`, by the parameter
    shift rule (two exact losses each), with a 95% normal-approximation interval."""
    import torch

    from qnntraps.simulators.evaluator import statevector_strategy

    evaluator = statevector_strategy(model, "cpu")
    rng = generator_from_key(key)
    points = rng.uniform(0.0, 2 * np.pi, size=(samples, model.ansatz.num_parameters))
    squares = []
    for begin in range(0, samples, batch):
        theta = torch.from_numpy(points[begin : begin + batch])
        plus, minus = theta.clone(), theta.clone()
        plus[:, 0] += np.pi / 4
        minus[:, 0] -= np.pi / 4
        gradient = evaluator.loss(plus) - evaluator.loss(minus)
        squares.append((gradient * gradient).numpy())
    squares = np.concatenate(squares)
    value = float(np.mean(squares))
    half = Z_95 * float(np.std(squares, ddof=1)) / np.sqrt(samples)
    return GradientVariance(value, "sampled", max(0.0, value - half), value + half, samples)


# --- the instance ------------------------------------------------------------------------------


def build_barren_plateau(n: int, layers: int, redraw: int, version: int = 1):
    """The instance barren-plateau-n{n}-l{layers}-v{version} with axes from draw `redraw`."""
    from types import SimpleNamespace

    from qnntraps.instance import Instance
    from qnntraps.model import Provenance

    if version != 1:
        raise ValueError(f"generator knows version 1 of {FAMILY}, not {version}")
    key = axes_key(n, version, redraw)
    axes = draw_axes(n, layers, key)
    theta = constructed_minimizer(axes)
    if theta is None:
        raise ValueError(f"draw {redraw} of {FAMILY} n = {n} admits no constructed minimizer")
    model = SimpleNamespace(ansatz=circuit(axes), observable=observable(n), dataset=dataset(n))
    iid = instance_id(n, layers, version)
    if n <= EXACT_MAX_QUBITS:
        variance = exact_variance(axes)
        how = f"exact by second moments over the 4^{n} Pauli strings, at every depth 1..{layers}"
    else:
        variance = sampled_variance(model, iid + "/variance")
        how = f"sampled at {SAMPLES} uniform points (key {iid}/variance), parameter shift"
    effort = f"no search; axes from key {key}; gradient variance {how}"
    provenance = Provenance(
        family=FAMILY,
        generator_version=GENERATOR_VERSION,
        seed=seed_from_key(key),
        parameters=(
            ("axes_key", key),
            ("layers", layers),
            ("num_qubits", n),
            ("num_samples", 1),
            ("p", n * layers),
            ("redraw", redraw),
        ),
    )
    return Instance(
        iid,
        model.ansatz,
        model.observable,
        model.dataset,
        spectral_certificate(theta, effort, variance),
        provenance,
    )
