"""Cirq: a local density-matrix simulator with an explicit noise model, or a Google processor.

Imported by `backend.open_backend` only (it needs `pip install 'qnntraps[hardware]'`).

- The m measured circuits: state preparation, ansatz, then the measurement's basis change (h for
  X, sdg and h for Y, nothing for Z) on the data qubits, and a final moment measuring every data
  qubit under the key "meas" (bit l = data qubit l).
- "density_matrix": `cirq.DensityMatrixSimulator(noise=DepolarizingReadoutNoise(...),
  seed=request seed, dtype=complex128)`, one simulator per request, sampled through the
  cirq.Sampler interface (`run_sweep`). The noise model puts a depolarizing channel of
  probability `depolarize` on every qubit after every moment (as cirq.ConstantQubitNoiseModel
  does) and a bit flip of probability `readout_flip` on each measured qubit right before the
  measurement. Its exact noisy value: the same simulator's final density matrix of the circuit
  without the measurement moment, with the bit flips applied to the data qubits' marginal.
- "google:<processor id>": `cirq_google.get_engine_sampler(processor_id, project_id)` after a
  check that Google credentials exist (else HardwareAccountError); the circuits are routed onto
  the device graph and compiled to CZ + single-qubit gates. Not exercised by the tests (no
  account); see docs/hardware.md.
"""

from __future__ import annotations

import cirq
import numpy as np
import sympy

from qnntraps.export.circuits import MissingSdkError, build_plan
from qnntraps.export.cirq_export import SYMBOL_PREFIX, build_circuit
from qnntraps.hardware.backend import (
    EXACT_NOISY_MAX_QUBITS,
    MEASUREMENT_KEY,
    JobRequest,
    JobResult,
)
from qnntraps.hardware.config import HardwareConfig
from qnntraps.hardware.errors import HardwareAccountError, HardwareError
from qnntraps.hardware.measurement import measurement_for
from qnntraps.instance import Instance


class DepolarizingReadoutNoise(cirq.NoiseModel):
    """depolarize(p) on every system qubit after every moment; bit_flip(r) before measurements."""

    def __init__(self, depolarize: float, readout_flip: float):
        self.depolarize = float(depolarize)
        self.readout_flip = float(readout_flip)

    def noisy_moment(self, moment: cirq.Moment, system_qubits):
        if self.is_virtual_moment(moment):
            return moment
        measured = [q for op in moment if cirq.is_measurement(op) for q in op.qubits]
        if measured:
            if self.readout_flip == 0.0:
                return [moment]
            flips = [
                cirq.bit_flip(self.readout_flip).on(q).with_tags(cirq.VirtualTag())
                for q in measured
            ]
            return [cirq.Moment(flips), moment]
        if self.depolarize == 0.0:
            return [moment]
        channel = cirq.depolarize(self.depolarize)
        return [
            moment,
            cirq.Moment(channel.on(q).with_tags(cirq.VirtualTag()) for q in system_qubits),
        ]


class CirqShotBackend:
    """The instance's circuits on cirq's noisy density-matrix simulator or a Google processor."""

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
        self.qubits = tuple(cirq.LineQubit.range(plan.num_qubits))
        self.symbols = tuple(
            sympy.Symbol(f"{SYMBOL_PREFIX}{j}") for j in range(plan.num_parameters)
        )
        data = [self.qubits[q] for q in plan.data_qubits]
        ansatz = build_circuit(plan.ansatz, self.qubits, self.symbols)
        bases = self.measurement.bases
        basis = cirq.Circuit(
            [cirq.S(q) ** -1 for q, letter in zip(data, bases, strict=True) if letter == "Y"],
            [cirq.H(q) for q, letter in zip(data, bases, strict=True) if letter in "XY"],
        )
        measure = cirq.Moment(cirq.measure(*data, key=MEASUREMENT_KEY))
        self.bodies = tuple(
            build_circuit(prep, self.qubits, self.symbols) + ansatz + basis
            for prep in plan.preparations
        )
        self.circuits = tuple(cirq.Circuit([*body.moments, measure]) for body in self.bodies)
        if config.is_local:
            self.noise = DepolarizingReadoutNoise(
                config.noise.depolarize, config.noise.readout_flip
            )
            self._device_sampler = None
            self._facts: dict = {}
        else:
            self.noise = None
            self._device_sampler, self.circuits, self._facts = _google(config, self.circuits)
            self.noisy_unavailable_reason = "a real device: no simulator has its noise model"
        if self.is_simulator and len(self.qubits) > EXACT_NOISY_MAX_QUBITS:
            self.noisy_unavailable_reason = (
                f"{len(self.qubits)} qubits: density matrices stop at {EXACT_NOISY_MAX_QUBITS}"
            )

    def _resolvers(self, points: np.ndarray) -> list[cirq.ParamResolver]:
        points = np.asarray(points, dtype=np.float64).reshape(-1, self.num_parameters)
        return [
            cirq.ParamResolver({s.name: float(v) for s, v in zip(self.symbols, row, strict=True)})
            for row in points
        ]

    def _counts(self, sampler: cirq.Sampler, points: np.ndarray) -> np.ndarray:
        resolvers = self._resolvers(points)
        counts = np.empty((len(resolvers), self.num_samples), dtype=np.int64)
        for k, circuit in enumerate(self.circuits):
            results = sampler.run_sweep(circuit, resolvers, repetitions=self.shots)
            for i, result in enumerate(results):
                bits = result.measurements[MEASUREMENT_KEY]  # (shots, n) 0/1
                counts[i, k] = self.measurement.count(bits)
        return counts

    def sample(self, requests: list[JobRequest]) -> list[JobResult]:
        out = []
        for request in requests:
            if self.is_simulator:
                sampler = cirq.DensityMatrixSimulator(
                    noise=self.noise, seed=_random_state(request.seed), dtype=np.complex128
                )
            else:
                sampler = self._device_sampler
            try:
                counts = self._counts(sampler, request.points)
            except Exception as error:
                if self.is_simulator:
                    raise
                raise HardwareError(f"the job on {self._config.backend} failed: {error}") from error
            out.append(JobResult(counts, None))  # the cirq.Sampler interface gives no job ids
        return out

    def noisy_predictions(self, points: np.ndarray) -> np.ndarray | None:
        """E[y_hat] under the same noise model (density matrix, readout flips applied): (n, m)."""
        if self.noisy_unavailable_reason is not None:
            return None
        simulator = cirq.DensityMatrixSimulator(noise=self.noise, dtype=np.complex128)
        resolvers = self._resolvers(points)
        n_data = self.num_data_qubits
        r = self.noise.readout_flip
        weights = self.measurement.event_weights([(1.0 - r, r)] * n_data)
        # cirq's order is big-endian (data qubit 0 most significant); reverse to little-endian.
        order = np.arange(2**n_data).reshape((2,) * n_data).transpose().reshape(-1)
        out = np.empty((len(resolvers), self.num_samples))
        for k, body in enumerate(self.bodies):
            results = simulator.simulate_sweep(body, resolvers, qubit_order=self.qubits)
            for i, result in enumerate(results):
                diagonal = np.real(np.diagonal(result.final_density_matrix))
                marginal = diagonal.reshape(2**n_data, -1).sum(axis=1)
                out[i, k] = float(marginal[order] @ weights)
        return self.measurement.predictions(out)

    def device_facts(self) -> dict:
        if self.is_simulator:
            facts = {
                "provider": "cirq",
                "device": "cirq.DensityMatrixSimulator",
                "backend_version": cirq.__version__,
                "num_device_qubits": len(self.qubits),
                "local_simulation": (
                    "cirq.DensityMatrixSimulator(dtype=complex128) with DepolarizingReadoutNoise: "
                    f"depolarize({self.noise.depolarize}) on every qubit after every moment, "
                    f"bit_flip({self.noise.readout_flip}) before every measurement"
                ),
                "calibration_time": None,
                "calibration_time_note": "a simulator: no calibration",
            }
        else:
            facts = dict(self._facts)
        return {
            **facts,
            "shots_per_circuit": self.shots,
            "measurement": self.measurement.as_dict(),
            "seed": self._config.seed,
            "noise": self._config.as_dict().get("noise"),
            "circuits": [
                {"sample": k, "depth": len(c), "operations": len(list(c.all_operations()))}
                for k, c in enumerate(self.circuits)
            ],
            "job_ids": "none: the cirq.Sampler interface returns results without job ids",
            "exact_noisy_value": None
            if self.noisy_unavailable_reason
            else "cirq.DensityMatrixSimulator with the same noise model, readout flips applied",
            "exact_noisy_value_note": self.noisy_unavailable_reason,
            "sdk_versions": {"cirq": cirq.__version__},
        }


def _random_state(seed: int) -> np.random.RandomState:
    """cirq's simulators take a RandomState; MT19937 seeded through a SeedSequence takes any
    63-bit seed (an int seed of RandomState must be below 2^32)."""
    return np.random.RandomState(np.random.MT19937(int(seed)))


def _google(config: HardwareConfig, circuits):
    """A Google processor's sampler, the circuits routed and compiled for it, and its facts."""
    try:
        import cirq_google
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError as error:
        raise MissingSdkError(
            "a Google processor needs the package cirq-google (pip install cirq-google); "
            f"it is not installed ({error})"
        ) from None
    try:
        google.auth.default()
    except DefaultCredentialsError as error:
        raise HardwareAccountError(
            f"the Google processor {config.processor_id!r} needs Google Cloud credentials: "
            f"none were found ({error}). Run 'gcloud auth application-default login', or use "
            'the local "density_matrix" backend (docs/hardware.md)'
        ) from None
    project_id = dict(config.account)["project_id"]
    try:
        engine = cirq_google.Engine(project_id=project_id)
        processor = engine.get_processor(config.processor_id)
        device = processor.get_device()
        sampler = processor.get_sampler()
    except Exception as error:
        raise HardwareAccountError(
            f"cannot reach processor {config.processor_id!r} of project {project_id!r}: {error}"
        ) from None
    graph = device.metadata.nx_graph
    router = cirq.RouteCQC(graph)
    compiled = []
    layouts = []
    for k, circuit in enumerate(circuits):
        routed, initial, _ = router.route_circuit(circuit, initial_mapper=None)
        routed = cirq.optimize_for_target_gateset(routed, gateset=cirq.CZTargetGateset())
        compiled.append(routed)
        layouts.append(
            {"sample": k, "initial_layout": {str(a): str(b) for a, b in initial.items()}}
        )
    try:
        calibration = processor.get_current_calibration()
        stamp, note = (calibration.timestamp, None) if calibration else (None, "no calibration")
    except Exception as error:
        stamp, note = None, f"calibration unavailable: {error}"
    facts = {
        "provider": "cirq",
        "device": config.processor_id,
        "backend_version": cirq_google.__version__,
        "num_device_qubits": len(graph.nodes),
        "local_simulation": None,
        "calibration_time": stamp,
        "calibration_time_note": note,
        "layouts": layouts,
    }
    return sampler, tuple(compiled), facts
