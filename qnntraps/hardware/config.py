"""The hardware configuration: which provider, device, shots and seeds a hardware-track run uses.

A run on `--track hardware` reads one JSON file (`--hardware-config FILE`, docs/hardware.md).
Every setting that changes what the device does is written out in the file: nothing is left to a
provider's defaults, and a key that is missing or unknown is an error. The file's content goes
into the run's config.json, so a resume with a different configuration is refused.

    {"provider": "qiskit", "backend": "fake_guadalupe", "shots": 1000, "seed": 1234,
     "optimization_level": 1,
     "mitigation": {"resilience_level": 0, "dynamical_decoupling": false,
                    "twirling_gates": false, "twirling_measure": false},
     "account": null}

    {"provider": "cirq", "backend": "density_matrix", "shots": 1000, "seed": 1234,
     "noise": {"depolarize": 0.005, "readout_flip": 0.01}, "account": null}

    {"provider": "qnntraps", "backend": "ideal", "shots": 1000, "seed": 1234, "account": null}

The last is a noiseless device simulated by qnntraps itself: the exact event probabilities from
the instance's compiled CPU evaluator and binomial counts drawn from them, so only shot noise
remains (the curve of hit rate against qubits in docs/barren_plateau.md uses it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from qnntraps.hardware.errors import HardwareConfigError

PROVIDERS = ("qiskit", "cirq", "qnntraps")
# Qiskit: a backend named fake_* is a fake backend of qiskit-ibm-runtime, simulated locally by
# Aer with its noise model; any other name is a real IBM Quantum device.
QISKIT_FAKE_PREFIX = "fake_"
# Cirq: "density_matrix" is cirq.DensityMatrixSimulator with the file's noise model;
# "google:<processor id>" is a Google Quantum AI processor through cirq_google.
CIRQ_LOCAL = "density_matrix"
CIRQ_GOOGLE_PREFIX = "google:"
# qnntraps: "ideal" is a noiseless device, exact probabilities and binomial shots.
IDEAL = "ideal"
ACCOUNT_KEYS = {"qiskit": ("channel", "instance", "name"), "cirq": ("project_id",), "qnntraps": ()}
MITIGATION_KEYS = ("resilience_level", "dynamical_decoupling", "twirling_gates", "twirling_measure")
NOISE_KEYS = ("depolarize", "readout_flip")
MAX_SEED = 2**63


@dataclass(frozen=True)
class Mitigation:
    """Qiskit error-mitigation settings, all explicit.

    The estimator needs raw counts (binomial statistics), so resilience_level must be 0: readout
    mitigation, ZNE and PEC would change the estimator's statistics and are not offered.
    Dynamical decoupling and Pauli twirling leave the counts binomial; they exist only on IBM
    Runtime devices, so local fake backends need them false.
    """

    resilience_level: int
    dynamical_decoupling: bool
    twirling_gates: bool
    twirling_measure: bool

    def __post_init__(self):
        if self.resilience_level != 0 or isinstance(self.resilience_level, bool):
            raise HardwareConfigError(
                "mitigation.resilience_level must be 0: the shot estimator needs raw counts, and "
                "resilience levels 1-2 (readout mitigation, ZNE) change their statistics"
            )
        for name in MITIGATION_KEYS[1:]:
            if not isinstance(getattr(self, name), bool):
                raise HardwareConfigError(f"mitigation.{name} must be true or false")

    @property
    def any_enabled(self) -> bool:
        return self.dynamical_decoupling or self.twirling_gates or self.twirling_measure


@dataclass(frozen=True)
class CirqNoise:
    """Noise of the local Cirq simulator: a depolarizing channel of this probability on every
    qubit after every moment (as cirq.ConstantQubitNoiseModel), and a bit flip of probability
    readout_flip on every measured qubit just before it is measured."""

    depolarize: float
    readout_flip: float

    def __post_init__(self):
        for name in NOISE_KEYS:
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not (math.isfinite(value) and 0.0 <= value < 0.5)
            ):
                raise HardwareConfigError(f"noise.{name} must be a probability in [0, 0.5)")


@dataclass(frozen=True)
class HardwareConfig:
    """One hardware configuration (see the module docstring and docs/hardware.md)."""

    provider: str
    backend: str
    shots: int  # per circuit
    seed: int  # transpiler and simulator seed (and the per-restart shot seeds derive from it)
    optimization_level: int | None = None  # qiskit only
    mitigation: Mitigation | None = None  # qiskit only
    noise: CirqNoise | None = None  # cirq's local simulator only
    account: tuple[tuple[str, str], ...] = ()  # real devices only

    def __post_init__(self):
        if self.provider not in PROVIDERS:
            raise HardwareConfigError(
                f"provider must be one of {', '.join(PROVIDERS)}, not {self.provider!r}"
            )
        if not isinstance(self.backend, str) or not self.backend:
            raise HardwareConfigError("backend must be a non-empty string")
        if isinstance(self.shots, bool) or not isinstance(self.shots, int) or self.shots < 2:
            raise HardwareConfigError(
                "shots must be an integer >= 2 (the unbiased loss estimator needs two shots)"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise HardwareConfigError("seed must be an integer")
        if not 0 <= self.seed < MAX_SEED:
            raise HardwareConfigError(f"seed must lie in 0 .. 2^63 - 1, not {self.seed}")
        allowed = ACCOUNT_KEYS[self.provider]
        if self.account and not allowed:
            raise HardwareConfigError(
                f'the {self.provider} provider takes no account: "account": null'
            )
        for key, value in self.account:
            if key not in allowed or not isinstance(value, str):
                raise HardwareConfigError(
                    f"account keys for {self.provider} are {', '.join(allowed)} (strings); "
                    f"not {key!r}. Tokens never go in this file: save the account with the "
                    "provider's own tools (docs/hardware.md)"
                )
        if self.provider == "qiskit":
            self._check_qiskit()
        elif self.provider == "cirq":
            self._check_cirq()
        else:
            self._check_ideal()

    def _check_qiskit(self) -> None:
        level = self.optimization_level
        if isinstance(level, bool) or level not in (0, 1, 2, 3):
            raise HardwareConfigError("qiskit needs optimization_level 0, 1, 2 or 3")
        if self.mitigation is None:
            raise HardwareConfigError("qiskit needs the mitigation settings written out")
        if self.noise is not None:
            raise HardwareConfigError(
                "noise is for cirq; a qiskit fake backend brings its own noise model"
            )
        if self.is_local and self.mitigation.any_enabled:
            raise HardwareConfigError(
                "dynamical decoupling and twirling exist only on IBM Runtime devices: set them "
                f"false for the local fake backend {self.backend!r}"
            )
        if self.is_local and self.account:
            raise HardwareConfigError("a fake backend runs locally and takes no account")

    def _check_cirq(self) -> None:
        if self.optimization_level is not None or self.mitigation is not None:
            raise HardwareConfigError(
                "optimization_level and mitigation are qiskit settings: leave them out for cirq"
            )
        if self.backend == CIRQ_LOCAL:
            if self.noise is None:
                raise HardwareConfigError(
                    f"the cirq backend {CIRQ_LOCAL!r} needs its noise model written out "
                    '("noise": {"depolarize": P, "readout_flip": P}; zeros for none)'
                )
            if self.account:
                raise HardwareConfigError("the local cirq simulator takes no account")
        elif self.backend.startswith(CIRQ_GOOGLE_PREFIX):
            if self.noise is not None:
                raise HardwareConfigError("a real processor has its own noise: leave noise out")
            if not self.processor_id or "project_id" not in dict(self.account):
                raise HardwareConfigError(
                    'a Google processor needs "backend": "google:<processor id>" and '
                    '"account": {"project_id": "..."}'
                )
        else:
            raise HardwareConfigError(
                f"cirq backends are {CIRQ_LOCAL!r} (local, with a noise model) or "
                f"'{CIRQ_GOOGLE_PREFIX}<processor id>', not {self.backend!r}"
            )

    def _check_ideal(self) -> None:
        if self.backend != IDEAL:
            raise HardwareConfigError(
                f'the qnntraps provider has one backend, "{IDEAL}" (noiseless), not {self.backend!r}'
            )
        if self.optimization_level is not None or self.mitigation is not None or self.noise:
            raise HardwareConfigError(
                "the ideal device takes no optimization_level, mitigation or noise: leave them out"
            )

    @property
    def is_local(self) -> bool:
        """True for simulators on this machine (a qiskit fake backend, the cirq simulator, the
        ideal device)."""
        if self.provider == "qiskit":
            return self.backend.startswith(QISKIT_FAKE_PREFIX)
        if self.provider == "qnntraps":
            return True
        return self.backend == CIRQ_LOCAL

    @property
    def processor_id(self) -> str:
        return self.backend.removeprefix(CIRQ_GOOGLE_PREFIX)

    def as_dict(self) -> dict:
        """The JSON form (the same keys as the file)."""
        data: dict = {
            "provider": self.provider,
            "backend": self.backend,
            "shots": self.shots,
            "seed": self.seed,
        }
        if self.provider == "qiskit":
            data["optimization_level"] = self.optimization_level
            data["mitigation"] = {k: getattr(self.mitigation, k) for k in MITIGATION_KEYS}
        if self.noise is not None:
            data["noise"] = {k: getattr(self.noise, k) for k in NOISE_KEYS}
        data["account"] = dict(self.account) if self.account else None
        return data


def config_from_dict(data) -> HardwareConfig:
    """Validate a parsed JSON object; every key the provider uses must be present."""
    if not isinstance(data, dict):
        raise HardwareConfigError("a hardware configuration is a JSON object")
    provider = data.get("provider")
    if provider not in PROVIDERS:
        raise HardwareConfigError(
            f'"provider" must be one of {", ".join(PROVIDERS)}, not {provider!r}'
        )
    required = ["provider", "backend", "shots", "seed", "account"]
    if provider == "qiskit":
        required += ["optimization_level", "mitigation"]
    elif data.get("backend") == CIRQ_LOCAL:
        required += ["noise"]
    missing = [key for key in required if key not in data]
    unknown = sorted(set(data) - set(required))
    if missing:
        raise HardwareConfigError(
            f"hardware configuration for {provider} lacks {', '.join(missing)}: every setting "
            "is written out explicitly (use null for no account; see docs/hardware.md)"
        )
    if unknown:
        raise HardwareConfigError(
            f"unknown keys in the hardware configuration for {provider}: {', '.join(unknown)}"
        )
    return HardwareConfig(
        provider=provider,
        backend=data["backend"],
        shots=data["shots"],
        seed=data["seed"],
        optimization_level=data.get("optimization_level"),
        mitigation=_section(data, "mitigation", MITIGATION_KEYS, Mitigation),
        noise=_section(data, "noise", NOISE_KEYS, CirqNoise),
        account=_account(data["account"]),
    )


def load_hardware_config(path: str | Path) -> HardwareConfig:
    """Read and validate a hardware configuration file."""
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as error:
        raise HardwareConfigError(f"cannot read hardware configuration {path}: {error}") from None
    except UnicodeDecodeError:
        raise HardwareConfigError(
            f"{path} is not UTF-8 text: give a JSON hardware configuration (docs/hardware.md)"
        ) from None
    except (json.JSONDecodeError, RecursionError) as error:
        raise HardwareConfigError(f"{path} is not JSON: {error}") from None
    return config_from_dict(data)


def _section(data: dict, name: str, keys: tuple[str, ...], kind):
    if name not in data:
        return None
    section = data[name]
    if not isinstance(section, dict) or set(section) != set(keys):
        raise HardwareConfigError(f'"{name}" must be an object with exactly the keys {keys}')
    return kind(**section)


def _account(value) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise HardwareConfigError('"account" must be null or an object')
    return tuple(sorted(value.items()))
