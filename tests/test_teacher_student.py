"""The teacher-student family: circuit, planted certificate, Jacobian rank, and the frozen files
checked against dense NumPy from the definition (docs/teacher_student.md)."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
import torch

from qnntraps.families import teacher_student as ts
from qnntraps.families.catalogue import TEACHER_STUDENT_SWEEP, suite_ids
from qnntraps.ids import parse_instance_id
from qnntraps.instance import Instance
from qnntraps.model import Provenance
from qnntraps.pauli import PAULI_MATRICES, Y, Z
from qnntraps.simulators import compile, dense
from qnntraps.store import format_version_for, instance_bytes, read_instance_bytes

IDS = [i for i in suite_ids() if i.startswith(f"{ts.FAMILY}-")]


def build(n: int, layers: int, ladder=None) -> Instance:
    teacher = ts.draw_teacher(n, layers)
    values, counts = (None, None) if ladder is None else ladder
    return Instance(
        ts.instance_id(n, layers),
        ts.circuit(n, layers, teacher),
        ts.observable(n),
        ts.dataset(n),
        ts.planted_certificate(teacher, "test build", values, counts),
        Provenance(ts.FAMILY, ts.GENERATOR_VERSION, 0, (("layers", layers), ("num_qubits", n))),
    )


def rotation(n: int, qubit: int, code: int, angle: float) -> np.ndarray:
    """exp(-i angle P_qubit) as a dense matrix, qubit 0 the first tensor factor."""
    factors = [np.eye(2)] * n
    factors[qubit] = PAULI_MATRICES[code]
    pauli = reduce(np.kron, factors)
    return np.cos(angle) * np.eye(2**n) - 1j * np.sin(angle) * pauli


def student_state(n: int, layers: int, theta: np.ndarray, initial=None) -> np.ndarray:
    """U(theta)|initial> from the definition (|0...0> by default): RY, RZ on every qubit, then
    the CZ ladder, per layer."""
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1.0
    if initial is not None:
        psi = np.asarray(initial, dtype=complex)
    cz_ladder = np.ones(2**n)
    for q in range(n - 1):
        bits = (np.arange(2**n) >> (n - 1 - q)) & 1, (np.arange(2**n) >> (n - 2 - q)) & 1
        cz_ladder *= np.where(bits[0] & bits[1], -1.0, 1.0)
    for layer in range(layers):
        block = theta[2 * n * layer : 2 * n * (layer + 1)]
        for q in range(n):
            psi = rotation(n, q, Y, block[q]) @ psi
        for q in range(n):
            psi = rotation(n, q, Z, block[n + q]) @ psi
        psi = cz_ladder * psi
    return psi


@pytest.mark.parametrize("n, layers", [(1, 2), (2, 1), (3, 2), (4, 3)])
def test_loss_is_one_minus_fidelity_squared_from_the_definition(n, layers):
    instance = build(n, layers)
    teacher = instance.certificate.global_minimizer
    rng = np.random.default_rng(n * 10 + layers)
    theta = rng.uniform(0, 2 * np.pi, size=(5, 2 * n * layers))
    target = student_state(n, layers, teacher)
    fidelity = np.array([abs(np.vdot(target, student_state(n, layers, t))) ** 2 for t in theta])
    want = (1.0 - fidelity) ** 2
    evaluator = compile(instance, "cpu")
    got = evaluator.loss(torch.from_numpy(theta)).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    np.testing.assert_allclose([dense.loss(instance, t) for t in theta], want, rtol=0, atol=1e-12)
    np.testing.assert_allclose(instance.predictions(theta)[:, 0], fidelity, rtol=0, atol=1e-12)


def test_the_planted_minimum_and_its_certificate():
    instance = build(3, 4)
    cert = instance.certificate
    assert cert.kind == "planted" and cert.global_min_value == 0.0
    assert cert.hit_tolerance == pytest.approx(1e-4)  # F >= 0.99, no spurious minimum given
    assert abs(float(instance.loss(cert.global_minimizer[None])[0])) <= 1e-12
    assert np.all(cert.global_minimizer == np.round(cert.global_minimizer, 12))
    assert ts.draw_teacher(3, 4).tolist() == cert.global_minimizer.tolist()  # from its key
    assert ts.draw_teacher(3, 5)[:12].tolist() != cert.global_minimizer[:12].tolist()
    # the file round trip re-checks L(theta*) = 0 and the kind's rules
    assert format_version_for(instance) == 2
    again = read_instance_bytes(instance_bytes(instance), "ts", isolate=False)
    assert again.certificate.kind == "planted"
    assert again.certificate.global_minimizer.tolist() == cert.global_minimizer.tolist()


def test_a_planted_ladder_is_read_back_and_bad_ones_are_refused():
    from qnntraps.errors import QnnTrapsError

    ladder = (np.array([0.0, 0.0123, 0.25]), np.array([7, 2, 1]))
    instance = build(2, 2, ladder)
    cert = instance.certificate
    assert cert.hit_tolerance == pytest.approx(1e-4) and cert.ladder_counts_unit == "starts"
    again = read_instance_bytes(instance_bytes(instance), "ts", isolate=False)
    assert again.certificate.ladder_values.tolist() == [0.0, 0.0123, 0.25]
    # no start reached theta*: every value is spurious, and the tolerance is half the least
    only_spurious = build(2, 2, (np.array([1.2e-4, 0.3]), np.array([3, 1])))
    assert only_spurious.certificate.hit_tolerance == pytest.approx(6e-5)
    read_instance_bytes(instance_bytes(only_spurious), "ts", isolate=False)
    # never below REACHED = 1e-8: an end there counts as the planted value, hence as a hit
    assert ts.hit_tolerance([1.5e-8, 0.2]) == 1e-8 < 1.5e-8
    with pytest.raises(ValueError, match="finite and > 1e-08"):
        ts.hit_tolerance([1e-8])
    with pytest.raises(ValueError, match="finite and > 1e-08"):
        ts.hit_tolerance([0.1, -1e-3])
    # a ladder value below L* = 0 is refused when read
    bad = build(2, 2, (np.array([-0.5, 0.25]), np.array([1, 1])))
    with pytest.raises(QnnTrapsError, match="below L"):
        read_instance_bytes(instance_bytes(bad), "ts", isolate=False)


def test_jacobian_matches_finite_differences_and_its_rank_saturates():
    n, layers = 2, 3
    theta = np.random.default_rng(3).uniform(0, 2 * np.pi, 2 * n * layers)
    psi, jacobian = ts.state_and_jacobian(n, layers, theta)
    np.testing.assert_allclose(psi, student_state(n, layers, theta), atol=1e-13)
    step = 1e-6
    for k in range(theta.size):
        plus, minus = theta.copy(), theta.copy()
        plus[k] += step
        minus[k] -= step
        numeric = (student_state(n, layers, plus) - student_state(n, layers, minus)) / (2 * step)
        np.testing.assert_allclose(jacobian[k], numeric, atol=1e-8)
    # one qubit: RY then RZ reach every direction of the Bloch sphere (2 real dimensions)
    assert ts.state_jacobian_rank(1, 1, np.array([0.4, 1.1])) == 2 == ts.state_manifold_dimension(1)
    # two qubits: the rank grows with depth and stops at 2^(n+1) - 2 = 6
    ranks = [
        ts.state_jacobian_rank(2, layers, np.random.default_rng(layers).uniform(0, 6.3, 4 * layers))
        for layers in (1, 2, 3, 4)
    ]
    assert ranks[0] <= 4 and ranks[-1] == 6 and ranks == sorted(ranks)
    # at theta = 0 the state is |00> and RZ does nothing to it: fewer directions
    assert ts.state_jacobian_rank(2, 1, np.zeros(4)) == 4 - 2


def test_the_built_instance_carries_its_multistart_and_rank():
    from qnntraps.certificates.planted_multistart import draw_starts, planted_multistart

    instance = ts.build_teacher_student(2, 2, starts=12)
    cert, provenance = instance.certificate, instance.provenance
    assert provenance.parameter("multistart_starts") == 12
    assert provenance.parameter("jacobian_rank") == 6 == ts.state_manifold_dimension(2)
    assert provenance.parameter("p") == 8 == instance.num_parameters
    found = planted_multistart(instance, instance.id, 12)
    converged = int(cert.ladder_counts.sum()) if cert.ladder_counts is not None else 0
    assert converged + provenance.parameter("multistart_unconverged") == 12
    assert provenance.parameter("multistart_hits") == found.hits(cert.hit_tolerance)
    # the ends are independent of the batching, and the starts come from the stated key
    again = planted_multistart(instance, instance.id, 12, batch=5)
    assert again.end_losses.tolist() == found.end_losses.tolist()
    assert draw_starts(instance.id, 3, 8).tolist() == draw_starts(instance.id, 12, 8)[:3].tolist()
    # every converged end is >= 0 and the ladder starts at the planted value when it was reached
    assert np.all(found.end_losses >= -1e-15)
    round_trip = read_instance_bytes(instance_bytes(instance), "ts", isolate=False)
    assert round_trip.provenance.parameter("jacobian_rank") == 6
    assert instance_bytes(ts.build_teacher_student(2, 2, starts=12)) == instance_bytes(instance)


# --- the frozen files ---------------------------------------------------------------------------


def test_the_sweep_straddles_the_critical_count_at_every_n():
    for n, (sweep, _, _) in TEACHER_STUDENT_SWEEP.items():
        p_c = ts.state_manifold_dimension(n)
        counts = [2 * n * layers for layers in sweep]
        assert min(counts) < p_c / 2 and max(counts) > p_c, (n, counts)
    assert set(TEACHER_STUDENT_SWEEP) >= {4, 6, 8}
    assert len(IDS) == sum(len(entry[0]) for entry in TEACHER_STUDENT_SWEEP.values())


@pytest.mark.parametrize("instance_id", IDS)
def test_the_file_is_the_definition_and_its_planted_minimum(load, instance_id):
    """The stored circuit, observable and data are the family's definition at the seeded
    teacher; dense states from the definition give the file's loss (random theta) and F = 1 at
    theta* to 1e-12."""
    instance = load(instance_id)
    parts = parse_instance_id(instance_id)
    n, layers = parts.qubits, parts.layers
    teacher = ts.draw_teacher(n, layers)
    cert = instance.certificate
    assert cert.kind == "planted" and cert.global_min_value == 0.0
    assert cert.global_minimizer.tolist() == teacher.tolist()
    want = ts.circuit(n, layers, teacher)
    got = instance.ansatz
    assert got.num_parameters == 2 * n * layers == instance.num_parameters
    assert np.array_equal(got.generators, want.generators)
    assert np.array_equal(got.parameter_index, want.parameter_index)
    assert np.array_equal(got.fixed_angles, want.fixed_angles)
    assert instance.observable.factors.tolist() == [[0.5, 0.0, 0.0, 0.5]] * n
    assert instance.dataset.labels.tolist() == [1.0] and instance.dataset.loss == "square"
    assert not instance.dataset.inputs.features.any()
    rng = np.random.default_rng(len(instance_id))
    theta = np.vstack([rng.uniform(0, 2 * np.pi, size=(2, instance.num_parameters)), teacher])
    target = student_state(n, layers, teacher)
    fidelity = [abs(np.vdot(target, student_state(n, layers, t))) ** 2 for t in theta]
    np.testing.assert_allclose(instance.loss(theta), (1 - np.array(fidelity)) ** 2, atol=1e-12)
    assert abs(instance.loss(teacher[None])[0]) <= 1e-12 and instance.is_hit(teacher)


@pytest.mark.parametrize("instance_id", IDS)
def test_the_file_knows_its_multistart_and_rank(load, instance_id):
    """The ladder counts converged starts, the tolerance follows the family's one rule, the
    hits are at least the starts that reached the planted value, and the stored rank of the
    state's Jacobian at theta* is min(p, 2^(n+1) - 2)."""
    instance = load(instance_id)
    cert, provenance = instance.certificate, instance.provenance
    parts = parse_instance_id(instance_id)
    starts = provenance.parameter("multistart_starts")
    assert starts == TEACHER_STUDENT_SWEEP[parts.qubits][1]
    values = np.array([]) if cert.ladder_values is None else cert.ladder_values
    counts = np.array([], dtype=int) if cert.ladder_counts is None else cert.ladder_counts
    assert cert.ladder_counts_unit in (None, "starts")
    assert np.all(values >= 0.0) and np.all(np.diff(values) > 0) and np.all(counts > 0)
    assert int(counts.sum()) + provenance.parameter("multistart_unconverged") == starts
    assert cert.hit_tolerance == ts.hit_tolerance(values[values > 0])
    reached = int(counts[values == 0.0].sum())
    assert reached <= provenance.parameter("multistart_hits") <= starts
    p = instance.num_parameters
    assert provenance.parameter("jacobian_rank") == min(
        p, ts.state_manifold_dimension(parts.qubits)
    )


@pytest.mark.parametrize("instance_id", [i for i in IDS if parse_instance_id(i).qubits == 4])
def test_the_stored_rank_against_a_finite_difference_jacobian(load, instance_id):
    """Independent of `state_and_jacobian`: central differences of the definition's state, the
    phase direction projected out, at theta*."""
    instance = load(instance_id)
    n, layers = parse_instance_id(instance_id).qubits, parse_instance_id(instance_id).layers
    teacher = instance.certificate.global_minimizer
    psi = student_state(n, layers, teacher)
    step, columns = 1e-6, []
    for k in range(teacher.size):
        plus, minus = teacher.copy(), teacher.copy()
        plus[k] += step
        minus[k] -= step
        d = (student_state(n, layers, plus) - student_state(n, layers, minus)) / (2 * step)
        d -= np.real(np.vdot(1j * psi, d)) * 1j * psi
        columns.append(np.concatenate([d.real, d.imag]))
    singular = np.linalg.svd(np.array(columns), compute_uv=False)
    rank = int(np.sum(singular > 1e-6 * singular[0]))
    assert rank == instance.provenance.parameter("jacobian_rank")


def test_the_circuits_lie_algebra_is_all_of_su_2n_but_the_state_sees_less():
    """The rank of U(theta)'s own Jacobian saturates at 4^n - 1 (the DLA is su(2^n)); the state's
    at 2^(n+1) - 2: for a fidelity loss the state manifold sets the critical count."""
    for n, shallow, deep in ((2, 2, 5), (3, 4, 12)):
        theta = np.random.default_rng(n).uniform(0, 2 * np.pi, 2 * n * deep)
        assert ts.unitary_jacobian_rank(n, deep, theta) == 4**n - 1
        assert ts.state_jacobian_rank(n, deep, theta) == ts.state_manifold_dimension(n)
        few = theta[: 2 * n * shallow]
        assert ts.unitary_jacobian_rank(n, shallow, few) == 2 * n * shallow  # below: every one
    # the columns U|j> that the rank is computed from, against the dense gates
    n, layers = 2, 2
    theta = np.random.default_rng(9).uniform(0, 2 * np.pi, 2 * n * layers)
    for basis in np.eye(2**n):
        psi, _ = ts.state_and_jacobian(n, layers, theta, basis)
        np.testing.assert_allclose(psi, student_state(n, layers, theta, basis), atol=1e-13)


def test_ladder_values_keep_three_significant_digits():
    from qnntraps.certificates.planted_multistart import ladder_value

    assert ladder_value(3e-13) == 0.0 and ladder_value(-1e-15) == 0.0
    assert ladder_value(9.9e-9) == 0.0  # F >= 1 - 1e-4: the planted value, reached
    assert ladder_value(4.8764e-6) == 4.88e-6 and ladder_value(0.0017236) == 0.00172
    assert ladder_value(1.23456e-8) == 1.23e-8  # above REACHED: a value of its own
    assert ladder_value(1.0004e-8) == 1.0004e-8 > 1e-8  # never rounded down onto REACHED
