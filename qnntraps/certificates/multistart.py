"""Best-known certificates: a large batched multistart polished by Newton's method.

Each start runs exact coordinate minimization: with all other parameters fixed, the loss of a
product-form instance is a trigonometric polynomial of degree 2 in u = 2 theta_l,

    g(u) = const + 2/m sum q beta cos u + 2/m sum q gamma sin u
           + 1/m sum (beta cos u + gamma sin u)^2,

whose global minimum on [0, 2pi) is found on a grid and refined by 1-D Newton steps. Sweeps stop
when no coordinate moves by more than SWEEP_TOLERANCE. Every end point is then polished by Newton's
method on the full exact gradient and Hessian and accepted as a local minimum only with gradient
norm < 1e-9 and a positive-definite Hessian. The local-minimum values, rounded to LADDER_DECIMALS,
give the ladder; the best is the best-known global minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.certificates.newton import newton_steps
from qnntraps.seeds import generator_from_key
from qnntraps.simulators import torch_product
from qnntraps.simulators.product_form import (
    ProductForm,
    product_form_loss,
    require_dense_single_term,
)

GRID_POINTS = 64
SWEEP_TOLERANCE = 1e-6
MAX_SWEEPS = 40
POLISH_STEPS = 10
GRADIENT_TOLERANCE = 1e-9
LADDER_DECIMALS = 9


@dataclass(frozen=True)
class MultistartResult:
    """Converged points of every start that ended in a verified strict local minimum."""

    starts: int
    minima: np.ndarray  # (K, p) polished points, reduced to [0, pi)
    values: np.ndarray  # (K,) exact losses (fixed-order NumPy evaluation)
    rejected: int  # starts whose end point failed the gradient or Hessian check
    sweeps: int


def _minimize_trig(c1, s1, cc, cs, ss) -> torch.Tensor:
    """argmin over u of c1 cos u + s1 sin u + cc cos^2 u + cs cos u sin u + ss sin^2 u (batched)."""
    grid = torch.linspace(0, 2 * np.pi, GRID_POINTS + 1, dtype=c1.dtype, device=c1.device)[:-1]
    cos, sin = torch.cos(grid), torch.sin(grid)

    table = (
        c1[:, None] * cos
        + s1[:, None] * sin
        + cc[:, None] * cos * cos
        + cs[:, None] * cos * sin
        + ss[:, None] * sin * sin
    )
    u = grid[torch.argmin(table, dim=1)]
    for _ in range(4):  # Newton on g'(u) = 0 from the best grid point
        cu, su = torch.cos(u), torch.sin(u)
        d1 = -c1 * su + s1 * cu + (ss - cc) * 2 * su * cu + cs * (cu * cu - su * su)
        d2 = -c1 * cu - s1 * su + (ss - cc) * 2 * (cu * cu - su * su) - 4 * cs * su * cu
        step = torch.where(d2 > 0, d1 / torch.where(d2 > 0, d2, 1.0), torch.zeros_like(d1))
        u = u - torch.clamp(step, -0.1, 0.1)
    return u


def coordinate_minimization(form: ProductForm, theta: np.ndarray) -> tuple[np.ndarray, int]:
    """Exact cyclic coordinate minimization from each row of theta (R, p)."""
    require_dense_single_term(form, "exact coordinate minimization")
    tform = torch_product.to_torch(form)
    a, b, c = tform.a[:, 0, :], tform.b[:, 0, :], tform.c[:, 0, :]  # (m, p)
    weight, offset, labels = tform.weights[:, 0], tform.offset, tform.labels
    m, p = a.shape
    th = torch.as_tensor(theta, dtype=torch.float64).clone()
    sweeps = 0
    for sweeps in range(1, MAX_SWEEPS + 1):  # noqa: B007 - the count is returned
        moved = torch.zeros(th.shape[0], dtype=torch.float64)
        factors = a + b * torch.cos(2 * th)[:, None, :] + c * torch.sin(2 * th)[:, None, :]
        for l in range(p):
            others = torch.prod(torch.cat([factors[..., :l], factors[..., l + 1 :]], dim=2), dim=2)
            scale = weight * others  # (R, m)
            q = offset + scale * a[:, l] - labels
            beta, gamma = scale * b[:, l], scale * c[:, l]
            u = _minimize_trig(
                2 * torch.sum(q * beta, 1),
                2 * torch.sum(q * gamma, 1),
                torch.sum(beta * beta, 1),
                2 * torch.sum(beta * gamma, 1),
                torch.sum(gamma * gamma, 1),
            )
            new = torch.remainder(u / 2, np.pi)
            old = torch.remainder(th[:, l], np.pi)
            delta = torch.abs(new - old)
            moved = torch.maximum(moved, torch.minimum(delta, np.pi - delta))
            th[:, l] = new
            factors[..., l] = (
                a[:, l]
                + b[:, l] * torch.cos(2 * new)[:, None]
                + c[:, l] * torch.sin(2 * new)[:, None]
            )
        if float(moved.max()) < SWEEP_TOLERANCE:
            break
    return th.numpy(), sweeps


def newton_polish(form: ProductForm, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A few Newton steps; returns the points and a mask of verified strict local minima."""
    tform = torch_product.to_torch(form)
    th, _, _ = newton_steps(tform, torch.as_tensor(theta, dtype=torch.float64), POLISH_STEPS)
    _, grad = torch_product.loss_and_grad(tform, th)
    eig_min = torch.linalg.eigvalsh(torch_product.hessian(tform, th))[:, 0]
    ok = (torch.linalg.vector_norm(grad, dim=1) < GRADIENT_TOLERANCE) & (eig_min > 0)
    return torch.remainder(th, np.pi).numpy(), ok.numpy()


def multistart(
    form: ProductForm, starts: int, seed_key: str, batch: int = 20000, progress=None
) -> MultistartResult:
    """Run `starts` uniform starts on [0, 2pi)^p (seeded by `seed_key`), in batches."""
    rng = generator_from_key(seed_key)
    minima, rejected, sweeps = [], 0, 0
    for first in range(0, starts, batch):
        count = min(batch, starts - first)
        theta0 = rng.uniform(0, 2 * np.pi, size=(count, form.num_parameters))
        ends, used = coordinate_minimization(form, theta0)
        polished, ok = newton_polish(form, ends)
        minima.append(polished[ok])
        rejected += int((~ok).sum())
        sweeps = max(sweeps, used)
        if progress is not None:
            progress(first + count, starts)
    points = np.concatenate(minima)
    return MultistartResult(starts, points, product_form_loss(form, points), rejected, sweeps)
