"""One evaluator protocol, and `compile`, which picks the cheapest exact simulator for a model.

Every consumer of losses (the oracle and sealed execution, scoring, certificates' checks, the
exports' parity tests) takes an Evaluator. `compile(model, device)` tries the strategies in
STRATEGIES in order, cheapest first, and returns the first that accepts the model's structure:

1. ``product-form``: one layer of one-qubit rotations, a product observable, product inputs and
   the square loss; O(m p) per parameter vector in closed form (product_form.py).
2. ``statevector``: anything the format holds, up to 26 qubits; batched states with adjoint
   gradients (statevector.py).

The dense NumPy reference (dense.py) is not a strategy: it exists to check these two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from qnntraps.errors import UnsupportedStructureError
from qnntraps.model import Model
from qnntraps.simulators import statevector, torch_product
from qnntraps.simulators.product_form import ProductForm, compile_product_form


class Evaluator(Protocol):
    """Exact, batched evaluation of one instance on one device, in float64.

    theta is a (R, p) float64 tensor on `device`; results are tensors on `device`.
    """

    strategy: str
    num_parameters: int
    num_samples: int

    @property
    def device(self) -> torch.device: ...

    def predictions(self, theta: torch.Tensor) -> torch.Tensor:
        """Model outputs y_hat (R, m)."""

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """Loss (R,)."""

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss (R,) and its gradient (R, p)."""


@dataclass(frozen=True, eq=False)
class ProductFormEvaluator:
    """The product-form closed form (torch), with the NumPy form it came from."""

    form: ProductForm
    torch_form: torch_product.TorchProductForm
    strategy: str = "product-form"

    @property
    def num_parameters(self) -> int:
        return self.form.num_parameters

    @property
    def num_samples(self) -> int:
        return int(self.form.labels.shape[0])

    @property
    def device(self) -> torch.device:
        return self.torch_form.device

    def predictions(self, theta: torch.Tensor) -> torch.Tensor:
        return torch_product.predictions(self.torch_form, theta)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return torch_product.loss(self.torch_form, theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch_product.loss_and_grad(self.torch_form, theta)

    def hessian(self, theta: torch.Tensor) -> torch.Tensor:
        """Exact Hessians (R, p, p)."""
        return torch_product.hessian(self.torch_form, theta)


@dataclass(frozen=True, eq=False)
class StatevectorEvaluator:
    """The batched statevector simulator with adjoint gradients."""

    program: statevector.StatevectorProgram
    strategy: str = "statevector"

    @property
    def num_parameters(self) -> int:
        return self.program.num_parameters

    @property
    def num_samples(self) -> int:
        return int(self.program.labels.shape[0])

    @property
    def device(self) -> torch.device:
        return self.program.states.device

    def predictions(self, theta: torch.Tensor) -> torch.Tensor:
        return statevector.predictions(self.program, theta)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return statevector.loss(self.program, theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return statevector.loss_and_grad(self.program, theta)


def product_form_strategy(model: Model, device) -> ProductFormEvaluator:
    if model.dataset.loss != "square":
        raise UnsupportedStructureError("the product form computes the square loss only")
    form = compile_product_form(model.ansatz, model.observable, model.dataset)
    return ProductFormEvaluator(form, torch_product.to_torch(form, device))


def statevector_strategy(model: Model, device) -> StatevectorEvaluator:
    return StatevectorEvaluator(statevector.compile_statevector(model, device))


STRATEGIES: tuple[tuple[str, Callable[[Model, str | torch.device], Evaluator]], ...] = (
    ("product-form", product_form_strategy),
    ("statevector", statevector_strategy),
)


def compile(model: Model, device: str | torch.device = "cpu") -> Evaluator:  # noqa: A001
    """The cheapest exact evaluator of `model` (an Instance) on `device`."""
    reasons = []
    for name, strategy in STRATEGIES:
        try:
            return strategy(model, device)
        except UnsupportedStructureError as error:
            reasons.append(f"{name}: {error}")
    raise UnsupportedStructureError("no simulator takes this instance (" + "; ".join(reasons) + ")")
