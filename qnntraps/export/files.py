"""write_export / read_export: QPY, Cirq JSON or OpenQASM 3 files plus mapping.json.

The layout and the mapping.json format are documented in docs/exports.md. The SDKs are imported
only inside the functions that need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qnntraps.atomic import atomic_path, ensure_folder, write_json_atomic, write_text_atomic
from qnntraps.export.circuits import (
    ANGLE_SCALE,
    ExportError,
    ExportPlan,
    build_plan,
    count_terms,
    observable_terms,
    require_sdk,
)
from qnntraps.instance import (
    Instance,
    Observable,
    PauliSumObservable,
    ProductObservable,
)
from qnntraps.pauli import PAULI_LETTERS

if TYPE_CHECKING:
    from qnntraps.export.cirq_export import CirqExport
    from qnntraps.export.qiskit_export import QiskitExport

TARGETS = ("qiskit", "cirq", "qasm3")
MAPPING_NAME = "mapping.json"
MAPPING_FORMAT = "qnntraps-export"
MAPPING_VERSION = 2  # 2 adds conventions.loss_form; version 1 mappings are read as square loss
READABLE_MAPPING_VERSIONS = (1, 2)
LOSS_TEXT = {
    "square": "L(theta) = mean over k of (y_hat_k - labels[k])^2",
    "expectation": "L(theta) = mean over k of labels[k] * y_hat_k",
}
_EXTRA = {"qiskit": "qiskit", "qasm3": "qiskit", "cirq": "cirq"}


def _check_target(to: str) -> None:
    if to not in TARGETS:
        raise ExportError(f"unknown export target {to!r}; choose one of {', '.join(TARGETS)}")


def _state_names(count: int, suffix: str) -> list[str]:
    width = max(4, len(str(count - 1)))
    return [f"state_{k:0{width}d}.{suffix}" for k in range(count)]


def _write_qiskit(plan: ExportPlan, directory: Path, qasm: bool) -> tuple[list[str], dict]:
    import qiskit
    from qiskit import qasm3, qpy
    from qiskit.circuit import Parameter, ParameterVector

    from qnntraps.export.qiskit_export import PARAMETER_VECTOR_NAME, plan_circuits

    if qasm:  # plain identifiers, kept verbatim by qasm3.dumps (vector elements get renamed)
        parameters = [Parameter(f"theta_{j}") for j in range(plan.num_parameters)]
    else:
        parameters = ParameterVector(PARAMETER_VECTOR_NAME, plan.num_parameters)
    ansatz, preparations = plan_circuits(plan, parameters)
    names = [p.name for p in parameters]
    if qasm:
        states = _state_names(len(preparations), "qasm")
        write_text_atomic(directory / "ansatz.qasm", qasm3.dumps(ansatz))
        for name, circuit in zip(states, preparations, strict=True):
            write_text_atomic(directory / name, qasm3.dumps(circuit))
        files = {"ansatz": "ansatz.qasm", "states": states}
    else:
        with atomic_path(directory / "ansatz.qpy") as temporary, open(temporary, "wb") as handle:
            qpy.dump(ansatz, handle)
        with atomic_path(directory / "states.qpy") as temporary, open(temporary, "wb") as handle:
            qpy.dump(list(preparations), handle)
        files = {"ansatz": "ansatz.qpy", "states": "states.qpy"}
    return names, {"files": files, "sdk": {"qiskit": qiskit.__version__}}


def _write_cirq(plan: ExportPlan, directory: Path) -> tuple[list[str], dict]:
    import cirq
    import sympy

    from qnntraps.export.cirq_export import SYMBOL_PREFIX, build_circuit

    qubits = cirq.LineQubit.range(plan.num_qubits)
    symbols = [sympy.Symbol(f"{SYMBOL_PREFIX}{j}") for j in range(plan.num_parameters)]
    with atomic_path(directory / "ansatz.json") as temporary:
        cirq.to_json(build_circuit(plan.ansatz, qubits, symbols), temporary)
    preparations = [build_circuit(g, qubits, symbols) for g in plan.preparations]
    with atomic_path(directory / "states.json") as temporary:
        cirq.to_json(preparations, temporary)
    files = {"ansatz": "ansatz.json", "states": "states.json"}
    return [s.name for s in symbols], {"files": files, "sdk": {"cirq": cirq.__version__}}


def _observable_entry(observable: Observable) -> dict:
    if isinstance(observable, ProductObservable):
        factors = [
            {"qubit": q, **{PAULI_LETTERS[c]: float(f[c]) for c in range(4)}}
            for q, f in enumerate(observable.factors)
        ]
        return {
            "form": "product",
            "meaning": "M = prod over data qubits q of (I*f.I + X*f.X + Y*f.Y + Z*f.Z); identity "
            "on the ancillas",
            "num_terms": count_terms(observable),
            "factors": factors,
        }
    terms = [
        {
            "coefficient": float(coef),
            "paulis": [[int(q), PAULI_LETTERS[int(codes[q])]] for q in np.flatnonzero(codes)],
        }
        for codes, coef in zip(observable.pauli_codes, observable.coefficients, strict=True)
    ]
    return {
        "form": "pauli_sum",
        "meaning": "M = sum of coefficient * (tensor of the listed (qubit, Pauli)); identity "
        "elsewhere",
        "num_terms": len(terms),
        "terms": terms,
    }


def observable_from_mapping(mapping: dict) -> Observable:
    """The observable of a mapping.json as a qnntraps observable on the data qubits."""
    entry = mapping["observable"]
    n = len(mapping["qubits"]["data"])
    if entry["form"] == "product":
        factors = np.zeros((n, 4))
        for row in entry["factors"]:
            factors[row["qubit"]] = [row[letter] for letter in PAULI_LETTERS]
        return ProductObservable(factors)
    codes = np.zeros((len(entry["terms"]), n), dtype=np.int8)
    for k, term in enumerate(entry["terms"]):
        for q, letter in term["paulis"]:
            codes[k, q] = PAULI_LETTERS.index(letter)
    return PauliSumObservable(codes, [t["coefficient"] for t in entry["terms"]])


def _mapping(instance: Instance, plan: ExportPlan, to: str, names: list[str], extra: dict) -> dict:
    from qnntraps import __version__

    cert = instance.certificate
    states = extra["files"]["states"]
    return {
        "format": MAPPING_FORMAT,
        "version": MAPPING_VERSION,
        "instance": instance.id,
        "target": to,
        "generated_by": {"qnntraps": __version__, **extra["sdk"]},
        "conventions": {
            "gate": "V_j = exp(-i theta_j H_j), H_j a Pauli string; exp(-i theta Z) = rz(2 theta)",
            "rotations": "rx(phi) = exp(-i phi X/2), ry and rz likewise (SDK convention)",
            "circuit": "sample k runs its state preparation, then the ansatz, on all qubits",
            "prediction": "y_hat_k = <M> in the final state = tr(U rho_k U^dag M)",
            "loss": LOSS_TEXT[instance.dataset.loss],
            "loss_form": instance.dataset.loss,
            "qubits": "explicit circuit qubit indices (Qiskit qubit i, cirq.LineQubit(i)); data "
            "qubit q is the instance's qubit q (first tensor factor = qubit 0)",
        },
        "qubits": {
            "num_qubits": plan.num_qubits,
            "data": list(plan.data_qubits),
            "ancillas": list(plan.ancilla_qubits),
            "ancilla_of_data": list(plan.ancilla_qubits) or None,
        },
        "parameters": {
            "count": plan.num_parameters,
            "angle": f"a parameterized gate is rz({ANGLE_SCALE:g} * theta[index]) in the file",
            "bind": "by name (OpenQASM 3 readers reorder parameters; unused ones may be absent)",
            "names": [{"index": j, "name": name} for j, name in enumerate(names)],
        },
        "ansatz": {"file": extra["files"]["ansatz"], "num_circuit_gates": len(plan.ansatz)},
        "samples": {
            "count": len(plan.preparations),
            "input_form": plan.input_form,
            "preparation": "purification with one ancilla per data qubit"
            if plan.ancilla_qubits
            else "rx(x[2q]) then ry(x[2q+1]) on data qubit q",
            **({"files": states} if isinstance(states, list) else {"file": states}),
        },
        "observable": _observable_entry(instance.observable),
        "labels": [float(y) for y in instance.dataset.labels],
        "certificate": {
            "kind": cert.kind,
            "global_min_value": float(cert.global_min_value),
            "global_minimizer": [float(t) for t in cert.global_minimizer],
            "hit_tolerance": float(cert.hit_tolerance),
        },
    }


def write_export(instance: Instance, to: str, directory: str | Path) -> tuple[Path, ...]:
    """Write the instance as `to` ("qiskit": QPY, "cirq": Cirq JSON, "qasm3": OpenQASM 3) into
    `directory` (created if needed; files of the same names are replaced) with mapping.json.

    Returns the paths written, mapping.json first. The observable goes to mapping.json in its
    own form (product or Pauli sum), so this works at any size.
    """
    _check_target(to)
    require_sdk(_EXTRA[to])
    plan = build_plan(instance)
    directory = Path(directory)
    ensure_folder(directory)
    if to == "cirq":
        names, extra = _write_cirq(plan, directory)
    else:
        names, extra = _write_qiskit(plan, directory, qasm=to == "qasm3")
    mapping = _mapping(instance, plan, to, names, extra)
    path = directory / MAPPING_NAME
    write_json_atomic(path, mapping, sort_keys=False)
    states = extra["files"]["states"]
    written = [extra["files"]["ansatz"], *(states if isinstance(states, list) else [states])]
    return (path, *(directory / name for name in written))


def read_mapping(directory: str | Path) -> dict:
    """The mapping.json of an export folder, checked for format and version."""
    path = Path(directory) / MAPPING_NAME
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ExportError(f"no {MAPPING_NAME} in {directory}; is it a qnntraps export?") from error
    version = mapping.get("version")
    if mapping.get("format") != MAPPING_FORMAT or version not in READABLE_MAPPING_VERSIONS:
        raise ExportError(
            f"{path} is not a qnntraps export mapping of version "
            f"{' or '.join(map(str, READABLE_MAPPING_VERSIONS))}; export the instance again"
        )
    form = mapping.get("conventions", {}).get("loss_form", "square" if version == 1 else None)
    if form not in LOSS_TEXT:
        raise ExportError(
            f"{path} states no known conventions.loss_form; export the instance again"
        )
    return mapping


def read_export(directory: str | Path) -> QiskitExport | CirqExport:
    """Load an export folder back (QPY, Cirq JSON or OpenQASM 3), parameters bound by name.

    The result evaluates `loss`/`predictions` like `to_qiskit`/`to_cirq`: the round trip check.
    """
    directory = Path(directory)
    mapping = read_mapping(directory)
    to = mapping["target"]
    _check_target(to)
    terms = observable_terms(observable_from_mapping(mapping), mapping["instance"])
    names = tuple(
        row["name"] for row in sorted(mapping["parameters"]["names"], key=lambda r: r["index"])
    )
    labels = np.array(mapping["labels"], dtype=np.float64)
    loss_form = mapping["conventions"].get("loss_form", "square")
    data = tuple(mapping["qubits"]["data"])
    ancillas = tuple(mapping["qubits"]["ancillas"])
    samples = mapping["samples"]
    files = samples.get("files") or [samples["file"]]
    ansatz_path = directory / mapping["ansatz"]["file"]
    if to == "cirq":
        require_sdk("cirq")
        import cirq
        import sympy

        from qnntraps.export.cirq_export import CirqExport
        from qnntraps.export.cirq_export import build_observable as cirq_observable

        qubits = tuple(cirq.LineQubit.range(mapping["qubits"]["num_qubits"]))
        return CirqExport(
            instance_id=mapping["instance"],
            qubits=qubits,
            symbols=tuple(sympy.Symbol(name) for name in names),
            ansatz=cirq.read_json(ansatz_path),
            state_preparations=tuple(cirq.read_json(directory / files[0])),
            observable=cirq_observable(terms, qubits),
            labels=labels,
            data_qubits=data,
            ancilla_qubits=ancillas,
            loss_form=loss_form,
        )
    from qiskit.circuit import Parameter

    if to == "qasm3":
        require_sdk("qiskit", ("qiskit", "qiskit_qasm3_import"))
        from qiskit import qasm3

        ansatz = qasm3.loads(ansatz_path.read_text(encoding="utf-8"))
        preparations = tuple(
            qasm3.loads((directory / name).read_text(encoding="utf-8")) for name in files
        )
    else:
        require_sdk("qiskit")
        from qiskit import qpy

        with open(ansatz_path, "rb") as handle:
            (ansatz,) = qpy.load(handle)
        with open(directory / files[0], "rb") as handle:
            preparations = tuple(qpy.load(handle))
    from qnntraps.export.qiskit_export import QiskitExport
    from qnntraps.export.qiskit_export import build_observable as qiskit_observable

    found = {p.name: p for c in (ansatz, *preparations) for p in c.parameters}
    return QiskitExport(
        instance_id=mapping["instance"],
        parameters=tuple(found.get(name, Parameter(name)) for name in names),
        ansatz=ansatz,
        state_preparations=preparations,
        observable=qiskit_observable(terms, mapping["qubits"]["num_qubits"]),
        labels=labels,
        data_qubits=data,
        ancilla_qubits=ancillas,
        loss_form=loss_form,
    )
