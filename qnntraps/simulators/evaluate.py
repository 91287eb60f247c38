"""NumPy-in, NumPy-out evaluation of an Instance on the CPU through the torch product form."""

from __future__ import annotations

import numpy as np
import torch

from qnntraps.errors import ParameterShapeError
from qnntraps.instance import Instance
from qnntraps.simulators import torch_product


def as_parameter_batch(theta, num_parameters: int) -> tuple[np.ndarray, bool]:
    """theta as a float64 (R, p) array and whether the caller passed a single vector."""
    array = np.array(theta, dtype=np.float64)  # a private, writable copy for torch
    single = array.ndim == 1
    batch = array[None, :] if single else array
    if batch.ndim != 2 or batch.shape[1] != num_parameters:
        raise ParameterShapeError(
            f"theta has shape {array.shape}; this instance takes ({num_parameters},) or "
            f"(R, {num_parameters})"
        )
    if not np.all(np.isfinite(batch)):
        raise ParameterShapeError("theta contains NaN or infinity")
    return batch, single


def _cpu_form(instance: Instance) -> torch_product.TorchProductForm:
    # Cached next to the instance's product form; instances are immutable, so this never goes stale.
    cache = instance.__dict__
    if "_cpu_torch_form" not in cache:
        cache["_cpu_torch_form"] = torch_product.to_torch(instance.product_form, "cpu")
    return cache["_cpu_torch_form"]


def predictions(instance: Instance, theta) -> np.ndarray:
    batch, single = as_parameter_batch(theta, instance.num_parameters)
    out = torch_product.predictions(_cpu_form(instance), torch.from_numpy(batch)).numpy()
    return out[0] if single else out


def loss(instance: Instance, theta):
    batch, single = as_parameter_batch(theta, instance.num_parameters)
    out = torch_product.loss(_cpu_form(instance), torch.from_numpy(batch)).numpy()
    return float(out[0]) if single else out


def loss_and_grad(instance: Instance, theta):
    batch, single = as_parameter_batch(theta, instance.num_parameters)
    value, grad = torch_product.loss_and_grad(_cpu_form(instance), torch.from_numpy(batch))
    value, grad = value.numpy(), grad.numpy()
    return (float(value[0]), grad[0]) if single else (value, grad)
