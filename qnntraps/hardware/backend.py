"""What the shot oracle needs from a provider, and the choice of provider by configuration.

A ShotBackend holds the instance's m measured circuits (state preparation, ansatz, Y-basis change
and a measurement of every data qubit, compiled for the device once) and runs them:

- `sample(requests)`: each JobRequest is a seed and points (n, p); the answer is, per request, the
  counts (n, m) of shots in which every data qubit read +1, and the provider's job id. A local
  simulator runs each request as its own job seeded by its seed, so a restart's shots depend only
  on its own seeds; a real device runs all requests of a call as one job (seeds unused).
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
from qnntraps.instance import Instance, ProductObservable

# The factor (I + Y) in the (I, X, Y, Z) coefficients of a ProductObservable.
I_PLUS_Y = (1.0, 0.0, 1.0, 0.0)
# Density-matrix simulations for the exact noisy value stop at this many active qubits
# (4^10 complex entries = 16 MiB; 12 would be 256 MiB and slow).
EXACT_NOISY_MAX_QUBITS = 10
MEASUREMENT_KEY = "meas"
SDK_MODULES = {
    "qiskit": ("qiskit", "qiskit_aer", "qiskit_ibm_runtime"),
    "cirq": ("cirq", "sympy"),
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
    is_simulator: bool
    noisy_unavailable_reason: str | None

    def sample(self, requests: list[JobRequest]) -> list[JobResult]: ...

    def noisy_predictions(self, points: np.ndarray) -> np.ndarray | None: ...

    def device_facts(self) -> dict: ...


def check_instance(instance: Instance) -> None:
    """Refuse instances the one-setting estimator cannot measure (typed error)."""
    observable = instance.observable
    if not isinstance(observable, ProductObservable) or not np.array_equal(
        observable.factors, np.tile(I_PLUS_Y, (instance.num_qubits, 1))
    ):
        raise UnsupportedHardwareInstanceError(
            f"{instance.id}: the hardware track measures M = (x)_l (I + Y_l) with one Y-basis "
            "setting (M = 2^n |+i><+i|^(x)n); this instance's observable is "
            f"{type(observable).__name__} with other factors, which it does not estimate"
        )
    index = instance.ansatz.parameter_index
    uses = np.bincount(index[index >= 0], minlength=instance.num_parameters)
    if np.any(uses != 1):
        raise UnsupportedHardwareInstanceError(
            f"{instance.id}: the parameter-shift rule y(theta + pi/4) - y(theta - pi/4) is exact "
            "when each parameter drives exactly one Pauli rotation; here some drive "
            f"{sorted(set(uses.tolist()) - {1})} gates"
        )


def open_backend(instance: Instance, config: HardwareConfig) -> ShotBackend:
    """The provider's backend for this instance, circuits compiled (SDKs imported here)."""
    check_instance(instance)
    require_sdk("hardware", SDK_MODULES[config.provider])
    if config.provider == "qiskit":
        from qnntraps.hardware.qiskit_backend import QiskitShotBackend

        return QiskitShotBackend(instance, config)
    from qnntraps.hardware.cirq_backend import CirqShotBackend

    return CirqShotBackend(instance, config)


def readout_zero_weights(read_zero: list[tuple[float, float]]) -> np.ndarray:
    """w[b] = prod_i P(qubit i reads 0 | its bit is b_i), b little-endian over the list."""
    weights = np.ones(1)
    for given_zero, given_one in read_zero:
        weights = np.kron(np.array([given_zero, given_one]), weights)
    return weights
