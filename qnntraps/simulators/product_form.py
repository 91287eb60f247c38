"""Compile an instance with product structure into trigonometric product coefficients.

When the ansatz is one layer of single-qubit Pauli rotations on distinct qubits, the observable is a
tensor product and every input is a (sum of) product operators, the model output is

    y_hat_k(theta) = offset_k + sum_j weights[k, j] * prod_s (a + b cos 2 theta_i + c sin 2 theta_i)[k, j, s]

with i = support[k, j, s] running over the parameters term j of sample k depends on. This costs
O(m S) per parameter vector, S <= p the largest support (S = 1 for `construction`, 3 for
`construction-coupled`, p for encoded features), so at most O(m p). Every other structure raises
UnsupportedStructureError; the dense reference still handles it at small size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnntraps.errors import UnsupportedStructureError
from qnntraps.model import (
    Ansatz,
    Dataset,
    EncodedFeatures,
    Observable,
    PauliMixtureStates,
    ProductObservable,
    frozen_array,
)
from qnntraps.pauli import I, conjugate_by_rotation


@dataclass(frozen=True, eq=False)
class ProductForm:
    """Coefficients of y_hat in product form; arrays indexed [sample, term, support slot].

    Padding slots have support 0 and factor exactly 1 (a = 1, b = c = 0), padding terms weight 0.
    """

    num_parameters: int
    offset: np.ndarray  # (m,)
    weights: np.ndarray  # (m, J)
    support: np.ndarray  # (m, J, S) int64 parameter indices
    a: np.ndarray  # (m, J, S)
    b: np.ndarray  # (m, J, S)
    c: np.ndarray  # (m, J, S)
    labels: np.ndarray  # (m,)


def _rotation_layer(ansatz: Ansatz) -> tuple[np.ndarray, np.ndarray]:
    """Per qubit: the index of the parameter rotating it (or -1) and its generator code."""
    n, p = ansatz.num_qubits, ansatz.num_parameters
    parameter_of_qubit = np.full(n, -1, dtype=np.int64)
    generator_of_qubit = np.zeros(n, dtype=np.int64)
    seen_parameters = set()
    for codes, index in zip(ansatz.generators, ansatz.parameter_index, strict=True):
        support = np.flatnonzero(codes)
        if index < 0:
            raise UnsupportedStructureError(
                "fixed gates have no product form; use the dense simulator"
            )
        if support.size != 1:
            raise UnsupportedStructureError("a multi-qubit generator has no product form")
        qubit = int(support[0])
        if parameter_of_qubit[qubit] >= 0 or int(index) in seen_parameters:
            raise UnsupportedStructureError(
                "product form needs one rotation per qubit and one gate per parameter"
            )
        parameter_of_qubit[qubit] = index
        generator_of_qubit[qubit] = codes[qubit]
        seen_parameters.add(int(index))
    if len(seen_parameters) != p:
        raise UnsupportedStructureError("some parameters drive no gate")
    return parameter_of_qubit, generator_of_qubit


def _input_terms(inputs, num_qubits: int) -> tuple[np.ndarray, np.ndarray]:
    """Each input as sum_j w_j tensor_q (sum_s beta[j, q, s] sigma_s) / 2: returns (w, beta)."""
    if isinstance(inputs, PauliMixtureStates):
        m = inputs.pauli_codes.shape[0]
        beta = np.zeros((m, 2, num_qubits, 4))
        beta[:, 0, :, I] = 1.0
        rows = np.arange(m)[:, None]
        cols = np.arange(num_qubits)[None, :]
        beta[rows, 1, cols, inputs.pauli_codes] = 1.0
        weights = np.stack([np.ones(m), inputs.epsilon], axis=1)
        return weights, beta
    if isinstance(inputs, EncodedFeatures):
        x_angle = inputs.features[:, 0::2]
        y_angle = inputs.features[:, 1::2]
        m = x_angle.shape[0]
        beta = np.zeros((m, 1, num_qubits, 4))
        beta[:, 0, :, 0] = 1.0
        # Bloch vector of RY(y) RX(x) |0>: (cos x sin y, -sin x, cos x cos y).
        beta[:, 0, :, 1] = np.cos(x_angle) * np.sin(y_angle)
        beta[:, 0, :, 2] = -np.sin(x_angle)
        beta[:, 0, :, 3] = np.cos(x_angle) * np.cos(y_angle)
        return np.ones((m, 1)), beta
    raise UnsupportedStructureError(f"no product form for inputs of type {type(inputs).__name__}")


def compile_product_form(ansatz: Ansatz, observable: Observable, dataset: Dataset) -> ProductForm:
    """Product-form coefficients of an instance's parts; raises UnsupportedStructureError otherwise."""
    if not isinstance(observable, ProductObservable):
        raise UnsupportedStructureError("product form needs a product observable")
    n, p = ansatz.num_qubits, ansatz.num_parameters
    parameter_of_qubit, generator_of_qubit = _rotation_layer(ansatz)
    term_weights, beta = _input_terms(dataset.inputs, n)
    m = term_weights.shape[0]

    # Heisenberg-rotated observable factor of every qubit: (n, 4) arrays a, b, c.
    rotated = [
        conjugate_by_rotation(observable.factors[q], int(generator_of_qubit[q])) for q in range(n)
    ]
    ra = np.array([r[0] for r in rotated])
    rb = np.array([r[1] for r in rotated])
    rc = np.array([r[2] for r in rotated])
    # tr(beta.sigma / 2 * M_q(theta)) = beta . (a + b cos + c sin) per qubit.
    fa = np.einsum("kjqs,qs->kjq", beta, ra)
    fb = np.einsum("kjqs,qs->kjq", beta, rb)
    fc = np.einsum("kjqs,qs->kjq", beta, rc)

    rotated_qubits = np.flatnonzero(parameter_of_qubit >= 0)
    fixed_qubits = np.flatnonzero(parameter_of_qubit < 0)
    weights = term_weights * np.prod(fa[:, :, fixed_qubits], axis=2)
    order = rotated_qubits[np.argsort(parameter_of_qubit[rotated_qubits])]
    a, b, c = fa[:, :, order], fb[:, :, order], fc[:, :, order]

    # A factor with b = c = 0 is a constant: fold it into the weight, so that each term keeps only
    # its support (the parameters it depends on). Terms with empty support go into the offset.
    varying = (b != 0) | (c != 0)
    weights = weights * np.prod(np.where(varying, 1.0, a), axis=2)
    constant = ~np.any(varying, axis=2)
    offset = np.sum(np.where(constant, weights, 0.0), axis=1)
    terms = [(k, j) for k in range(m) for j in range(weights.shape[1]) if not constant[k, j]]
    width = max([sum(1 for kk, _ in terms if kk == k) for k in range(m)], default=0) or 1
    size = max([int(varying[k, j].sum()) for k, j in terms], default=0) or 1
    out_w = np.zeros((m, width))
    support = np.zeros((m, width, size), dtype=np.int64)
    out_a = np.ones((m, width, size))  # padding: factor 1 with zero derivative
    out_b = np.zeros((m, width, size))
    out_c = np.zeros((m, width, size))
    slot = np.zeros(m, dtype=np.int64)
    for k, j in terms:
        t = slot[k]
        slot[k] += 1
        members = np.flatnonzero(varying[k, j])
        out_w[k, t] = weights[k, j]
        support[k, t, : members.size] = members
        out_a[k, t, : members.size] = a[k, j, members]
        out_b[k, t, : members.size] = b[k, j, members]
        out_c[k, t, : members.size] = c[k, j, members]
    return ProductForm(
        num_parameters=p,
        offset=frozen_array(offset, np.float64),
        weights=frozen_array(out_w, np.float64),
        support=frozen_array(support, np.int64),
        a=frozen_array(out_a, np.float64),
        b=frozen_array(out_b, np.float64),
        c=frozen_array(out_c, np.float64),
        labels=frozen_array(dataset.labels, np.float64),
    )


def product_form_loss(form: ProductForm, theta: np.ndarray) -> np.ndarray:
    """Loss (R,) for theta (R, p) in plain NumPy with a fixed order of operations.

    Certificates stored in instance files are evaluated with this function rather than the
    optimized torch backend, so speeding up the backend never changes a frozen file's bytes.
    """
    theta = np.asarray(theta, dtype=np.float64)
    cos = np.cos(2.0 * theta)[:, form.support]
    sin = np.sin(2.0 * theta)[:, form.support]
    factors = form.a + form.b * cos + form.c * sin
    yhat = form.offset + np.sum(form.weights * np.prod(factors, axis=3), axis=2)
    return np.mean((yhat - form.labels) ** 2, axis=1)


def require_dense_single_term(form: ProductForm, purpose: str) -> None:
    """Raise UnsupportedStructureError unless every sample is one term over all parameters in order
    (the shape of encoded-feature instances), which `purpose` relies on."""
    p = form.num_parameters
    dense = form.weights.shape[1] == 1 and form.support.shape[2] == p
    if not dense or not np.array_equal(
        form.support, np.broadcast_to(np.arange(p), form.support.shape)
    ):
        raise UnsupportedStructureError(
            f"{purpose} needs one product term per sample over all parameters"
        )
