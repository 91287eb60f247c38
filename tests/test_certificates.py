"""The certificates hold: checked against direct enumeration, independent optimizers and the proof."""

import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

import qnntraps
from qnntraps.simulators import compile, torch_product
from tests.assertions import assert_allclose
from tests.reference import closed_form_loss, closed_form_loss_and_grad, violated_constraints

ALL = [e.id for e in qnntraps.list_instances()]
CONSTRUCTION = [e for e in qnntraps.list_instances() if e.family.startswith("construction")]
NOISE_FREE_SMALL = [e.id for e in CONSTRUCTION if e.variant is None and e.p <= 10]
NOISY_SMALL = [e.id for e in CONSTRUCTION if e.variant is not None and e.p <= 8]


def vertices(p: int) -> tuple[np.ndarray, np.ndarray]:
    signs = np.array(list(itertools.product([1, -1], repeat=p)))
    return signs, np.where(signs > 0, np.pi / 4, 3 * np.pi / 4)


@pytest.mark.parametrize("instance_id", ALL)
def test_global_minimizer_attains_global_min_value(load, instance_id):
    instance = load(instance_id)
    cert = instance.certificate
    value = instance.loss(cert.global_minimizer)
    assert_allclose(value, cert.global_min_value, 1e-13, "L(theta*) vs L*")
    assert instance.is_hit(cert.global_minimizer)
    assert cert.hit_tolerance > 0
    if cert.kind == "spectral":  # no ladder: tests/test_barren_plateau.py checks the bound
        return
    if cert.kind == "planted":  # ladder of a multistart: tests/test_teacher_student.py
        assert cert.global_min_value == 0.0 and cert.hit_tolerance <= 1e-4
        return
    if cert.ladder_values is None:  # GPU-scale coupled: tolerance from one violated constraint
        assert cert.num_local_minima == 2**instance.num_parameters
        epsilon, m = instance.provenance.parameter("epsilon"), instance.num_samples
        assert cert.hit_tolerance == 2 * epsilon**2 / m
        return
    if cert.num_local_minima is not None:
        assert cert.ladder_counts.sum() == cert.num_local_minima == 2**instance.num_parameters
    # multistart ladders are rounded to 1e-9 (docs/separable.md); the others are exact
    rung_tolerance = 1e-13 if cert.kind in ("analytic", "enumerated") else 5e-10
    assert_allclose(
        cert.ladder_values[0], cert.global_min_value, rung_tolerance, "lowest rung = L*"
    )
    assert_allclose(
        cert.hit_tolerance,
        (cert.ladder_values[1] - cert.ladder_values[0]) / 2,
        1e-15,
        "tolerance = half the gap to the best spurious minimum",
    )


@pytest.mark.parametrize("instance_id", NOISE_FREE_SMALL)
def test_every_vertex_is_a_strict_local_minimum_on_the_stored_ladder(load, instance_id):
    instance = load(instance_id)
    p, m = instance.num_parameters, instance.num_samples
    signs, points = vertices(p)
    values, grads = instance.loss_and_grad(points)
    assert_allclose(grads, np.zeros_like(grads), 1e-13, "gradient at vertices")
    hessians = torch_product.hessian(compile(instance).torch_form, torch.from_numpy(points)).numpy()
    assert np.linalg.eigvalsh(hessians).min() > 0, "a vertex Hessian is not positive definite"
    # value = 4 eps^2/m * (#violated), #violated counted from the labels directly
    epsilon = instance.provenance.parameter("epsilon")
    violated = np.array([violated_constraints(instance, s) for s in signs])
    assert_allclose(values, 4 * epsilon**2 * violated / m, 1e-14, "vertex values vs closed form")
    found_values, found_counts = np.unique(violated, return_counts=True)
    cert = instance.certificate
    assert_allclose(cert.ladder_values, 4 * epsilon**2 * found_values / m, 1e-15, "ladder values")
    assert np.array_equal(cert.ladder_counts, found_counts)
    assert np.sum(values < cert.hit_tolerance) == 1, "the global minimum is not unique"
    assert_allclose(points[np.argmin(values)], cert.global_minimizer, 0.0, "theta*")


@pytest.mark.parametrize("instance_id", NOISY_SMALL)
def test_noisy_ladder_matches_independent_refinement(load, instance_id):
    """scipy BFGS on the closed-form loss, started at each vertex, reproduces the stored ladder."""
    instance = load(instance_id)
    _, points = vertices(instance.num_parameters)
    values = []
    for start in points:
        result = minimize(
            lambda t: closed_form_loss_and_grad(instance, t),
            start,
            jac=True,
            method="BFGS",
            options={"gtol": 1e-11},
        )
        values.append(result.fun)
    cert = instance.certificate
    expanded = np.repeat(cert.ladder_values, cert.ladder_counts)
    assert_allclose(np.sort(values), expanded, 1e-11, "refined vertex values vs stored ladder")


@pytest.mark.parametrize(
    "instance_id, starts",
    [
        ("construction-p4-v1", 2000),
        ("construction-p6-v1", 3000),
        ("construction-coupled-p4-v1", 2000),
        ("construction-coupled-p6-v1", 3000),
        ("construction-coupled-p4-noise0.1-v1", 2000),
    ],
)
def test_multistart_finds_exactly_the_certified_minima(load, instance_id, starts):
    """L-BFGS from uniform starts on [0, 2pi)^p: 2^p distinct minima (mod pi), none below L*."""
    instance = load(instance_id)
    p = instance.num_parameters
    cert = instance.certificate
    rng = np.random.default_rng(7)
    minima = []
    for start in rng.uniform(0, 2 * np.pi, size=(starts, p)):
        result = minimize(
            lambda t: closed_form_loss_and_grad(instance, t),
            start,
            jac=True,
            method="L-BFGS-B",
            options={"gtol": 1e-12, "ftol": 0, "maxiter": 500},
        )
        assert result.fun >= cert.global_min_value - 1e-12, "a start went below the certificate"
        minima.append((np.mod(result.x, np.pi), result.fun))
    points = np.array([x for x, _ in minima])
    values = np.array([v for _, v in minima])
    # Each converged point lies in one vertex cell; the cell is the sign of sin 2theta.
    cells = {tuple(np.sign(np.sin(2 * x)).astype(int)) for x in points}
    assert len(cells) == 2**p, f"found {len(cells)} distinct minima, expected {2**p}"
    # and its value is on the stored ladder
    gaps = np.min(np.abs(values[:, None] - cert.ladder_values[None, :]), axis=1)
    assert gaps.max() < 1e-9, f"a converged value is off the ladder by {gaps.max():.2e}"
    # the cell found from each start matches the closest ladder rung's vertex value
    assert_allclose(closed_form_loss(instance, points), values, 1e-14, "closed form at the minima")


@pytest.mark.parametrize("instance_id", [e.id for e in qnntraps.list_instances(tag="gpu-scale")])
def test_gpu_scale_tolerance_is_below_every_spurious_vertex(load, instance_id):
    """No ladder is stored above p = 32; the tolerance 2 eps^2/m must still separate L* from every
    spurious vertex. Random vertices and the p single flips of the planted one (the nearest)
    all lie at least 4 eps^2/m = 2 tol above 0, by the violated constraints counted from labels."""
    instance = load(instance_id)
    p, m = instance.num_parameters, instance.num_samples
    cert = instance.certificate
    planted = cert.planted_signs.astype(int)
    rng = np.random.default_rng(5)
    signs = np.vstack(
        [rng.choice([-1, 1], size=(2000, p)), planted * (1 - 2 * np.eye(p, dtype=int))]
    )
    points = np.where(signs > 0, np.pi / 4, 3 * np.pi / 4)
    values = instance.loss(points)
    violated = np.array([violated_constraints(instance, s) for s in signs])
    epsilon = instance.provenance.parameter("epsilon")
    assert_allclose(values, 4 * epsilon**2 * violated / m, 1e-14, "vertex values vs closed form")
    assert violated.min() >= 1 and values.min() >= 2 * cert.hit_tolerance * (1 - 1e-12)
    assert not instance.is_hit(points).any() and instance.is_hit(cert.global_minimizer)


def test_noise_variant_shares_the_noise_free_dataset(load):
    clean = load("construction-coupled-p8-v1")
    noisy = load("construction-coupled-p8-noise0.05-v1")
    assert np.array_equal(noisy.dataset.noiseless_labels, clean.dataset.labels)
    assert np.array_equal(noisy.dataset.inputs.pauli_codes, clean.dataset.inputs.pauli_codes)
    noise = noisy.dataset.labels - clean.dataset.labels
    assert 0.0 < np.std(noise) < 0.15
    assert noisy.certificate.global_min_value > 0
    assert np.array_equal(noisy.certificate.planted_signs, clean.certificate.planted_signs)


def test_coupled_constraints_have_full_rank_and_epsilon_bound(load):
    from qnntraps.gf2 import gf2_rank

    for entry in qnntraps.list_instances(family="construction-coupled", noisy=False):
        instance = load(entry.id)
        codes = instance.dataset.inputs.pauli_codes
        incidence = (codes[instance.num_parameters :] == 1).astype(np.uint8)
        p = instance.num_parameters
        assert incidence.shape == (2 * p, p) and set(incidence.sum(axis=1)) == {3}
        assert gf2_rank(incidence) == p
        d = incidence.sum(axis=0).max()
        assert instance.provenance.parameter("epsilon") ** 2 <= 1 / (8 * d) * (1 + 1e-15)
