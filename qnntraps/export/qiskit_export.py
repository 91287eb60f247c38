"""Qiskit export: circuits from the shared plan, a SparsePauliOp, and the loss by StatevectorEstimator.

Imported lazily by qnntraps.export (it needs `pip install 'qnntraps[qiskit]'`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp

from qnntraps.export.circuits import (
    ANGLE_SCALE,
    ExportPlan,
    Gate,
    PauliTerm,
    build_plan,
    dataset_loss,
    observable_terms,
    parameter_index,
)
from qnntraps.instance import Instance
from qnntraps.simulators.evaluate import as_parameter_batch

PARAMETER_VECTOR_NAME = "theta"


@dataclass(frozen=True, eq=False)
class QiskitExport:
    """An instance in Qiskit terms.

    Sample k's circuit is `state_preparations[k].compose(ansatz)` on `num_qubits` qubits: data
    qubit l is circuit qubit l, its ancilla (Pauli-mixture inputs) is `ancilla_qubits[l]`.
    `parameters[j]` is our theta[j]; its gates are rz(2 * theta[j]). The observable acts as the
    identity on the ancillas. `loss` and `predictions` accept theta of shape (p,) or (R, p).
    """

    instance_id: str
    parameters: Sequence[Parameter]
    ansatz: QuantumCircuit
    state_preparations: tuple[QuantumCircuit, ...]
    observable: SparsePauliOp
    labels: np.ndarray
    data_qubits: tuple[int, ...]
    ancilla_qubits: tuple[int, ...]
    loss_form: str = "square"

    @property
    def num_qubits(self) -> int:
        return len(self.data_qubits) + len(self.ancilla_qubits)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @cached_property
    def circuits(self) -> tuple[QuantumCircuit, ...]:
        """The full circuit of every sample: its state preparation, then the ansatz."""
        return tuple(prep.compose(self.ansatz) for prep in self.state_preparations)

    def predictions(self, theta) -> np.ndarray:
        """y_hat_k = <M> after circuit k, by StatevectorEstimator (exact): (m,) or (R, m)."""
        batch, single = as_parameter_batch(theta, len(self.parameters))
        index = parameter_index(self.parameter_names)
        pubs = []
        for circuit in self.circuits:
            bound = list(circuit.parameters)  # bind by name: robust to renaming on reload
            values = batch[:, [index[p.name] for p in bound]]
            pubs.append(
                (circuit, self.observable, {tuple(bound): values})
                if bound
                else (circuit, self.observable)
            )
        results = StatevectorEstimator().run(pubs).result()
        out = np.stack(
            [np.broadcast_to(np.real(r.data.evs), (batch.shape[0],)) for r in results], axis=-1
        ).astype(np.float64)
        return out[0] if single else out

    def loss(self, theta):
        """L(theta) = mean_k (y_hat_k - y_k)^2, or mean_k y_k y_hat_k for the expectation loss:
        a float for (p,), an array (R,) for (R, p)."""
        single = np.ndim(theta) == 1
        return dataset_loss(self.predictions(theta), self.labels, self.loss_form, single)


def build_circuit(gates: Sequence[Gate], num_qubits: int, parameters: Sequence[Parameter]):
    """A QuantumCircuit of the plan's gates on explicit qubit indices."""
    circuit = QuantumCircuit(num_qubits)
    for gate in gates:
        if gate.name in ("rx", "ry", "rz"):
            angle = (
                ANGLE_SCALE * parameters[gate.parameter]
                if gate.parameter is not None
                else gate.angle
            )
            getattr(circuit, gate.name)(angle, *gate.qubits)
        else:
            getattr(circuit, gate.name)(*gate.qubits)
    return circuit


def build_observable(terms: Sequence[PauliTerm], num_qubits: int) -> SparsePauliOp:
    """SparsePauliOp from explicit (qubit, Pauli) terms; never from little-endian labels."""
    sparse = [
        (
            "".join(letter for _, letter in term.letters()),
            [q for q, _ in term.paulis],
            term.coefficient,
        )
        for term in terms
    ]
    if not sparse:
        sparse = [("", [], 0.0)]
    return SparsePauliOp.from_sparse_list(sparse, num_qubits=num_qubits)


def plan_circuits(plan: ExportPlan, parameters: Sequence[Parameter]):
    """(ansatz, state preparations) of a plan with the given parameter objects."""
    ansatz = build_circuit(plan.ansatz, plan.num_qubits, parameters)
    preparations = tuple(build_circuit(g, plan.num_qubits, parameters) for g in plan.preparations)
    return ansatz, preparations


def to_qiskit(instance: Instance) -> QiskitExport:
    """The instance's ansatz (ParameterVector "theta"), state preparations, observable, labels."""
    terms = observable_terms(instance.observable, instance.id)  # size check first
    plan = build_plan(instance)
    parameters = ParameterVector(PARAMETER_VECTOR_NAME, plan.num_parameters)
    ansatz, preparations = plan_circuits(plan, parameters)
    return QiskitExport(
        instance_id=instance.id,
        parameters=parameters,
        ansatz=ansatz,
        state_preparations=preparations,
        observable=build_observable(terms, plan.num_qubits),
        labels=instance.dataset.labels,
        loss_form=instance.dataset.loss,
        data_qubits=plan.data_qubits,
        ancilla_qubits=plan.ancilla_qubits,
    )
