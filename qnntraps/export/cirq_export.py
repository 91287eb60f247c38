"""Cirq export: circuits from the shared plan, a cirq.PauliSum, and the loss by cirq.Simulator.

Imported lazily by qnntraps.export (it needs `pip install 'qnntraps[cirq]'`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import cirq
import numpy as np
import sympy

from qnntraps.export.circuits import (
    ANGLE_SCALE,
    ExportError,
    Gate,
    PauliTerm,
    build_plan,
    dataset_loss,
    observable_terms,
)
from qnntraps.instance import Instance
from qnntraps.simulators.evaluate import as_parameter_batch

SYMBOL_PREFIX = "theta_"
# predictions() contracts the final state with the dense matrix of M on the data qubits.
MAX_SIMULATED_DATA_QUBITS = 10
_PAULIS = {1: cirq.X, 2: cirq.Y, 3: cirq.Z}
_FIXED = {"h": cirq.H, "s": cirq.S, "sdg": cirq.S**-1, "cx": cirq.CNOT}
_ROTATIONS = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz}


@dataclass(frozen=True, eq=False)
class CirqExport:
    """An instance in Cirq terms.

    Sample k's circuit is `state_preparations[k] + ansatz` on `qubits` (cirq.LineQubit(i)): data
    qubit l is LineQubit(l), its ancilla (Pauli-mixture inputs) is LineQubit(ancilla_qubits[l]).
    `symbols[j]` (sympy symbol theta_j) is our theta[j]; its gates are rz(2 * theta_j). The
    observable acts as the identity on the ancillas. `loss` and `predictions` accept theta of
    shape (p,) or (R, p).
    """

    instance_id: str
    qubits: tuple[cirq.LineQubit, ...]
    symbols: tuple[sympy.Symbol, ...]
    ansatz: cirq.Circuit
    state_preparations: tuple[cirq.Circuit, ...]
    observable: cirq.PauliSum
    labels: np.ndarray
    data_qubits: tuple[int, ...]
    ancilla_qubits: tuple[int, ...]
    loss_form: str = "square"

    @property
    def num_qubits(self) -> int:
        return len(self.qubits)

    @cached_property
    def circuits(self) -> tuple[cirq.Circuit, ...]:
        """The full circuit of every sample: its state preparation, then the ansatz."""
        return tuple(prep + self.ansatz for prep in self.state_preparations)

    @cached_property
    def _data_observable(self) -> np.ndarray:
        """Dense matrix of the PauliSum on the data qubits (data qubit 0 most significant)."""
        data = [self.qubits[q] for q in self.data_qubits]
        if len(data) > MAX_SIMULATED_DATA_QUBITS:
            raise ExportError(
                f"CirqExport.predictions simulates at most {MAX_SIMULATED_DATA_QUBITS} data "
                f"qubits, not {len(data)}; the exported circuits and observable are valid, run "
                "them on your own backend (qnntraps' Instance.loss is exact at any size)"
            )
        if not set(self.observable.qubits) <= set(data):
            raise ExportError("the observable must act on the data qubits only")
        return self.observable.matrix(data)

    def predictions(self, theta) -> np.ndarray:
        """y_hat_k = <M> after circuit k, simulated by cirq.Simulator(complex128): (m,) or (R, m).

        M carries the identity on the ancillas, so <M> = tr(rho_data M_data) with rho_data the
        reduced state of the final state vector: exact, and much faster than term-by-term
        expectation values for the 2^p-term M (the test suite checks both agree).
        """
        batch, single = as_parameter_batch(theta, len(self.symbols))
        matrix = self._data_observable
        resolvers = [
            cirq.ParamResolver({s.name: float(v) for s, v in zip(self.symbols, row, strict=True)})
            for row in batch
        ]
        simulator = cirq.Simulator(dtype=np.complex128)
        dim = 2 ** len(self.data_qubits)
        out = np.empty((batch.shape[0], len(self.circuits)))
        for k, circuit in enumerate(self.circuits):
            results = simulator.simulate_sweep(circuit, resolvers, qubit_order=self.qubits)
            for r, result in enumerate(results):
                amplitudes = result.final_state_vector.reshape(dim, -1)  # data x ancillas
                out[r, k] = np.real(np.vdot(amplitudes, _apply(matrix, amplitudes)))
        return out[0] if single else out

    def loss(self, theta):
        """L(theta) = mean_k (y_hat_k - y_k)^2, or mean_k y_k y_hat_k for the expectation loss:
        a float for (p,), an array (R,) for (R, p)."""
        single = np.ndim(theta) == 1
        return dataset_loss(self.predictions(theta), self.labels, self.loss_form, single)


def _apply(matrix: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """matrix @ amplitudes; small products skip BLAS, whose thread wake-ups dominate them."""
    if amplitudes.size <= 2**12:
        return np.einsum("ij,jk->ik", matrix, amplitudes)
    return matrix @ amplitudes


def build_circuit(
    gates: Sequence[Gate], qubits: Sequence[cirq.Qid], symbols: Sequence[sympy.Symbol]
) -> cirq.Circuit:
    """A cirq.Circuit of the plan's gates on explicit qubits."""
    operations = []
    for gate in gates:
        targets = [qubits[q] for q in gate.qubits]
        if gate.name in _ROTATIONS:
            angle = (
                ANGLE_SCALE * symbols[gate.parameter] if gate.parameter is not None else gate.angle
            )
            operations.append(_ROTATIONS[gate.name](angle).on(*targets))
        else:
            operations.append(_FIXED[gate.name].on(*targets))
    return cirq.Circuit(operations)


def build_observable(terms: Sequence[PauliTerm], qubits: Sequence[cirq.Qid]) -> cirq.PauliSum:
    """cirq.PauliSum from explicit (qubit, Pauli) terms."""
    strings = [
        cirq.PauliString(
            {qubits[q]: _PAULIS[c] for q, c in term.paulis}, coefficient=term.coefficient
        )
        for term in terms
    ]
    return cirq.PauliSum.from_pauli_strings(strings)


def to_cirq(instance: Instance) -> CirqExport:
    """The instance's ansatz (symbols theta_0..theta_{p-1}), state preparations, observable, labels."""
    terms = observable_terms(instance.observable, instance.id)  # size check first
    plan = build_plan(instance)
    qubits = tuple(cirq.LineQubit.range(plan.num_qubits))
    symbols = tuple(sympy.Symbol(f"{SYMBOL_PREFIX}{j}") for j in range(plan.num_parameters))
    return CirqExport(
        instance_id=plan.instance_id,
        qubits=qubits,
        symbols=symbols,
        ansatz=build_circuit(plan.ansatz, qubits, symbols),
        state_preparations=tuple(build_circuit(g, qubits, symbols) for g in plan.preparations),
        observable=build_observable(terms, qubits),
        labels=instance.dataset.labels,
        loss_form=instance.dataset.loss,
        data_qubits=plan.data_qubits,
        ancilla_qubits=plan.ancilla_qubits,
    )
