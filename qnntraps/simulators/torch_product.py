"""Batched exact loss and gradient in torch (float64, CPU or CUDA) through the product form.

Cost is O(m p) per parameter vector; R vectors are evaluated at once, in chunks that keep the
working set near `chunk_bytes`. Gradients use exclusive prefix/suffix products, so factors that are
exactly zero (as at the vertex minima) are handled without division.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qnntraps.simulators.product_form import ProductForm

DEFAULT_CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True, eq=False)
class TorchProductForm:
    """A ProductForm's arrays as float64 tensors on one device."""

    offset: torch.Tensor  # (m,)
    weights: torch.Tensor  # (m, J)
    a: torch.Tensor  # (m, J, p)
    b: torch.Tensor
    c: torch.Tensor
    labels: torch.Tensor  # (m,)

    @property
    def device(self) -> torch.device:
        return self.a.device

    @property
    def num_parameters(self) -> int:
        return int(self.a.shape[2])


def to_torch(form: ProductForm, device: str | torch.device = "cpu") -> TorchProductForm:
    """Move a ProductForm onto `device` as float64 tensors."""

    def tensor(x):
        return torch.as_tensor(x.copy(), dtype=torch.float64, device=device)

    return TorchProductForm(
        offset=tensor(form.offset),
        weights=tensor(form.weights),
        a=tensor(form.a),
        b=tensor(form.b),
        c=tensor(form.c),
        labels=tensor(form.labels),
    )


def _chunk_size(form: TorchProductForm, chunk_bytes: int) -> int:
    m, num_terms, p = form.a.shape
    per_row = 8 * m * num_terms * p * 6  # the live (R, m, J, p) float64 temporaries
    return max(1, chunk_bytes // max(per_row, 1))


def _factors(form: TorchProductForm, theta: torch.Tensor):
    angle = 2.0 * theta[:, None, None, :]
    cos, sin = torch.cos(angle), torch.sin(angle)
    factors = form.a + form.b * cos + form.c * sin
    return factors, cos, sin


def _predictions_chunk(form: TorchProductForm, theta: torch.Tensor) -> torch.Tensor:
    factors, _, _ = _factors(form, theta)
    return form.offset + torch.sum(form.weights * torch.prod(factors, dim=3), dim=2)


def _loss_and_grad_chunk(form: TorchProductForm, theta: torch.Tensor):
    factors, cos, sin = _factors(form, theta)
    dfactors = 2.0 * (form.c * cos - form.b * sin)
    ones = torch.ones_like(factors[..., :1])
    prefix = torch.cat([ones, torch.cumprod(factors[..., :-1], dim=3)], dim=3)
    suffix = torch.flip(
        torch.cat([ones, torch.cumprod(torch.flip(factors[..., 1:], dims=[3]), dim=3)], dim=3),
        dims=[3],
    )
    full = prefix[..., -1] * factors[..., -1]
    yhat = form.offset + torch.sum(form.weights * full, dim=2)  # (R, m)
    dyhat = torch.sum(form.weights[..., None] * prefix * suffix * dfactors, dim=2)  # (R, m, p)
    residual = yhat - form.labels
    m = residual.shape[1]
    loss = torch.sum(residual * residual, dim=1) / m
    grad = (2.0 / m) * torch.einsum("rk,rkp->rp", residual, dyhat)
    return loss, grad


def predictions(
    form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES
):
    """y_hat for a batch theta of shape (R, p): returns (R, m)."""
    size = _chunk_size(form, chunk_bytes)
    return torch.cat([_predictions_chunk(form, t) for t in torch.split(theta, size)], dim=0)


def loss(form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """Mean square loss for a batch theta of shape (R, p): returns (R,)."""
    yhat = predictions(form, theta, chunk_bytes)
    residual = yhat - form.labels
    return torch.sum(residual * residual, dim=1) / residual.shape[1]


def loss_and_grad(
    form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (R,) and gradient (R, p) for a batch theta of shape (R, p)."""
    size = _chunk_size(form, chunk_bytes)
    parts = [_loss_and_grad_chunk(form, t) for t in torch.split(theta, size)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def _hessian_chunk(form: TorchProductForm, theta: torch.Tensor) -> torch.Tensor:
    factors, cos, sin = _factors(form, theta)
    dfactors = 2.0 * (form.c * cos - form.b * sin)
    d2factors = -4.0 * (factors - form.a)
    p = factors.shape[3]
    ones = torch.ones_like(factors[..., :1])
    prefix = torch.cat([ones, torch.cumprod(factors[..., :-1], dim=3)], dim=3)
    suffix = torch.flip(
        torch.cat([ones, torch.cumprod(torch.flip(factors[..., 1:], dims=[3]), dim=3)], dim=3),
        dims=[3],
    )
    leave_one_out = prefix * suffix
    yhat = form.offset + torch.sum(form.weights * prefix[..., -1] * factors[..., -1], dim=2)
    residual = yhat - form.labels  # (R, m)
    weights = form.weights[..., None]
    dyhat = torch.sum(weights * leave_one_out * dfactors, dim=2)  # (R, m, p)
    # Second derivatives of y_hat: prod over l != a, b without division (factors may be 0).
    d2yhat = torch.zeros(*residual.shape, p, p, dtype=theta.dtype, device=theta.device)
    diagonal = torch.sum(weights * leave_one_out * d2factors, dim=2)
    d2yhat[..., torch.arange(p), torch.arange(p)] = diagonal
    for a in range(p - 1):
        between = torch.cumprod(
            torch.cat([ones, factors[..., a + 1 : p - 1]], dim=3), dim=3
        )  # prod_{a<l<b} for b = a+1 .. p-1
        pair = prefix[..., a : a + 1] * between * suffix[..., a + 1 :]
        mixed = torch.sum(weights * pair * dfactors[..., a : a + 1] * dfactors[..., a + 1 :], dim=2)
        d2yhat[..., a, a + 1 :] = mixed
        d2yhat[..., a + 1 :, a] = mixed
    m = residual.shape[1]
    return (2.0 / m) * (
        torch.einsum("rka,rkb->rab", dyhat, dyhat) + torch.einsum("rk,rkab->rab", residual, d2yhat)
    )


def hessian(
    form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> torch.Tensor:
    """Exact Hessians (R, p, p) of the loss for a batch theta (R, p)."""
    m, num_terms, p = form.a.shape
    size = max(1, chunk_bytes // (8 * m * max(num_terms, 1) * p * (p + 8)))
    return torch.cat([_hessian_chunk(form, t) for t in torch.split(theta, size)], dim=0)
