"""The instance: plain frozen data (docs/format.md) with three thin conveniences.

`loss`, `loss_and_grad`, `predictions` and `is_hit` call the instance's compiled CPU evaluator
(`qnntraps.simulators.compile`) in the arithmetic of new runs (RUN_ARITHMETIC: for product-form
instances the fused kernel, which gives the oracle's and the scores' numbers bit for bit);
nothing is cached in the instance. The parts it is made of live
in `qnntraps.model` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnntraps.model import (
    BOUND_KINDS,
    CERTIFICATE_KINDS,
    COMPLETE_LADDER_KINDS,
    LOSS_FORMS,
    MULTISTART_KINDS,
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    GradientVariance,
    Inputs,
    Observable,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
    Provenance,
    frozen_array,
)

__all__ = [
    "CERTIFICATE_KINDS",
    "BOUND_KINDS",
    "COMPLETE_LADDER_KINDS",
    "LOSS_FORMS",
    "MULTISTART_KINDS",
    "Ansatz",
    "Certificate",
    "Dataset",
    "EncodedFeatures",
    "GradientVariance",
    "Inputs",
    "Instance",
    "Observable",
    "PauliMixtureStates",
    "PauliSumObservable",
    "ProductObservable",
    "Provenance",
    "frozen_array",
]


@dataclass(frozen=True, eq=False)
class Instance:
    """One frozen benchmark instance: ansatz, observable, dataset, certificate, provenance.

    `loss` and `loss_and_grad` accept theta of shape (p,) or (R, p) and evaluate the loss exactly,
    in float64: L(theta) = (1/m) sum_k (tr(U rho_k U^dag M) - y_k)^2 for the square loss, or
    (1/m) sum_k y_k tr(U rho_k U^dag M) for the expectation loss (`dataset.loss`).
    """

    id: str
    ansatz: Ansatz
    observable: Observable
    dataset: Dataset
    certificate: Certificate
    provenance: Provenance

    @property
    def num_qubits(self) -> int:
        return self.ansatz.num_qubits

    @property
    def num_parameters(self) -> int:
        return self.ansatz.num_parameters

    @property
    def num_samples(self) -> int:
        return self.dataset.num_samples

    def predictions(self, theta) -> np.ndarray:
        """Model outputs y_hat, shape (m,) or (R, m)."""
        from qnntraps.simulators import evaluate

        return evaluate.predictions(evaluate.cpu_evaluator(self), theta)

    def loss(self, theta) -> np.ndarray | float:
        """Exact loss: a float for theta of shape (p,), an array (R,) for shape (R, p)."""
        from qnntraps.simulators import evaluate

        return evaluate.loss(evaluate.cpu_evaluator(self), theta)

    def loss_and_grad(self, theta) -> tuple[np.ndarray | float, np.ndarray]:
        """Exact loss and gradient d L / d theta, shapes as for `loss` and like theta."""
        from qnntraps.simulators import evaluate

        return evaluate.loss_and_grad(evaluate.cpu_evaluator(self), theta)

    def is_hit(self, theta) -> np.ndarray | bool:
        """True where L(theta) - L* <= hit tolerance."""
        gap = np.asarray(self.loss(theta)) - self.certificate.global_min_value
        result = gap <= self.certificate.hit_tolerance
        return bool(result) if result.ndim == 0 else result
