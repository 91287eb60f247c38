"""Export instances to Qiskit, Cirq and OpenQASM 3 (docs/exports.md).

    from qnntraps.export import to_qiskit, to_cirq, write_export, read_export
    exported = to_qiskit(instance)            # needs pip install 'qnntraps[qiskit]'
    exported.loss(theta)                      # == instance.loss(theta), by StatevectorEstimator
    write_export(instance, "qasm3", "out/")   # files + mapping.json

The SDKs are imported only when an exporter runs, so `import qnntraps.export` works without them;
a missing SDK raises MissingSdkError saying which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qnntraps.export.circuits import (
    MAX_OBSERVABLE_TERMS,
    ExportError,
    ExportPlan,
    Gate,
    MissingSdkError,
    ObservableTooLargeError,
    PauliTerm,
    build_plan,
    observable_terms,
    require_sdk,
)
from qnntraps.export.files import TARGETS, read_export, read_mapping, write_export

if TYPE_CHECKING:
    from qnntraps.export.cirq_export import CirqExport
    from qnntraps.export.qiskit_export import QiskitExport
    from qnntraps.instance import Instance


def to_qiskit(instance: Instance) -> QiskitExport:
    """Ansatz (ParameterVector "theta"), state preparations, SparsePauliOp, labels and loss."""
    require_sdk("qiskit")
    from qnntraps.export.qiskit_export import to_qiskit as build

    return build(instance)


def to_cirq(instance: Instance) -> CirqExport:
    """Ansatz (symbols theta_0..), state preparations, cirq.PauliSum, labels and loss."""
    require_sdk("cirq")
    from qnntraps.export.cirq_export import to_cirq as build

    return build(instance)


__all__ = [
    "MAX_OBSERVABLE_TERMS",
    "TARGETS",
    "ExportError",
    "ExportPlan",
    "Gate",
    "MissingSdkError",
    "ObservableTooLargeError",
    "PauliTerm",
    "build_plan",
    "observable_terms",
    "read_export",
    "read_mapping",
    "require_sdk",
    "to_cirq",
    "to_qiskit",
    "write_export",
]
