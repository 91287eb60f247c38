"""The barren-plateau family: circuit, spectral certificate, exact gradient variance, format v2."""

from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from qnntraps.certificates.gradient_variance import gradient_variance_by_depth
from qnntraps.certificates.spectral import observable_minimum
from qnntraps.errors import CertificateError, CorruptFileError
from qnntraps.families import barren_plateau as bp
from qnntraps.families.catalogue import BARREN_PLATEAU_LAYERS, build_instance, suite_ids
from qnntraps.freeze import regenerated_sha256
from qnntraps.ids import parse_instance_id
from qnntraps.model import PauliSumObservable, ProductObservable
from qnntraps.registry import find_entry
from qnntraps.simulators import compile, dense
from qnntraps.store import read_instance
from tests.assertions import assert_allclose
from tests.hdf5_craft import base_file

IDS = [i for i in suite_ids() if i.startswith("barren-plateau-")]
SMALL = [i for i in IDS if parse_instance_id(i).qubits <= 4]


def test_ids_name_qubits_and_layers():
    parts = parse_instance_id("barren-plateau-n8-l87-v1")
    assert (parts.family, parts.qubits, parts.layers, parts.p) == ("barren-plateau", 8, 87, 696)
    assert len(IDS) == len(BARREN_PLATEAU_LAYERS) >= 5
    assert min(BARREN_PLATEAU_LAYERS) == 2


@pytest.mark.parametrize("instance_id", IDS)
def test_the_file_holds_the_papers_circuit(load, instance_id):
    """RY(pi/4) on every qubit, then per layer one X/Y/Z rotation per qubit and a CZ ladder;
    observable Z0 Z1; loss <Z0 Z1> on |0...0>."""
    instance = load(instance_id)
    parts = parse_instance_id(instance_id)
    n, layers = parts.qubits, parts.layers
    a = instance.ansatz
    assert np.array_equal(a.generators[:n], 2 * np.eye(n, dtype=np.int8))
    assert np.all(a.fixed_angles[:n] == np.pi / 8) and np.all(a.parameter_index[:n] == -1)
    per_layer = n + 3 * (n - 1)
    assert a.generators.shape[0] == n + layers * per_layer
    for layer in range(layers):
        block = slice(n + layer * per_layer, n + (layer + 1) * per_layer)
        codes, index = a.generators[block], a.parameter_index[block]
        assert np.array_equal(index[:n], layer * n + np.arange(n))
        assert np.all(np.count_nonzero(codes[:n], axis=1) == 1)
        assert np.array_equal(np.flatnonzero(codes[:n].sum(axis=0)), np.arange(n))
        assert np.all(index[n:] == -1) and np.all(np.isin(codes[n:], (0, 3)))
    assert isinstance(instance.observable, PauliSumObservable)
    assert instance.observable.pauli_codes.tolist() == [[3, 3] + [0] * (n - 2)]
    assert instance.dataset.loss == "expectation" and instance.dataset.labels.tolist() == [1.0]
    assert not instance.dataset.inputs.features.any()
    assert compile(instance).strategy == "statevector"


@pytest.mark.parametrize("instance_id", SMALL)
def test_loss_and_gradient_match_the_dense_reference(load, rng, instance_id):
    instance = load(instance_id)
    theta = rng.uniform(0, 2 * np.pi, size=(2, instance.num_parameters))
    value, grad = instance.loss_and_grad(theta)
    assert_allclose(value, [dense.loss(instance, t) for t in theta], 1e-12, "loss vs dense")
    assert_allclose(
        grad[0], dense.parameter_shift_gradient(instance, theta[0]), 1e-12, "adjoint vs shift"
    )


@pytest.mark.parametrize("instance_id", IDS)
def test_the_certificate_is_the_observables_spectrum(load, instance_id):
    instance = load(instance_id)
    cert = instance.certificate
    assert cert.kind == "spectral" and cert.global_min_value == -1.0
    assert observable_minimum(instance.observable, instance.num_qubits) == -1.0
    assert abs(instance.loss(cert.global_minimizer) + 1.0) <= 1e-12
    assert cert.hit_tolerance == 2 * bp.HIT_FRACTION  # 1% of the spectral range [-1, 1]
    assert cert.num_local_minima is None and cert.ladder_values is None


def test_observable_minimum_against_dense_eigenvalues(rng):
    for n in (1, 3, 4):
        codes = rng.integers(0, 4, size=(5, n)).astype(np.int8)
        diagonal = np.where(codes > 0, 3, 0).astype(np.int8)
        coefficients = rng.normal(size=5)
        for observable in (
            PauliSumObservable(codes, coefficients),
            PauliSumObservable(diagonal, coefficients),
            ProductObservable(rng.normal(size=(n, 4))),
        ):
            model = SimpleNamespace(observable=observable, ansatz=SimpleNamespace(num_qubits=n))
            want = np.linalg.eigvalsh(dense.observable_matrix(model))[0]
            assert abs(observable_minimum(observable, n) - want) < 1e-12


def test_exact_variance_agrees_with_our_monte_carlo(load):
    """The second-moment propagation against the mean squared parameter-shift gradient at
    40,000 uniform points, on the shipped n = 4 file (z-score of the difference below 4)."""
    instance = load(next(i for i in IDS if parse_instance_id(i).qubits == 4))
    evaluator = compile(instance)
    rng = np.random.default_rng(11)
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(40_000, instance.num_parameters)))
    plus, minus = theta.clone(), theta.clone()
    plus[:, 0] += np.pi / 4
    minus[:, 0] -= np.pi / 4
    squares = ((evaluator.loss(plus) - evaluator.loss(minus)) ** 2).numpy()
    exact = instance.certificate.gradient_variance.value
    z = (squares.mean() - exact) / (squares.std() / np.sqrt(squares.size))
    assert abs(z) < 4, f"Monte Carlo {squares.mean():.5g} vs exact {exact:.5g} (z = {z:.2f})"


def test_exact_variance_at_every_depth_on_a_random_small_circuit(rng):
    """Cut the circuit after each layer: the propagated variance matches brute force."""
    n, layers = 3, 4
    axes = rng.integers(1, 4, size=(layers, n))
    by_depth = gradient_variance_by_depth(axes)
    for depth in (1, 2, 4):
        model = SimpleNamespace(
            ansatz=bp.circuit(axes[:depth]), observable=bp.observable(n), dataset=bp.dataset(n)
        )
        evaluator = compile(model)
        theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, size=(30_000, n * depth)))
        _, grad = evaluator.loss_and_grad(theta)
        squares = grad[:, 0].numpy() ** 2
        z = (squares.mean() - by_depth[depth - 1]) / (squares.std() / np.sqrt(squares.size))
        assert abs(z) < 4, f"depth {depth}: z = {z:.2f}"


@pytest.mark.parametrize("instance_id", IDS)
def test_stored_variances_follow_the_rule(load, instance_id):
    instance = load(instance_id)
    variance = instance.certificate.gradient_variance
    n = instance.num_qubits
    if n <= bp.EXACT_MAX_QUBITS:
        assert variance.method == "exact"
        assert variance.by_depth.size == parse_instance_id(instance_id).layers
        assert variance.by_depth[-1] == variance.value
    else:
        assert variance.method == "sampled" and variance.samples == bp.SAMPLES
        assert variance.low <= variance.value <= variance.high


def test_depths_are_where_the_exact_variance_plateaus():
    """The frozen depths for n <= 8 re-derived by the documented rule (tools/barren_plateau_depths.py
    does every n)."""
    for n, (layers, redraw) in BARREN_PLATEAU_LAYERS.items():
        if n > 8:
            continue
        axes = bp.draw_axes(n, bp.REFERENCE_LAYERS_PER_QUBIT * n, bp.axes_key(n, 1, redraw))
        assert bp.plateau_depth(gradient_variance_by_depth(axes)) == layers
        assert bp.constructed_minimizer(axes[:layers]) is not None


@pytest.mark.parametrize("instance_id", SMALL)
def test_regeneration_is_byte_identical(instance_id):
    assert regenerated_sha256(instance_id) == find_entry(instance_id).sha256


def test_a_draw_without_the_construction_is_refused():
    with pytest.raises(ValueError, match="no constructed minimizer"):
        bp.build_barren_plateau(2, 5, 0)
    assert build_instance(IDS[0]).id == IDS[0]


def _refused(tmp_path, edit, error, match):
    path = base_file(tmp_path, SMALL[0])
    with h5py.File(path, "r+") as f:
        edit(f)
    with pytest.raises(error, match=match):
        read_instance(path)


def test_version_2_files_state_their_loss(tmp_path):
    _refused(
        tmp_path / "a", lambda f: f["dataset"].attrs.__delitem__("loss"), CorruptFileError, "loss"
    )
    _refused(
        tmp_path / "b",
        lambda f: f["dataset"].attrs.__setitem__("loss", "square"),
        CertificateError,
        "spectral",
    )
    _refused(
        tmp_path / "c",
        lambda f: f.attrs.__setitem__("format_version", np.int64(1)),
        CorruptFileError,
        "version 2",
    )


def test_a_wrong_spectral_certificate_is_refused(tmp_path):
    _refused(
        tmp_path / "a",
        lambda f: f["certificate"].attrs.__setitem__("global_min_value", -0.5),
        CertificateError,
        "smallest eigenvalue",
    )

    def move_minimizer(f):
        theta = f["certificate/global_minimizer"]
        theta[0] = theta[0] + 0.1

    _refused(tmp_path / "b", move_minimizer, CertificateError, "certified minimizer")

    def tamper_variance(f):
        f["certificate"].attrs["gradient_variance"] = 0.5

    _refused(tmp_path / "c", tamper_variance, CertificateError, "by_depth")


def test_a_circuit_with_the_most_parameters_a_reader_takes_is_read(tmp_path):
    """p = 4096 (the reader's limit): 2 qubits, 2048 layers, 10,242 gates."""
    from qnntraps.hdf5_reader import LIMITS
    from qnntraps.store import write_instance

    layers = LIMITS.max_parameters // 2
    instance = bp.build_barren_plateau(2, layers, 0)
    path = tmp_path / f"{instance.id}.h5"
    write_instance(instance, path)
    back = read_instance(path)
    assert back.num_parameters == LIMITS.max_parameters
    assert back.certificate.gradient_variance.by_depth.size == layers
