"""What the shot oracle needs from a provider, and the choice of provider by configuration.

A ShotBackend holds the instance's m measured circuits (state preparation, ansatz, the basis
change of its Measurement and a measurement of every data qubit, compiled for the device once)
and runs them:

- `sample(requests)`: each JobRequest is a seed and points (n, p); the answer is, per request, the
  counts (n, m) of shots in which the measurement's event happened (every data qubit read +1 in
  the Y basis for M = (x)(I + Y); qubits 0 and 1 read even parity for M = Z_0 Z_1), and the
  provider's job id. A local simulator runs each request as its own job seeded by its seed, so a
  restart's shots depend only on its own seeds; a real device runs all requests of a call as one
  job (seeds unused).
- `noisy_predictions(points)`: the exact expectation of y_hat under the same noise model
  (density-matrix simulation), or None with the reason in `noisy_unavailable_reason`.
- `device_facts()`: device name, version, calibration time, transpiler seed and layouts, ...

The SDK modules are imported only in `open_backend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qnntraps.export.circuits import require_sdk
from qnntraps.hardware.config import HardwareConfig
from qnntraps.hardware.errors import UnsupportedHardwareInstanceError
from qnntraps.hardware.measurement import Measurement, measurement_for
from qnntraps.instance import Instance

# Density-matrix simulations for the exact noisy value stop at this many active qubits
# (4^10 complex entries = 16 MiB; 12 would be 256 MiB and slow).
EXACT_NOISY_MAX_QUBITS = 10
MEASUREMENT_KEY = "meas"
SDK_MODULES = {
    "qiskit": ("qiskit", "qiskit_aer", "qiskit_ibm_runtime"),
    "cirq": ("cirq", "sympy"),
    "qnntraps": (),
}


@dataclass(frozen=True, eq=False)
class JobRequest:
    """Run the m circuits at each of `points` (n, p) with `shots` each; seed for simulators."""

    seed: int
    points: np.ndarray


@dataclass(frozen=True, eq=False)
class JobResult:
    """counts (n, m): shots in which every data qubit read +1; the provider's job id if any."""

    counts: np.ndarray
    job_id: str | None


class ShotBackend(Protocol):
    shots: int
    num_samples: int
    num_parameters: int
    num_data_qubits: int
    measurement: Measurement
    is_simulator: bool
    noisy_unavailable_reason: str | None

    def sample(self, requests: list[JobRequest]) -> list[JobResult]: ...

    def noisy_predictions(self, points: np.ndarray) -> np.ndarray | None: ...

    def device_facts(self) -> dict: ...


def check_instance(instance: Instance) -> Measurement:
    """The instance's one-setting measurement; typed error where the estimator cannot apply."""
    measurement = measurement_for(instance)
    index = instance.ansatz.parameter_index
    uses = np.bincount(index[index >= 0], minlength=instance.num_parameters)
    if np.any(uses != 1):
        raise UnsupportedHardwareInstanceError(
            f"{instance.id}: the parameter-shift rule y(theta + pi/4) - y(theta - pi/4) is exact "
            "when each parameter drives exactly one Pauli rotation; here some drive "
            f"{sorted(set(uses.tolist()) - {1})} gates"
        )
    return measurement


def open_backend(instance: Instance, config: HardwareConfig) -> ShotBackend:
    """The provider's backend for this instance, circuits compiled (SDKs imported here)."""
    check_instance(instance)
    if config.provider == "qnntraps":
        from qnntraps.hardware.ideal_backend import IdealShotBackend

        return IdealShotBackend(instance, config)
    require_sdk("hardware", SDK_MODULES[config.provider])
    if config.provider == "qiskit":
        from qnntraps.hardware.qiskit_backend import QiskitShotBackend

        return QiskitShotBackend(instance, config)
    from qnntraps.hardware.cirq_backend import CirqShotBackend

    return CirqShotBackend(instance, config)
