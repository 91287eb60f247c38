"""tools/peer_table.py's peers compute what qnntraps computes: the parameter-shift gradient
through Qiskit's own simulators, and PennyLane's where it is installed, agree with the
product-form evaluator to 1e-9 on seeded restarts of a Pauli-mixture and an encoded instance."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import qnntraps

TOOL = Path(__file__).resolve().parent.parent / "tools" / "peer_table.py"
INSTANCES = ("construction-coupled-p4-v1", "separable-p4-v1")


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("peer_table", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_shifted_points(tool):
    theta = np.arange(6.0).reshape(2, 3)
    points = tool.shifted(theta)
    assert points.shape == (2, 7, 3)
    np.testing.assert_array_equal(points[:, 0], theta)
    for j in range(3):
        step = np.zeros(3)
        step[j] = np.pi / 4
        np.testing.assert_array_equal(points[:, 1 + 2 * j], theta + step)
        np.testing.assert_array_equal(points[:, 2 + 2 * j], theta - step)


def test_parameter_shift_of_a_closed_form(tool):
    # y_k(theta) = cos(2 theta_0 + k) sin(2 theta_1): the exact shift rule for exp(-i theta P)
    def predictions(points):
        k = np.arange(3.0)
        return np.cos(2 * points[..., :1] + k) * np.sin(2 * points[..., 1:2])

    theta = np.array([[0.3, -1.1], [2.0, 0.7]])
    labels = np.array([0.1, -0.2, 0.5])
    loss, grad = tool.parameter_shift(predictions(tool.shifted(theta)), labels, "square")
    y = predictions(theta)
    np.testing.assert_allclose(loss, np.mean((y - labels) ** 2, axis=-1), rtol=1e-15)
    k = np.arange(3.0)
    dy0 = -2 * np.sin(2 * theta[:, :1] + k) * np.sin(2 * theta[:, 1:2])
    dy1 = 2 * np.cos(2 * theta[:, :1] + k) * np.cos(2 * theta[:, 1:2])
    expected = np.stack(
        [np.mean(2 * (y - labels) * dy0, -1), np.mean(2 * (y - labels) * dy1, -1)], axis=-1
    )
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("instance_id", INSTANCES)
@pytest.mark.parametrize(
    "peer",
    [
        "torch autograd",
        "Qiskit StatevectorEstimator",
        "Qiskit Aer EstimatorV2",
        "PennyLane default.qubit",
        "PennyLane lightning.qubit",
    ],
)
def test_peer_agrees_with_qnntraps(tool, peer, instance_id):
    module = tool.missing(peer)
    if module is not None:
        pytest.skip(f"{module} is not installed (pip install -e '.[peers]')")
    instance = qnntraps.load(instance_id)
    theta = np.random.default_rng(7).uniform(0, 2 * np.pi, (2, instance.num_parameters))
    loss, grad = tool.PEERS["qnntraps"](instance)(theta)
    assert np.all(np.abs(grad) > 1e-6)  # a gradient of zeros would agree with anything
    assert tool.check(tool.PEERS[peer](instance), theta, loss, grad) < tool.TOLERANCE
