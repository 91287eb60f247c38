"""Exports to Qiskit, Cirq and OpenQASM 3 reproduce the instance's predictions and loss exactly.

Parity: every family at p <= 6 and a spot check at p = 8, at random theta and at theta*, against
`instance.predictions` / `instance.loss` (and the dense reference for hand-made instances with
multi-qubit Pauli rotations, fixed gates, Z inputs and Pauli-sum observables). Purification: the
reduced state of the data qubits equals (I + eps P)/2^n. Files: QPY, Cirq JSON and OpenQASM 3
round trips (parameters bound by name) reproduce the loss. Tests needing an SDK skip without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from qnntraps.cli import main
from qnntraps.errors import QnnTrapsError
from qnntraps.export import (
    MAX_OBSERVABLE_TERMS,
    MissingSdkError,
    ObservableTooLargeError,
    build_plan,
    observable_terms,
    read_export,
    read_mapping,
    to_cirq,
    to_qiskit,
    write_export,
)
from qnntraps.instance import (
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    Instance,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
    Provenance,
)
from qnntraps.simulators import dense

TOL = 1e-10
PARITY_IDS = [
    "construction-p2-v1",
    "construction-p4-v1",
    "construction-p6-v1",
    "construction-coupled-p4-v1",
    "construction-coupled-p6-v1",
    "construction-p4-noise0.05-v1",
    "construction-coupled-p4-noise0.1-v1",
    "separable-p2-v1",
    "separable-p4-v1",
    "separable-p6-v1",
    "separable-p4-flip0.1-v1",
    "barren-plateau-n2-l19-v1",
    "barren-plateau-n4-l35-v1",
    "barren-plateau-n6-l64-v1",
    "barren-plateau-n8-l87-v1",
    "teacher-student-n4-l3-v1",
    "teacher-student-n4-l8-v1",
    "teacher-student-n6-l8-v1",
    "teacher-student-n6-l12-v1",
]
EXPORTERS = {"qiskit": to_qiskit, "cirq": to_cirq}
_EXPORTS: dict[tuple[str, str], object] = {}


def exported(sdk: str, instance):
    key = (sdk, instance.id)
    if key not in _EXPORTS:
        _EXPORTS[key] = EXPORTERS[sdk](instance)
    return _EXPORTS[key]


def sample_points(instance, count: int = 2) -> np.ndarray:
    """`count` seeded random theta in [0, 2pi)^p, then theta*."""
    rng = np.random.default_rng(zlib.crc32(instance.id.encode()))
    random = rng.uniform(0.0, 2 * np.pi, size=(count, instance.num_parameters))
    return np.vstack([random, instance.certificate.global_minimizer])


def handmade(
    rng, n: int, p: int, gates: int, mixtures: bool, product: bool, m: int = 5
) -> Instance:
    """A small general instance: random multi-qubit Pauli generators (one all-identity gate),
    fixed gates, parameters shared by several gates, inputs with I/X/Y/Z and any sign of eps."""
    generators = rng.integers(0, 4, size=(gates, n))
    generators[0] = 0
    generators[1] = [1, 2, 3][:n] + [0] * (n - 3)
    index = np.concatenate([np.arange(p), rng.integers(-1, p, size=gates - p)])
    rng.shuffle(index)
    fixed = np.where(index < 0, rng.uniform(-np.pi, np.pi, size=gates), 0.0)
    ansatz = Ansatz(n, p, generators, index, fixed)
    if product:
        observable = ProductObservable(rng.normal(size=(n, 4)))
    else:
        observable = PauliSumObservable(rng.integers(0, 4, size=(6, n)), rng.normal(size=6))
    if mixtures:
        codes = rng.integers(0, 4, size=(m, n))
        codes[:, 0] = rng.integers(1, 4, size=m)  # never the identity
        codes[0] = 3  # all Z
        inputs = PauliMixtureStates(codes, rng.uniform(-1.0, 1.0, size=m))
    else:
        inputs = EncodedFeatures(rng.uniform(0.0, 2 * np.pi, size=(m, 2 * n)))
    certificate = Certificate("best-known", 0.0, np.zeros(p), 1e-6, "none", "none")
    return Instance(
        id=f"handmade-p{p}-v1",
        ansatz=ansatz,
        observable=observable,
        dataset=Dataset(inputs, rng.normal(size=m)),
        certificate=certificate,
        provenance=Provenance("handmade", 1, 0),
    )


def dense_predictions(instance, thetas) -> np.ndarray:
    return np.array([dense.predictions(instance, t) for t in thetas])


# ---------------------------------------------------------------- without any SDK


def test_plan_and_observable_without_sdk(load):
    instance = load("construction-coupled-p4-v1")
    plan = build_plan(instance)
    assert plan.num_qubits == 8 and plan.ancilla_qubits == (4, 5, 6, 7)
    assert len(plan.preparations) == instance.num_samples
    assert [g.name for g in plan.ansatz] == ["rz"] * 4
    assert [g.parameter for g in plan.ansatz] == [0, 1, 2, 3]
    terms = observable_terms(instance.observable)
    assert len(terms) == 16 and all(t.coefficient == 1.0 for t in terms)
    assert {t.paulis for t in terms} >= {(), ((0, 2), (1, 2), (2, 2), (3, 2))}
    encoded = build_plan(load("separable-p4-flip0.1-v1"))
    assert encoded.ancilla_qubits == () and encoded.num_qubits == 4


def test_observable_limit_is_a_typed_error(load):
    instance = load("construction-p18-v1")
    with pytest.raises(ObservableTooLargeError, match="p <= 16") as raised:
        observable_terms(instance.observable, instance.id)
    assert isinstance(raised.value, QnnTrapsError) and "qnntraps export" in str(raised.value)
    assert MAX_OBSERVABLE_TERMS == 2**16
    assert len(observable_terms(load("construction-p16-v1").observable)) == 2**16


def test_import_without_sdks_and_missing_sdk_message():
    script = (
        "import sys\n"
        "for name in ('qiskit', 'cirq', 'sympy'): sys.modules[name] = None\n"
        "import qnntraps, qnntraps.export as e\n"
        "inst = qnntraps.load('construction-p2-v1')\n"
        "assert e.build_plan(inst).num_qubits == 4\n"
        "for f, extra in ((e.to_qiskit, 'qiskit'), (e.to_cirq, 'cirq')):\n"
        "    try:\n"
        "        f(inst)\n"
        "    except e.MissingSdkError as error:\n"
        "        assert f\"pip install 'qnntraps[{extra}]'\" in str(error), error\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- parity with the instance


@pytest.mark.parametrize("sdk", ["qiskit", "cirq"])
@pytest.mark.parametrize("instance_id", PARITY_IDS)
def test_parity_with_instance(load, sdk, instance_id):
    pytest.importorskip(sdk)
    instance = load(instance_id)
    export = exported(sdk, instance)
    thetas = sample_points(instance)
    predictions = export.predictions(thetas)
    assert predictions.shape == (3, instance.num_samples)
    np.testing.assert_allclose(predictions, instance.predictions(thetas), rtol=0, atol=TOL)
    np.testing.assert_allclose(export.loss(thetas), instance.loss(thetas), rtol=0, atol=TOL)


@pytest.mark.parametrize("sdk", ["qiskit", "cirq"])
def test_parity_spot_check_p8(load, sdk):
    pytest.importorskip(sdk)
    instance = load("construction-coupled-p8-v1")
    export = exported(sdk, instance)
    assert export.num_qubits == 16
    # Qiskit's estimator evaluates 256 Pauli terms on 2^16 amplitudes per sample: theta* only.
    thetas = sample_points(instance, count=1 if sdk == "cirq" else 0)
    np.testing.assert_allclose(
        export.predictions(thetas), instance.predictions(thetas), rtol=0, atol=TOL
    )
    assert abs(export.loss(thetas[-1]) - instance.loss(thetas[-1])) < TOL


@pytest.mark.parametrize("sdk", ["qiskit", "cirq"])
@pytest.mark.parametrize("mixtures, product", [(True, False), (False, True), (True, True)])
def test_general_pauli_rotations_match_dense_reference(sdk, mixtures, product):
    pytest.importorskip(sdk)
    rng = np.random.default_rng([7, mixtures, product])
    instance = handmade(rng, n=3, p=4, gates=9, mixtures=mixtures, product=product)
    thetas = rng.uniform(0, 2 * np.pi, size=(2, 4))
    export = EXPORTERS[sdk](instance)
    np.testing.assert_allclose(
        export.predictions(thetas), dense_predictions(instance, thetas), rtol=0, atol=TOL
    )


def test_cirq_fast_path_equals_simulator_expectation_values(load):
    cirq = pytest.importorskip("cirq")
    instance = load("construction-coupled-p4-noise0.1-v1")
    export = exported("cirq", instance)
    theta = sample_points(instance)[0]
    resolver = {s.name: t for s, t in zip(export.symbols, theta, strict=True)}
    simulator = cirq.Simulator(dtype=np.complex128)
    literal = [
        simulator.simulate_expectation_values(
            circuit, export.observable, resolver, qubit_order=export.qubits
        )[0].real
        for circuit in export.circuits
    ]
    np.testing.assert_allclose(export.predictions(theta), literal, rtol=0, atol=TOL)


# ---------------------------------------------------------------- purification


def reduced_states(sdk: str, export) -> np.ndarray:
    """rho of the data qubits after each state preparation, qubit 0 the first tensor factor."""
    n = len(export.data_qubits)
    if sdk == "qiskit":
        from qiskit.quantum_info import Statevector, partial_trace

        return np.array(
            [
                partial_trace(Statevector(c), list(export.ancilla_qubits)).reverse_qargs().data
                for c in export.state_preparations
            ]
        )
    import cirq

    simulator = cirq.Simulator(dtype=np.complex128)
    states = []
    for circuit in export.state_preparations:
        psi = simulator.simulate(circuit, qubit_order=export.qubits).final_state_vector
        amplitudes = psi.reshape(2**n, -1)
        states.append(amplitudes @ amplitudes.conj().T)
    return np.array(states)


@pytest.mark.parametrize("sdk", ["qiskit", "cirq"])
def test_purification_prepares_the_mixed_inputs(load, sdk):
    pytest.importorskip(sdk)
    rng = np.random.default_rng(11)
    instances = [
        load("construction-coupled-p4-noise0.1-v1"),
        handmade(rng, n=4, p=2, gates=3, mixtures=True, product=False, m=12),
    ]
    for instance in instances:
        export = EXPORTERS[sdk](instance)
        assert export.ancilla_qubits == tuple(range(4, 8))
        rho = reduced_states(sdk, export)
        np.testing.assert_allclose(rho, dense.input_density_matrices(instance), rtol=0, atol=1e-12)


# ---------------------------------------------------------------- files and round trips


@pytest.mark.parametrize("target", ["qiskit", "cirq", "qasm3"])
@pytest.mark.parametrize("instance_id", ["construction-coupled-p4-noise0.1-v1", "separable-p2-v1"])
def test_file_round_trip_reproduces_the_loss(load, tmp_path, target, instance_id):
    pytest.importorskip("cirq" if target == "cirq" else "qiskit")
    if target == "qasm3":
        pytest.importorskip("qiskit_qasm3_import")
    instance = load(instance_id)
    paths = write_export(instance, target, tmp_path)
    assert paths[0].name == "mapping.json" and all(p.is_file() for p in paths)
    mapping = read_mapping(tmp_path)
    n = instance.num_qubits
    mixed = instance_id.startswith("construction")
    assert mapping["instance"] == instance.id and mapping["target"] == target
    assert mapping["qubits"]["ancillas"] == (list(range(n, 2 * n)) if mixed else [])
    assert [r["index"] for r in mapping["parameters"]["names"]] == list(range(n))
    assert mapping["labels"] == instance.dataset.labels.tolist()
    assert mapping["observable"]["form"] == "product"
    assert mapping["observable"]["num_terms"] == 2**n
    back = read_export(tmp_path)
    thetas = sample_points(instance)
    np.testing.assert_allclose(back.loss(thetas), instance.loss(thetas), rtol=0, atol=TOL)


@pytest.mark.parametrize("target", ["qiskit", "cirq", "qasm3"])
def test_round_trip_of_an_entangling_circuit_keeps_the_expectation_loss(load, tmp_path, target):
    pytest.importorskip("cirq" if target == "cirq" else "qiskit")
    if target == "qasm3":
        pytest.importorskip("qiskit_qasm3_import")
    instance = load("barren-plateau-n4-l35-v1")
    write_export(instance, target, tmp_path)
    mapping = read_mapping(tmp_path)
    assert mapping["version"] == 2 and mapping["conventions"]["loss_form"] == "expectation"
    assert mapping["observable"]["form"] == "pauli_sum"
    back = read_export(tmp_path)
    thetas = sample_points(instance)
    np.testing.assert_allclose(back.loss(thetas), instance.loss(thetas), rtol=0, atol=TOL)
    assert abs(back.loss(instance.certificate.global_minimizer) + 1.0) < TOL


def test_qasm3_round_trip_binds_reordered_parameters_by_name(tmp_path):
    pytest.importorskip("qiskit_qasm3_import")
    rng = np.random.default_rng(5)
    instance = handmade(rng, n=3, p=12, gates=16, mixtures=True, product=False)
    write_export(instance, "qasm3", tmp_path)
    back = read_export(tmp_path)
    loaded = [p.name for p in back.circuits[0].parameters]
    assert loaded != [f"theta_{j}" for j in range(12)]  # the reader sorts names: 10 before 2
    thetas = rng.uniform(0, 2 * np.pi, size=(2, 12))
    np.testing.assert_allclose(
        back.predictions(thetas), dense_predictions(instance, thetas), rtol=0, atol=TOL
    )


# ---------------------------------------------------------------- command line


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["qnntraps", *args])
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("target", ["qiskit", "cirq", "qasm3"])
def test_cli_export_writes_files_and_mapping(monkeypatch, capsys, tmp_path, target):
    pytest.importorskip("cirq" if target == "cirq" else "qiskit")
    out_dir = tmp_path / "out"
    code, out, err = run_cli(
        monkeypatch, capsys, "export", "construction-p18-v1", "--to", target, "-o", str(out_dir)
    )
    assert code == 0, err
    mapping = json.loads((out_dir / "mapping.json").read_text())
    assert mapping["observable"]["num_terms"] == 2**18  # product form: no size limit here
    assert (out_dir / mapping["ansatz"]["file"]).is_file()
    files = mapping["samples"].get("files") or [mapping["samples"]["file"]]
    assert all((out_dir / f).is_file() for f in files) and "wrote" in out


@pytest.mark.parametrize(
    "args, blocked, message",
    [
        (["export", "construction-p4-v9", "--to", "qiskit"], None, "did you mean"),
        (["export", "construction-p4-v1", "--to", "cirq"], "cirq", "pip install 'qnntraps[cirq]'"),
        (["export", "construction-p4-v1", "--to", "qasm3"], "qiskit", "qnntraps[qiskit]"),
    ],
)
def test_cli_export_errors_are_one_line(monkeypatch, capsys, tmp_path, args, blocked, message):
    if blocked:
        monkeypatch.setitem(sys.modules, blocked, None)
    code, out, err = run_cli(monkeypatch, capsys, *args, "-o", str(tmp_path / "x"))
    assert code == 2 and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_sdk_is_a_typed_error(load, monkeypatch):
    monkeypatch.setitem(sys.modules, "qiskit", None)
    with pytest.raises(MissingSdkError, match=r"pip install 'qnntraps\[qiskit\]'"):
        to_qiskit(load("construction-p2-v1"))
