"""Certificate for label-noise variants: refine every vertex minimum with Newton's method.

With label noise the minima move off the grid theta_l in {pi/4, 3pi/4} and off zero. Each of the
2^p vertices is the start of a Newton iteration on the exact loss (exact gradient and Hessian of the
product form, float64); the result is accepted only if every refined point has gradient norm below
GRADIENT_TOLERANCE, a positive-definite Hessian, and stays in its own vertex cell (|dtheta_l| < pi/8),
so the 2^p refined points are 2^p distinct strict local minima. The global minimum is the best of
them. That no other local minimum exists is proved for noise-free labels only; for noisy labels it
is checked by independent multistarts (docs/construction.md says exactly what is proved).
"""

from __future__ import annotations

import numpy as np
import torch

from qnntraps.certificates.newton import newton_steps
from qnntraps.certificates.summary import VALUE_DECIMALS, summarize_minima, vertex_point
from qnntraps.instance import Certificate
from qnntraps.simulators import torch_product
from qnntraps.simulators.product_form import ProductForm, product_form_loss

MAX_ENUMERATED_P = 16
GRADIENT_TOLERANCE = 1e-10
MAX_NEWTON_STEPS = 60


def all_sign_vectors(p: int) -> np.ndarray:
    """(2^p, p) array of +-1; row v has sign -1 at the set bits of v (bit l = coordinate l)."""
    bits = (np.arange(2**p)[:, None] >> np.arange(p)[None, :]) & 1
    return (1 - 2 * bits).astype(np.int8)


def newton_refine(form: ProductForm, start: np.ndarray) -> tuple[np.ndarray, int]:
    """Newton iterations from each row of `start`; every Hessian on the way must be PD."""
    theta, steps, indefinite = newton_steps(
        torch_product.to_torch(form),
        torch.as_tensor(start, dtype=torch.float64),
        MAX_NEWTON_STEPS,
        stop_gradient=GRADIENT_TOLERANCE * 1e-3,
    )
    if bool(indefinite.any()):
        raise RuntimeError(
            f"Hessian not positive definite for {int(indefinite.sum())} vertices: the noise is "
            "too large for vertex refinement to certify this instance"
        )
    return theta.numpy(), steps


def refine_vertex_minima(form: ProductForm, planted_signs: np.ndarray) -> Certificate:
    """Enumerated certificate: all 2^p vertex minima refined and checked; the best is global."""
    p = form.num_parameters
    if p > MAX_ENUMERATED_P:
        raise ValueError(f"vertex enumeration is for p <= {MAX_ENUMERATED_P}, not {p}")
    signs = all_sign_vectors(p)
    vertices = vertex_point(signs)
    refined, steps = newton_refine(form, vertices)

    tform = torch_product.to_torch(form)
    theta = torch.from_numpy(refined)
    _, grad = torch_product.loss_and_grad(tform, theta)
    grad_norm = torch.linalg.vector_norm(grad, dim=1).numpy()
    min_eig = float(torch.linalg.eigvalsh(torch_product.hessian(tform, theta)).min())
    drift = float(np.abs(refined - vertices).max())
    if grad_norm.max() >= GRADIENT_TOLERANCE or min_eig <= 0 or drift >= np.pi / 8:
        raise RuntimeError(
            f"vertex refinement failed: max |grad| = {grad_norm.max():.2e}, "
            f"min Hessian eigenvalue = {min_eig:.3e}, max drift = {drift:.3f} rad"
        )

    # Stored values come from the fixed-order NumPy evaluation; at a minimum they are insensitive
    # (to second order) to the last bits of the refined points.
    summary = summarize_minima(form, refined, product_form_loss(form, refined), VALUE_DECIMALS)
    return Certificate(
        kind="enumerated",
        global_min_value=summary.global_min_value,
        global_minimizer=summary.global_minimizer,
        hit_tolerance=summary.hit_tolerance,
        method=(
            "Newton refinement (exact float64 gradient and Hessian) of every one of the 2^p vertex "
            "minima theta_l in {pi/4, 3pi/4}; each refined point checked for |grad| < 1e-10, a "
            "positive-definite Hessian and staying in its vertex cell; global = best refined value"
        ),
        effort=(
            f"{2**p} Newton runs of at most {steps} steps; every |grad| < {GRADIENT_TOLERANCE:.0e}; "
            f"smallest Hessian eigenvalue {min_eig:.2g}"
        ),
        num_local_minima=2**p,
        ladder_values=summary.ladder_values,
        ladder_counts=summary.ladder_counts,
        planted_signs=planted_signs,
    )
