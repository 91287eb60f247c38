"""Reference rates (random vertex 2^-p, gradient flow q^p) against independent references.

The gradient-flow rate is checked three ways: against the closed form written out here, against
the basin measured from numerically located critical points of the 1-D loss, and against a
Monte-Carlo integration of the full p-dimensional gradient flow of the instance's own loss (no
decoupling assumed) from seeded uniform starts.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import qnntraps
from qnntraps import NoClosedFormError, ReferenceRates, reference_rates
from qnntraps.certificates.reference_rates import (
    basin_fraction,
    construction_structure,
    gradient_flow_rate,
    in_gradient_flow_basin,
)
from qnntraps.instance import Dataset, PauliMixtureStates, ProductObservable
from tests.assertions import assert_allclose

EPS2 = 1.0 / 8.0
# q = 1/2 + arcsin(eps^2 / (1 - eps^2)) / pi at eps^2 = 1/8, i.e. 1/2 + arcsin(1/7) / pi.
Q = 0.5 + math.asin(1.0 / 7.0) / math.pi


def registry_ids(family: str) -> list[str]:
    return [e.id for e in qnntraps.list_instances() if e.family == family]


def test_q_value():
    assert abs(Q - 0.5456289483) < 1e-10
    assert basin_fraction(math.sqrt(EPS2)) == pytest.approx(Q, abs=1e-15)


def test_basin_fraction_from_critical_points():
    """The global basin's arc, from the roots of f'(u) found numerically, not from arcsin."""
    for eps2 in (0.01, 1.0 / 8.0, 0.3, 0.45):
        for sigma in (1.0, -1.0):

            def slope(u, eps2=eps2, sigma=sigma):  # d/du [cos^2 u + eps^2 (sin u - sigma)^2]
                return -2 * np.sin(u) * np.cos(u) + 2 * eps2 * (np.sin(u) - sigma) * np.cos(u)

            grid = np.linspace(0.0, 2 * np.pi, 20001)
            values = slope(grid)
            roots = [
                brentq(slope, a, b, xtol=1e-15)
                for a, b, fa, fb in zip(grid[:-1], grid[1:], values[:-1], values[1:], strict=True)
                if fa * fb < 0
            ]
            # Maxima: f' goes from + to -; the global minimum sits at u = sigma pi / 2.
            maxima = [r for r in roots if slope(r - 1e-6) > 0 > slope(r + 1e-6)]
            assert len(maxima) == 2
            target = (sigma * np.pi / 2) % (2 * np.pi)
            low, high = sorted(maxima)
            inner = high - low
            arc = inner if low < target < high else 2 * np.pi - inner
            assert basin_fraction(math.sqrt(eps2)) == pytest.approx(arc / (2 * np.pi), abs=1e-12)


@pytest.mark.parametrize("instance_id", registry_ids("construction"))
def test_construction_rates_match_closed_form(load, instance_id):
    instance = load(instance_id)
    rates = reference_rates(instance)
    assert isinstance(rates, ReferenceRates)
    p = instance.num_parameters
    assert rates.random_vertex == 2.0**-p
    if instance.dataset.noiseless_labels is not None:
        assert rates.gradient_flow is None and "label-noise" in rates.note
        with pytest.raises(NoClosedFormError, match="label-noise"):
            gradient_flow_rate(instance)
        return
    assert rates.gradient_flow == pytest.approx(Q**p, rel=1e-13)
    assert gradient_flow_rate(instance) == rates.gradient_flow
    structure = construction_structure(instance)
    assert structure.signs == tuple(int(s) for s in instance.certificate.planted_signs)
    assert_allclose(structure.epsilon, np.full(p, math.sqrt(EPS2)), 1e-16, "eps per qubit")


@pytest.mark.parametrize(
    "family", ["construction-coupled", "separable"], ids=["coupled", "separable"]
)
def test_other_families_have_no_gradient_flow_rate(load, family):
    for instance_id in registry_ids(family):
        instance = load(instance_id)
        rates = reference_rates(instance)
        assert rates.gradient_flow is None and rates.basin_fractions is None
        assert rates.note.startswith("no closed form")
        with pytest.raises(NoClosedFormError):
            gradient_flow_rate(instance)
        expected = 2.0**-instance.num_parameters if family != "separable" else None
        assert rates.random_vertex == expected


def _tampered(instance, **changes):
    return dataclasses.replace(instance, **changes)


def _with_labels(instance, labels):
    inputs = instance.dataset.inputs
    return _tampered(instance, dataset=Dataset(inputs, labels))


@pytest.mark.parametrize(
    "change",
    ["label", "eps-too-large", "extra-sample", "observable", "coupled-sample", "pinning-label"],
)
def test_structure_is_checked_from_data(load, change):
    """A file named `construction` whose data differ in any one way gets no rate."""
    instance = load("construction-p4-v1")
    inputs, labels = instance.dataset.inputs, instance.dataset.labels.copy()
    codes, eps = inputs.pauli_codes.copy(), inputs.epsilon.copy()
    if change == "label":
        labels[4] = 1.0 + 0.5 * eps[4]
        bad = _with_labels(instance, labels)
    elif change == "eps-too-large":
        eps[4:] = math.sqrt(0.5)
        labels[4:] = 1.0 + eps[4:]
        bad = _tampered(instance, dataset=Dataset(PauliMixtureStates(codes, eps), labels))
    elif change == "extra-sample":
        codes = np.vstack([codes, codes[-1:]])
        eps, labels = np.append(eps, eps[-1]), np.append(labels, labels[-1])
        bad = _tampered(instance, dataset=Dataset(PauliMixtureStates(codes, eps), labels))
    elif change == "observable":
        factors = instance.observable.factors.copy()
        factors[0] = [1.0, 1.0, 0.0, 0.0]
        bad = _tampered(instance, observable=ProductObservable(factors))
    elif change == "coupled-sample":
        codes[4, 1] = 1  # X on qubits 0 and 1: a 2-set constraint
        bad = _tampered(instance, dataset=Dataset(PauliMixtureStates(codes, eps), labels))
    else:
        labels[0] = 1.01
        bad = _with_labels(instance, labels)
    assert reference_rates(instance).gradient_flow is not None
    assert reference_rates(bad).gradient_flow is None
    with pytest.raises(NoClosedFormError):
        gradient_flow_rate(bad)


def _flow_to_the_end(instance, starts: np.ndarray, horizon: float) -> np.ndarray:
    """Integrate d theta/dt = -grad L(theta) for all starts at once (RK45, tight tolerances)."""
    shape = starts.shape

    def velocity(_t, flat):
        _, grad = instance.loss_and_grad(flat.reshape(shape))
        return -np.asarray(grad, dtype=np.float64).ravel()

    solution = solve_ivp(
        velocity, (0.0, horizon), starts.ravel(), method="RK45", rtol=1e-9, atol=1e-11
    )
    assert solution.success, solution.message
    return solution.y[:, -1].reshape(shape)


@pytest.mark.slow
@pytest.mark.parametrize("p", [2, 4])
def test_monte_carlo_gradient_flow_hits_q_to_the_p(load, p):
    """Seeded uniform starts, full gradient flow, scored by the certificate: rate ~ q^p, not 2^-p.

    The horizon T = 25 m lets a start 1e-12 away from a maximum escape (rate 6.9/m there) and
    settle; the hits are scored by the instance's own rule (loss within the hit tolerance).
    """
    instance = load(f"construction-p{p}-v1")
    n = 20000
    starts = np.random.default_rng(7100 + p).uniform(0.0, 2 * np.pi, size=(n, p))
    ends = _flow_to_the_end(instance, starts, horizon=25.0 * instance.num_samples)
    _, grad = instance.loss_and_grad(ends)
    assert np.max(np.abs(grad)) < 1e-6, "the flow has not settled"
    hits = np.asarray(instance.is_hit(ends))
    # Start by start, the flow agrees with the basin predicted from the critical points.
    predicted = np.asarray(in_gradient_flow_basin(instance, starts))
    assert np.array_equal(hits, predicted), f"{np.sum(hits != predicted)} starts disagree"
    rate, reference = hits.mean(), Q**p
    half_width = 4.0 * math.sqrt(reference * (1 - reference) / n)
    assert abs(rate - reference) <= half_width, f"{hits.sum()}/{n} vs q^p = {reference:.5f}"
    assert abs(rate - 2.0**-p) > half_width, "the sample cannot tell q^p from 2^-p"


def test_basin_predicate_matches_signs(load):
    instance = load("construction-p2-v1")
    sigma = instance.certificate.planted_signs.astype(float)
    theta_star = instance.certificate.global_minimizer
    assert in_gradient_flow_basin(instance, theta_star) is True
    assert in_gradient_flow_basin(instance, theta_star + np.pi) is True  # period pi in theta
    far = theta_star + np.array([np.pi / 2, 0.0])  # coordinate 0 at the opposite vertex
    assert in_gradient_flow_basin(instance, far) is False
    # Just inside and just outside the boundary sin(2 theta) = -sigma eps^2 / (1 - eps^2).
    edge = 0.5 * (np.pi + math.asin(1.0 / 7.0))  # sin(2 edge) = -1/7
    # sigma sin(2 theta) is even in theta, so the sigma = -1 edge is the mirror image.
    theta = np.zeros((2, 2))
    theta[:, 0] = sigma[0] * (edge + np.array([-1e-9, 1e-9]))
    theta[:, 1] = theta_star[1]
    assert list(in_gradient_flow_basin(instance, theta)) == [True, False]
