"""A separable certificate's ladder is a lower bound on the set of minima, not the set.

The three points below were found by scipy L-BFGS-B from 3000 seeded uniform starts on
separable-p6-v1 (docs/separable.md); here each is polished by Newton steps and checked to be a
strict local minimum whose value is not among the stored ladder values.
"""

from __future__ import annotations

import numpy as np
import pytest

OFF_LADDER_P6 = {
    1.00770324: [0.38744477753, 2.109448098231, 2.839606928691, 2.711809262481, 0.812944204955,
                 2.724275047519],
    1.21904067: [0.339314652702, 0.295323414993, 1.614234724713, 0.69431221015, 2.338500355404,
                 1.079793179022],
    2.74025061: [0.887643950954, 0.897398169547, 1.037544004912, 2.646513136551, 2.771559901217,
                 2.095423547268],
}  # fmt: skip


def gradient(instance, theta: np.ndarray) -> np.ndarray:
    return np.asarray(instance.loss_and_grad(theta)[1], dtype=np.float64)


def hessian(instance, theta: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of the exact gradient, symmetrized."""
    columns = [
        (gradient(instance, theta + step * e) - gradient(instance, theta - step * e)) / (2 * step)
        for e in np.eye(theta.size)
    ]
    matrix = np.array(columns)
    return (matrix + matrix.T) / 2


@pytest.mark.parametrize("value", sorted(OFF_LADDER_P6))
def test_strict_minima_off_the_stored_ladder(load, value):
    instance = load("separable-p6-v1")
    theta = np.array(OFF_LADDER_P6[value])
    for _ in range(3):
        theta = theta - np.linalg.solve(hessian(instance, theta), gradient(instance, theta))
    assert np.linalg.norm(gradient(instance, theta)) < 1e-12
    assert np.linalg.eigvalsh(hessian(instance, theta))[0] > 0.3
    loss = float(instance.loss(theta))
    assert loss == pytest.approx(value, abs=1e-8)
    ladder = instance.certificate.ladder_values
    assert np.min(np.abs(ladder - loss)) > 1e-2, "the value is on the stored ladder"
    assert loss > instance.certificate.global_min_value
