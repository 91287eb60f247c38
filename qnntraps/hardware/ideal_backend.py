"""The ideal device: a noiseless quantum computer simulated by qnntraps itself.

Each of the m measured circuits has one event (measurement.py) whose probability is
q = (y - offset) / slope, with y the exact prediction from the instance's compiled CPU evaluator
(product form or statevector, docs/performance.md). A shot is a Bernoulli(q) draw of the event,
independent of the others, so the count over S shots is exactly Binomial(S, q): the counts are
drawn from that law with numpy's PCG64 seeded by the request's seed. Only shot noise remains,
which isolates what a finite shot budget does to an optimizer (docs/barren_plateau.md, "The
hardware track"). Runs repeat bit for bit: the predictions are batch-invariant on the CPU and the
seeds are the oracle's per-restart seeds.
"""

from __future__ import annotations

import numpy as np
import torch

from qnntraps.hardware.backend import JobRequest, JobResult
from qnntraps.hardware.config import HardwareConfig
from qnntraps.hardware.measurement import measurement_for
from qnntraps.instance import Instance
from qnntraps.simulators.evaluate import cpu_evaluator

# Points per evaluator call: bounds the statevector's memory (2^n amplitudes per point and
# input state); the predictions do not depend on the chunking.
AMPLITUDES_PER_CALL = 2**22


class IdealShotBackend:
    """Exact event probabilities, binomial counts; no noise, no device facts to calibrate."""

    def __init__(self, instance: Instance, config: HardwareConfig):
        self.shots = config.shots
        self.num_samples = instance.num_samples
        self.num_parameters = instance.num_parameters
        self.num_data_qubits = instance.num_qubits
        self.measurement = measurement_for(instance)
        self.is_simulator = True
        self.noisy_unavailable_reason: str | None = None
        self._config = config
        self._evaluator = cpu_evaluator(instance)
        self._chunk = max(1, AMPLITUDES_PER_CALL // (self.num_samples << instance.num_qubits))

    def _predictions(self, points: np.ndarray) -> np.ndarray:
        points = np.asarray(points, dtype=np.float64).reshape(-1, self.num_parameters)
        parts = [
            self._evaluator.predictions(torch.from_numpy(points[start : start + self._chunk]))
            for start in range(0, points.shape[0], self._chunk)
        ]
        return torch.cat(parts).numpy() if parts else np.empty((0, self.num_samples))

    def sample(self, requests: list[JobRequest]) -> list[JobResult]:
        """All requests' points in one batch (the predictions do not depend on the batching, so
        this is only faster), then each request's counts from its own seed."""
        points = [
            np.asarray(r.points, dtype=np.float64).reshape(-1, self.num_parameters)
            for r in requests
        ]
        sizes = [block.shape[0] for block in points]
        if not points:
            return []
        predictions = self._predictions(np.concatenate(points))
        out, start = [], 0
        for request, size in zip(requests, sizes, strict=True):
            q = self.measurement.probabilities(predictions[start : start + size])
            start += size
            generator = np.random.Generator(np.random.PCG64(int(request.seed)))
            counts = generator.binomial(self.shots, q).astype(np.int64)
            out.append(JobResult(counts, None))
        return out

    def noisy_predictions(self, points: np.ndarray) -> np.ndarray | None:
        """The exact predictions: the ideal device has no noise."""
        return self._predictions(points)

    def device_facts(self) -> dict:
        return {
            "provider": "qnntraps",
            "device": "ideal (noiseless)",
            "backend_version": None,
            "local_simulation": (
                "exact event probabilities from the compiled CPU evaluator "
                f"({type(self._evaluator).__name__}); counts ~ Binomial(shots, q) drawn by "
                "numpy PCG64 seeded per request"
            ),
            "measurement": self.measurement.as_dict(),
            "calibration_time": None,
            "calibration_time_note": "a noiseless simulator: no calibration",
            "shots_per_circuit": self.shots,
            "seed": self._config.seed,
            "job_ids": "none: local draws",
            "exact_noisy_value": "the exact noiseless loss (no noise)",
            "exact_noisy_value_note": None,
        }
