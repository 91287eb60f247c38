"""The separable family: data as defined, certificates re-checked, the proof re-run."""

import numpy as np
import pytest
import torch

from qnntraps.certificates.branch_and_bound import _Bounder, branch_and_bound
from qnntraps.certificates.multistart import multistart
from qnntraps.families.separable import SAMPLES_PER_QUBIT, separable_parts
from qnntraps.simulators import compile, dense, torch_product
from qnntraps.simulators.product_form import product_form_loss
from tests.assertions import assert_allclose
from tests.reference import finite_difference_gradient

SEPARABLE = ["separable-p2-v1", "separable-p4-v1", "separable-p4-flip0.05-v1", "separable-p8-v1"]


@pytest.mark.parametrize("p", [2, 4, 8])
def test_data_follow_the_definition(load, p):
    instance = load(f"separable-p{p}-v1")
    _, _, _, _, _, w = separable_parts(p, None)
    x = instance.dataset.inputs.features
    assert x.shape == (SAMPLES_PER_QUBIT * p, 2 * p)
    assert np.all((x >= 0) & (x < 2 * np.pi))
    assert_allclose(np.linalg.norm(w), 1.0, 1e-15, "|w|")
    labels = ((x - np.pi) @ w > 0).astype(float)
    assert np.array_equal(labels, instance.dataset.labels)
    assert labels.mean() == 0.5


@pytest.mark.parametrize("fraction", [0.05, 0.1])
def test_flip_variants_flip_exactly_the_stated_fraction(load, fraction):
    clean = load("separable-p4-v1")
    noisy = load(f"separable-p4-flip{fraction:g}-v1")
    m = clean.num_samples
    assert np.array_equal(noisy.dataset.noiseless_labels, clean.dataset.labels)
    assert np.array_equal(noisy.dataset.inputs.features, clean.dataset.inputs.features)
    assert np.sum(noisy.dataset.labels != clean.dataset.labels) == round(fraction * m)


@pytest.mark.parametrize("instance_id", SEPARABLE)
def test_minimizer_is_a_strict_local_minimum(load, instance_id):
    instance = load(instance_id)
    cert = instance.certificate
    theta = cert.global_minimizer
    value, grad = instance.loss_and_grad(theta)
    assert np.linalg.norm(grad) < 1e-9
    assert_allclose(value, dense.loss(instance, theta), 1e-12, "L* via the dense reference")
    form = compile(instance).torch_form
    hessian = torch_product.hessian(form, torch.from_numpy(theta[None, :].copy())).numpy()[0]
    numeric = np.array(
        [
            finite_difference_gradient(lambda t, i=i: instance.loss_and_grad(t)[1][i], theta)
            for i in range(instance.num_parameters)
        ]
    )
    assert_allclose(hessian, numeric, 1e-6, "Hessian at theta*")
    assert np.linalg.eigvalsh(hessian).min() > 0
    assert cert.ladder_values[0] == pytest.approx(cert.global_min_value, abs=1e-9)
    assert cert.hit_tolerance == pytest.approx((cert.ladder_values[1] - cert.ladder_values[0]) / 2)
    assert cert.kind == ("branch-and-bound" if instance.num_parameters <= 4 else "best-known")


def test_branch_and_bound_proof_reruns_for_the_smallest_instance(load):
    instance = load("separable-p2-v1")
    cert = instance.certificate
    proof = branch_and_bound(compile(instance).form, cert.global_min_value, cert.global_minimizer)
    assert proof.lower_bound >= cert.global_min_value - 1e-9
    assert proof.upper_bound >= cert.global_min_value - 1e-12  # nothing better was found


def test_branch_and_bound_refutes_a_wrong_claim(load):
    """Claiming a value 1e-3 above the true minimum must not be certified: B&B finds better."""
    instance = load("separable-p2-v1")
    cert = instance.certificate
    proof = branch_and_bound(compile(instance).form, cert.global_min_value + 1e-3, np.zeros(2))
    assert proof.upper_bound < cert.global_min_value + 1e-3


def test_interval_bounds_are_sound(load, rng):
    """Lower bounds never exceed the loss at points inside the box (many random boxes)."""
    instance = load("separable-p4-flip0.1-v1")
    bounder = _Bounder(compile(instance).form)
    lo = rng.uniform(0, np.pi, size=(3000, 4))
    hi = lo + rng.uniform(0, 1.0, size=(3000, 4)) ** 3
    bounds, _ = bounder.lower_bounds(lo, hi)
    for _ in range(5):
        points = lo + rng.uniform(0, 1, size=lo.shape) * (hi - lo)
        assert np.all(bounds <= product_form_loss(compile(instance).form, points))


@pytest.mark.parametrize(
    "instance_id, starts", [("separable-p4-v1", 3000), ("separable-p8-v1", 2000)]
)
def test_fresh_multistart_finds_nothing_below_the_certificate(load, instance_id, starts):
    instance = load(instance_id)
    cert = instance.certificate
    result = multistart(compile(instance).form, starts, "tests/fresh-multistart")
    assert result.values.min() >= cert.global_min_value - cert.hit_tolerance
    # the certified minimum itself is found again
    assert np.any(np.abs(result.values - cert.global_min_value) < 1e-9)


def test_solvers_refuse_forms_they_do_not_handle(load):
    from qnntraps.errors import UnsupportedStructureError

    coupled = load("construction-coupled-p6-v1")
    with pytest.raises(UnsupportedStructureError, match="branch and bound"):
        branch_and_bound(compile(coupled).form, 0.0, np.zeros(6))
    with pytest.raises(UnsupportedStructureError, match="coordinate minimization"):
        multistart(compile(coupled).form, 10, "tests/refuse")
