"""Batched exact loss, gradient and Hessian in torch (float64, CPU or CUDA) via the product form.

cos 2theta and sin 2theta are computed once per parameter vector and gathered into each term's
support, so a batch of R vectors costs O(R m S) (S the largest support, see product_form.py).
Batches are split into chunks that keep the working set near `chunk_bytes`. Derivatives use
exclusive prefix/suffix products, so factors that are exactly zero (as at the vertex minima) need
no division. Gradients are accumulated with index_add, which on the CPU adds in a fixed order,
so results are bit-identical from run to run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from qnntraps.simulators.product_form import ProductForm

DEFAULT_CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True, eq=False)
class TorchProductForm:
    """A ProductForm's arrays as tensors on one device (float64; support as int64)."""

    num_parameters: int
    offset: torch.Tensor  # (m,)
    weights: torch.Tensor  # (m, J)
    support: torch.Tensor  # (m, J, S)
    a: torch.Tensor  # (m, J, S)
    b: torch.Tensor
    c: torch.Tensor
    labels: torch.Tensor  # (m,)

    @property
    def device(self) -> torch.device:
        return self.a.device


def to_torch(form: ProductForm, device: str | torch.device = "cpu") -> TorchProductForm:
    """Move a ProductForm onto `device`."""

    def tensor(x, dtype=torch.float64):
        return torch.as_tensor(x.copy(), dtype=dtype, device=device)

    return TorchProductForm(
        num_parameters=form.num_parameters,
        offset=tensor(form.offset),
        weights=tensor(form.weights),
        support=tensor(form.support, torch.int64),
        a=tensor(form.a),
        b=tensor(form.b),
        c=tensor(form.c),
        labels=tensor(form.labels),
    )


def _chunks(form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int, width: int = 8):
    """Split theta so that `width` live (R, m, J, S) float64 temporaries fit in chunk_bytes."""
    per_row = 8 * width * form.a.numel() + 8 * 4 * form.num_parameters
    return torch.split(theta, max(1, chunk_bytes // per_row))


def _factors(form: TorchProductForm, theta: torch.Tensor):
    """Factors a + b cos + c sin (R, m, J, S) and their theta-derivatives."""
    cos, sin = torch.cos(2.0 * theta), torch.sin(2.0 * theta)
    cos_s, sin_s = cos[:, form.support], sin[:, form.support]
    factors = form.a + form.b * cos_s + form.c * sin_s
    dfactors = 2.0 * (form.c * cos_s - form.b * sin_s)
    return factors, dfactors


def _exclusive_products(factors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """prod_{t < s} and prod_{t > s} along the last axis, without division (factors may be 0)."""
    ones = torch.ones_like(factors[..., :1])
    prefix = torch.cat([ones, torch.cumprod(factors[..., :-1], dim=-1)], dim=-1)
    suffix = torch.flip(
        torch.cat([ones, torch.cumprod(torch.flip(factors[..., 1:], dims=[-1]), dim=-1)], dim=-1),
        dims=[-1],
    )
    return prefix, suffix


def _scatter_to_parameters(form: TorchProductForm, values: torch.Tensor) -> torch.Tensor:
    """Sum values (R, m, J, S) into (R, p) by their support's parameter index."""
    out = torch.zeros(
        values.shape[0], form.num_parameters, dtype=values.dtype, device=values.device
    )
    return out.index_add_(1, form.support.reshape(-1), values.reshape(values.shape[0], -1))


def _predictions_chunk(form: TorchProductForm, theta: torch.Tensor) -> torch.Tensor:
    factors, _ = _factors(form, theta)
    return form.offset + torch.sum(form.weights * torch.prod(factors, dim=3), dim=2)


def _loss_and_grad_chunk(form: TorchProductForm, theta: torch.Tensor):
    factors, dfactors = _factors(form, theta)
    prefix, suffix = _exclusive_products(factors)
    yhat = form.offset + torch.sum(form.weights * prefix[..., -1] * factors[..., -1], dim=2)
    residual = yhat - form.labels  # (R, m)
    m = residual.shape[1]
    loss = torch.sum(residual * residual, dim=1) / m
    # dL/dtheta_i = 2/m sum_k r_k sum_j w_kj sum_{s: support = i} prod_{t != s} F_t dF_s
    per_slot = (2.0 / m) * residual[:, :, None, None] * form.weights[..., None] * prefix * suffix
    return loss, _scatter_to_parameters(form, per_slot * dfactors)


def predictions(
    form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES
):
    """y_hat for a batch theta of shape (R, p): returns (R, m)."""
    return torch.cat([_predictions_chunk(form, t) for t in _chunks(form, theta, chunk_bytes)])


def loss(form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """Mean square loss for a batch theta of shape (R, p): returns (R,)."""
    residual = predictions(form, theta, chunk_bytes) - form.labels
    return torch.sum(residual * residual, dim=1) / residual.shape[1]


def loss_and_grad(
    form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (R,) and gradient (R, p) for a batch theta of shape (R, p)."""
    parts = [_loss_and_grad_chunk(form, t) for t in _chunks(form, theta, chunk_bytes)]
    return torch.cat([part[0] for part in parts]), torch.cat([part[1] for part in parts])


def _hessian_chunk(form: TorchProductForm, theta: torch.Tensor) -> torch.Tensor:
    factors, dfactors = _factors(form, theta)
    d2factors = -4.0 * (factors - form.a)
    size = factors.shape[3]
    p = form.num_parameters
    prefix, suffix = _exclusive_products(factors)
    yhat = form.offset + torch.sum(form.weights * prefix[..., -1] * factors[..., -1], dim=2)
    residual = yhat - form.labels  # (R, m)
    m = residual.shape[1]
    weights = form.weights[..., None]
    # Per sample, dy_hat/dtheta scattered to the parameters: (R, m, p).
    per_slot = weights * prefix * suffix * dfactors  # (R, m, J, S)
    dyhat = _scatter_per_sample(form, per_slot)
    # Second derivatives of y_hat within each term's support: (R, m, J, S, S).
    second = torch.zeros(*per_slot.shape, size, dtype=theta.dtype, device=theta.device)
    diag = torch.arange(size, device=theta.device)
    second[..., diag, diag] = weights * prefix * suffix * d2factors
    ones = torch.ones_like(factors[..., :1])
    for s in range(size - 1):
        between = torch.cumprod(torch.cat([ones, factors[..., s + 1 : size - 1]], dim=-1), dim=-1)
        mixed = (
            weights
            * prefix[..., s : s + 1]
            * between
            * suffix[..., s + 1 :]
            * dfactors[..., s : s + 1]
            * dfactors[..., s + 1 :]
        )
        second[..., s, s + 1 :] = mixed
        second[..., s + 1 :, s] = mixed
    support = form.support  # (m, J, S)
    pair_index = (support[..., :, None] * p + support[..., None, :]).reshape(m, -1)
    # sum over samples k of residual_k * second_k, scattered to (p, p) by each term's support pairs
    scaled = (residual[:, :, None, None, None] * second).reshape(theta.shape[0], -1)
    curvature = torch.zeros(theta.shape[0], p * p, dtype=theta.dtype, device=theta.device)
    curvature.index_add_(1, pair_index.reshape(-1), scaled)
    return (2.0 / m) * (torch.einsum("rka,rkb->rab", dyhat, dyhat) + curvature.reshape(-1, p, p))


def _scatter_per_sample(form: TorchProductForm, per_slot: torch.Tensor) -> torch.Tensor:
    """Sum (R, m, J, S) into (R, m, p) by parameter index, keeping samples apart."""
    batch, m = per_slot.shape[:2]
    p = form.num_parameters
    index = (torch.arange(m, device=per_slot.device)[:, None, None] * p + form.support).reshape(-1)
    out = torch.zeros(batch, m * p, dtype=per_slot.dtype, device=per_slot.device)
    return out.index_add_(1, index, per_slot.reshape(batch, -1)).reshape(batch, m, p)


def hessian(
    form: TorchProductForm, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> torch.Tensor:
    """Exact Hessians (R, p, p) of the loss for a batch theta (R, p)."""
    size = form.a.shape[2]
    p = form.num_parameters
    per_row = 8 * (form.a.numel() * (size + 8) + form.a.shape[0] * p + p * p)
    pieces = torch.split(theta, max(1, chunk_bytes // per_row))
    return torch.cat([_hessian_chunk(form, t) for t in pieces])
