"""The fast product-form backend against the dense reference, closed forms and shift rules."""

import numpy as np
import pytest
import torch

from qnntraps.errors import ParameterShapeError, UnsupportedStructureError
from qnntraps.instance import (
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    Instance,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
    Provenance,
)
from qnntraps.simulators import compile, dense, torch_product
from tests.assertions import assert_allclose
from tests.conftest import SMALL_IDS
from tests.reference import closed_form_loss, finite_difference_gradient


def make_instance(ansatz, observable, inputs, labels) -> Instance:
    p = ansatz.num_parameters
    certificate = Certificate("best-known", 0.0, np.zeros(p), 0.1, "none (test)", "none")
    return Instance(
        "test-p1-v1",
        ansatz,
        observable,
        Dataset(inputs, labels),
        certificate,
        Provenance("test", 1, 0),
    )


def random_product_instance(rng, n: int, encoded: bool) -> Instance:
    """Random single-qubit X/Y/Z rotation layer, random product observable, random inputs."""
    generators = np.zeros((n, n), dtype=np.int8)
    generators[np.arange(n), np.arange(n)] = rng.integers(1, 4, size=n)
    order = rng.permutation(n)  # parameters in a different order than qubits
    ansatz = Ansatz(n, n, generators, order, np.zeros(n))
    observable = ProductObservable(rng.normal(size=(n, 4)))
    m = 7
    if encoded:
        inputs = EncodedFeatures(rng.uniform(0, 2 * np.pi, size=(m, 2 * n)))
    else:
        inputs = PauliMixtureStates(rng.integers(0, 4, size=(m, n)), rng.uniform(0.1, 1, size=m))
    return make_instance(ansatz, observable, inputs, rng.normal(size=m))


@pytest.mark.parametrize("instance_id", SMALL_IDS)
def test_fast_loss_matches_dense_reference(load, rng, instance_id):
    instance = load(instance_id)
    thetas = rng.uniform(0, 2 * np.pi, size=(12, instance.num_parameters))
    batch = instance.loss(thetas)
    reference = [dense.loss(instance, t) for t in thetas]
    assert_allclose(batch, reference, 1e-12, f"{instance_id} batched loss vs dense")
    assert_allclose(instance.loss(thetas[0]), reference[0], 1e-12, "single loss vs dense")
    if instance.provenance.family.startswith("construction"):
        closed = closed_form_loss(instance, thetas)
        assert_allclose(batch, closed, 1e-12, "loss vs the closed form of docs/construction.md")
    yhat = instance.predictions(thetas[1])
    assert_allclose(yhat, dense.predictions(instance, thetas[1]), 1e-12, "predictions vs dense")


@pytest.mark.parametrize("instance_id", SMALL_IDS)
def test_gradient_matches_parameter_shift_rule(load, rng, instance_id):
    instance = load(instance_id)
    thetas = rng.uniform(0, 2 * np.pi, size=(6, instance.num_parameters))
    losses, grads = instance.loss_and_grad(thetas)
    for theta, value, grad in zip(thetas, losses, grads, strict=True):
        assert_allclose(value, dense.loss(instance, theta), 1e-12, "loss of loss_and_grad")
        assert_allclose(
            grad, dense.parameter_shift_gradient(instance, theta), 1e-12, "grad vs shift"
        )
        numeric = finite_difference_gradient(lambda t: dense.loss(instance, t), theta)
        assert_allclose(grad, numeric, 1e-8, "grad vs finite differences")


@pytest.mark.parametrize("encoded", [False, True], ids=["pauli-mixture", "encoded-features"])
def test_general_product_structure_matches_dense(rng, encoded):
    for n in (1, 2, 3, 4):
        instance = random_product_instance(rng, n, encoded)
        for theta in rng.uniform(0, 2 * np.pi, size=(5, n)):
            assert_allclose(instance.loss(theta), dense.loss(instance, theta), 1e-11, f"n={n} loss")
            _, grad = instance.loss_and_grad(theta)
            assert_allclose(grad, dense.parameter_shift_gradient(instance, theta), 1e-11, "grad")


def test_hessian_matches_finite_differences_of_gradient(load, rng):
    instance = load("construction-coupled-p6-v1")
    form = compile(instance).torch_form
    thetas = rng.uniform(0, 2 * np.pi, size=(4, 6))
    hessians = torch_product.hessian(form, torch.from_numpy(thetas)).numpy()
    for theta, hess in zip(thetas, hessians, strict=True):
        numeric = np.array(
            [
                finite_difference_gradient(lambda t, i=i: instance.loss_and_grad(t)[1][i], theta)
                for i in range(6)
            ]
        )
        assert_allclose(hess, numeric, 1e-7, "Hessian vs differences of the gradient")
        assert_allclose(hess, hess.T, 0.0, "Hessian symmetry")


def test_dense_pauli_sum_equals_product_observable(rng):
    """(I+Y)(x)(I+Y) written as a Pauli sum gives the same predictions as in product form."""
    n = 2
    ansatz = Ansatz(n, n, np.diag([3, 3]).astype(np.int8), np.arange(n), np.zeros(n))
    inputs = PauliMixtureStates(rng.integers(0, 4, size=(5, n)), rng.uniform(0.1, 1, size=5))
    labels = rng.normal(size=5)
    product = make_instance(
        ansatz, ProductObservable(np.tile([1.0, 0, 1, 0], (n, 1))), inputs, labels
    )
    pauli_sum = make_instance(
        ansatz, PauliSumObservable([[0, 0], [0, 2], [2, 0], [2, 2]], np.ones(4)), inputs, labels
    )
    theta = rng.uniform(0, 2 * np.pi, size=n)
    assert_allclose(
        dense.predictions(pauli_sum, theta),
        dense.predictions(product, theta),
        1e-13,
        "Pauli-sum vs product observable",
    )


def test_non_product_structures_go_to_the_statevector_strategy(rng):
    from qnntraps.simulators.evaluator import product_form_strategy

    n = 2
    entangling = Ansatz(n, 2, [[3, 0], [1, 1], [0, 3]], [0, -1, 1], [0.0, 0.3, 0.0])
    inputs = PauliMixtureStates([[1, 2]], [0.5])
    instance = make_instance(entangling, ProductObservable(np.ones((n, 4))), inputs, [1.0])
    with pytest.raises(UnsupportedStructureError):
        product_form_strategy(instance, "cpu")
    assert compile(instance).strategy == "statevector"
    theta = np.array([0.1, 0.2])
    assert abs(instance.loss(theta) - dense.loss(instance, theta)) < 1e-13


def test_bad_parameter_shapes_are_typed_errors(load):
    instance = load("construction-p4-v1")
    for bad in (np.zeros(3), np.zeros((2, 5)), np.zeros((1, 1, 4)), np.array([0, 0, np.nan, 0])):
        with pytest.raises(ParameterShapeError):
            instance.loss(bad)


def test_loss_is_bit_identical_between_runs(load, rng):
    instance = load("construction-coupled-p6-v1")
    thetas = rng.uniform(0, 2 * np.pi, size=(1000, 6))
    first = instance.loss_and_grad(thetas)
    second = instance.loss_and_grad(thetas.copy())
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])


def test_chunking_does_not_change_results(load, rng):
    instance = load("construction-coupled-p6-v1")
    form = compile(instance).torch_form
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(50, 6)))
    whole = torch_product.loss_and_grad(form, theta)
    pieces = torch_product.loss_and_grad(form, theta, chunk_bytes=1)  # one row per chunk
    assert_allclose(pieces[0].numpy(), whole[0].numpy(), 1e-15, "chunked loss")
    assert_allclose(pieces[1].numpy(), whole[1].numpy(), 1e-15, "chunked gradient")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(load, rng):
    instance = load("construction-coupled-p16-v1")
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(4096, 16)))
    cpu = torch_product.loss_and_grad(compile(instance).torch_form, theta)
    gpu_form = compile(instance, "cuda").torch_form
    gpu = torch_product.loss_and_grad(gpu_form, theta.cuda())
    assert_allclose(gpu[0].cpu().numpy(), cpu[0].numpy(), 1e-13, "CUDA loss")
    assert_allclose(gpu[1].cpu().numpy(), cpu[1].numpy(), 1e-13, "CUDA gradient")


def test_torch_backend_matches_numpy_product_form(load, rng):
    from qnntraps.simulators.product_form import product_form_loss

    for instance_id in ("construction-coupled-p32-v1", "construction-p16-noise0.05-v1"):
        instance = load(instance_id)
        thetas = rng.uniform(0, 2 * np.pi, size=(200, instance.num_parameters))
        reference = product_form_loss(compile(instance).form, thetas)
        assert_allclose(instance.loss(thetas), reference, 1e-14, f"{instance_id} torch vs NumPy")


def test_batched_and_single_evaluation_are_bit_identical(load, rng):
    """A restart gets the same bits whether evaluated alone or inside a batch (CPU)."""
    instance = load("construction-coupled-p16-v1")
    thetas = rng.uniform(0, 2 * np.pi, size=(257, 16))
    losses, grads = instance.loss_and_grad(thetas)
    for i in (0, 1, 128, 256):
        value, grad = instance.loss_and_grad(thetas[i])
        assert value == losses[i] and np.array_equal(grad, grads[i])
