"""The batched statevector simulator against the dense reference and the parameter-shift rule."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from qnntraps.errors import UnsupportedStructureError
from qnntraps.model import (
    Ansatz,
    Dataset,
    EncodedFeatures,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
)
from qnntraps.simulators import compile, dense, native, statevector
from qnntraps.simulators.evaluator import statevector_strategy
from tests.assertions import assert_allclose
from tests.conftest import SMALL_IDS

TOLERANCE = 1e-12


def random_model(rng, n: int, p: int, gates: int, loss: str, mixture: bool, pauli_sum: bool):
    """A random circuit the product form cannot take: multi-qubit generators, fixed gates (some
    diagonal, so that runs of them are fused), parameters shared by several gates."""
    generators = rng.integers(0, 4, size=(gates, n)).astype(np.int8)
    generators[~generators.any(axis=1), 0] = 3
    index = np.concatenate([np.arange(p), rng.integers(-1, p, size=gates - p)])
    rng.shuffle(index)
    fixed = np.where(index < 0, rng.uniform(0, 2 * np.pi, size=gates), 0.0)
    m = 3
    if mixture:
        codes = rng.integers(0, 4, size=(m, n)).astype(np.int8)
        codes[~codes.any(axis=1), -1] = 2
        inputs = PauliMixtureStates(codes, rng.uniform(0.1, 1.0, size=m))
    else:
        inputs = EncodedFeatures(rng.uniform(0, 2 * np.pi, size=(m, 2 * n)))
    if pauli_sum:
        observable = PauliSumObservable(
            rng.integers(0, 4, size=(4, n)).astype(np.int8), rng.normal(size=4)
        )
    else:
        observable = ProductObservable(rng.normal(size=(n, 4)))
    return SimpleNamespace(
        ansatz=Ansatz(n, p, generators, index, fixed),
        observable=observable,
        dataset=Dataset(inputs, rng.normal(size=m), loss=loss),
    )


CASES = [
    (n, loss, mixture, pauli_sum)
    for n in (1, 3, 5)
    for loss in ("square", "expectation")
    for mixture in (False, True)
    for pauli_sum in (False, True)
]


@pytest.mark.parametrize("n, loss, mixture, pauli_sum", CASES)
def test_random_circuits_match_dense_and_parameter_shift(rng, n, loss, mixture, pauli_sum):
    p = 4
    model = random_model(rng, n, p, 12, loss, mixture, pauli_sum)
    evaluator = statevector_strategy(model, "cpu")
    theta = rng.uniform(0, 2 * np.pi, size=(5, p))
    value, grad = evaluator.loss_and_grad(torch.from_numpy(theta))
    yhat = evaluator.predictions(torch.from_numpy(theta))
    assert_allclose(yhat.numpy(), [dense.predictions(model, t) for t in theta], TOLERANCE, "y_hat")
    assert_allclose(value.numpy(), [dense.loss(model, t) for t in theta], TOLERANCE, "loss")
    assert_allclose(
        evaluator.loss(torch.from_numpy(theta)).numpy(), value.numpy(), TOLERANCE, "loss alone"
    )
    shift = [dense.parameter_shift_gradient(model, t) for t in theta]
    assert_allclose(grad.numpy(), shift, TOLERANCE, "adjoint gradient vs parameter shift")


@pytest.mark.parametrize("instance_id", SMALL_IDS[:6])
def test_shipped_instances_agree_with_the_product_form(load, rng, instance_id):
    instance = load(instance_id)
    product = compile(instance)
    assert product.strategy == "product-form"
    evaluator = statevector_strategy(instance, "cpu")
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(6, instance.num_parameters)))
    value, grad = evaluator.loss_and_grad(theta)
    reference_value, reference_grad = product.loss_and_grad(theta)
    assert_allclose(value.numpy(), reference_value.numpy(), TOLERANCE, f"{instance_id} loss")
    assert_allclose(grad.numpy(), reference_grad.numpy(), TOLERANCE, f"{instance_id} gradient")


def test_results_do_not_depend_on_batching_and_repeat_bit_for_bit(rng):
    model = random_model(rng, 4, 5, 16, "square", False, True)
    evaluator = statevector_strategy(model, "cpu")
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(9, 5)))
    value, grad = evaluator.loss_and_grad(theta)
    again = evaluator.loss_and_grad(theta)
    assert torch.equal(value, again[0]) and torch.equal(grad, again[1])
    one_by_one = [statevector.loss_and_grad(evaluator.program, theta[r : r + 1]) for r in range(9)]
    assert torch.equal(value, torch.cat([v for v, _ in one_by_one]))
    assert torch.equal(grad, torch.cat([g for _, g in one_by_one]))
    tiny_chunks = statevector.loss_and_grad(evaluator.program, theta, chunk_bytes=1)
    assert torch.equal(value, tiny_chunks[0]) and torch.equal(grad, tiny_chunks[1])
    reordered = evaluator.loss(theta.flip(0))
    assert torch.equal(reordered.flip(0), evaluator.loss(theta))


def test_a_ladder_of_cz_is_fused_into_one_exact_sign():
    """CZ(q, q+1) = three fixed Z-type rotations (up to a global phase): Z_q and Z_(q+1) at
    pi/4, Z_q Z_(q+1) at -pi/4. A ladder of them becomes one diagonal of exact +-1."""
    n = 4
    rows, index, angles = [], [], []
    for q in range(n):  # one parameterized Y rotation per qubit
        row = np.zeros(n, dtype=np.int8)
        row[q] = 2
        rows.append(row), index.append(q), angles.append(0.0)
    for q in range(n - 1):
        for qubits, angle in (((q,), np.pi / 4), ((q + 1,), np.pi / 4), ((q, q + 1), -np.pi / 4)):
            row = np.zeros(n, dtype=np.int8)
            row[list(qubits)] = 3
            rows.append(row), index.append(-1), angles.append(angle)
    model = SimpleNamespace(
        ansatz=Ansatz(n, n, np.array(rows), np.array(index), np.array(angles)),
        observable=PauliSumObservable(np.array([[1, 1, 0, 0]], dtype=np.int8), np.array([1.0])),
        dataset=Dataset(EncodedFeatures(np.zeros((1, 2 * n))), np.array([1.0]), loss="expectation"),
    )
    program = statevector.compile_statevector(model)
    diagonal = program.gates[-1]
    assert isinstance(diagonal, statevector.Diagonal) and diagonal.imag is None
    bits = (np.arange(2**n)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    expected = np.prod(np.where(bits[:, :-1] & bits[:, 1:], -1.0, 1.0), axis=1)
    assert np.array_equal(diagonal.real.reshape(-1).numpy(), expected)
    theta = np.array([0.3, 1.1, 2.0, 0.7])
    assert (
        abs(statevector.loss(program, torch.from_numpy(theta[None]))[0] - dense.loss(model, theta))
        < 1e-13
    )


def test_inputs_beyond_the_size_limit_are_refused(rng):
    n = 14
    model = SimpleNamespace(
        ansatz=Ansatz(n, 1, np.eye(n, dtype=np.int8)[:1] * 2, np.array([0]), np.array([0.0])),
        observable=ProductObservable(np.tile([1.0, 0, 0, 0], (n, 1))),
        dataset=Dataset(PauliMixtureStates(np.full((1, n), 3, dtype=np.int8), [0.5]), [1.0]),
    )
    with pytest.raises(UnsupportedStructureError, match="Pauli-mixture"):
        statevector.compile_statevector(model)
    wide = SimpleNamespace(
        ansatz=Ansatz(24, 1, np.eye(24, dtype=np.int8)[:1] * 2, np.array([0]), np.array([0.0])),
        observable=ProductObservable(np.tile([1.0, 0, 0, 0], (24, 1))),
        dataset=Dataset(EncodedFeatures(np.zeros((8, 48))), np.zeros(8)),
    )
    with pytest.raises(UnsupportedStructureError, match="amplitudes"):
        statevector.compile_statevector(wide)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(rng):
    model = random_model(rng, 5, 4, 14, "square", False, True)
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(64, 4)))
    cpu = statevector_strategy(model, "cpu").loss_and_grad(theta)
    gpu = statevector_strategy(model, "cuda").loss_and_grad(theta.cuda())
    assert_allclose(gpu[0].cpu().numpy(), cpu[0].numpy(), TOLERANCE, "cuda loss")
    assert_allclose(gpu[1].cpu().numpy(), cpu[1].numpy(), TOLERANCE, "cuda gradient")


def test_diagonal_tables_beyond_their_limit_are_refused(monkeypatch):
    """A crafted circuit of many distinct fixed Z-type runs cannot make the simulator allocate
    a table per run without bound."""
    n, runs = 4, 20
    rows, index, angles = [], [], []
    for k in range(runs):
        rows += [[3, 3, 0, 0], [1, 0, 0, 0]]
        index += [-1, 0 if k == 0 else -1]
        angles += [0.1 + k, 0.0 if k == 0 else 0.2]
    model = SimpleNamespace(
        ansatz=Ansatz(n, 1, np.array(rows, dtype=np.int8), np.array(index), np.array(angles)),
        observable=ProductObservable(np.tile([1.0, 0, 0, 1.0], (n, 1))),
        dataset=Dataset(EncodedFeatures(np.zeros((1, 2 * n))), np.zeros(1)),
    )
    statevector.compile_statevector(model)  # 20 tables of 16 entries: fine
    monkeypatch.setattr(statevector, "MAX_TABLE_ENTRIES", 10 * 2**n)
    with pytest.raises(UnsupportedStructureError, match="diagonal tables"):
        statevector.compile_statevector(model)


def _torch_and_native(monkeypatch, program, theta):
    """(loss, grad, predictions) from the compiled in-place gates, then from the torch gates."""
    compiled = (*statevector.loss_and_grad(program, theta), statevector.predictions(program, theta))
    with monkeypatch.context() as patch:
        patch.setattr(native, "library", lambda: None)
        reference = (
            *statevector.loss_and_grad(program, theta),
            statevector.predictions(program, theta),
        )
    return compiled, reference


@pytest.mark.skipif(native.library() is None, reason="the compiled kernels are not built here")
@pytest.mark.parametrize("n, loss, mixture, pauli_sum", CASES)
def test_compiled_gates_give_the_torch_gates_bits(monkeypatch, rng, n, loss, mixture, pauli_sum):
    # every gate kind (one-qubit X, Y, Z; strings with flips, signs and powers of i; fused
    # diagonals, real and complex; shared parameters) through both implementations
    for _ in range(3):
        model = random_model(rng, n, 5, 24, loss, mixture, pauli_sum)
        program = statevector_strategy(model, "cpu").program
        inputs = program.states.clone()
        for rows in (1, 7):
            theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(rows, 5)))
            compiled, reference = _torch_and_native(monkeypatch, program, theta)
            for ours, theirs in zip(compiled, reference, strict=True):
                assert torch.equal(ours, theirs)
        assert torch.equal(program.states, inputs)  # updated in place, never the inputs


@pytest.mark.skipif(native.library() is None, reason="the compiled kernels are not built here")
@pytest.mark.parametrize("instance_id", ["barren-plateau-n6-l64-v1", "teacher-student-n4-l2-v1"])
def test_compiled_gates_on_shipped_circuits(monkeypatch, load, rng, instance_id):
    instance = load(instance_id)
    program = compile(instance).program
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(3, instance.num_parameters)))
    compiled, reference = _torch_and_native(monkeypatch, program, theta)
    for ours, theirs in zip(compiled, reference, strict=True):
        assert torch.equal(ours, theirs)
