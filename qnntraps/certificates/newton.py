"""Batched Newton iterations on the exact loss, shared by the certificate builders."""

from __future__ import annotations

import torch

from qnntraps.simulators import torch_product


def newton_steps(
    form: torch_product.TorchProductForm,
    theta: torch.Tensor,
    max_steps: int,
    stop_gradient: float | None = None,
) -> tuple[torch.Tensor, int, torch.Tensor]:
    """Full Newton steps theta <- theta - H^-1 g for a batch (R, p).

    A row whose Hessian is not positive definite (Cholesky fails) is held in place at that step.
    Stops early when every |g_i| < stop_gradient. Returns the points, the number of gradient
    evaluations made, and a mask of rows that met an indefinite Hessian at some step.
    """
    theta = theta.clone()
    indefinite = torch.zeros(theta.shape[0], dtype=torch.bool, device=theta.device)
    for step in range(1, max_steps + 1):
        _, grad = torch_product.loss_and_grad(form, theta)
        if stop_gradient is not None and float(grad.abs().max()) < stop_gradient:
            return theta, step, indefinite
        chol, info = torch.linalg.cholesky_ex(torch_product.hessian(form, theta))
        ok = info == 0
        indefinite |= ~ok
        step_vector = torch.cholesky_solve(grad[..., None], chol)[..., 0]
        theta = torch.where(ok[:, None], theta - step_vector, theta)
    return theta, max_steps, indefinite
