"""Numerical assertions the tests share."""

from __future__ import annotations

import numpy as np


def assert_allclose(actual, expected, atol: float, what: str) -> None:
    """Absolute closeness with a message that names the quantity and the worst deviation."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    deviation = float(np.max(np.abs(actual - expected), initial=0.0))
    assert deviation <= atol, f"{what}: max deviation {deviation:.3e} > {atol:.1e}"
