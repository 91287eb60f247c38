"""Qiskit: fake IBM backends simulated by Aer with their noise models, or real IBM devices.

Imported by `backend.open_backend` only (it needs `pip install 'qnntraps[hardware]'`).

- The m measured circuits (state preparation, ansatz, the measurement's basis change: h for X,
  sdg + h for Y, nothing for Z; a measurement of every data qubit into the register "meas") are
  transpiled once for the device with
  `generate_preset_pass_manager(optimization_level, backend, seed_transpiler=config.seed)`;
  the parameters stay symbolic and are bound per job, so the circuits, their layouts and the
  noise do not depend on theta (which keeps the parameter-shift rule exact for the noisy model).
- fake_* backends (qiskit_ibm_runtime.fake_provider): Aer's SamplerV2 on
  `AerSimulator.from_backend(device)` (its noise model: gate errors and readout errors from the
  fake backend's calibration snapshot), one single-threaded job per request, seeded by the
  request's seed: repeatable bit for bit on a CPU.
- other names: a real IBM Quantum device through `qiskit_ibm_runtime.SamplerV2(mode=backend)`
  with every option written out; all requests of one oracle call go in one job. Needs a saved
  account (`QiskitRuntimeService.save_account`), else HardwareAccountError.
"""

from __future__ import annotations

import warnings
from importlib import metadata

import numpy as np
import qiskit
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.transpiler import generate_preset_pass_manager

from qnntraps.export.circuits import ExportPlan, build_plan
from qnntraps.export.qiskit_export import PARAMETER_VECTOR_NAME, plan_circuits
from qnntraps.hardware.backend import (
    EXACT_NOISY_MAX_QUBITS,
    MEASUREMENT_KEY,
    JobRequest,
    JobResult,
)
from qnntraps.hardware.config import HardwareConfig
from qnntraps.hardware.errors import HardwareAccountError, HardwareConfigError, HardwareError
from qnntraps.hardware.measurement import Measurement, measurement_for
from qnntraps.instance import Instance

# Local simulation: density matrices while they are small, else state-vector trajectories.
DENSITY_MATRIX_MAX_QUBITS = 12
# Aer runs single-threaded so that a seeded job is repeatable bit for bit on any CPU.
AER_THREADS = {"max_parallel_threads": 1, "max_parallel_experiments": 1, "max_parallel_shots": 1}
PROBABILITIES_LABEL = "all_data_probabilities"


def measured_circuits(
    plan: ExportPlan, parameters, measurement: Measurement
) -> list[QuantumCircuit]:
    """Sample k: preparation, ansatz, the basis change and measure data qubit l -> meas[l]."""
    ansatz, preparations = plan_circuits(plan, parameters)
    circuits = []
    for k, preparation in enumerate(preparations):
        circuit = preparation.compose(ansatz)
        register = ClassicalRegister(plan.num_data_qubits, MEASUREMENT_KEY)
        circuit.add_register(register)
        for q, letter in zip(plan.data_qubits, measurement.bases, strict=True):
            if letter == "Y":
                circuit.sdg(q)
            if letter in "XY":
                circuit.h(q)
        circuit.measure(list(plan.data_qubits), register)
        circuit.name = f"{plan.instance_id}-sample-{k}"
        circuits.append(circuit)
    return circuits


def event_counts(pub_result, measurement: Measurement) -> np.ndarray:
    """Shots (per parameter set) in which the measurement's event happened."""
    packed = getattr(pub_result.data, MEASUREMENT_KEY).array  # (n, shots, bytes), big-endian
    bits = np.unpackbits(packed, axis=-1)[..., ::-1][..., : measurement.num_qubits]
    return measurement.count(bits).reshape(-1)


class QiskitShotBackend:
    """The instance's circuits on a fake (local, Aer) or real IBM backend."""

    def __init__(self, instance: Instance, config: HardwareConfig):
        plan = build_plan(instance)
        self.shots = config.shots
        self.num_samples = instance.num_samples
        self.num_parameters = instance.num_parameters
        self.num_data_qubits = plan.num_data_qubits
        self.measurement = measurement_for(instance)
        self.is_simulator = config.is_local
        self.noisy_unavailable_reason: str | None = None
        self._config = config
        self._plan = plan
        self._device = _fake_device(config.backend) if config.is_local else _real_device(config)
        if plan.num_qubits > int(self._device.num_qubits):
            raise HardwareError(
                f"{instance.id} needs {plan.num_qubits} qubits ({plan.num_data_qubits} data "
                f"qubits and their purification ancillas) but {config.backend} has "
                f"{self._device.num_qubits}: choose a larger backend or a smaller instance"
            )
        parameters = ParameterVector(PARAMETER_VECTOR_NAME, plan.num_parameters)
        index = {parameter.name: j for j, parameter in enumerate(parameters)}
        manager = generate_preset_pass_manager(
            optimization_level=config.optimization_level,
            backend=self._device,
            seed_transpiler=config.seed,
        )
        try:
            self.circuits = tuple(
                manager.run(measured_circuits(plan, parameters, self.measurement))
            )
        except Exception as error:  # qiskit's TranspilerError and what its passes raise
            raise HardwareError(
                f"cannot compile {instance.id} for {config.backend}: {type(error).__name__}: "
                f"{' '.join(str(error).split())[:300]}"
            ) from None
        self._columns = []
        for circuit in self.circuits:
            columns = [index[parameter.name] for parameter in circuit.parameters]
            if sorted(columns) != list(range(plan.num_parameters)):
                raise HardwareError(f"transpiled circuit {circuit.name} lost a parameter")
            self._columns.append(columns)
        self._method = (
            "density_matrix" if plan.num_qubits <= DENSITY_MATRIX_MAX_QUBITS else "statevector"
        )
        if config.is_local:
            self._noise_model = device_noise_model(self._device, _used_qubits(self.circuits))
        else:
            self._sampler = _runtime_sampler(self._device, config)
        self._exact = None

    # --- sampling -----------------------------------------------------------------------------
    def _pubs(self, points: np.ndarray) -> list[tuple]:
        points = np.asarray(points, dtype=np.float64).reshape(-1, self.num_parameters)
        return [(c, points[:, cols]) for c, cols in zip(self.circuits, self._columns, strict=True)]

    def sample(self, requests: list[JobRequest]) -> list[JobResult]:
        if self.is_simulator:
            return [self._sample_local(request) for request in requests]
        return self._sample_device(requests)

    def _sample_local(self, request: JobRequest) -> JobResult:
        from qiskit_aer.primitives import SamplerV2

        options = {"noise_model": self._noise_model, "method": self._method, **AER_THREADS}
        sampler = SamplerV2(
            default_shots=self.shots, seed=int(request.seed), options={"backend_options": options}
        )
        job = sampler.run(self._pubs(request.points), shots=self.shots)
        result = job.result()
        counts = np.stack([event_counts(r, self.measurement) for r in result], axis=1)
        return JobResult(counts, str(job.job_id()))

    def _sample_device(self, requests: list[JobRequest]) -> list[JobResult]:
        pubs = [pub for request in requests for pub in self._pubs(request.points)]
        try:
            job = self._sampler.run(pubs, shots=self.shots)
            result = job.result()
        except Exception as error:  # the provider's own errors, with its message
            raise HardwareError(f"the job on {self._config.backend} failed: {error}") from error
        job_id = str(job.job_id())
        out, start = [], 0
        for _ in requests:
            block = result[start : start + self.num_samples]
            counts = np.stack([event_counts(r, self.measurement) for r in block], axis=1)
            out.append(JobResult(counts, job_id))
            start += self.num_samples
        return out

    # --- the exact noisy value ----------------------------------------------------------------
    def noisy_predictions(self, points: np.ndarray) -> np.ndarray | None:
        """E[y_hat] under the fake backend's noise model (Aer density matrix), shape (n, m)."""
        exact = self._exact_circuits()
        if exact is None:
            return None
        from qiskit_aer import AerSimulator

        circuits, weights = exact
        points = np.asarray(points, dtype=np.float64).reshape(-1, self.num_parameters)
        simulator = AerSimulator(
            method="density_matrix",
            noise_model=self._noise_model,
            **AER_THREADS,
        )
        binds = [
            {parameter: points[:, j] for parameter, j in zip(c.parameters, cols, strict=True)}
            for c, cols in zip(circuits, self._columns, strict=True)
        ]
        result = simulator.run(circuits, parameter_binds=binds, shots=1).result()
        n = points.shape[0]
        out = np.empty((n, self.num_samples))
        for k in range(self.num_samples):
            for i in range(n):
                probabilities = np.asarray(result.data(k * n + i)[PROBABILITIES_LABEL])
                out[i, k] = float(probabilities @ weights[k])
        return self.measurement.predictions(out)

    def _exact_circuits(self):
        """Measurement-free circuits saving the data qubits' probabilities, and readout weights."""
        if self._exact is not None or self.noisy_unavailable_reason is not None:
            return self._exact
        if not self.is_simulator:
            self.noisy_unavailable_reason = "a real device: no simulator has its noise model"
            return None
        from qiskit_aer.library import SaveProbabilities

        readout, reason = _readout_errors(self._noise_model)
        circuits, weights = [], []
        for circuit in self.circuits:
            measured = _final_measurements(circuit)
            active = _active_qubits(circuit)
            if measured is None:
                reason = reason or f"{circuit.name} has measurements that are not final"
            elif active > EXACT_NOISY_MAX_QUBITS:
                reason = reason or (
                    f"{active} active qubits: density matrices stop at {EXACT_NOISY_MAX_QUBITS}"
                )
            if reason:
                self.noisy_unavailable_reason = reason
                return None
            bare = circuit.remove_final_measurements(inplace=False)
            bare.append(
                SaveProbabilities(len(measured), label=PROBABILITIES_LABEL),
                [bare.qubits[q] for q in measured],
            )
            circuits.append(bare)
            read_zero = [readout.get(q, (1.0, 0.0)) for q in measured]
            weights.append(self.measurement.event_weights(read_zero))
        self._exact = (circuits, weights)
        return self._exact

    # --- facts --------------------------------------------------------------------------------
    def device_facts(self) -> dict:
        device = self._device
        calibration, note = _calibration_time(device)
        self._exact_circuits()
        return {
            "provider": "qiskit",
            "device": device.name,
            "backend_version": str(getattr(device, "backend_version", None)),
            "num_device_qubits": int(device.num_qubits),
            "local_simulation": (
                "qiskit_aer SamplerV2 (AerSimulator) with the fake backend's noise model: "
                "NoiseModel.from_backend's readout and gate errors (depolarizing + thermal "
                "relaxation from its calibration snapshot) on the qubits the circuits use"
                if self.is_simulator
                else None
            ),
            "simulator_options": {"method": self._method, **AER_THREADS}
            if self.is_simulator
            else None,
            "calibration_time": calibration,
            "calibration_time_note": note,
            "shots_per_circuit": self.shots,
            "measurement": self.measurement.as_dict(),
            "transpiler": {
                "seed_transpiler": self._config.seed,
                "optimization_level": self._config.optimization_level,
            },
            "mitigation": self._config.as_dict()["mitigation"],
            "circuits": [_circuit_facts(k, c) for k, c in enumerate(self.circuits)],
            "exact_noisy_value": None
            if self.noisy_unavailable_reason
            else "Aer density-matrix simulation with the same noise model, readout errors applied",
            "exact_noisy_value_note": self.noisy_unavailable_reason,
            "sdk_versions": _versions(
                "qiskit", "qiskit-aer", "qiskit-ibm-runtime", default=qiskit.__version__
            ),
        }


def device_noise_model(device, qubits: set[int]):
    """The noise model of `NoiseModel.from_backend(device)` restricted to `qubits`.

    The same readout errors and gate errors (depolarizing + thermal relaxation from the target's
    calibration), built by the same Aer functions, but only on the qubits the circuits use: Aer
    converts the whole model for every job, and a 127-qubit model costs far more than the
    simulation. Errors of other qubits never act on these circuits, so the counts are the same.
    (from_backend's delay-relaxation pass is left out: the circuits are not scheduled and hold
    no delays.)
    """
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.noise.device import basic_device_gate_errors, basic_device_readout_errors

    target = device.target
    model = NoiseModel(basis_gates=list(device.operation_names))
    for error_qubits, error in basic_device_readout_errors(target=target):
        if set(error_qubits) <= qubits:
            model.add_readout_error(error, error_qubits)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        gate_errors = basic_device_gate_errors(
            gate_error=True, thermal_relaxation=True, target=target
        )
    for name, error_qubits, error in gate_errors:
        if set(error_qubits) <= qubits:
            model.add_quantum_error(error, name, error_qubits)
    return model


def _fake_device(name: str):
    """The fake backend called `name` (e.g. fake_guadalupe is FakeGuadalupeV2)."""
    from qiskit_ibm_runtime import fake_provider

    stem = "Fake" + "".join(part.title() for part in name.removeprefix("fake_").split("_"))
    for class_name in (f"{stem}V2", stem):
        kind = getattr(fake_provider, class_name, None)
        if isinstance(kind, type):
            device = kind()
            if device.name == name:
                return device
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        names = sorted(b.name for b in fake_provider.FakeProviderForBackendV2().backends())
    if name not in names:
        raise HardwareConfigError(
            f"no fake backend named {name!r}; qiskit-ibm-runtime has: {', '.join(names)}"
        )
    return fake_provider.FakeProviderForBackendV2().backend(name)


def _used_qubits(circuits) -> set[int]:
    return {
        circuit.find_bit(q).index
        for circuit in circuits
        for instruction in circuit.data
        for q in instruction.qubits
    }


def _real_device(config: HardwareConfig):
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        service = QiskitRuntimeService(**dict(config.account))
    except Exception as error:  # AccountNotFoundError, InvalidAccountError, network errors
        raise HardwareAccountError(
            f"the real IBM device {config.backend!r} needs an IBM Quantum account: none could "
            f"be loaded ({type(error).__name__}: {error}). Save one once with "
            "QiskitRuntimeService.save_account(channel=..., token=..., instance=...), or use "
            "a fake backend such as fake_guadalupe (docs/hardware.md)"
        ) from None
    try:
        return service.backend(config.backend)
    except Exception as error:
        raise HardwareConfigError(
            f"IBM Quantum has no backend {config.backend!r} for this account: {error}"
        ) from None


def _runtime_sampler(device, config: HardwareConfig):
    from qiskit_ibm_runtime import SamplerV2

    mitigation = config.mitigation
    options = {
        "default_shots": config.shots,
        "dynamical_decoupling": {
            "enable": mitigation.dynamical_decoupling,
            "sequence_type": "XX",
        },
        "twirling": {
            "enable_gates": mitigation.twirling_gates,
            "enable_measure": mitigation.twirling_measure,
        },
    }
    return SamplerV2(mode=device, options=options)


def _readout_errors(noise_model) -> tuple[dict[int, tuple[float, float]], str | None]:
    """qubit -> (P(read 0 | 0), P(read 0 | 1)) from the noise model; a reason if unusable."""
    readout: dict[int, tuple[float, float]] = {}
    for error in noise_model.to_dict()["errors"]:
        if "measure" not in error["operations"]:
            continue
        if error["type"] != "roerror":
            return {}, "the noise model has quantum errors on measurements"
        probabilities = error["probabilities"]
        qubits = error.get("gate_qubits")
        if not qubits or any(len(q) != 1 for q in qubits) or len(probabilities) != 2:
            return {}, "the noise model has correlated or all-qubit readout errors"
        for (q,) in qubits:
            readout[int(q)] = (float(probabilities[0][0]), float(probabilities[1][0]))
    return readout, None


def _final_measurements(circuit: QuantumCircuit) -> list[int] | None:
    """Physical qubit of each bit of "meas" (in bit order), or None if a measure is not final."""
    register = next(r for r in circuit.cregs if r.name == MEASUREMENT_KEY)
    qubit_of_bit: dict[int, int] = {}
    last_use: dict[int, int] = {}
    for position, instruction in enumerate(circuit.data):
        for qubit in instruction.qubits:
            last_use[circuit.find_bit(qubit).index] = position
        if instruction.operation.name == "measure":
            bit = register.index(instruction.clbits[0])
            qubit_of_bit[bit] = circuit.find_bit(instruction.qubits[0]).index
    for position, instruction in enumerate(circuit.data):
        if instruction.operation.name == "measure":
            q = circuit.find_bit(instruction.qubits[0]).index
            if last_use[q] != position:
                return None
    return [qubit_of_bit[b] for b in range(len(register))]


def _active_qubits(circuit: QuantumCircuit) -> int:
    used = {
        circuit.find_bit(q).index
        for instruction in circuit.data
        if instruction.operation.name not in ("barrier", "delay")
        for q in instruction.qubits
    }
    return len(used)


def _circuit_facts(k: int, circuit: QuantumCircuit) -> dict:
    layout = circuit.layout
    return {
        "sample": k,
        "initial_layout": layout.initial_index_layout(filter_ancillas=True) if layout else None,
        "final_layout": layout.final_index_layout(filter_ancillas=True) if layout else None,
        "measured_qubits": _final_measurements(circuit),
        "depth": int(circuit.depth()),
        "operations": {str(name): int(n) for name, n in circuit.count_ops().items()},
    }


def _calibration_time(device) -> tuple[str | None, str | None]:
    try:
        properties = device.properties()
    except Exception as error:  # a target-only backend
        return None, f"the backend publishes no properties ({type(error).__name__})"
    if properties is None or getattr(properties, "last_update_date", None) is None:
        return None, "the backend's properties carry no last_update_date"
    stamp = properties.last_update_date
    return (stamp.isoformat() if hasattr(stamp, "isoformat") else str(stamp)), None


def _versions(*names: str, default: str | None = None) -> dict:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions.get("qiskit") is None:
        versions["qiskit"] = default
    return versions
