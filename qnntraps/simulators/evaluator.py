"""One evaluator protocol, and `compile`, which picks the cheapest exact simulator for a model.

Every consumer of losses (the oracle and sealed execution, scoring, certificates' checks, the
exports' parity tests) takes an Evaluator. `compile(model, device)` tries the strategies in
STRATEGIES in order, cheapest first, and returns the first that accepts the model's structure:

1. ``product-form``: one layer of one-qubit rotations, a product observable, product inputs and
   the square loss; O(m p) per parameter vector in closed form (product_form.py), in one of two
   arithmetics (ARITHMETICS): 1, plain torch (torch_product.py), the arithmetic of runs recorded
   before 2 and compile's default (`hessian` is in it either way); 2, the fused kernel's
   fixed-order arithmetic (fused_product.py: compiled C, or its torch mirror, bit for bit the
   same), which new runs, their scores and `Instance.loss` use (RUN_ARITHMETIC). The two agree
   to a few ulps; a run records its arithmetic so that a re-run repeats it.
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
from qnntraps.simulators import fused_product, statevector, torch_product
from qnntraps.simulators.product_form import ProductForm, compile_product_form

ARITHMETICS = (1, 2)
RUN_ARITHMETIC = 2  # the arithmetic of new runs' oracles


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
    """The product-form closed form, with the NumPy form it came from: in arithmetic 1 (torch)
    when `fused` is None, in arithmetic 2 (the fused kernel) otherwise."""

    form: ProductForm
    torch_form: torch_product.TorchProductForm
    fused: fused_product.FusedProductForm | None = None
    strategy: str = "product-form"

    @property
    def arithmetic(self) -> int:
        return 1 if self.fused is None else 2

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
        if self.fused is not None:
            return fused_product.predictions(self.fused, theta)
        return torch_product.predictions(self.torch_form, theta)

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return fused_product.loss(self.fused, theta)
        return torch_product.loss(self.torch_form, theta)

    def loss_and_grad(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.fused is not None:
            return fused_product.loss_and_grad(self.fused, theta)
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


def product_form_strategy(model: Model, device, arithmetic: int = 1) -> ProductFormEvaluator:
    if model.dataset.loss != "square":
        raise UnsupportedStructureError("the product form computes the square loss only")
    form = compile_product_form(model.ansatz, model.observable, model.dataset)
    if arithmetic == 2:  # the fused form's tensors serve arithmetic 1's Hessian too
        fused = fused_product.fuse(form, device)
        return ProductFormEvaluator(form, fused.tensors, fused)
    return ProductFormEvaluator(form, torch_product.to_torch(form, device))


def statevector_strategy(model: Model, device, arithmetic: int = 1) -> StatevectorEvaluator:
    """One arithmetic for now: both numbers give the same simulator."""
    return StatevectorEvaluator(statevector.compile_statevector(model, device))


STRATEGIES: tuple[tuple[str, Callable[..., Evaluator]], ...] = (
    ("product-form", product_form_strategy),
    ("statevector", statevector_strategy),
)


def check_arithmetic(arithmetic) -> int:
    if isinstance(arithmetic, bool) or arithmetic not in ARITHMETICS:
        raise ValueError(
            f"arithmetic must be one of {', '.join(map(str, ARITHMETICS))}, not {arithmetic!r}"
        )
    return arithmetic


def compile(  # noqa: A001
    model: Model, device: str | torch.device = "cpu", arithmetic: int = 1
) -> Evaluator:
    """The cheapest exact evaluator of `model` (an Instance) on `device`, in `arithmetic`."""
    check_arithmetic(arithmetic)
    reasons = []
    for name, strategy in STRATEGIES:
        try:
            return strategy(model, device, arithmetic)
        except UnsupportedStructureError as error:
            reasons.append(f"{name}: {error}")
    raise UnsupportedStructureError("no simulator takes this instance (" + "; ".join(reasons) + ")")
