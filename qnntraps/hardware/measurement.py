"""Which single measurement setting estimates an instance's observable, and the event it counts.

The shot estimator (estimator.py) needs the prediction y = <M> to be affine in the probability
q of one event of one measurement setting: y = offset + slope * q. Two shapes of M give that:

- a product of projectors, M = C (x)_{l in S} (I + s_l P_l) / 2 (identity on the other qubits),
  with P_l in {X, Y, Z} and s_l = +-1 (ProductObservable factors a_l (I + s_l P_l) or a_l I).
  Measure each qubit of S in its P_l basis; the event is "every qubit l of S reads s_l";
  y = C q with C = prod_l 2 a_l over S times prod_l a_l over the rest. The classical-encoding
  and construction families have M = (x)_l (I + Y_l): C = 2^n, every qubit read in the Y basis.
- one Pauli string and a constant, M = a P + b I (a PauliSumObservable with one non-identity
  term; the barren-plateau family has M = Z_0 Z_1). Measure each qubit of P's support in its
  letter's basis; the event is "the support's bits have even parity" (P reads +1, probability
  q = (1 + <P>) / 2), so y = (b - a) + 2 a q.

Anything else (several non-commuting terms, factors that are not projectors) would need several
settings or several events per shot; `measurement_for` refuses it with a typed error.

Every data qubit is measured; bits read 0 for the +1 eigenvalue of the measured Pauli.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnntraps.hardware.errors import UnsupportedHardwareInstanceError
from qnntraps.instance import Instance
from qnntraps.model import PauliSumObservable, ProductObservable
from qnntraps.pauli import PAULI_LETTERS

EVENTS = ("all", "parity")


@dataclass(frozen=True)
class Measurement:
    """One setting: `bases[l]` in "XYZ" (or "I": read in Z, ignored) for data qubit l; the
    counted event ("all": every qubit of the support reads its `targets` bit; "parity": the
    support's bits have even parity); y = offset + slope * q; the loss form of the dataset."""

    bases: str
    targets: tuple[int, ...]
    event: str
    offset: float
    slope: float
    loss: str

    def __post_init__(self) -> None:
        if self.event not in EVENTS or set(self.bases) - set("IXYZ"):
            raise ValueError(f"not a measurement: event {self.event!r}, bases {self.bases!r}")
        if len(self.targets) != len(self.bases) or set(self.targets) - {0, 1}:
            raise ValueError("one target bit (0 or 1) per measured qubit")

    @property
    def num_qubits(self) -> int:
        return len(self.bases)

    @property
    def support(self) -> np.ndarray:
        """The data qubits whose bits enter the event."""
        return np.array([q for q, letter in enumerate(self.bases) if letter != "I"], dtype=int)

    def count(self, bits: np.ndarray) -> np.ndarray:
        """Shots in which the event happened: bits (..., shots, n) of 0/1, bit l = data qubit l."""
        bits = np.asarray(bits, dtype=bool)[..., self.support]
        if self.event == "all":
            targets = np.array(self.targets, dtype=bool)[self.support]
            happened = np.all(bits == targets, axis=-1)
        else:
            happened = np.count_nonzero(bits, axis=-1) % 2 == 0
        return np.count_nonzero(happened, axis=-1).astype(np.int64)

    def event_weights(self, read_zero: list[tuple[float, float]]) -> np.ndarray:
        """w[b] = P(the event is read | the data qubits' true bits b), b little-endian over the
        data qubits; read_zero[l] = (P(qubit l reads 0 | 0), P(reads 0 | 1)) (readout errors,
        independent per qubit)."""
        if len(read_zero) != self.num_qubits:
            raise ValueError("one readout pair per data qubit")
        factors = []
        for q, (zero_given_zero, zero_given_one) in enumerate(read_zero):
            if self.bases[q] == "I":
                factors.append(np.ones(2))
            elif self.event == "all":
                read = np.array([zero_given_zero, zero_given_one])
                factors.append(read if self.targets[q] == 0 else 1.0 - read)
            else:  # E[(-1)^read | b] = P(read 0 | b) - P(read 1 | b)
                factors.append(2.0 * np.array([zero_given_zero, zero_given_one]) - 1.0)
        weights = np.ones(1)
        for factor in factors:
            weights = np.kron(factor, weights)
        return weights if self.event == "all" else (1.0 + weights) / 2.0

    def as_dict(self) -> dict:
        """The JSON form written into hardware.json's device facts."""
        return {
            "bases": self.bases,
            "event": self.event,
            "targets": list(self.targets),
            "offset": self.offset,
            "slope": self.slope,
            "loss": self.loss,
        }

    def predictions(self, probabilities) -> np.ndarray:
        """y = offset + slope * q from the event probabilities q."""
        return self.offset + self.slope * np.asarray(probabilities, dtype=np.float64)

    def probabilities(self, predictions) -> np.ndarray:
        """q = (y - offset) / slope, clipped to [0, 1] (rounding of an exact y)."""
        q = (np.asarray(predictions, dtype=np.float64) - self.offset) / self.slope
        return np.clip(q, 0.0, 1.0)


def measurement_for(instance: Instance) -> Measurement:
    """The setting and event that estimate the instance's observable (typed error if none)."""
    observable = instance.observable
    loss = instance.dataset.loss
    if isinstance(observable, ProductObservable):
        return _product_measurement(instance.id, observable, loss)
    if isinstance(observable, PauliSumObservable):
        return _pauli_measurement(instance.id, observable, loss)
    raise UnsupportedHardwareInstanceError(
        f"{instance.id}: the hardware track cannot measure a {type(observable).__name__}"
    )


def _product_measurement(name: str, observable: ProductObservable, loss: str) -> Measurement:
    bases, targets, scale = [], [], 1.0
    for q, factor in enumerate(observable.factors):
        a, paulis = float(factor[0]), np.flatnonzero(factor[1:]) + 1
        if paulis.size == 0:
            bases.append("I"), targets.append(0)
            scale *= a
            continue
        code = int(paulis[0])
        b = float(factor[code])
        if paulis.size > 1 or a == 0.0 or abs(b) != abs(a):
            raise UnsupportedHardwareInstanceError(
                f"{name}: the hardware track measures products of projectors a (I +- P) with one "
                f"setting; qubit {q}'s factor {factor.tolist()} (I, X, Y, Z) is not one"
            )
        bases.append(PAULI_LETTERS[code]), targets.append(0 if b == a else 1)
        scale *= 2.0 * a
    if set(bases) == {"I"}:
        raise UnsupportedHardwareInstanceError(f"{name}: the observable is a constant")
    return Measurement("".join(bases), tuple(targets), "all", 0.0, scale, loss)


def _pauli_measurement(name: str, observable: PauliSumObservable, loss: str) -> Measurement:
    codes, coefficients = observable.pauli_codes, observable.coefficients
    keep = coefficients != 0.0
    identity = keep & ~codes.any(axis=1)
    terms = np.flatnonzero(keep & codes.any(axis=1))
    if terms.size != 1:
        raise UnsupportedHardwareInstanceError(
            f"{name}: the hardware track measures one Pauli string (and a constant) with one "
            f"setting; this observable has {terms.size} non-identity terms"
        )
    a, b = float(coefficients[terms[0]]), float(coefficients[identity].sum())
    bases = "".join(PAULI_LETTERS[int(c)] for c in codes[terms[0]])
    return Measurement(bases, (0,) * len(bases), "parity", b - a, 2.0 * a, loss)
