"""The parts of an instance as plain frozen data (docs/format.md): circuit, observable, inputs,
dataset, certificate, provenance. Nothing here evaluates anything; the simulators do."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

CERTIFICATE_KINDS = (
    "analytic",
    "enumerated",
    "branch-and-bound",
    "best-known",
    "spectral",
    "planted",
)
# Kinds whose ladder lists minima (every one in a period, counted once each) and kinds whose
# ladder lists where a multistart's starts ended (counted per start): docs/format.md.
COMPLETE_LADDER_KINDS = ("analytic", "enumerated")
MULTISTART_KINDS = ("branch-and-bound", "best-known")
# Kinds whose L* is proved by a bound the loss cannot go below, attained at the stored theta*.
BOUND_KINDS = ("spectral", "planted")


def frozen_array(values, dtype) -> np.ndarray:
    """A read-only copy, so that frozen dataclasses stay frozen."""
    array = np.array(values, dtype=dtype, copy=True)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Ansatz:
    """U(theta) = V_{G-1} ... V_0 with V_g = exp(-i alpha_g H_g), H_g a Pauli string.

    alpha_g = theta[parameter_index[g]] for a parameterized gate, fixed_angles[g] for a fixed one
    (parameter_index[g] = -1). Fixed Clifford gates are Pauli rotations up to a global phase,
    which no expectation value sees, so this vocabulary is closed and complete for our families.
    """

    num_qubits: int
    num_parameters: int
    generators: np.ndarray  # (G, n) int8 Pauli codes
    parameter_index: np.ndarray  # (G,) int64, -1 for fixed gates
    fixed_angles: np.ndarray  # (G,) float64, 0 for parameterized gates

    def __post_init__(self) -> None:
        object.__setattr__(self, "generators", frozen_array(self.generators, np.int8))
        object.__setattr__(self, "parameter_index", frozen_array(self.parameter_index, np.int64))
        object.__setattr__(self, "fixed_angles", frozen_array(self.fixed_angles, np.float64))


@dataclass(frozen=True, eq=False)
class ProductObservable:
    """M = tensor_q (sum_a factors[q, a] sigma_a): kept in product form (2^n terms otherwise)."""

    factors: np.ndarray  # (n, 4) float64

    def __post_init__(self) -> None:
        object.__setattr__(self, "factors", frozen_array(self.factors, np.float64))


@dataclass(frozen=True, eq=False)
class PauliSumObservable:
    """M = sum_k coefficients[k] P_k with P_k given by integer Pauli codes."""

    pauli_codes: np.ndarray  # (K, n) int8
    coefficients: np.ndarray  # (K,) float64

    def __post_init__(self) -> None:
        object.__setattr__(self, "pauli_codes", frozen_array(self.pauli_codes, np.int8))
        object.__setattr__(self, "coefficients", frozen_array(self.coefficients, np.float64))


Observable = ProductObservable | PauliSumObservable


@dataclass(frozen=True, eq=False)
class PauliMixtureStates:
    """Input states rho_k = (I + epsilon_k P_k) / 2^n, P_k a Pauli string, 0 < epsilon_k <= 1."""

    pauli_codes: np.ndarray  # (m, n) int8
    epsilon: np.ndarray  # (m,) float64

    def __post_init__(self) -> None:
        object.__setattr__(self, "pauli_codes", frozen_array(self.pauli_codes, np.int8))
        object.__setattr__(self, "epsilon", frozen_array(self.epsilon, np.float64))


@dataclass(frozen=True, eq=False)
class EncodedFeatures:
    """Classical features x in [0, 2pi)^{2n}; qubit q is prepared as RY(x[2q+1]) RX(x[2q]) |0>.

    RX(phi) = exp(-i phi X / 2) and RY(phi) = exp(-i phi Y / 2) (the SDK convention).
    """

    features: np.ndarray  # (m, 2n) float64

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", frozen_array(self.features, np.float64))


Inputs = PauliMixtureStates | EncodedFeatures


LOSS_FORMS = ("square", "expectation")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Inputs with their labels, and the form of the loss built from them.

    ``square``: L(theta) = (1/m) sum_k (y_hat_k - y_k)^2. ``expectation``: L(theta) =
    (1/m) sum_k y_k y_hat_k, the labels weighting each input's expectation value (the
    barren-plateau family: one input |0...0>, y = 1, L = <M>). `noiseless_labels` is set for
    label-noise variants.
    """

    inputs: Inputs
    labels: np.ndarray  # (m,) float64
    noiseless_labels: np.ndarray | None = None
    loss: str = "square"

    def __post_init__(self) -> None:
        if self.loss not in LOSS_FORMS:
            raise ValueError(f"loss form {self.loss!r} not in {LOSS_FORMS}")
        object.__setattr__(self, "labels", frozen_array(self.labels, np.float64))
        if self.noiseless_labels is not None:
            object.__setattr__(
                self, "noiseless_labels", frozen_array(self.noiseless_labels, np.float64)
            )

    @property
    def num_samples(self) -> int:
        return int(self.labels.shape[0])


GRADIENT_VARIANCE_METHODS = ("exact", "sampled")


@dataclass(frozen=True, eq=False)
class GradientVariance:
    """Var[dL/dtheta_0] over theta uniform on [0, 2pi)^p (the gradient's mean is 0).

    ``exact``: computed by propagating second moments over Pauli strings (docs/barren_plateau.md);
    `by_depth[d]` is the exact variance of the same circuit cut after d + 1 layers, so its last
    entry is `value`. ``sampled``: the mean of `samples` squared gradients at independent
    uniform points, with a 95% confidence interval [`low`, `high`]; no `by_depth`.
    """

    value: float
    method: str
    low: float | None = None
    high: float | None = None
    samples: int | None = None
    by_depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.method not in GRADIENT_VARIANCE_METHODS:
            raise ValueError(
                f"gradient variance method {self.method!r} not in {GRADIENT_VARIANCE_METHODS}"
            )
        sampled = (self.low, self.high, self.samples)
        if (self.method == "sampled") != all(v is not None for v in sampled) or (
            self.method == "exact" and any(v is not None for v in sampled)
        ):
            raise ValueError("low, high and samples come with a sampled variance, and only then")
        if self.by_depth is not None:
            if self.method != "exact":
                raise ValueError("by_depth comes with an exact variance only")
            object.__setattr__(self, "by_depth", frozen_array(self.by_depth, np.float64))


@dataclass(frozen=True, eq=False)
class Certificate:
    """What is known about the global minimum, and exactly what each field holds per `kind`.

    A restart hits when L(theta_final) - global_min_value <= hit_tolerance. In every kind
    `global_minimizer` is one point theta* with L(theta*) = global_min_value (re-checked when a
    file is read), and `method`/`effort` say how the certificate was obtained and at what cost.

    - ``analytic`` (construction families, noise-free labels): L* = 0 is proved in closed form.
      `num_local_minima` is the number of local minima in one period [0, pi)^p (2^p, proved).
      `ladder_values` lists every distinct local-minimum value in that period, ascending, and
      `ladder_counts[i]` how many local minima have value `ladder_values[i]` (they add up to
      `num_local_minima`). The ladder is absent on `gpu-scale` instances (p > 32): not
      enumerated there; the tolerance is then half the least possible spurious value.
    - ``enumerated`` (label-noise variants): the ladder lists the values of the 2^p refined vertex
      minima (distinct strict local minima, each checked: gradient, Hessian, own vertex cell),
      rounded to 15 decimals, and `ladder_counts` how many of those minima have each value (they
      add up to `num_local_minima` = 2^p). That no other minimum exists is checked by multistarts,
      not proved.
    - ``branch-and-bound`` and ``best-known`` (the separable family): the ladder lists the
      distinct values (rounded to 1e-9) at which a stated multistart's starts ended in verified
      strict local minima, and `ladder_counts[i]` how many *starts* ended at `ladder_values[i]`
      (they add up to the number of verified starts, stated in `effort`). It is a lower bound on
      the set of minima, not the set: minima that no start reached are missing (separable-p6-v1
      has strict minima at 1.00770324, 1.21904067 and 2.74025061 that are not on its ladder).
      `num_local_minima` is None (not known). L* is the best value reached; ``branch-and-bound``
      adds a proof that no point is more than 1e-9 below it, ``best-known`` has no such proof.

    - ``spectral`` (the barren-plateau family, expectation loss): L* = (1/m) sum_k y_k lambda_min(M)
      with every y_k > 0 is a lower bound on the loss (each y_hat_k >= lambda_min(M)), and
      `global_minimizer` attains it. No ladder; `num_local_minima` is None.
    - ``planted`` (the teacher-student family, square loss, labels 1, M a projector): the loss
      (y - 1)^2 is >= 0 and L* = 0 is attained at the planted `global_minimizer`. The optional
      ladder lists the values a stated multistart's starts converged to (0 for those that found
      theta*'s value, the spurious minima above it) and `ladder_counts` how many starts ended at
      each; `num_local_minima` is None.

    `planted_signs` is the planted sign vector sigma* of the construction families (else None).
    `gradient_variance`, where set, is the exact or sampled variance of dL/dtheta_0 over uniform
    theta (GradientVariance).
    `ladder_counts_unit`, `ladder_is_complete` and `ladder_description` say the above in code.
    """

    kind: str
    global_min_value: float
    global_minimizer: np.ndarray  # (p,) float64
    hit_tolerance: float
    method: str
    effort: str
    num_local_minima: int | None = None
    ladder_values: np.ndarray | None = None
    ladder_counts: np.ndarray | None = None
    planted_signs: np.ndarray | None = None
    gradient_variance: GradientVariance | None = None

    def __post_init__(self) -> None:
        if self.kind not in CERTIFICATE_KINDS:
            raise ValueError(f"certificate kind {self.kind!r} not in {CERTIFICATE_KINDS}")
        object.__setattr__(
            self, "global_minimizer", frozen_array(self.global_minimizer, np.float64)
        )
        for name, dtype in (
            ("ladder_values", np.float64),
            ("ladder_counts", np.int64),
            ("planted_signs", np.int8),
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, frozen_array(value, dtype))
        if (self.ladder_values is None) != (self.ladder_counts is None) or (
            self.ladder_values is not None and self.ladder_values.shape != self.ladder_counts.shape
        ):
            raise ValueError("ladder_values and ladder_counts come together, with one length")

    @property
    def ladder_counts_unit(self) -> str | None:
        """What `ladder_counts` counts: 'minima' (analytic, enumerated: local minima with that
        value), 'starts' (branch-and-bound, best-known: multistart starts that ended at that
        value), or None when there is no ladder."""
        if self.ladder_values is None:
            return None
        return "minima" if self.kind in COMPLETE_LADDER_KINDS else "starts"

    @property
    def ladder_is_complete(self) -> bool:
        """True when the ladder lists the value of every local minimum in one period (analytic;
        enumerated: every refined vertex minimum); False for a multistart's ladder (a lower bound
        on the set of minima) or when there is no ladder."""
        return self.ladder_values is not None and self.kind in COMPLETE_LADDER_KINDS

    @property
    def ladder_description(self) -> str:
        """One line saying what this certificate's ladder holds."""
        if self.ladder_values is None:
            return "no ladder stored (not enumerated)"
        if self.kind == "analytic":
            return "every local-minimum value in one period; counts = local minima per value"
        if self.kind == "enumerated":
            return "the values of the refined vertex minima; counts = minima per value"
        return (
            "values a multistart reached (a lower bound on the set of minima, not the set); "
            "counts = starts that ended at each value"
        )


@dataclass(frozen=True)
class Provenance:
    """Where an instance came from: enough to regenerate it bit for bit."""

    family: str
    generator_version: int
    seed: int
    parameters: tuple[tuple[str, int | float | str], ...] = field(default=())

    def parameter(self, name: str):
        return dict(self.parameters)[name]


class Model(Protocol):
    """What a simulator needs of an instance: its circuit, observable and dataset (an Instance
    is one; so is anything else with these three attributes)."""

    @property
    def ansatz(self) -> Ansatz: ...

    @property
    def observable(self) -> Observable: ...

    @property
    def dataset(self) -> Dataset: ...
