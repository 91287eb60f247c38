"""From a set of verified local minima to the figures a certificate stores (docs/format.md).

Shared by every numerically derived certificate so that they round, rank and measure gaps alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnntraps.simulators.product_form import ProductForm, product_form_loss

# Stored figures are rounded so that regenerating a file cannot depend on the last bit of a libm.
THETA_DECIMALS = 12
VALUE_DECIMALS = 15


@dataclass(frozen=True)
class MinimaSummary:
    """Best point and value, the ladder of distinct values, and the hit tolerance."""

    global_minimizer: np.ndarray
    global_min_value: float
    ladder_values: np.ndarray
    ladder_counts: np.ndarray
    hit_tolerance: float


def summarize_minima(
    form: ProductForm, points: np.ndarray, values: np.ndarray, ladder_decimals: int
) -> MinimaSummary:
    """Summarize local minima `points` (K, p) with exact losses `values` (K,).

    The ladder groups values rounded to `ladder_decimals`; the minimizer is the best point rounded
    to THETA_DECIMALS, its loss re-evaluated there; the tolerance is half the gap between the two
    lowest rungs. Raises RuntimeError when there is only one rung (no gap to measure).
    """
    ladder_values, ladder_counts = np.unique(np.round(values, ladder_decimals), return_counts=True)
    if ladder_values.size < 2:
        raise RuntimeError("only one local-minimum value was found: no gap for a hit tolerance")
    minimizer = np.round(points[int(np.argmin(values))], THETA_DECIMALS)
    value = float(np.round(product_form_loss(form, minimizer[None, :])[0], VALUE_DECIMALS))
    gap = float(ladder_values[1] - ladder_values[0])
    return MinimaSummary(
        global_minimizer=minimizer,
        global_min_value=value,
        ladder_values=ladder_values,
        ladder_counts=ladder_counts,
        hit_tolerance=float(np.round(gap / 2, VALUE_DECIMALS)),
    )


def vertex_point(signs: np.ndarray) -> np.ndarray:
    """theta with sin 2theta_l = signs_l and cos 2theta_l = 0: pi/4 or 3pi/4 per coordinate."""
    return np.where(np.asarray(signs) > 0, np.pi / 4, 3 * np.pi / 4)
