"""Best-known certificates: a large batched multistart polished by Newton's method.

Each start runs cyclic coordinate minimization. With all other parameters fixed, the loss of a
dense single-term product-form instance is a trigonometric polynomial of degree 2 in u = 2 theta_l,

    g(u) = c1 cos u + s1 sin u + cc cos^2 u + cs cos u sin u + ss sin^2 u + const,

which is minimized on a GRID_POINTS-point grid and refined by 1-D Newton steps from the best grid
point (so "exact" up to the grid's resolution: a minimum whose basin is narrower than the grid
spacing can be missed). A start keeps sweeping until no coordinate moves by more than
SWEEP_TOLERANCE (at most MAX_SWEEPS sweeps); converged starts leave the batch. With s_k the product
of every other factor of sample k, the five coefficients are two matrix products,
s @ [(o - y) b, (o - y) c] and s^2 @ [a b, a c, b^2, b c, c^2], and the leave-one-out products come
from a running prefix product and suffix products taken once per sweep: O(m) work per coordinate.

Every end point is then polished by Newton's method on the exact gradient and Hessian (a start
leaves the polish once its gradient is below POLISH_GRADIENT) and accepted as a local minimum only
with gradient norm < GRADIENT_TOLERANCE and a positive-definite Hessian. The local-minimum values,
rounded to LADDER_DECIMALS, give the ladder; the best is the best-known global minimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.seeds import generator_from_key
from qnntraps.simulators import torch_product
from qnntraps.simulators.product_form import (
    ProductForm,
    product_form_loss,
    require_dense_single_term,
)

GRID_POINTS = 64
SWEEP_TOLERANCE = 1e-6
MAX_SWEEPS = 300
POLISH_STEPS = 10
POLISH_GRADIENT = 1e-12
GRADIENT_TOLERANCE = 1e-9
LADDER_DECIMALS = 9

METHOD = (
    "multistart: cyclic coordinate minimization (each coordinate's loss is a degree-2 "
    f"trigonometric polynomial, minimized on a {GRID_POINTS}-point grid and refined by 1-D "
    f"Newton steps; at most {MAX_SWEEPS} sweeps, until no coordinate moves by more than "
    f"{SWEEP_TOLERANCE:g}), then at most {POLISH_STEPS} Newton steps on the exact gradient and "
    f"Hessian; a minimum is accepted with |grad| < {GRADIENT_TOLERANCE:g} and a positive-definite "
    "Hessian"
)


@dataclass(frozen=True)
class MultistartResult:
    """Converged points of every start that ended in a verified strict local minimum."""

    starts: int
    minima: np.ndarray  # (K, p) polished points, reduced to [0, pi)
    values: np.ndarray  # (K,) exact losses (fixed-order NumPy evaluation)
    rejected: int  # starts whose end point failed the gradient or Hessian check
    sweeps: int  # the most sweeps any start needed


def _grid_basis(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.linspace(0, 2 * np.pi, GRID_POINTS + 1, dtype=dtype)[:-1]
    cos, sin = torch.cos(grid), torch.sin(grid)
    return grid, torch.stack([cos, sin, cos * cos, cos * sin, sin * sin])  # (5, G)


def _minimize_trig(coefficients: torch.Tensor, grid, basis) -> torch.Tensor:
    """argmin over u of [c1, s1, cc, cs, ss] . [cos u, sin u, cos^2 u, cos u sin u, sin^2 u].

    coefficients: (R, 5). Grid search, then four clamped Newton steps on g'(u) = 0.
    """
    c1, s1, cc, cs, ss = coefficients.unbind(1)
    u = grid[torch.argmin(coefficients @ basis, dim=1)]
    for _ in range(4):
        cu, su = torch.cos(u), torch.sin(u)
        d1 = -c1 * su + s1 * cu + (ss - cc) * 2 * su * cu + cs * (cu * cu - su * su)
        d2 = -c1 * cu - s1 * su + (ss - cc) * 2 * (cu * cu - su * su) - 4 * cs * su * cu
        step = torch.where(d2 > 0, d1 / torch.where(d2 > 0, d2, 1.0), torch.zeros_like(d1))
        u = u - torch.clamp(step, -0.1, 0.1)
    return u


def coordinate_minimization(form: ProductForm, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cyclic coordinate minimization from each row of theta (R, p).

    Returns the end points and the number of sweeps each start used.
    """
    require_dense_single_term(form, "exact coordinate minimization")
    tform = torch_product.to_torch(form)
    a, b, c = tform.a[:, 0, :], tform.b[:, 0, :], tform.c[:, 0, :]  # (m, p)
    weight = tform.weights[:, 0]
    m, p = a.shape
    target = (tform.offset - tform.labels).reshape(m, 1)
    linear = torch.stack([target * b, target * c], dim=1)  # (m, 2, p)
    quadratic = torch.stack([a * b, a * c, b * b, b * c, c * c], dim=1)  # (m, 5, p)
    shift = torch.tensor([2.0, 2.0, 1.0, 2.0, 1.0], dtype=torch.float64)
    grid, basis = _grid_basis(torch.float64)

    th = torch.as_tensor(theta, dtype=torch.float64).clone()
    used = torch.zeros(th.shape[0], dtype=torch.int64)
    active = torch.arange(th.shape[0])
    abc = torch.stack([a, b, c], dim=0)  # (3, m, p)

    def factor(l: int, angles: torch.Tensor) -> torch.Tensor:  # (R, m): a + b cos 2t + c sin 2t
        trig = torch.stack([torch.ones_like(angles), torch.cos(2 * angles), torch.sin(2 * angles)])
        return trig.T @ abc[..., l]

    for sweep in range(1, MAX_SWEEPS + 1):
        t = th[active]
        suffix = [weight.expand(t.shape[0], m)]  # suffix[j]: product of the factors l >= p - j
        for l in range(p - 1, 0, -1):
            suffix.append(suffix[-1] * factor(l, t[:, l]))
        prefix = None
        moved = torch.zeros(t.shape[0], dtype=torch.float64)
        for l in range(p):
            rest = suffix[p - 1 - l]  # weight times the factors l' > l
            scale = rest if prefix is None else prefix * rest
            # c1 = 2 sum q beta, s1 = 2 sum q gamma, cc = sum beta^2, cs = 2 sum beta gamma,
            # ss = sum gamma^2 with q = o - y + s a, beta = s b, gamma = s c:
            coefficients = (scale * scale) @ quadratic[..., l]  # (R, 5)
            coefficients[:, :2] += scale @ linear[..., l]
            u = _minimize_trig(coefficients * shift, grid, basis)
            new = torch.remainder(u / 2, np.pi)
            delta = torch.abs(new - torch.remainder(t[:, l], np.pi))
            moved = torch.maximum(moved, torch.minimum(delta, np.pi - delta))
            t[:, l] = new
            prefix = factor(l, new) if prefix is None else prefix * factor(l, new)
        th[active] = t
        used[active] = sweep
        active = active[moved >= SWEEP_TOLERANCE]
        if active.numel() == 0:
            break
    return th.numpy(), used.numpy()


def newton_polish(form: ProductForm, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Newton steps per start until its gradient is below POLISH_GRADIENT (at most POLISH_STEPS).

    A start whose Hessian is not positive definite is held in place. Returns the points reduced
    to [0, pi) and a mask of verified strict local minima.
    """
    tform = torch_product.to_torch(form)
    th = torch.as_tensor(theta, dtype=torch.float64).clone()
    active = torch.arange(th.shape[0])
    for _ in range(POLISH_STEPS):
        _, grad = torch_product.loss_and_grad(tform, th[active])
        moving = grad.abs().amax(dim=1) >= POLISH_GRADIENT
        active, grad = active[moving], grad[moving]
        if active.numel() == 0:
            break
        chol, info = torch.linalg.cholesky_ex(torch_product.hessian(tform, th[active]))
        step = torch.cholesky_solve(grad[..., None], chol)[..., 0]
        th[active] = torch.where((info == 0)[:, None], th[active] - step, th[active])
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
        sweeps = max(sweeps, int(used.max()))
        if progress is not None:
            progress(first + count, starts)
    points = np.concatenate(minima)
    return MultistartResult(starts, points, product_form_loss(form, points), rejected, sweeps)
