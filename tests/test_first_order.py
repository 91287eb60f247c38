"""The fused Adam, RMSProp and SGD loops against their rules (to the bit) and torch.optim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qnntraps.harness.starts import start_points
from qnntraps.optimizers.catalogue import (
    BUILTINS,
    OptimizerSpecError,
    check_hyperparameters,
)
from qnntraps.optimizers.first_order import FirstOrder
from qnntraps.oracles.budget import Budget
from qnntraps.oracles.oracle import Oracle
from qnntraps.simulators.evaluate import cpu_evaluator

INSTANCE = "construction-coupled-p4-v1"
SEED = "5" * 64  # the starts: any sha256-shaped text
HYPER = {
    "adam": {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-8},
    "rmsprop": {"lr": 0.02, "alpha": 0.9, "eps": 1e-8},
    "sgd": {"lr": 0.1, "momentum": 0.0},
    "sgd-momentum": {"lr": 0.05, "momentum": 0.9},
}
# (gtol, steps) with which some of the nine restarts stop on gtol and the others on the budget
STOPS = {"adam": (2e-3, 40), "rmsprop": (2e-3, 40), "sgd": (3e-2, 60), "sgd-momentum": (1e-2, 60)}


def _method(name: str) -> str:
    return name.partition("-")[0]


def _reference(name: str, evaluator, x0: np.ndarray, gtol: float, steps: int):
    """The module docstring's rule for one restart, in NumPy scalars' order of operations:
    (final point, gradient evaluations)."""
    hyper = HYPER[name]
    x, first, second = x0.copy(), np.zeros_like(x0), np.zeros_like(x0)
    for t in range(1, steps + 1):
        _, grad = evaluator.loss_and_grad(torch.from_numpy(x[None, :].copy()))
        g = grad[0].numpy()
        if not np.max(np.abs(g)) >= gtol and not np.isnan(g).any():
            return x, t
        if _method(name) == "adam":
            beta1, beta2 = hyper["betas"]
            first = first + (1.0 - beta1) * (g - first)
            second = second * beta2 + ((1.0 - beta2) * g) * g
            size = hyper["lr"] / (1.0 - beta1 ** float(t))
            root = math.sqrt(1.0 - beta2 ** float(t))
            x = x + ((-size) * first) / (np.sqrt(second) / root + hyper["eps"])
        elif _method(name) == "rmsprop":
            second = second * hyper["alpha"] + ((1.0 - hyper["alpha"]) * g) * g
            x = x + ((-hyper["lr"]) * g) / (np.sqrt(second) + hyper["eps"])
        else:
            first = g.copy() if t == 1 or hyper["momentum"] == 0 else first * hyper["momentum"] + g
            x = x + (-hyper["lr"]) * first
    return x, steps


def _run(name: str, evaluator, x0: np.ndarray, gtol: float, steps: int):
    oracle = Oracle(evaluator, x0.shape[0], Budget(grad_evals=steps))
    final = FirstOrder(_method(name), gtol=gtol, **HYPER[name])(oracle, torch.from_numpy(x0), None)
    return final.numpy(), oracle.grad_evals.numpy()


@pytest.mark.parametrize("name", sorted(HYPER))
def test_each_restart_follows_the_documented_rule_to_the_bit(load, name):
    """Nine restarts in one batch, some stopping early on gtol: each one's final point and
    gradient count are those of the rule run alone in NumPy."""
    instance = load(INSTANCE)
    evaluator = cpu_evaluator(instance)
    x0 = start_points(SEED, range(9), instance.num_parameters)
    gtol, steps = STOPS[name]
    final, counts = _run(name, evaluator, x0, gtol, steps)
    stopped_early = 0
    for r in range(9):
        expected, evaluations = _reference(name, evaluator, x0[r], gtol, steps)
        assert final[r].tobytes() == expected.tobytes(), f"restart {r}"
        assert counts[r] == evaluations
        stopped_early += evaluations < steps
    assert 0 < stopped_early < 9  # both kinds of ending were exercised


@pytest.mark.parametrize("name", sorted(HYPER))
def test_a_restart_s_path_does_not_depend_on_its_batch(load, name):
    instance = load(INSTANCE)
    evaluator = cpu_evaluator(instance)
    x0 = start_points(SEED, range(13), instance.num_parameters)
    batch, _ = _run(name, evaluator, x0, 1e-8, 40)
    for r in (0, 6, 12):
        alone, _ = _run(name, evaluator, x0[r : r + 1], 1e-8, 40)
        assert alone[0].tobytes() == batch[r].tobytes()


@pytest.mark.parametrize("name", sorted(HYPER))
def test_the_rule_is_torch_optim_s_to_rounding(load, name):
    """torch.optim's Adam, RMSprop and SGD on one restart, 40 steps: the same path up to the
    rounding of the multiply-adds torch fuses (its own results differ by batch position)."""
    instance = load(INSTANCE)
    evaluator = cpu_evaluator(instance)
    x0 = start_points(SEED, [3], instance.num_parameters)
    ours, _ = _run(name, evaluator, x0, 0.0, 40)
    params = torch.tensor(x0, requires_grad=True)
    torch_class = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
                   "sgd": torch.optim.SGD}[_method(name)]  # fmt: skip
    optimizer = torch_class([params], **HYPER[name])
    for _ in range(40):
        _, grad = evaluator.loss_and_grad(params.detach())
        params.grad = grad
        optimizer.step()
    theirs = params.detach().numpy()
    assert not np.array_equal(ours, x0)
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12)


def test_nan_gradients_move_the_restart_to_nan_as_torch_did():
    class NanOracle:
        budget = Budget(grad_evals=3)

        def __init__(self):
            self.count = torch.zeros(2, dtype=torch.int64)

        def can_evaluate_grad(self, rows):
            return self.count[rows] < 3

        def loss_and_grad(self, theta, rows):
            self.count[rows] += 1
            grad = torch.ones_like(theta)
            grad[rows == 1] = float("nan")
            return torch.zeros(len(rows), dtype=torch.float64), grad

    x = FirstOrder("sgd", lr=0.1)(NanOracle(), torch.zeros(2, 2, dtype=torch.float64), None)
    assert torch.isnan(x[1]).all() and torch.isfinite(x[0]).all()


@pytest.mark.parametrize(
    "name, hyper, words",
    [
        ("adam", {"lr": -0.1}, "lr must be a finite number >= 0"),
        ("adam", {"betas": [1.0, 0.9]}, "betas must be two numbers in [0, 1)"),
        ("adam", {"betas": [0.9]}, "must be a list of 2 numbers"),
        ("rmsprop", {"alpha": 1.5}, "alpha must lie in [0, 1)"),
        ("sgd", {"momentum": -0.5}, "momentum must lie in [0, 1)"),
        ("sgd", {"gtol": -1.0}, "gtol must be a finite number >= 0"),
    ],
)
def test_bad_hyper_parameters_are_refused_before_a_run(name, hyper, words):
    with pytest.raises(OptimizerSpecError, match=words.replace("[", r"\[").replace(")", r"\)")):
        check_hyperparameters(BUILTINS[name], {**dict(BUILTINS[name].defaults), **hyper})
