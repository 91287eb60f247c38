"""Branch and bound over the torus [0, pi)^p with rigorous lower bounds (product-form instances).

Every factor of y_hat is a + R cos(2 theta - phi) (R = hypot(b, c), phi = atan2(c, b)), whose exact
range over an interval of theta is known in closed form; its derivative is -2R sin(2 theta - phi).
Over a box the bounds are built by interval arithmetic, each operation widened outward by a few
ulps so that floating-point rounding cannot make a bound optimistic:

- zeroth order: y_hat_k lies in an interval, so (y_hat_k - y_k)^2 >= its distance from 0, squared;
- mean-value form: L(theta) >= L(c) - sum_i max|dL/dtheta_i over the box| * width_i / 2, with the
  gradient enclosed by interval arithmetic; this bound is second-order tight near a minimum, so the
  boxes around the global minimizer only have to shrink to ~sqrt(gap) before they are fathomed.

A box is discarded when its lower bound is >= upper - gap. When no box is left, every point of the
torus has L >= upper - gap: the best-known value is certified to within `gap`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from qnntraps.simulators.product_form import (
    ProductForm,
    product_form_loss,
    require_dense_single_term,
)

ULP = 2.0**-50  # relative outward widening per operation (4 ulps of float64)
TINY = 1e-300


@dataclass(frozen=True)
class BranchAndBoundResult:
    """Outcome of a completed proof: no point of the torus is below `lower_bound`."""

    upper_bound: float  # the best value known (possibly improved at box centres)
    lower_bound: float  # the smallest lower bound of any discarded box (>= upper - gap)
    gap: float
    boxes: int  # boxes bounded in total
    seconds: float
    best_point: np.ndarray


def _widen(lo, hi):
    return lo - (np.abs(lo) * ULP + TINY), hi + (np.abs(hi) * ULP + TINY)


def _mul(alo, ahi, blo, bhi):
    corners = np.stack([alo * blo, alo * bhi, ahi * blo, ahi * bhi])
    return _widen(corners.min(axis=0), corners.max(axis=0))


def _cos_range(lo, hi):
    """Exact range of cos over [lo, hi] (hi - lo < 2 pi), widened by a few ulps."""
    has_max = np.floor(hi / (2 * np.pi)) * (2 * np.pi) >= lo
    has_min = np.floor((hi - np.pi) / (2 * np.pi)) * (2 * np.pi) + np.pi >= lo
    end_lo, end_hi = np.cos(lo), np.cos(hi)
    cmin = np.where(has_min, -1.0, np.minimum(end_lo, end_hi))
    cmax = np.where(has_max, 1.0, np.maximum(end_lo, end_hi))
    return np.maximum(cmin - 4e-16, -1.0), np.minimum(cmax + 4e-16, 1.0)


def _interval_products(lo, hi):
    """Interval product over the last axis, and leave-one-out products (prefix x suffix)."""
    n = lo.shape[-1]
    pre_lo, pre_hi = [np.ones_like(lo[..., 0])], [np.ones_like(hi[..., 0])]
    for i in range(n - 1):
        l, h = _mul(pre_lo[-1], pre_hi[-1], lo[..., i], hi[..., i])
        pre_lo.append(l)
        pre_hi.append(h)
    suf_lo, suf_hi = [np.ones_like(lo[..., 0])], [np.ones_like(hi[..., 0])]
    for i in range(n - 1, 0, -1):
        l, h = _mul(suf_lo[-1], suf_hi[-1], lo[..., i], hi[..., i])
        suf_lo.append(l)
        suf_hi.append(h)
    suf_lo, suf_hi = suf_lo[::-1], suf_hi[::-1]
    loo = [_mul(pre_lo[i], pre_hi[i], suf_lo[i], suf_hi[i]) for i in range(n)]
    full = _mul(pre_lo[-1], pre_hi[-1], lo[..., -1], hi[..., -1])
    return full, np.stack([x[0] for x in loo], -1), np.stack([x[1] for x in loo], -1)


class _Bounder:
    def __init__(self, form: ProductForm):
        require_dense_single_term(form, "branch and bound")
        self.form = form
        self.a = form.a[:, 0, :]
        self.radius = np.hypot(form.b[:, 0, :], form.c[:, 0, :])
        self.phase = np.arctan2(form.c[:, 0, :], form.b[:, 0, :])
        self.weight = form.weights[:, 0]
        self.m = self.a.shape[0]

    def lower_bounds(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rigorous lower bounds (N,) of L over boxes [lo, hi] (N, p), and L at the centres."""
        form, m = self.form, self.m
        u_lo = 2 * lo[:, None, :] - self.phase
        u_hi = 2 * hi[:, None, :] - self.phase
        cmin, cmax = _cos_range(u_lo, u_hi)
        smin, smax = _cos_range(u_lo - np.pi / 2, u_hi - np.pi / 2)  # sin u = cos(u - pi/2)
        f_lo, f_hi = _widen(self.a + self.radius * cmin, self.a + self.radius * cmax)
        d_lo, d_hi = _widen(-2 * self.radius * smax, -2 * self.radius * smin)
        (p_lo, p_hi), loo_lo, loo_hi = _interval_products(f_lo, f_hi)
        y_lo, y_hi = _widen(form.offset + self.weight * p_lo, form.offset + self.weight * p_hi)
        r_lo, r_hi = _widen(y_lo - form.labels, y_hi - form.labels)
        nearest = np.where((r_lo <= 0) & (r_hi >= 0), 0.0, np.minimum(np.abs(r_lo), np.abs(r_hi)))
        zeroth = np.sum(nearest * nearest, axis=1) / m
        zeroth = zeroth - np.abs(zeroth) * ULP * (m + 2)

        # gradient enclosure: dL/dtheta_i = 2/m sum_k r_k w_k dF_ki prod_{l != i} F_kl
        g_lo, g_hi = _mul(d_lo, d_hi, loo_lo * self.weight[:, None], loo_hi * self.weight[:, None])
        g_lo, g_hi = _mul(g_lo, g_hi, r_lo[..., None], r_hi[..., None])
        g_lo = np.sum(g_lo, axis=1) * (2 / m)
        g_hi = np.sum(g_hi, axis=1) * (2 / m)
        slope = np.maximum(np.abs(g_lo), np.abs(g_hi)) * (1 + ULP * (m + 2))
        centre = (lo + hi) / 2
        value = product_form_loss(form, centre)
        first = value - np.abs(value) * ULP * (m + 8) - np.sum(slope * (hi - lo) / 2, axis=1)
        return np.maximum(zeroth, first), value


def branch_and_bound(
    form: ProductForm,
    upper_bound: float,
    upper_point: np.ndarray,
    gap: float = 1e-9,
    max_boxes: int = 200_000_000,
    chunk: int = 4096,
    progress=None,
) -> BranchAndBoundResult:
    """Prove min L >= upper_bound - gap over [0, pi)^p, or raise RuntimeError past max_boxes."""
    start_time = time.perf_counter()
    p = form.num_parameters
    bounder = _Bounder(form)
    per_axis = 4
    edges = np.linspace(0, np.pi, per_axis + 1)
    grid = np.stack(np.meshgrid(*[np.arange(per_axis)] * p, indexing="ij"), -1).reshape(-1, p)
    lo, hi = edges[grid], edges[grid + 1]
    best, best_point = float(upper_bound), np.asarray(upper_point, dtype=np.float64)
    smallest_discarded = np.inf
    boxes = 0
    while lo.shape[0]:
        keep_lo, keep_hi = [], []
        for first in range(0, lo.shape[0], chunk):
            blo, bhi = lo[first : first + chunk], hi[first : first + chunk]
            bounds, centre_values = bounder.lower_bounds(blo, bhi)
            boxes += blo.shape[0]
            i = int(np.argmin(centre_values))
            if centre_values[i] < best:
                best, best_point = float(centre_values[i]), (blo[i] + bhi[i]) / 2
            alive = bounds < best - gap
            if np.any(~alive):
                smallest_discarded = min(smallest_discarded, float(bounds[~alive].min()))
            keep_lo.append(blo[alive])
            keep_hi.append(bhi[alive])
        lo, hi = np.concatenate(keep_lo), np.concatenate(keep_hi)
        if boxes > max_boxes:
            raise RuntimeError(f"branch and bound gave up after {boxes} boxes ({lo.shape[0]} open)")
        if progress is not None:
            progress(boxes, lo.shape[0])
        # bisect every open box along its widest side
        axis = np.argmax(hi - lo, axis=1)
        rows = np.arange(lo.shape[0])
        mid = (lo[rows, axis] + hi[rows, axis]) / 2
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[rows, axis] = mid
        right_lo[rows, axis] = mid
        lo, hi = np.concatenate([lo, right_lo]), np.concatenate([left_hi, hi])
    return BranchAndBoundResult(
        upper_bound=best,
        lower_bound=smallest_discarded,
        gap=gap,
        boxes=boxes,
        seconds=time.perf_counter() - start_time,
        best_point=best_point,
    )
