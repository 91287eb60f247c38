"""The teacher-student family: a hardware-efficient ansatz learning a planted state.

n qubits start in |0...0>. The student U(theta) has L layers; layer l applies
RY(theta_(l, q)) = exp(-i theta Y_q) on every qubit q, then RZ(theta_(l, n + q)) = exp(-i theta Z_q)
on every qubit, then the ladder CZ(q, q + 1), q = 0 .. n - 2 (parameter 2 n l + k is entry k of
layer l; p = 2 n L). The teacher theta* is drawn uniformly from [0, 2 pi)^p with the key
``teacher-student-nN-lL-vV/teacher`` and rounded to 12 decimals. The circuit of an instance is
U(theta) followed by the fixed gates of U(theta*)^dagger (the teacher's gates in reverse order with
negated angles), measured with M = (x)_q (I + Z_q) / 2 = |0...0><0...0|, so the prediction is the
fidelity

    F(theta) = |<0...0| U(theta*)^dagger U(theta) |0...0>|^2 = |<psi(theta*)|psi(theta)>|^2,

and with one sample of label 1 and the square loss, L(theta) = (1 - F(theta))^2.

Certificate kind ``planted``: L >= 0 everywhere (a square), and L(theta*) = 0 since
U(theta*)^dagger U(theta*) = I; so L* = 0 is the global minimum, attained at the stored theta*,
checked to 1e-12. A CZ is three fixed Z-type rotations, as in the barren-plateau family
(CZ = e^(i pi/4) exp(-i pi/4 Z_a) exp(-i pi/4 Z_b) exp(+i pi/4 Z_a Z_b)).

How many directions the parameters control: `state_jacobian_rank` is the rank of the real
Jacobian of |psi(theta)> with the global-phase direction projected out, at most the
2^(n+1) - 2 real dimensions of the manifold of pure states (projective space CP^(2^n - 1)).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from qnntraps.certificates.planted_multistart import (
    GRADIENT_BUDGET,
    LADDER_DIGITS,
    REACHED,
    STATIONARY_GRADIENT,
    planted_multistart,
    starts_key,
)
from qnntraps.families.barren_plateau import cz_ladder
from qnntraps.ids import InstanceId, format_instance_id
from qnntraps.instance import Instance
from qnntraps.model import (
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    ProductObservable,
    Provenance,
)
from qnntraps.pauli import Y, Z
from qnntraps.seeds import generator_from_key, seed_from_key

FAMILY = "teacher-student"
GENERATOR_VERSION = 1
TEACHER_DECIMALS = 12
#: A restart hits when L <= (1 - 0.99)^2 = 1e-4 (F >= 0.99), unless the multistart found a
#: spurious minimum below twice that: then the tolerance is half the best spurious value, never
#: below REACHED (`hit_tolerance`). FIDELITY_TOLERANCE is the decimal 1e-4, since
#: (1 - 0.99)**2 in floating point is 1.0000000000000018e-4.
FIDELITY_THRESHOLD = 0.99
FIDELITY_TOLERANCE = 1e-4

Gate = tuple[dict[int, int], int, float]  # ({qubit: Pauli code}, parameter index or -1, angle)


def instance_id(n: int, layers: int, version: int = 1) -> str:
    return format_instance_id(InstanceId(FAMILY, 2 * n * layers, None, version, n, layers))


def teacher_key(n: int, layers: int, version: int = 1, key: str | None = None) -> str:
    """The seed key of theta*: from the ID, or from `key` for a held-out instance."""
    return f"{key or f'{FAMILY}-n{n}-l{layers}-v{version}'}/teacher"


def draw_teacher(n: int, layers: int, version: int = 1, key: str | None = None) -> np.ndarray:
    """theta* (2 n L,), uniform on [0, 2 pi) from the key (`teacher_key`, or `key` + "/teacher"
    for a held-out instance), rounded to TEACHER_DECIMALS."""
    rng = generator_from_key(teacher_key(n, layers, version, key))
    return np.round(rng.uniform(0.0, 2 * np.pi, size=2 * n * layers), TEACHER_DECIMALS)


def student_gates(n: int, layers: int) -> list[Gate]:
    """The gates of U(theta) in order of application."""
    gates: list[Gate] = []
    for layer in range(layers):
        base = 2 * n * layer
        gates += [({q: Y}, base + q, 0.0) for q in range(n)]
        gates += [({q: Z}, base + n + q, 0.0) for q in range(n)]
        gates += [(codes, -1, angle) for codes, angle in cz_ladder(n)]
    return gates


def inverse_gates(gates: list[Gate], theta: np.ndarray) -> list[Gate]:
    """The fixed gates of (the circuit of `gates` at `theta`)^dagger: reverse order, angles
    negated (exp(-i a P)^dagger = exp(+i a P))."""
    return [
        (codes, -1, -(float(theta[index]) if index >= 0 else angle))
        for codes, index, angle in reversed(gates)
    ]


def _ansatz(n: int, num_parameters: int, gates: list[Gate]) -> Ansatz:
    generators = np.zeros((len(gates), n), dtype=np.int8)
    for row, (codes, _, _) in enumerate(gates):
        for qubit, code in codes.items():
            generators[row, qubit] = code
    index = np.array([g[1] for g in gates], dtype=np.int64)
    angles = np.array([g[2] for g in gates], dtype=np.float64)
    return Ansatz(n, num_parameters, generators, index, angles)


def circuit(n: int, layers: int, teacher: np.ndarray) -> Ansatz:
    """U(theta) then U(teacher)^dagger, as one ansatz with 2 n L parameters."""
    gates = student_gates(n, layers)
    return _ansatz(n, 2 * n * layers, gates + inverse_gates(gates, teacher))


def observable(n: int) -> ProductObservable:
    """(x)_q (I + Z_q) / 2, the projector onto |0...0>."""
    return ProductObservable(np.tile([0.5, 0.0, 0.0, 0.5], (n, 1)))


def dataset(n: int) -> Dataset:
    """One input, |0...0> (the encoded-features input with every feature 0), label 1."""
    return Dataset(EncodedFeatures(np.zeros((1, 2 * n))), np.array([1.0]), loss="square")


def hit_tolerance(spurious_values) -> float:
    """The family's one rule: FIDELITY_TOLERANCE = (1 - FIDELITY_THRESHOLD)^2, or half the
    smallest spurious local-minimum value the multistart found when that is smaller, but never
    below the multistart's REACHED (1e-8): an end at L <= REACHED counts as the planted value, so
    it must count as a hit (spurious values are > REACHED, so the tolerance stays below them)."""
    tolerance = FIDELITY_TOLERANCE
    values = np.asarray(spurious_values, dtype=np.float64)
    if values.size:
        if not np.all(np.isfinite(values)) or values.min() <= REACHED:
            raise ValueError(f"spurious minimum values must be finite and > {REACHED:g}")
        tolerance = min(tolerance, max(REACHED, 0.5 * float(values.min())))
    return tolerance


def planted_certificate(
    teacher: np.ndarray,
    effort: str,
    ladder_values: np.ndarray | None = None,
    ladder_counts: np.ndarray | None = None,
) -> Certificate:
    """Kind planted: L* = 0 at theta* = teacher; the ladder (if any) holds the spurious values a
    stated multistart reached and how many starts reached each."""
    spurious = [] if ladder_values is None else [v for v in ladder_values if v > 0.0]
    return Certificate(
        kind="planted",
        global_min_value=0.0,
        global_minimizer=teacher,
        hit_tolerance=hit_tolerance(spurious),
        method=(
            "planted: L = (1 - F)^2 >= 0 and F(theta*) = 1 since the circuit at theta* is "
            "U(theta*)^dagger U(theta*) = I; theta* drawn and rounded to 12 decimals; "
            "|L(theta*)| <= 1e-12 checked"
        ),
        effort=effort,
        ladder_values=ladder_values,
        ladder_counts=ladder_counts,
    )


# --- how many directions the parameters control -----------------------------------------------


def _apply_pauli(states: np.ndarray, codes: dict[int, int], n: int) -> np.ndarray:
    """P |psi> for each row of `states` (R, 2^n); qubit 0 is the most significant bit."""
    index = np.arange(2**n)
    flip, phase = 0, np.ones(2**n, dtype=np.complex128)
    for qubit, code in codes.items():
        bit = (index >> (n - 1 - qubit)) & 1
        if code == Z:
            phase *= 1 - 2 * bit
        else:
            flip |= 1 << (n - 1 - qubit)
            if code == Y:  # Y|b> = i (-1)^b |1 - b>
                phase *= 1j * (1 - 2 * bit)
    # (P psi)[x ^ flip] = phase(x) psi[x]
    out = np.empty_like(states)
    out[:, index ^ flip] = states * phase
    return out


def state_and_jacobian(
    n: int, layers: int, theta: np.ndarray, initial: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """|psi(theta)> = U(theta)|initial> (2^n,) and its derivatives d psi / d theta_k (p, 2^n), by
    carrying all p derivative vectors through the circuit at once (dense NumPy, n <= 10).
    `initial` defaults to |0...0>."""
    if n > 10:
        raise ValueError("the dense Jacobian is for n <= 10")
    p = 2 * n * layers
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (p,):
        raise ValueError(f"theta must have shape ({p},)")
    rows = np.zeros((p + 1, 2**n), dtype=np.complex128)
    if initial is None:
        rows[0, 0] = 1.0  # row 0: the state; row 1 + k: d psi / d theta_k
    else:
        rows[0] = initial
    for codes, index, angle in student_gates(n, layers):
        if index >= 0:
            angle = theta[index]
            rows[1 + index] = -1j * _apply_pauli(rows[:1], codes, n)[0]  # d/dtheta: -i P V psi
        rows = np.cos(angle) * rows - 1j * np.sin(angle) * _apply_pauli(rows, codes, n)
    rows *= np.exp(1j * np.pi / 4 * (n - 1) * layers)  # the CZs' global phase, e^(i pi/4) each
    return rows[0], rows[1:]


def state_jacobian_rank(n: int, layers: int, theta: np.ndarray, rtol: float = 1e-9) -> int:
    """Rank of the real Jacobian of |psi(theta)> with the global-phase direction i|psi> projected
    out: the number of independent directions the parameters move the state in (<= 2^(n+1) - 2).
    Singular values below rtol times the largest count as zero."""
    psi, jacobian = state_and_jacobian(n, layers, theta)
    # remove the component along i psi (global phase); what is left is tangent to CP^(2^n - 1)
    along = np.real(np.conj(1j * psi)[None, :] * jacobian).sum(axis=1)
    tangent = jacobian - along[:, None] * (1j * psi)[None, :]
    real = np.concatenate([tangent.real, tangent.imag], axis=1)
    singular = np.linalg.svd(real, compute_uv=False)
    return int(np.sum(singular > rtol * singular[0])) if singular.size else 0


def unitary_jacobian_rank(n: int, layers: int, theta: np.ndarray, rtol: float = 1e-9) -> int:
    """Rank of the real Jacobian of U(theta) itself, global phase projected out: the directions
    U(theta)^dagger dU/dtheta_k span in su(2^n). It saturates at the dimension of the circuit's
    dynamical Lie algebra (4^n - 1 when the DLA is su(2^n)). Dense, small n only."""
    columns = [state_and_jacobian(n, layers, theta, np.eye(2**n)[j]) for j in range(2**n)]
    unitary = np.stack([c[0] for c in columns], axis=1)  # column j = U|j>
    derivative = np.stack([c[1] for c in columns], axis=2)  # (p, 2^n, 2^n)
    generators = np.einsum("ab,kac->kbc", unitary.conj(), derivative)  # U^dagger dU: i su(2^n)+iR
    traces = np.trace(generators, axis1=1, axis2=2) / 2**n
    traceless = generators - traces[:, None, None] * np.eye(2**n)  # drop the phase direction
    flat = traceless.reshape(traceless.shape[0], -1)
    real = np.concatenate([flat.real, flat.imag], axis=1)
    singular = np.linalg.svd(real, compute_uv=False)
    return int(np.sum(singular > rtol * singular[0])) if singular.size else 0


def state_manifold_dimension(n: int) -> int:
    """Real dimension of the pure states of n qubits modulo global phase: 2^(n+1) - 2."""
    return 2 ** (n + 1) - 2


# --- the instance ------------------------------------------------------------------------------

JACOBIAN_MAX_QUBITS = 8  # the dense Jacobian's rank is computed up to here


def build_teacher_student(
    n: int,
    layers: int,
    starts: int,
    gradient_budget: int | None = None,
    version: int = 1,
    key: str | None = None,
):
    """The instance teacher-student-n{n}-l{layers}-v{version}, its certificate's ladder from a
    `starts`-start multistart of `gradient_budget` gradients per start (default
    certificates/planted_multistart.py's GRADIENT_BUDGET) and the rank of the state's Jacobian
    at theta* in its provenance (n <= JACOBIAN_MAX_QUBITS). `key` replaces the ID as the seed
    key of the teacher (key + "/teacher") and of the multistart (key + "/multistart"): a held-out
    instance (leaderboard/heldout.py), whose provenance records the key."""
    if version != 1:
        raise ValueError(f"generator knows version 1 of {FAMILY}, not {version}")
    teacher = draw_teacher(n, layers, version, key)
    iid = instance_id(n, layers, version)
    model = SimpleNamespace(
        ansatz=circuit(n, layers, teacher), observable=observable(n), dataset=dataset(n)
    )
    budget = GRADIENT_BUDGET if gradient_budget is None else gradient_budget
    found = planted_multistart(model, key or iid, starts, gradient_budget=budget)
    tolerance = hit_tolerance(found.spurious_values)
    effort = (
        f"multistart: {starts} starts uniform on [0, 2pi)^p from key {starts_key(key or iid)}, "
        f"batched L-BFGS (gtol 1e-12, ftol 0) with {budget} gradients each; an end point with "
        f"max |dF/dtheta_i| <= {STATIONARY_GRADIENT:g} or L <= {REACHED:g} counts as converged; "
        f"ladder: 0 for L <= {REACHED:g} (the planted value), other converged values to "
        f"{LADDER_DIGITS} significant digits; {found.unconverged} did not converge; "
        f"{found.hits(tolerance)} of {starts} ended within the hit tolerance"
    )
    parameters = [
        ("layers", layers),
        ("multistart_hits", found.hits(tolerance)),
        ("multistart_starts", starts),
        ("multistart_unconverged", found.unconverged),
        ("num_qubits", n),
        ("num_samples", 1),
        ("p", 2 * n * layers),
    ]
    if n <= JACOBIAN_MAX_QUBITS:
        parameters.append(("jacobian_rank", state_jacobian_rank(n, layers, teacher)))
    if key is not None:
        parameters.append(("seed_key", key))
    certificate = planted_certificate(
        teacher, effort, found.values if found.values.size else None,
        found.counts if found.values.size else None,
    )  # fmt: skip
    provenance = Provenance(
        family=FAMILY,
        generator_version=GENERATOR_VERSION,
        seed=seed_from_key(teacher_key(n, layers, version, key)),
        parameters=tuple(sorted(parameters)),
    )
    return Instance(iid, model.ansatz, model.observable, model.dataset, certificate, provenance)
