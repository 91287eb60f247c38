"""Batched statevector simulation with adjoint gradients, in torch float64 on CPU or CUDA.

Any instance the format can hold: R parameter vectors x K pure input states at once. A state is
one real tensor of shape (2, R, K, 2, ..., 2): real and imaginary parts, restart, input term,
then one axis per qubit (qubit 0 first, the most significant bit of a basis index, as in
docs/format.md). Nothing is ever a 2^n x 2^n matrix:

- a Pauli rotation exp(-i a H) psi = cos(a) psi - i sin(a) H psi, with H psi by index
  arithmetic: flip the axes of the X and Y factors, multiply by +-1 along the Z and Y factors,
  and by i^(number of Y); rotations about one qubit's X, Y or Z take a shorter path;
- runs of fixed diagonal gates (a ladder of CZ is three fixed Z-type rotations per pair) are
  fused into one diagonal phase, computed once;
- fixed gates before the first parameterized gate act on the inputs once, when compiling.

Inputs: encoded features are pure product states; a Pauli mixture rho = (I + eps P) / 2^n is
its exact decomposition into the 2^n eigenstates |e_b> of P, rho = sum_b (1 + eps l_b)/2^n
|e_b><e_b| (no sampling; 4^n amplitudes per input, so small n only).

Gradients by adjoint differentiation: one backward sweep that un-applies the gates to the
state phi and to lambda = c M phi, reading d<M>/d a_g = 2 Im <lambda | H_g | phi> at each
parameterized gate; memory is a few states whatever the depth.

Every operation is an element-wise add or multiply of float64 tensors (complex products are
written out, so no fused multiply-add can change a last bit) and every sum is a fixed pairwise
tree over one row, so a restart's numbers do not depend on the batch it was computed in and
are bit-identical from run to run on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.errors import UnsupportedStructureError
from qnntraps.model import (
    EncodedFeatures,
    Model,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
)
from qnntraps.pauli import I, X, Y, Z
from qnntraps.simulators import native

DEFAULT_CHUNK_BYTES = 256 * 2**20
MAX_INPUT_AMPLITUDES = 2**26  # K * 2^n: inputs held as pure states (1 GiB)
MAX_QUBITS = 26
MAX_TABLE_ENTRIES = 2**27  # +-1 and phase tables held by one program (1 GiB of float64)
SNAP = 1e-14  # a fused fixed phase this close to +-1 (after removing the global phase) is +-1


@dataclass(frozen=True, eq=False)
class Rotation:
    """exp(-i a H) for a Pauli string H; `parameter` >= 0 names theta's entry, else `fixed`
    holds cos a and sin a of the fixed angle, as (1,) tensors on the program's device."""

    parameter: int
    fixed: tuple[torch.Tensor, torch.Tensor] | None
    flip: tuple[int, ...]  # qubits whose factor is X or Y
    sign: torch.Tensor | None  # (2,)*n of +-1 over the Z and Y factors, None when there are none
    y_count: int  # number of Y factors: H psi carries i**y_count
    single: tuple[int, int] | None  # (qubit, Pauli code) for a one-qubit generator
    flip_mask: int = 0  # the flipped qubits as bits of an amplitude's index (qubit q: n - 1 - q)
    z_mask: int = 0  # the Z and Y factors' qubits, likewise: sign = (-1)^popcount(index & z_mask)


@dataclass(frozen=True, eq=False)
class Diagonal:
    """A fixed diagonal phase diag(real + i imag), the product of a run of fixed Z-type gates up
    to a global phase; imag is None when every entry is +-1."""

    real: torch.Tensor  # (2,)*n
    imag: torch.Tensor | None


@dataclass(frozen=True, eq=False)
class StatevectorProgram:
    """A compiled instance: inputs as weighted pure states, the gates, the observable."""

    num_qubits: int
    num_parameters: int
    states: torch.Tensor  # (2, 1, K, 2, ..., 2) after the leading fixed gates
    term_weights: torch.Tensor  # (m, T): y_hat_k = sum_t term_weights[k, t] <M>_(k, t), K = m T
    labels: torch.Tensor  # (m,)
    loss_form: str
    gates: tuple[Rotation | Diagonal, ...]
    observable: tuple  # ("pauli_sum", [(coefficient, Rotation-like term), ...]) or ("product", A)


# --- element-wise kernels -------------------------------------------------------------------


def _axis(q: int) -> int:
    return 3 + q


def _angles(c: torch.Tensor, ndim: int) -> torch.Tensor:
    """(R,) -> broadcastable to a (R, K, 2..2) half state of `ndim` dims."""
    return c.reshape((-1,) + (1,) * (ndim - 1))


def _times_i_power(re: torch.Tensor, im: torch.Tensor, power: int):
    """(re + i im) * i**power, exactly."""
    power %= 4
    if power == 0:
        return re, im
    if power == 1:
        return -im, re
    if power == 2:
        return -re, -im
    return im, -re


def _pauli_times(psi: torch.Tensor, gate: Rotation) -> tuple[torch.Tensor, torch.Tensor]:
    """H psi as (re, im) for the generator of `gate`."""
    h = psi if gate.sign is None else psi * gate.sign
    if gate.flip:
        h = torch.flip(h, dims=[_axis(q) for q in gate.flip])
    return _times_i_power(h[0], h[1], gate.y_count)


def _rotate(psi: torch.Tensor, gate: Rotation, c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """exp(-i a H) psi given c = cos a, s = sin a of shape (R,) (or scalars)."""
    if gate.single is not None:
        return _rotate_single(psi, gate.single, c, s)
    hr, hi = _pauli_times(psi, gate)
    c = _angles(c, psi.ndim - 1)
    s = _angles(s, psi.ndim - 1)
    return torch.stack((c * psi[0] + s * hi, c * psi[1] - s * hr))


def _rotate_single(psi: torch.Tensor, single: tuple[int, int], c, s) -> torch.Tensor:
    qubit, code = single
    axis = _axis(qubit)
    if code == Y:  # real: psi0' = c psi0 - s psi1, psi1' = s psi0 + c psi1, on both parts
        a, b = psi.select(axis, 0), psi.select(axis, 1)
        c = _angles(c, a.ndim - 1)[None]
        s = _angles(s, a.ndim - 1)[None]
        return torch.stack((c * a - s * b, s * a + c * b), dim=axis)
    re, im = psi[0], psi[1]
    if code == X:  # X psi is the flip; exp(-i a X) psi = c psi - i s X psi
        c = _angles(c, re.ndim)
        s = _angles(s, re.ndim)
        hr, hi = torch.flip(re, dims=[axis - 1]), torch.flip(im, dims=[axis - 1])
        return torch.stack((c * re + s * hi, c * im - s * hr))
    # Z: (c - i s) on bit 0, (c + i s) on bit 1
    r0, r1 = re.select(axis - 1, 0), re.select(axis - 1, 1)
    i0, i1 = im.select(axis - 1, 0), im.select(axis - 1, 1)
    c = _angles(c, r0.ndim)
    s = _angles(s, r0.ndim)
    new_re = torch.stack((c * r0 + s * i0, c * r1 - s * i1), dim=axis - 1)
    new_im = torch.stack((c * i0 - s * r0, c * i1 + s * r1), dim=axis - 1)
    return torch.stack((new_re, new_im))


def _diagonal(psi: torch.Tensor, gate: Diagonal, inverse: bool) -> torch.Tensor:
    if gate.imag is None:
        return psi * gate.real
    di = -gate.imag if inverse else gate.imag
    re, im = psi[0], psi[1]
    return torch.stack((gate.real * re - di * im, gate.real * im + di * re))


def _single_times(psi: torch.Tensor, single: tuple[int, int]):
    """sigma_code on one qubit times psi, as (re, im)."""
    qubit, code = single
    axis = _axis(qubit) - 1
    re, im = psi[0], psi[1]
    if code == X:
        return torch.flip(re, dims=[axis]), torch.flip(im, dims=[axis])
    if code == Z:
        sign = torch.tensor([1.0, -1.0], dtype=re.dtype, device=re.device)
        sign = sign.reshape((2,) + (1,) * (re.ndim - axis - 1))
        return re * sign, im * sign
    # Y: (Y psi)_0 = -i psi_1, (Y psi)_1 = i psi_0
    r0, r1 = re.select(axis, 0), re.select(axis, 1)
    i0, i1 = im.select(axis, 0), im.select(axis, 1)
    return torch.stack((i1, -i0), dim=axis), torch.stack((-r1, r0), dim=axis)


def _generator_times(psi: torch.Tensor, gate: Rotation):
    if gate.single is not None:
        return _single_times(psi, gate.single)
    return _pauli_times(psi, gate)


def tree_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis by a fixed pairwise tree (zero-padded to even lengths), so that a
    row's sum never depends on the other rows or on how a library splits a reduction."""
    while x.shape[-1] > 1:
        if x.shape[-1] % 2:
            x = torch.cat([x, torch.zeros_like(x[..., :1])], dim=-1)
        half = x.shape[-1] // 2
        x = x[..., :half] + x[..., half:]
    return x[..., 0]


def _flat(half: torch.Tensor) -> torch.Tensor:
    return half.reshape(half.shape[0], half.shape[1], -1)


def _real_inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Re <a|b> per (restart, term): (R, K)."""
    return tree_sum(_flat(a[0] * b[0]) + _flat(a[1] * b[1]))


# --- compiling ------------------------------------------------------------------------------


def _signs(qubits, n: int) -> np.ndarray:
    """(2,)*n table of (-1)^(number of set bits among `qubits`): a Z-type string's eigenvalues."""
    table = np.ones((2,) * n)
    for q in qubits:
        shape = [1] * n
        shape[q] = 2
        table = table * np.array([1.0, -1.0]).reshape(shape)
    return table


def _rotation(codes: np.ndarray, parameter: int, angle: float, device, table: bool = True):
    """A Rotation; its +-1 table (2^n entries) only where `_pauli_times` will read it: for
    observable terms (`table`) and multi-qubit generators (one-qubit gates take a shorter path)."""
    n = codes.shape[0]
    support = np.flatnonzero(codes)
    flip = tuple(int(q) for q in np.flatnonzero((codes == X) | (codes == Y)))
    z_like = np.flatnonzero((codes == Z) | (codes == Y))
    sign = None
    if z_like.size and (table or support.size > 1):
        sign = torch.as_tensor(_signs(z_like, n), dtype=torch.float64, device=device)
    single = (int(support[0]), int(codes[support[0]])) if support.size == 1 else None
    fixed = None
    if parameter < 0:
        fixed = tuple(
            torch.tensor([value], dtype=torch.float64, device=device)
            for value in (np.cos(angle), np.sin(angle))
        )
    return Rotation(
        parameter,
        fixed,
        flip,
        sign,
        int(np.sum(codes == Y)),
        single,
        flip_mask=sum(1 << (n - 1 - q) for q in flip),
        z_mask=sum(1 << (n - 1 - int(q)) for q in z_like),
    )


def _fused_diagonal(run: list[tuple[np.ndarray, float]], n: int, device) -> Diagonal:
    """The product of fixed exp(-i a_g Z_g) gates as one phase, global phase removed."""
    exponent = np.zeros((2,) * n)  # sum_g a_g z_g(b): the phase is exp(-i exponent)
    for codes, angle in run:
        exponent = exponent + angle * _signs(np.flatnonzero(codes), n)
    exponent = exponent - exponent.reshape(-1)[0]
    real, imag = np.cos(exponent), -np.sin(exponent)
    snapped = (np.abs(imag) < SNAP) & (np.abs(np.abs(real) - 1.0) < SNAP)
    real = np.where(snapped, np.sign(real), real)
    imag = np.where(snapped, 0.0, imag)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64, device=device)  # noqa: E731
    return Diagonal(as_tensor(real), None if not np.any(imag) else as_tensor(imag))


def _pure_inputs(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Inputs as complex pure states (m, T, 2^n) and their weights (m, T)."""
    inputs = model.dataset.inputs
    n = model.ansatz.num_qubits
    if isinstance(inputs, EncodedFeatures):
        if inputs.features.shape[0] * 2**n > MAX_INPUT_AMPLITUDES:
            raise UnsupportedStructureError(
                f"{inputs.features.shape[0]} inputs on {n} qubits are more than the 2^26 "
                "amplitudes the statevector simulator holds"
            )
        states = []
        for x in inputs.features:
            qubits = []
            for q in range(n):
                cx, sx = np.cos(x[2 * q] / 2), np.sin(x[2 * q] / 2)
                cy, sy = np.cos(x[2 * q + 1] / 2), np.sin(x[2 * q + 1] / 2)
                # RY(y) RX(x) |0> = RY(y) (cx, -i sx)
                qubits.append(np.array([cy * cx + 1j * sy * sx, sy * cx - 1j * cy * sx]))
            state = qubits[0]
            for amplitude in qubits[1:]:
                state = np.kron(state, amplitude)
            states.append(state[None, :])
        return np.array(states), np.ones((len(states), 1))
    if isinstance(inputs, PauliMixtureStates):
        if 4**n * inputs.epsilon.shape[0] > MAX_INPUT_AMPLITUDES:
            raise UnsupportedStructureError(
                f"a Pauli-mixture input on {n} qubits is 2^{n} pure states; the statevector "
                "simulator takes such inputs up to 4^n * m <= 2^26 amplitudes"
            )
        eigen = {
            I: np.eye(2, dtype=complex),
            Z: np.eye(2, dtype=complex),
            X: np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2),
            Y: np.array([[1, 1j], [1, -1j]], dtype=complex).T / np.sqrt(2),
        }
        states, weights = [], []
        for codes, eps in zip(inputs.pauli_codes, inputs.epsilon, strict=True):
            # column b of the kron of per-qubit eigenvector matrices is |e_b>
            basis = eigen[int(codes[0])]
            values = np.array([1.0, -1.0]) if codes[0] else np.ones(2)
            for code in codes[1:]:
                basis = np.kron(basis, eigen[int(code)])
                values = np.kron(values, np.array([1.0, -1.0]) if code else np.ones(2))
            states.append(basis.T)
            weights.append((1.0 + eps * values) / 2**n)
        return np.array(states), np.array(weights)
    raise UnsupportedStructureError(f"unknown input type {type(inputs).__name__}")


def _observable(model: Model, device):
    observable = model.observable
    if isinstance(observable, PauliSumObservable):
        terms = [
            (float(coef), _rotation(np.asarray(codes), -1, 0.0, device))
            for codes, coef in zip(observable.pauli_codes, observable.coefficients, strict=True)
        ]
        return ("pauli_sum", terms)
    if isinstance(observable, ProductObservable):
        return ("product", [tuple(float(v) for v in row) for row in observable.factors])
    raise UnsupportedStructureError(f"unknown observable type {type(observable).__name__}")


def compile_statevector(model: Model, device: str | torch.device = "cpu") -> StatevectorProgram:
    """Compile any instance (up to MAX_QUBITS qubits) for the statevector simulator."""
    ansatz = model.ansatz
    n = ansatz.num_qubits
    if n > MAX_QUBITS:
        raise UnsupportedStructureError(
            f"{n} qubits: the statevector simulator takes <= {MAX_QUBITS}"
        )
    pure, weights = _pure_inputs(model)
    m, terms = weights.shape
    gates: list[Rotation | Diagonal] = []
    run: list[tuple[np.ndarray, float]] = []
    fused: dict[bytes, Diagonal] = {}  # identical runs (a CZ ladder per layer) share one table

    tables = 0

    def count_table() -> None:
        nonlocal tables
        tables += 2**n
        if tables > MAX_TABLE_ENTRIES:
            raise UnsupportedStructureError(
                f"this circuit needs more than {MAX_TABLE_ENTRIES} entries of diagonal tables on "
                f"{n} qubits (distinct fixed Z-type runs and multi-qubit generators)"
            )

    def diagonal(run) -> Diagonal:
        key = b"".join(codes.tobytes() + np.float64(angle).tobytes() for codes, angle in run)
        if key not in fused:
            count_table()
            fused[key] = _fused_diagonal(run, n, device)
        return fused[key]

    for codes, index, angle in zip(
        ansatz.generators, ansatz.parameter_index, ansatz.fixed_angles, strict=True
    ):
        codes = np.asarray(codes)
        if index < 0 and not np.any((codes == X) | (codes == Y)):
            run.append((codes, float(angle)))
            continue
        if run:
            gates.append(diagonal(run))
            run = []
        if np.count_nonzero(codes) > 1 and np.any((codes == Z) | (codes == Y)):
            count_table()
        gates.append(_rotation(codes, int(index), float(angle), device, table=False))
    if run:
        gates.append(diagonal(run))

    states = torch.as_tensor(
        np.stack([pure.real, pure.imag]).reshape((2, 1, m * terms) + (2,) * n),
        dtype=torch.float64,
        device=device,
    )
    leading = 0
    for gate in gates:  # fixed gates before the first parameterized one act on the inputs once
        if isinstance(gate, Rotation) and gate.parameter >= 0:
            break
        states = _apply(states, gate, None, inverse=False)
        leading += 1
    return StatevectorProgram(
        num_qubits=n,
        num_parameters=ansatz.num_parameters,
        states=states,
        term_weights=torch.as_tensor(weights, dtype=torch.float64, device=device),
        labels=torch.as_tensor(np.array(model.dataset.labels), dtype=torch.float64, device=device),
        loss_form=model.dataset.loss,
        gates=tuple(gates[leading:]),
        observable=_observable(model, device),
    )


# --- the compiled in-place gates (statevector_kernels.c) ---------------------------------------


def _kernels(psi: torch.Tensor):
    """The compiled library when psi is a CPU float64 state it can update in place, else None."""
    if psi.device.type != "cpu" or psi.dtype != torch.float64:
        return None
    return native.library()


def _angle_pointers(c: torch.Tensor, s: torch.Tensor, inverse: bool):
    """(c, s, their stride, tensors to keep alive): s negated for the inverse, as `_apply` does."""
    s = -s if inverse else s
    c, s = c.contiguous(), s.contiguous()
    return c, s, 1 if c.numel() > 1 else 0


def _apply_in_place(lib, psi: torch.Tensor, gate, theta: torch.Tensor | None, inverse: bool):
    """`_apply` on a contiguous state this code owns, updated in place (the same bits)."""
    rows, terms, size = psi.shape[1], psi.shape[2], psi[0, 0, 0].numel()
    if isinstance(gate, Diagonal):
        imag = None
        if gate.imag is not None:
            imag = (-gate.imag if inverse else gate.imag).contiguous()
        lib.qn_sv_diagonal(
            rows, terms, size, psi.data_ptr(), gate.real.data_ptr(),
            None if imag is None else imag.data_ptr(),
        )  # fmt: skip
        return psi
    if gate.parameter >= 0:
        angle = theta[:, gate.parameter]
        c, s = torch.cos(angle), torch.sin(angle)
    else:
        c, s = gate.fixed
    c, s, stride = _angle_pointers(c, s, inverse)
    head = (rows, terms, size, psi.data_ptr(), c.data_ptr(), s.data_ptr(), stride)
    if gate.single is not None and gate.single[1] == Y:
        lib.qn_sv_rotate_y(*head, gate.flip_mask)
    elif gate.single is not None and gate.single[1] == Z:
        lib.qn_sv_rotate_z(*head, gate.z_mask)
    else:
        lib.qn_sv_rotate(*head, gate.flip_mask, gate.z_mask, gate.y_count)
    return psi


def _generator_inner(lib, lam: torch.Tensor, psi: torch.Tensor, gate: Rotation) -> torch.Tensor:
    """Im <lam | H_g psi> per (restart, term): (R, K), summed by tree_sum's pairwise tree."""
    rows, terms, size = psi.shape[1], psi.shape[2], psi[0, 0, 0].numel()
    out = torch.empty((rows, terms), dtype=torch.float64)
    failed = lib.qn_sv_generator_inner(
        rows, terms, size, lam.data_ptr(), psi.data_ptr(),
        gate.flip_mask, gate.z_mask, gate.y_count, out.data_ptr(),
    )  # fmt: skip
    if failed:
        raise MemoryError("the statevector kernel could not allocate its work area")
    return out


# --- running --------------------------------------------------------------------------------


def _apply(psi, gate, theta: torch.Tensor | None, inverse: bool) -> torch.Tensor:
    if isinstance(gate, Diagonal):
        return _diagonal(psi, gate, inverse)
    if gate.parameter >= 0:
        angle = theta[:, gate.parameter]
        c, s = torch.cos(angle), torch.sin(angle)
    else:
        c, s = gate.fixed
    return _rotate(psi, gate, c, -s if inverse else s)


def _apply_observable(program: StatevectorProgram, psi: torch.Tensor) -> torch.Tensor:
    """M psi."""
    form, data = program.observable
    if form == "pauli_sum":
        total = None
        for coefficient, term in data:
            hr, hi = _pauli_times(psi, term)
            part = torch.stack((coefficient * hr, coefficient * hi))
            total = part if total is None else total + part
        return total
    out = psi
    for qubit, (f0, f1, f2, f3) in enumerate(data):
        # A = [[f0 + f3, f1 - i f2], [f1 + i f2, f0 - f3]] on this qubit
        axis = _axis(qubit) - 1
        re, im = out[0], out[1]
        r0, r1 = re.select(axis, 0), re.select(axis, 1)
        i0, i1 = im.select(axis, 0), im.select(axis, 1)
        new_re = torch.stack(
            ((f0 + f3) * r0 + f1 * r1 + f2 * i1, f1 * r0 - f2 * i0 + (f0 - f3) * r1), dim=axis
        )
        new_im = torch.stack(
            ((f0 + f3) * i0 + f1 * i1 - f2 * r1, f1 * i0 + f2 * r0 + (f0 - f3) * i1), dim=axis
        )
        out = torch.stack((new_re, new_im))
    return out


def _forward(program: StatevectorProgram, theta: torch.Tensor) -> torch.Tensor:
    psi = program.states.expand((2, theta.shape[0]) + program.states.shape[2:])
    lib = _kernels(psi)
    if lib is not None:
        psi = psi.clone(memory_format=torch.contiguous_format)  # ours: updated in place
        for gate in program.gates:
            _apply_in_place(lib, psi, gate, theta, inverse=False)
        return psi
    for gate in program.gates:
        psi = _apply(psi, gate, theta, inverse=False)
    return psi


def _term_expectations(program: StatevectorProgram, psi: torch.Tensor):
    """<M> per (restart, term) (R, K) and M psi."""
    m_psi = _apply_observable(program, psi)
    return _real_inner(psi, m_psi), m_psi


def _predictions_from_terms(program: StatevectorProgram, values: torch.Tensor) -> torch.Tensor:
    m, terms = program.term_weights.shape
    return tree_sum(values.reshape(-1, m, terms) * program.term_weights)


def _loss_from_predictions(program: StatevectorProgram, yhat: torch.Tensor) -> torch.Tensor:
    m = yhat.shape[1]
    if program.loss_form == "expectation":
        return tree_sum(program.labels * yhat) / m
    residual = yhat - program.labels
    return tree_sum(residual * residual) / m


def _chunks(program: StatevectorProgram, theta: torch.Tensor, chunk_bytes: int, width: int):
    per_row = width * program.states[0, 0].numel() * 2 * 8
    return torch.split(theta, max(1, chunk_bytes // per_row))


def predictions(program, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """y_hat (R, m) for theta (R, p)."""
    parts = []
    for chunk in _chunks(program, theta, chunk_bytes, width=4):
        values, _ = _term_expectations(program, _forward(program, chunk))
        parts.append(_predictions_from_terms(program, values))
    return torch.cat(parts)


def loss(program, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> torch.Tensor:
    """Loss (R,) for theta (R, p)."""
    return _loss_from_predictions(program, predictions(program, theta, chunk_bytes))


def _loss_and_grad_chunk(program: StatevectorProgram, theta: torch.Tensor):
    psi = _forward(program, theta)
    values, m_psi = _term_expectations(program, psi)
    yhat = _predictions_from_terms(program, values)
    value = _loss_from_predictions(program, yhat)
    m, terms = program.term_weights.shape
    # dL/d<M>_(k,t) per restart: (R, K)
    if program.loss_form == "expectation":
        outer = (program.labels / m).expand_as(yhat)
    else:
        outer = (2.0 / m) * (yhat - program.labels)
    coefficient = (outer[:, :, None] * program.term_weights).reshape(theta.shape[0], m * terms)
    grad = torch.zeros(
        theta.shape[0], program.num_parameters, dtype=theta.dtype, device=theta.device
    )
    lam = m_psi
    lib = _kernels(psi)
    if lib is not None:
        # psi is _forward's own copy; lam a new tensor unless M psi returned psi itself
        psi, lam = psi.contiguous(), (lam.clone() if lam is psi else lam.contiguous())
    for gate in reversed(program.gates):
        if isinstance(gate, Rotation) and gate.parameter >= 0:
            if lib is not None:
                imag = _generator_inner(lib, lam, psi, gate)
            else:
                hr, hi = _generator_times(psi, gate)
                # Im <lam | H psi> = sum lam_re * h_im - lam_im * h_re
                imag = tree_sum(_flat(lam[0] * hi) - _flat(lam[1] * hr))
            grad[:, gate.parameter] += tree_sum(2.0 * coefficient * imag)
        if lib is not None:
            _apply_in_place(lib, psi, gate, theta, inverse=True)
            _apply_in_place(lib, lam, gate, theta, inverse=True)
        else:
            psi = _apply(psi, gate, theta, inverse=True)
            lam = _apply(lam, gate, theta, inverse=True)
    return value, grad


def loss_and_grad(program, theta: torch.Tensor, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
    """Loss (R,) and gradient (R, p) for theta (R, p), by adjoint differentiation."""
    parts = [_loss_and_grad_chunk(program, t) for t in _chunks(program, theta, chunk_bytes, 8)]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
