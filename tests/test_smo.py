"""The sequential minimal optimizer: exact 5-point fit, global 1-D minimization, the optimizer loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qnntraps.harness.starts import start_points
from qnntraps.optimizers.smo import (
    SequentialMinimalOptimizer,
    evaluate_fit,
    fit_and_minimize,
    fit_coefficients,
)
from qnntraps.oracles.budget import Budget
from qnntraps.oracles.oracle import Oracle
from qnntraps.registry import find_entry
from qnntraps.simulators import compile

SHIFTS = np.arange(5) * np.pi / 5


def oracle_for(instance, restarts: int, loss_evals: int | None = 10**7) -> Oracle:
    form = compile(instance)
    return Oracle(form, restarts, Budget(loss_evals=loss_evals))


def starts(instance, restarts) -> torch.Tensor:
    sha256 = find_entry(instance.id).sha256
    return torch.as_tensor(start_points(sha256, restarts, instance.num_parameters))


def along(theta: np.ndarray, l: int, shifts: np.ndarray) -> np.ndarray:
    """Points theta + t e_l for every t in shifts: (len(shifts), p)."""
    points = np.repeat(theta[None, :], len(shifts), axis=0)
    points[:, l] += shifts
    return points


def rotosolve(f0: float, f_plus: float, f_minus: float) -> float:
    """The 3-point rule's shift for a frequency-2 model C + A cos 2t + B sin 2t (t = 0, +-pi/4)."""
    c = 0.5 * (f_plus + f_minus)
    return 0.5 * (math.atan2(0.5 * (f_plus - f_minus), f0 - c) + math.pi)


# --- the fit ------------------------------------------------------------------------------------
@pytest.mark.parametrize("instance_id", ["construction-coupled-p8-v1", "separable-p4-v1"])
def test_fit_reproduces_the_loss_along_every_coordinate(load, rng, instance_id):
    instance = load(instance_id)
    p = instance.num_parameters
    for _ in range(3):
        theta = rng.uniform(0.0, 2 * np.pi, p)
        for l in range(p):
            values = instance.loss(along(theta, l, SHIFTS))
            coefficients = fit_coefficients(torch.as_tensor(values[None, :]))
            t = rng.uniform(-np.pi, np.pi, 50)
            fitted = evaluate_fit(coefficients, torch.as_tensor(t[None, :]))[0].numpy()
            exact = instance.loss(along(theta, l, t))
            assert np.max(np.abs(fitted - exact)) <= 1e-12


def test_fit_recovers_known_coefficients(rng):
    coefficients = rng.normal(size=(50, 5))
    values = evaluate_fit(torch.as_tensor(coefficients), torch.as_tensor(np.tile(SHIFTS, (50, 1))))
    np.testing.assert_allclose(fit_coefficients(values).numpy(), coefficients, rtol=0, atol=1e-14)


# --- the global 1-D minimization ----------------------------------------------------------------
def coefficient_sets(rng) -> np.ndarray:
    """(a0, a1, b1, a2, b2) rows: random, degenerate and nearly degenerate, flat minima, scales."""
    sets = [rng.normal(size=(300, 5))]
    freq2 = rng.normal(size=(30, 5))
    freq2[:, 3:] = 0.0  # pure frequency 2 in theta: the quartic's leading coefficient vanishes
    freq4 = rng.normal(size=(30, 5))
    freq4[:, 1:3] = 0.0  # pure frequency 4
    constant = np.zeros((5, 5))
    constant[:, 0] = rng.normal(size=5)
    sets += [freq2, freq4, constant]
    for ratio in (1e-12, 1e-9, 1e-6, 0.999e-3, 1.001e-3, 1e-2):  # |C2| / |C1| around the switch
        near = rng.normal(size=(20, 5))
        near[:, 3:] *= ratio / np.linalg.norm(near[:, 3:], axis=1, keepdims=True)
        near[:, 3:] *= np.linalg.norm(near[:, 1:3], axis=1, keepdims=True)
        sets.append(near)
    # flat minimum: 4 cos(phi - u) + cos(2 (phi - u)) has g'' = 0 at its minimum phi = u + pi
    u = rng.uniform(-np.pi, np.pi, 20)
    flat = np.stack(
        [rng.normal(size=20), 4 * np.cos(u), 4 * np.sin(u), np.cos(2 * u), np.sin(2 * u)]
    )
    sets.append(flat.T)
    sets.append(1e3 * rng.normal(size=(20, 5)))
    sets.append(1e-6 * rng.normal(size=(20, 5)))
    return np.concatenate(sets)


def test_minimization_is_global(rng):
    coefficients = coefficient_sets(rng)
    rows = coefficients.shape[0]
    theta = rng.uniform(0.0, 2 * np.pi, rows)
    values = evaluate_fit(
        torch.as_tensor(coefficients), torch.as_tensor(np.tile(SHIFTS, (rows, 1)))
    )
    new_theta, predicted = fit_and_minimize(values, torch.as_tensor(theta))
    new_theta, predicted = new_theta.numpy(), predicted.numpy()
    fitted = fit_coefficients(values)
    grid = np.linspace(0.0, np.pi, 100_000, endpoint=False)
    basis = np.stack([np.ones_like(grid), *(f(k * grid) for k in (2, 4) for f in (np.cos, np.sin))])
    fitted_np = fitted.numpy()
    grid_min = np.concatenate(
        [(fitted_np[i : i + 50] @ basis).min(axis=1) for i in range(0, rows, 50)]
    )
    assert np.all(predicted <= grid_min + 1e-12)
    # the predicted value is the fitted polynomial's value at the returned point, which is a
    # shift of at most pi/2 from theta
    at_new = evaluate_fit(fitted, torch.as_tensor(new_theta - theta)).numpy()
    np.testing.assert_allclose(predicted, at_new, rtol=0, atol=1e-12)
    assert np.all(np.abs(new_theta - theta) <= np.pi / 2 + 1e-15)
    # never above the current value; constant rows do not move at all
    assert np.all(predicted <= values[:, 0].numpy())
    constant = np.all(coefficients[:, 1:] == 0.0, axis=1)
    assert constant.any()
    assert np.array_equal(new_theta[constant], theta[constant])
    assert np.array_equal(predicted[constant], values[constant, 0].numpy())


def test_three_point_rule_fails_where_the_five_point_rule_is_exact(load, rng):
    # Analytic: the pinning residual alone, f(t) = cos^2 2t = (1 + cos 4t)/2. At t = 0, +-pi/4 it
    # takes the values 1, 0, 0, exactly those of cos 2t (aliasing), so the 3-point rule moves to
    # t = pi/2, where f = 1 is the maximum; the true minimum is 0 at t = pi/4.
    def f(t):
        return np.cos(2 * t) ** 2

    shift = rotosolve(f(0.0), f(np.pi / 4), f(-np.pi / 4))
    assert shift == pytest.approx(np.pi / 2) and f(shift) == pytest.approx(1.0)
    new_theta, predicted = fit_and_minimize(torch.as_tensor(f(SHIFTS)[None]), torch.zeros(1))
    assert abs(float(predicted[0])) <= 1e-15 and f(float(new_theta[0])) <= 1e-15

    # The same on an instance: construction-p4, coordinate 0 starting at theta_0 = 0.
    instance = load("construction-p4-v1")
    theta = rng.uniform(0.0, 2 * np.pi, instance.num_parameters)
    theta[0] = 0.0
    grid = np.linspace(0.0, np.pi, 20_001)
    true_min = instance.loss(along(theta, 0, grid)).min()
    f0, f_plus, f_minus = instance.loss(along(theta, 0, np.array([0.0, np.pi / 4, -np.pi / 4])))
    three_point = instance.loss(along(theta, 0, np.array([rotosolve(f0, f_plus, f_minus)])))[0]
    assert three_point - true_min > 0.1  # pinning residual ~1/m = 1/8 left behind
    values = instance.loss(along(theta, 0, SHIFTS))
    new_theta, predicted = fit_and_minimize(torch.as_tensor(values[None]), torch.zeros(1))
    ours = instance.loss(along(theta, 0, new_theta.numpy()))[0]
    assert ours <= true_min + 1e-12
    assert abs(float(predicted[0]) - ours) <= 1e-12


# --- the optimizer ------------------------------------------------------------------------------
def test_every_coordinate_update_is_monotone(load):
    instance = load("construction-coupled-p8-v1")
    x0 = starts(instance, range(100))
    snapshots = []
    final = SequentialMinimalOptimizer().run(oracle_for(instance, 100), x0, snapshots.append)
    assert len(snapshots) >= instance.num_parameters
    previous = instance.loss(x0.numpy())
    for step in snapshots:
        exact = instance.loss(step.theta.numpy())
        assert np.all(exact <= previous)  # never increases, not even by rounding
        rows = step.rows.numpy()
        np.testing.assert_allclose(step.loss.numpy()[rows], exact[rows], rtol=0, atol=1e-13)
        previous = exact
    assert torch.equal(final, snapshots[-1].theta)


def test_independent_qubits_reach_the_global_minimum_in_one_sweep(load):
    # construction (T = {l}) is a sum over qubits: L = (1/m) sum_l [cos^2 2t_l + eps^2 (sin 2t_l -
    # sigma_l)^2 (+ label noise terms)], each summand depending on t_l alone. Exact coordinate
    # minimization therefore minimizes every summand globally, whatever the other coordinates are:
    # after one sweep every start sits at the global minimum (with label noise too, which keeps
    # the sum separable). So the hit rate is exactly 100%.
    for instance_id, restarts in (
        ("construction-p4-v1", 200),
        ("construction-p8-noise0.05-v1", 50),
    ):
        instance = load(instance_id)
        p = instance.num_parameters
        x0 = starts(instance, range(restarts))
        oracle = oracle_for(instance, restarts)
        final = SequentialMinimalOptimizer(sweeps=1)(oracle, x0, None)
        assert instance.is_hit(final.numpy()).all()
        assert torch.equal(oracle.loss_evals, torch.full((restarts,), 1 + 4 * p))
    # Without a sweep limit the second sweep finds nothing to gain and every row stops there.
    instance = load("construction-p4-v1")
    oracle = oracle_for(instance, 200)
    final = SequentialMinimalOptimizer()(oracle, starts(instance, range(200)), None)
    assert instance.is_hit(final.numpy()).all()
    assert torch.equal(oracle.loss_evals, torch.full((200,), 1 + 8 * instance.num_parameters))


def test_loss_evaluation_counts_and_budget(load):
    instance = load("construction-coupled-p8-v1")
    p = instance.num_parameters
    x0 = starts(instance, range(12))
    sweeps_done = torch.zeros(12, dtype=torch.int64)

    def count(step):
        if step.coordinate == p - 1:
            sweeps_done[step.rows] += 1

    for sweeps in (None, 2):
        sweeps_done.zero_()
        oracle = oracle_for(instance, 12)
        SequentialMinimalOptimizer(sweeps=sweeps).run(oracle, x0, count)
        assert torch.equal(oracle.loss_evals, 1 + 4 * p * sweeps_done)
        if sweeps is not None:
            assert torch.equal(sweeps_done, torch.full((12,), sweeps))
    # a budget that pays the start, one sweep, three coordinates and 2 evaluations more
    limit = 1 + 4 * p + 4 * 3 + 2
    oracle = oracle_for(instance, 12, loss_evals=limit)
    final = SequentialMinimalOptimizer()(oracle, x0, None)
    assert torch.equal(oracle.loss_evals, torch.full((12,), limit - 2))
    # budgets that pay nothing, or only the start: the start point comes back unchanged
    for limit, spent in ((0, 0), (4, 1)):
        oracle = oracle_for(instance, 12, loss_evals=limit)
        final = SequentialMinimalOptimizer()(oracle, x0, None)
        assert torch.equal(final, x0)
        assert torch.equal(oracle.loss_evals, torch.full((12,), spent))
    oracle = oracle_for(instance, 12)
    assert torch.equal(SequentialMinimalOptimizer(sweeps=0)(oracle, x0, None), x0)
    assert torch.equal(oracle.loss_evals, torch.ones(12, dtype=torch.int64))


def test_restarts_are_bit_exact_in_any_batch(load):
    instance = load("construction-coupled-p8-v1")
    x0 = starts(instance, range(20))
    optimizer = SequentialMinimalOptimizer()

    def batched(size):
        results, counts = [], []
        for first in range(0, 20, size):
            oracle = oracle_for(instance, min(size, 20 - first))
            results.append(optimizer(oracle, x0[first : first + size], None))
            counts.append(oracle.loss_evals)
        return torch.cat(results), torch.cat(counts)

    whole, whole_counts = batched(20)
    for size in (1, 6):
        parts, part_counts = batched(size)
        assert torch.equal(parts, whole)
        assert torch.equal(part_counts, whole_counts)


@pytest.mark.parametrize(
    "kwargs", [{"sweeps": -1}, {"sweeps": 1.5}, {"ftol": -1.0}, {"ftol": math.nan}]
)
def test_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        SequentialMinimalOptimizer(**kwargs)
