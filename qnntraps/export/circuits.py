"""The SDK-independent circuit plan that the Qiskit and Cirq exporters both translate.

A plan is a list of standard gates (h, s, sdg, cx, rx, ry, rz) on explicit qubit indices, in the
SDK convention R_a(phi) = exp(-i phi sigma_a / 2). Qubits 0..n-1 are the data qubits (qubit 0 is
the first tensor factor, docs/format.md); for Pauli-mixture inputs, qubit n + l is the ancilla of
data qubit l. Every circuit of one export spans all n + a qubits, so a state preparation and the
ansatz compose directly.

- Ansatz gate V_g = exp(-i alpha_g H_g): basis change of every support qubit of H_g to Z
  (X: h; Y: sdg then h), a CNOT ladder onto the last support qubit r, rz(2 alpha_g) on r, then
  the ladder and the basis change undone. A single-qubit Z generator is just rz(2 alpha_g).
  An all-identity generator is a global phase and is left out (no expectation value sees it).
- Pauli mixture rho = (I + eps P)/2^n, prepared exactly by purification (docs/exports.md):
  with C the Clifford above (C P C^dag = Z_r), rho = C^dag sigma C where
  sigma = (I + eps Z_r)/2^n = diag((1+eps)/2, (1-eps)/2)_r (x) I/2 on every other qubit.
  Every qubit other than r is made maximally mixed by h on its ancilla and cx(ancilla -> qubit);
  r gets ry(arccos eps) on its ancilla and cx(ancilla -> r), which leaves r in
  diag(cos^2(phi/2), sin^2(phi/2)) = diag((1+eps)/2, (1-eps)/2). Then C^dag is applied.
- Encoded features: qubit q gets rx(x[2q]) then ry(x[2q+1]) (no ancillas).
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass

import numpy as np

from qnntraps.errors import QnnTrapsError
from qnntraps.instance import (
    EncodedFeatures,
    Instance,
    Observable,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
)
from qnntraps.pauli import PAULI_LETTERS

# exp(-i theta Z) = RZ(2 theta): the rz angle of a parameterized gate is ANGLE_SCALE * theta[j].
ANGLE_SCALE = 2.0
# The observable is expanded into explicit Pauli terms up to this many (2^16: p <= 16 for
# the suite's M = (x)_l (I + Y_l)); beyond, ObservableTooLargeError.
MAX_OBSERVABLE_TERMS = 2**16
GATE_NAMES = ("h", "s", "sdg", "cx", "rx", "ry", "rz")
ROTATIONS = ("rx", "ry", "rz")
SDK_MODULES = {"qiskit": ("qiskit",), "cirq": ("cirq", "sympy")}


class ExportError(QnnTrapsError):
    """An instance cannot be exported as asked."""


class MissingSdkError(ExportError, ImportError):
    """The optional SDK an exporter needs is not installed."""


class ObservableTooLargeError(ExportError, ValueError):
    """The observable has more Pauli terms than the exporters build explicitly."""


@dataclass(frozen=True)
class Gate:
    """One standard gate on explicit qubits (control first for cx).

    A rotation's angle is `angle` for a fixed gate, or ANGLE_SCALE * theta[parameter] (= 2 theta)
    when `parameter` is set.
    """

    name: str
    qubits: tuple[int, ...]
    angle: float = 0.0
    parameter: int | None = None


@dataclass(frozen=True)
class PauliTerm:
    """coefficient * (x)_{(q, c) in paulis} sigma_c; qubits not listed carry the identity."""

    coefficient: float
    paulis: tuple[tuple[int, int], ...]  # (qubit, Pauli code 1..3), increasing qubit

    def letters(self) -> tuple[tuple[int, str], ...]:
        return tuple((q, PAULI_LETTERS[c]) for q, c in self.paulis)


@dataclass(frozen=True)
class ExportPlan:
    """Everything an exporter needs except the observable (see `observable_terms`)."""

    instance_id: str
    num_data_qubits: int
    ancilla_qubits: tuple[int, ...]  # ancilla_qubits[l] purifies data qubit l; () if none
    num_parameters: int
    ansatz: tuple[Gate, ...]
    preparations: tuple[tuple[Gate, ...], ...]  # one per sample
    input_form: str  # "pauli_mixture" or "encoded_features"

    @property
    def num_qubits(self) -> int:
        return self.num_data_qubits + len(self.ancilla_qubits)

    @property
    def data_qubits(self) -> tuple[int, ...]:
        return tuple(range(self.num_data_qubits))


def require_sdk(extra: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise MissingSdkError unless the modules of the optional extra `extra` import."""
    for module in modules or SDK_MODULES[extra]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise MissingSdkError(
                f"this export needs the Python package {module!r}, which is not installed; "
                f"run: pip install 'qnntraps[{extra}]'"
            ) from error


def _to_z_clifford(codes: np.ndarray) -> tuple[list[Gate], list[Gate], int]:
    """Gates of C and of C^dag with C P C^dag = Z_r, r the last support qubit of P."""
    support = [int(q) for q in np.flatnonzero(codes)]
    basis, unbasis = [], []
    for q in support:
        if codes[q] == 1:  # H X H = Z
            basis.append(Gate("h", (q,)))
            unbasis.append(Gate("h", (q,)))
        elif codes[q] == 2:  # H S^dag Y S H = Z
            basis += [Gate("sdg", (q,)), Gate("h", (q,))]
            unbasis += [Gate("h", (q,)), Gate("s", (q,))]
    ladder = [Gate("cx", (a, b)) for a, b in itertools.pairwise(support)]
    return basis + ladder, ladder[::-1] + unbasis, support[-1]


def pauli_rotation(codes: np.ndarray, angle: float, parameter: int | None) -> list[Gate]:
    """exp(-i alpha P) with alpha = angle (fixed) or theta[parameter]; [] for P = I."""
    codes = np.asarray(codes)
    if not np.any(codes):
        return []
    forward, backward, root = _to_z_clifford(codes)
    rz_angle = 0.0 if parameter is not None else ANGLE_SCALE * float(angle)
    return [*forward, Gate("rz", (root,), rz_angle, parameter), *backward]


def ansatz_gates(instance: Instance) -> tuple[Gate, ...]:
    """U(theta) = V_{G-1} ... V_0 as standard gates, V_0 first."""
    ansatz = instance.ansatz
    gates: list[Gate] = []
    for codes, index, fixed in zip(
        ansatz.generators, ansatz.parameter_index, ansatz.fixed_angles, strict=True
    ):
        parameter = int(index) if index >= 0 else None
        gates += pauli_rotation(codes, float(fixed), parameter)
    return tuple(gates)


def purification(codes: np.ndarray, epsilon: float, ancillas: tuple[int, ...]) -> list[Gate]:
    """Gates that leave the data qubits in (I + epsilon P)/2^n, ancilla of qubit l = ancillas[l]."""
    codes = np.asarray(codes)
    if not np.any(codes):
        raise ExportError("a Pauli mixture with P = I is not a state (its trace is 1 + epsilon)")
    if not -1.0 <= epsilon <= 1.0:
        raise ExportError(f"(I + eps P)/2^n is a state only for |eps| <= 1, not eps = {epsilon}")
    _, backward, root = _to_z_clifford(codes)
    gates: list[Gate] = []
    for q, ancilla in enumerate(ancillas):
        if q == root:
            gates.append(Gate("ry", (ancilla,), float(np.arccos(epsilon))))
        else:
            gates.append(Gate("h", (ancilla,)))
        gates.append(Gate("cx", (ancilla, q)))
    return gates + backward


def encoding(features: np.ndarray) -> list[Gate]:
    """Qubit q prepared as RY(x[2q+1]) RX(x[2q]) |0>."""
    gates = []
    for q in range(features.shape[0] // 2):
        gates += [
            Gate("rx", (q,), float(features[2 * q])),
            Gate("ry", (q,), float(features[2 * q + 1])),
        ]
    return gates


def build_plan(instance: Instance) -> ExportPlan:
    """The gate lists of the ansatz and of every sample's state preparation."""
    n = instance.num_qubits
    inputs = instance.dataset.inputs
    if isinstance(inputs, PauliMixtureStates):
        ancillas = tuple(range(n, 2 * n))
        preparations = tuple(
            tuple(purification(codes, float(eps), ancillas))
            for codes, eps in zip(inputs.pauli_codes, inputs.epsilon, strict=True)
        )
        form = "pauli_mixture"
    elif isinstance(inputs, EncodedFeatures):
        ancillas = ()
        preparations = tuple(tuple(encoding(x)) for x in inputs.features)
        form = "encoded_features"
    else:
        raise ExportError(f"cannot export inputs of type {type(inputs).__name__}")
    return ExportPlan(
        instance_id=instance.id,
        num_data_qubits=n,
        ancilla_qubits=ancillas,
        num_parameters=instance.num_parameters,
        ansatz=ansatz_gates(instance),
        preparations=preparations,
        input_form=form,
    )


def count_terms(observable: Observable) -> int:
    """Number of Pauli terms of the observable once expanded."""
    if isinstance(observable, ProductObservable):
        return int(np.prod([np.count_nonzero(f) for f in observable.factors], dtype=object))
    return int(observable.coefficients.shape[0])


def observable_terms(
    observable: Observable, instance_id: str = "this instance", limit: int = MAX_OBSERVABLE_TERMS
) -> tuple[PauliTerm, ...]:
    """Explicit Pauli terms of M on the data qubits (zero coefficients dropped)."""
    total = count_terms(observable)
    if total > limit:
        raise ObservableTooLargeError(
            f"the observable of {instance_id} expands to {total} Pauli terms, more than the "
            f"{limit} the exporters build explicitly (M = (x)_l (I + Y_l) has 2^p terms, so "
            "p <= 16); export the circuits with 'qnntraps export' instead, whose mapping.json "
            "keeps M in product form, and measure each data qubit in its factor's basis "
            "(docs/exports.md, 'Large observables')"
        )
    if isinstance(observable, ProductObservable):
        per_qubit = [
            [(int(c), float(f[c])) for c in range(4) if f[c] != 0.0] for f in observable.factors
        ]
        terms = []
        for choice in itertools.product(*per_qubit):
            coefficient = float(np.prod([value for _, value in choice]))
            paulis = tuple((q, code) for q, (code, _) in enumerate(choice) if code != 0)
            terms.append(PauliTerm(coefficient, paulis))
        return tuple(terms)
    if isinstance(observable, PauliSumObservable):
        return tuple(
            PauliTerm(float(coef), tuple((int(q), int(codes[q])) for q in np.flatnonzero(codes)))
            for codes, coef in zip(observable.pauli_codes, observable.coefficients, strict=True)
            if coef != 0.0
        )
    raise ExportError(f"cannot export an observable of type {type(observable).__name__}")


def parameter_index(names: tuple[str, ...]) -> dict[str, int]:
    """Name -> our parameter index, for binding by name."""
    return {name: j for j, name in enumerate(names)}


def dataset_loss(predictions: np.ndarray, labels: np.ndarray, loss_form: str, single: bool):
    """The loss over the last axis: mean_k (y_hat_k - y_k)^2 (``square``) or mean_k y_k y_hat_k
    (``expectation``); a float for a single theta."""
    if loss_form == "expectation":
        values = np.mean(labels * predictions, axis=-1)
    elif loss_form == "square":
        values = np.mean((predictions - labels) ** 2, axis=-1)
    else:
        raise ExportError(f"unknown loss form {loss_form!r}; expected square or expectation")
    return float(values) if single else values
