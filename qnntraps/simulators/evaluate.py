"""NumPy in, NumPy out: an evaluator's loss, gradient and predictions for (p,) or (R, p) theta."""

from __future__ import annotations

import weakref

import numpy as np
import torch

from qnntraps.errors import ParameterShapeError
from qnntraps.model import Model
from qnntraps.simulators.evaluator import RUN_ARITHMETIC, Evaluator, compile

# An instance's CPU evaluators by arithmetic, kept beside (never inside) the frozen instance for
# as long as the instance lives; instances are immutable, so an entry never goes stale.
_CPU_EVALUATORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cpu_evaluator(model: Model, arithmetic: int = RUN_ARITHMETIC) -> Evaluator:
    """`compile(model, "cpu", arithmetic)`, compiled once per model object and arithmetic."""
    evaluators = _CPU_EVALUATORS.setdefault(model, {})
    if arithmetic not in evaluators:
        evaluators[arithmetic] = compile(model, "cpu", arithmetic)
    return evaluators[arithmetic]


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


def _tensor(evaluator: Evaluator, batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).to(evaluator.device)


def predictions(evaluator: Evaluator, theta) -> np.ndarray:
    """y_hat: (m,) for theta (p,), (R, m) for theta (R, p)."""
    batch, single = as_parameter_batch(theta, evaluator.num_parameters)
    out = evaluator.predictions(_tensor(evaluator, batch)).cpu().numpy()
    return out[0] if single else out


def loss(evaluator: Evaluator, theta):
    """A float for theta (p,), an array (R,) for theta (R, p)."""
    batch, single = as_parameter_batch(theta, evaluator.num_parameters)
    out = evaluator.loss(_tensor(evaluator, batch)).cpu().numpy()
    return float(out[0]) if single else out


def loss_and_grad(evaluator: Evaluator, theta):
    """(loss, gradient), shapes as for `loss` and like theta."""
    batch, single = as_parameter_batch(theta, evaluator.num_parameters)
    value, grad = evaluator.loss_and_grad(_tensor(evaluator, batch))
    value, grad = value.cpu().numpy(), grad.cpu().numpy()
    return (float(value[0]), grad[0]) if single else (value, grad)
