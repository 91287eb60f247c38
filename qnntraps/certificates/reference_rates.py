"""Reference hit rates that need no optimizer, derived from an instance's own data.

- ``random_vertex``: 2^-p, the chance that a uniformly drawn one of the 2^p certified vertex
  minima is the global one. Set where the certificate counts exactly 2^p local minima per period
  (every construction-family file); None elsewhere.
- ``gradient_flow``: the probability that gradient flow d theta / dt = -grad L(theta), started
  uniformly on [0, 2 pi)^p, converges to the global minimizer. Known in closed form only for the
  `construction` structure (one pinning sample and one single-qubit X constraint per qubit, the
  product observable tensor (I + Y), noise-free labels): there it is prod_l q_l with
  q_l = 1/2 + arcsin(eps_l^2 / (1 - eps_l^2)) / pi, i.e. q^p with q ~ 0.5456 at eps^2 = 1/8
  (proof in docs/construction.md, "The reference rate of an ideal local method").

The structure is read from the file (ansatz, observable, inputs, labels), never from the family
name, so a file that only claims to be `construction` cannot get a rate it does not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from qnntraps.errors import QnnTrapsError
from qnntraps.instance import Instance, PauliMixtureStates, ProductObservable
from qnntraps.pauli import X, Y, Z

__all__ = [
    "ConstructionStructure",
    "NoClosedFormError",
    "ReferenceRates",
    "basin_fraction",
    "construction_structure",
    "gradient_flow_rate",
    "in_gradient_flow_basin",
    "reference_rates",
]

# Observable factor of tensor_l (I + Y_l): coefficients of (I, X, Y, Z).
_I_PLUS_Y = (1.0, 0.0, 1.0, 0.0)
# A stored label 1 + eps * sigma is one float operation away from exact.
_LABEL_ULPS = 4


class NoClosedFormError(QnnTrapsError, ValueError):
    """The instance lacks the structure for which a reference rate is known in closed form."""


@dataclass(frozen=True)
class ConstructionStructure:
    """What the closed form needs, read from a file with the `construction` structure.

    ``qubit_of_parameter[j]`` is the qubit that parameter j rotates; ``signs[q]`` = sigma_q and
    ``epsilon[q]`` are the planted sign and the strength of qubit q's constraint sample.
    """

    qubit_of_parameter: tuple[int, ...]
    signs: tuple[int, ...]
    epsilon: tuple[float, ...]


@dataclass(frozen=True)
class ReferenceRates:
    """Reference hit rates of one instance; None where no exact value applies (see ``note``)."""

    instance_id: str
    num_parameters: int
    random_vertex: float | None
    gradient_flow: float | None
    basin_fractions: tuple[float, ...] | None
    note: str


def basin_fraction(epsilon: float) -> float:
    """q(eps) = 1/2 + arcsin(eps^2 / (1 - eps^2)) / pi, for 0 < eps^2 < 1/2.

    The fraction of one period of u = 2 theta_l from which the 1-D gradient flow of
    cos^2 u + eps^2 (sin u - sigma)^2 reaches its global minimum u = sigma pi / 2.
    """
    eps2 = float(epsilon) ** 2
    if not 0.0 < eps2 < 0.5:
        raise NoClosedFormError(f"the closed form needs 0 < eps^2 < 1/2, not eps^2 = {eps2!r}")
    return 0.5 + math.asin(eps2 / (1.0 - eps2)) / math.pi


def _ansatz_qubits(instance: Instance) -> tuple[int, ...]:
    """Qubit of each parameter, if the ansatz is exactly one exp(-i theta_j Z_q) per qubit."""
    ansatz = instance.ansatz
    p, n = ansatz.num_parameters, ansatz.num_qubits
    if n != p or ansatz.generators.shape != (p, p):
        raise NoClosedFormError(
            f"{instance.id}: needs one gate per qubit and p = n (has {ansatz.generators.shape[0]} "
            f"gates, {n} qubits, {p} parameters)"
        )
    if sorted(ansatz.parameter_index.tolist()) != list(range(p)):
        raise NoClosedFormError(f"{instance.id}: every gate must carry its own parameter")
    qubit_of_parameter = [-1] * p
    for generator, j in zip(ansatz.generators, ansatz.parameter_index, strict=True):
        support = np.flatnonzero(generator)
        if support.size != 1 or generator[support[0]] != Z:
            raise NoClosedFormError(f"{instance.id}: every generator must be a single-qubit Z")
        qubit_of_parameter[int(j)] = int(support[0])
    if sorted(qubit_of_parameter) != list(range(p)):
        raise NoClosedFormError(f"{instance.id}: every qubit must carry exactly one Z rotation")
    return tuple(qubit_of_parameter)


def _check_observable(instance: Instance) -> None:
    observable = instance.observable
    if not isinstance(observable, ProductObservable) or not np.array_equal(
        observable.factors, np.tile(_I_PLUS_Y, (instance.num_qubits, 1))
    ):
        raise NoClosedFormError(f"{instance.id}: the observable is not tensor_l (I + Y_l)")


def _close(label: float, expected: float) -> bool:
    return abs(label - expected) <= _LABEL_ULPS * np.spacing(max(abs(expected), 1.0))


def _qubit_samples(instance: Instance) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Signs and eps per qubit, if the data are one pinning and one X constraint per qubit."""
    dataset = instance.dataset
    inputs = dataset.inputs
    p = instance.num_qubits
    if not isinstance(inputs, PauliMixtureStates):
        raise NoClosedFormError(f"{instance.id}: the inputs are not Pauli-mixture states")
    if dataset.noiseless_labels is not None:
        raise NoClosedFormError(
            f"{instance.id}: a label-noise variant; its minima are off the vertices and no "
            "closed form is claimed"
        )
    if dataset.num_samples != 2 * p:
        raise NoClosedFormError(
            f"{instance.id}: needs m = 2p = {2 * p} samples (one pinning and one constraint per "
            f"qubit), has {dataset.num_samples}"
        )
    pinned, constrained = [False] * p, [False] * p
    signs, epsilon = [0] * p, [0.0] * p
    for codes, eps, label in zip(inputs.pauli_codes, inputs.epsilon, dataset.labels, strict=True):
        support = np.flatnonzero(codes)
        if support.size != 1:
            raise NoClosedFormError(f"{instance.id}: a sample is not a single-qubit Pauli mixture")
        q, pauli, eps, label = int(support[0]), int(codes[support[0]]), float(eps), float(label)
        if pauli == Y and eps == 1.0 and _close(label, 1.0) and not pinned[q]:
            pinned[q] = True
        elif pauli == X and not constrained[q] and 0.0 < eps**2 < 0.5:
            sign = 1 if label > 1.0 else -1
            if not _close(label, 1.0 + eps * sign):
                raise NoClosedFormError(
                    f"{instance.id}: constraint label {label!r} on qubit {q} is not 1 +- eps"
                )
            constrained[q], signs[q], epsilon[q] = True, sign, eps
        else:
            raise NoClosedFormError(
                f"{instance.id}: sample on qubit {q} is neither its one pinning sample "
                "(I + Y_q)/2^p with label 1 nor its one constraint (I + eps X_q)/2^p with "
                "0 < eps^2 < 1/2 and label 1 +- eps"
            )
    return tuple(signs), tuple(epsilon)


def construction_structure(instance: Instance) -> ConstructionStructure:
    """Read and verify the `construction` structure from the instance's data.

    Raises NoClosedFormError, saying which part differs, for any other structure (coupled
    constraints, label noise, encoded features, another observable or ansatz).
    """
    qubit_of_parameter = _ansatz_qubits(instance)
    _check_observable(instance)
    signs, epsilon = _qubit_samples(instance)
    return ConstructionStructure(qubit_of_parameter, signs, epsilon)


def gradient_flow_rate(instance: Instance) -> float:
    """prod_l q(eps_l): gradient flow's probability of reaching the global minimum from a
    uniform start on [0, 2 pi)^p. Raises NoClosedFormError where no closed form applies."""
    structure = construction_structure(instance)
    return math.prod(basin_fraction(eps) for eps in structure.epsilon)


def in_gradient_flow_basin(instance: Instance, theta) -> np.ndarray | bool:
    """True where gradient flow from theta ((p,) or (R, p)) reaches the global minimizer.

    On the `construction` structure the flow decouples; coordinate j (on qubit q) reaches
    u = sigma_q pi / 2 iff sigma_q sin(2 theta_j) > -eps_q^2 / (1 - eps_q^2). Starts on the
    boundary (a measure-zero set: they sit on a maximum forever) count as misses.
    """
    structure = construction_structure(instance)
    theta = np.asarray(theta, dtype=np.float64)
    qubits = list(structure.qubit_of_parameter)
    signs = np.asarray(structure.signs, dtype=np.float64)[qubits]
    eps2 = np.asarray(structure.epsilon, dtype=np.float64)[qubits] ** 2
    inside = np.all(signs * np.sin(2.0 * theta) > -eps2 / (1.0 - eps2), axis=-1)
    return bool(inside) if inside.ndim == 0 else inside


def _random_vertex(instance: Instance) -> float | None:
    p = instance.num_parameters
    return 2.0**-p if instance.certificate.num_local_minima == 2**p else None


def reference_rates(instance: Instance) -> ReferenceRates:
    """The random-vertex (2^-p) and gradient-flow (q^p) references; None where they don't apply."""
    try:
        structure = construction_structure(instance)
    except NoClosedFormError as error:
        return ReferenceRates(
            instance.id,
            instance.num_parameters,
            _random_vertex(instance),
            None,
            None,
            f"no closed form for gradient flow: {error}",
        )
    fractions = tuple(basin_fraction(eps) for eps in structure.epsilon)
    return ReferenceRates(
        instance.id,
        instance.num_parameters,
        _random_vertex(instance),
        math.prod(fractions),
        fractions,
        "gradient flow from a uniform start on [0, 2pi)^p: exact (docs/construction.md)",
    )
