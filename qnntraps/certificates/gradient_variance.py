"""The exact variance of a barren-plateau gradient over uniform angles, by second moments.

The circuit (docs/barren_plateau.md): RY(pi/4) on every qubit of |0...0>, then layers l = 1..L of
one rotation exp(-i theta P_(l,q)) per qubit q (P in {X, Y, Z}) followed by CZ(q, q+1) for
q = 0..n-2; the loss is <Z_0 Z_1>. We want Var_theta[dL/dtheta_(1,0)], theta uniform on [0, 2pi).

Write an operator in the Pauli basis, O = sum_Q c_Q Q. Conjugating by a rotation about P with a
uniform angle sends each Q that anticommutes with P to cos(2a) Q + sin(2a) (iPQ); averaging, the
squared weights move as a Markov step, w_Q, w_PQ -> (w_Q + w_PQ) / 2, and no cross terms appear
(E cos 2a = E sin 2a cos 2a = E cos 4a = 0). A CZ permutes Pauli strings up to sign. The
derivative at the rotation about P is i[P, O]: it sends each anticommuting Q to 2 (+-PQ) and
drops the rest, so squared weights go to 4 w_Q at PQ. The variance is sum_Q w_Q <psi0|Q|psi0>^2
with psi0 = RY(pi/4)^n |0>, whose squared one-qubit expectations are I: 1, X: 1/2, Y: 0, Z: 1/2
(the mean of the gradient is 0, the derivative of a periodic function averaged over a period).

Every map above is symmetric, so the chain can run from the state's side instead: start from the
squared expectations, apply the first layer (the rotation, the derivative, the other rotations,
the CZ ladder), then one layer after another, and read the weight of Z_0 Z_1 after each layer:
that is the exact variance of the circuit cut at every depth, in one pass. The weights are a
tensor with one axis for the X bit and one for the Z bit of each qubit (4^n entries: 128 MiB at
n = 12).
"""

from __future__ import annotations

import numpy as np

from qnntraps.pauli import X, Y, Z

MAX_EXACT_QUBITS = 13
# squared one-qubit expectation values in RY(pi/4)|0>, indexed [x bit, z bit]: I, Z / X, Y
INITIAL_SQUARES = np.array([[1.0, 0.5], [0.5, 0.0]])
# the two strings on a qubit that anticommute with each axis, as (x bit, z bit)
ANTICOMMUTING = {X: ((0, 1), (1, 1)), Y: ((1, 0), (0, 1)), Z: ((1, 0), (1, 1))}


def _view(weights: np.ndarray, qubit: int, n: int) -> np.ndarray:
    """(before, x bit, z bit, after) view of the weights for one qubit (axes 2q, 2q + 1)."""
    return weights.reshape(4**qubit, 2, 2, 4 ** (n - qubit - 1))


def _average(weights: np.ndarray, qubit: int, axis: int, n: int) -> None:
    """A uniformly random rotation about `axis` on `qubit`, in place."""
    view = _view(weights, qubit, n)
    (a0, a1), (b0, b1) = ANTICOMMUTING[axis]
    mean = 0.5 * (view[:, a0, a1, :] + view[:, b0, b1, :])
    view[:, a0, a1, :] = mean
    view[:, b0, b1, :] = mean


def _derivative(weights: np.ndarray, qubit: int, axis: int, n: int) -> None:
    """i[P, .] for P = `axis` on `qubit`, on squared weights, in place."""
    view = _view(weights, qubit, n)
    (a0, a1), (b0, b1) = ANTICOMMUTING[axis]
    first, second = view[:, a0, a1, :].copy(), view[:, b0, b1, :].copy()
    view[:, :, :, :] = 0.0
    view[:, a0, a1, :] = 4.0 * second
    view[:, b0, b1, :] = 4.0 * first


def _ladder_permutation(n: int) -> np.ndarray:
    """Flat index map of the CZ ladder on Pauli strings: z_q ^= x_(q-1) ^ x_(q+1)."""
    index = np.arange(4**n, dtype=np.int64)
    bits = [(index >> (2 * (n - 1 - q))) & 3 for q in range(n)]  # per qubit: 2 x + z
    out = np.zeros_like(index)
    for q in range(n):
        x = bits[q] >> 1
        z = bits[q] & 1
        for neighbour in (q - 1, q + 1):
            if 0 <= neighbour < n:
                z = z ^ (bits[neighbour] >> 1)
        out |= ((x << 1) | z) << (2 * (n - 1 - q))
    return out


def gradient_variance_by_depth(axes: np.ndarray, target_qubit: int = 0) -> np.ndarray:
    """Exact Var[dL/dtheta_(1, target_qubit)] for the circuit cut after each layer: (L,).

    `axes` is (L, n) of Pauli codes 1, 2, 3: the rotation axis of layer l on qubit q.
    """
    axes = np.asarray(axes)
    depth, n = axes.shape
    if n < 2 or n > MAX_EXACT_QUBITS:
        raise ValueError(f"the exact variance is computed for 2 <= n <= {MAX_EXACT_QUBITS}")
    weights = INITIAL_SQUARES.reshape(1, 2, 2)
    for _ in range(n - 1):
        weights = np.einsum("a,b->ab", weights.reshape(-1), INITIAL_SQUARES.reshape(-1))
    weights = np.ascontiguousarray(weights.reshape(-1))
    ladder = _ladder_permutation(n)
    readout = (1 << (2 * (n - 1))) | (1 << (2 * (n - 2)))  # z bits of qubits 0 and 1: Z0 Z1
    variances = np.empty(depth)
    for layer in range(depth):
        for q in range(n):
            _average(weights, q, int(axes[layer, q]), n)
            if layer == 0 and q == target_qubit:
                _derivative(weights, q, int(axes[layer, q]), n)
        weights = weights[ladder]
        variances[layer] = weights[readout]
    return variances
