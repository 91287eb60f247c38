"""HDF5 instance format v1 (docs/format.md): write byte-reproducibly, read with typed errors.

The file holds only numbers and plain strings: no Python class or module names, operators as integer
Pauli codes plus coefficients, no timestamps, no creation-order tracking, so regenerating an instance
gives identical bytes. Writes go to a temporary file that is moved into place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import h5py
import numpy as np

from qnntraps.errors import CorruptFileError, UnsupportedFormatError
from qnntraps.instance import (
    Ansatz,
    Certificate,
    Dataset,
    EncodedFeatures,
    Instance,
    PauliMixtureStates,
    PauliSumObservable,
    ProductObservable,
    Provenance,
)

FORMAT_NAME = "qnntraps-instance"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    group.create_dataset(name, data=np.ascontiguousarray(data), track_times=False)


def _write_contents(f: h5py.File, instance: Instance) -> None:
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = np.int64(FORMAT_VERSION)
    f.attrs["id"] = instance.id
    f.attrs["num_qubits"] = np.int64(instance.num_qubits)
    f.attrs["num_parameters"] = np.int64(instance.num_parameters)
    f.attrs["num_samples"] = np.int64(instance.num_samples)

    ansatz = f.create_group("ansatz")
    _dataset(ansatz, "generators", instance.ansatz.generators)
    _dataset(ansatz, "parameter_index", instance.ansatz.parameter_index)
    _dataset(ansatz, "fixed_angles", instance.ansatz.fixed_angles)

    observable = f.create_group("observable")
    if isinstance(instance.observable, ProductObservable):
        observable.attrs["form"] = "product"
        _dataset(observable, "factors", instance.observable.factors)
    else:
        observable.attrs["form"] = "pauli_sum"
        _dataset(observable, "pauli_codes", instance.observable.pauli_codes)
        _dataset(observable, "coefficients", instance.observable.coefficients)

    dataset = f.create_group("dataset")
    inputs = instance.dataset.inputs
    if isinstance(inputs, PauliMixtureStates):
        dataset.attrs["input_form"] = "pauli_mixture"
        _dataset(dataset, "pauli_codes", inputs.pauli_codes)
        _dataset(dataset, "epsilon", inputs.epsilon)
    else:
        dataset.attrs["input_form"] = "encoded_features"
        _dataset(dataset, "features", inputs.features)
    _dataset(dataset, "labels", instance.dataset.labels)
    if instance.dataset.noiseless_labels is not None:
        _dataset(dataset, "noiseless_labels", instance.dataset.noiseless_labels)

    cert = instance.certificate
    certificate = f.create_group("certificate")
    certificate.attrs["kind"] = cert.kind
    certificate.attrs["global_min_value"] = np.float64(cert.global_min_value)
    certificate.attrs["hit_tolerance"] = np.float64(cert.hit_tolerance)
    certificate.attrs["method"] = cert.method
    certificate.attrs["effort"] = cert.effort
    if cert.num_local_minima is not None:
        certificate.attrs["num_local_minima"] = np.int64(cert.num_local_minima)
    _dataset(certificate, "global_minimizer", cert.global_minimizer)
    for name in ("ladder_values", "ladder_counts", "planted_signs"):
        value = getattr(cert, name)
        if value is not None:
            _dataset(certificate, name, value)

    provenance = f.create_group("provenance")
    provenance.attrs["family"] = instance.provenance.family
    provenance.attrs["generator_version"] = np.int64(instance.provenance.generator_version)
    provenance.attrs["seed"] = np.uint64(instance.provenance.seed)
    parameters = provenance.create_group("parameters")
    for name, value in instance.provenance.parameters:
        # Seeds are 64-bit unsigned; other integers fit int64.
        if isinstance(value, int) and value >= 2**63:
            value = np.uint64(value)
        parameters.attrs[name] = value


def write_instance(instance: Instance, path: str | Path) -> None:
    """Write `instance` to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with h5py.File(temporary, "w", libver=("v110", "v110"), track_order=False) as f:
            _write_contents(f, instance)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; shipped data is world-readable
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def instance_bytes(instance: Instance) -> bytes:
    """The exact bytes `write_instance` would produce."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "instance.h5"
        write_instance(instance, path)
        return path.read_bytes()


def _scalar(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_contents(f: h5py.File) -> Instance:
    n = int(f.attrs["num_qubits"])
    p = int(f.attrs["num_parameters"])
    a = f["ansatz"]
    ansatz = Ansatz(n, p, a["generators"][()], a["parameter_index"][()], a["fixed_angles"][()])

    o = f["observable"]
    form = _scalar(o.attrs["form"])
    if form == "product":
        observable = ProductObservable(o["factors"][()])
    elif form == "pauli_sum":
        observable = PauliSumObservable(o["pauli_codes"][()], o["coefficients"][()])
    else:
        raise CorruptFileError(f"unknown observable form {form!r}")

    d = f["dataset"]
    input_form = _scalar(d.attrs["input_form"])
    if input_form == "pauli_mixture":
        inputs = PauliMixtureStates(d["pauli_codes"][()], d["epsilon"][()])
    elif input_form == "encoded_features":
        inputs = EncodedFeatures(d["features"][()])
    else:
        raise CorruptFileError(f"unknown input form {input_form!r}")
    noiseless = d["noiseless_labels"][()] if "noiseless_labels" in d else None
    dataset = Dataset(inputs, d["labels"][()], noiseless)

    c = f["certificate"]
    optional = {
        name: c[name][()]
        for name in ("ladder_values", "ladder_counts", "planted_signs")
        if name in c
    }
    certificate = Certificate(
        kind=_scalar(c.attrs["kind"]),
        global_min_value=float(c.attrs["global_min_value"]),
        global_minimizer=c["global_minimizer"][()],
        hit_tolerance=float(c.attrs["hit_tolerance"]),
        method=_scalar(c.attrs["method"]),
        effort=_scalar(c.attrs["effort"]),
        num_local_minima=int(c.attrs["num_local_minima"])
        if "num_local_minima" in c.attrs
        else None,
        **optional,
    )

    pv = f["provenance"]
    provenance = Provenance(
        family=_scalar(pv.attrs["family"]),
        generator_version=int(pv.attrs["generator_version"]),
        seed=int(pv.attrs["seed"]),
        parameters=tuple(sorted((k, _scalar(v)) for k, v in pv["parameters"].attrs.items())),
    )
    instance = Instance(
        _scalar(f.attrs["id"]), ansatz, observable, dataset, certificate, provenance
    )
    _check_shapes(instance)
    return instance


def _check_shapes(instance: Instance) -> None:
    n, p, m = instance.num_qubits, instance.num_parameters, instance.num_samples
    ansatz = instance.ansatz
    problems = []
    if ansatz.generators.ndim != 2 or ansatz.generators.shape[1] != n:
        problems.append("ansatz/generators is not (G, num_qubits)")
    if ansatz.parameter_index.shape != ansatz.generators.shape[:1]:
        problems.append("ansatz/parameter_index does not match the gates")
    elif ansatz.parameter_index.size and ansatz.parameter_index.max() >= p:
        problems.append("ansatz/parameter_index points past num_parameters")
    if ansatz.generators.size and (ansatz.generators.min() < 0 or ansatz.generators.max() > 3):
        problems.append("Pauli codes outside 0..3")
    if instance.certificate.global_minimizer.shape != (p,):
        problems.append("certificate/global_minimizer is not (num_parameters,)")
    inputs = instance.dataset.inputs
    rows = (
        inputs.pauli_codes.shape[0]
        if isinstance(inputs, PauliMixtureStates)
        else inputs.features.shape[0]
    )
    if rows != m:
        problems.append("dataset inputs and labels differ in length")
    if problems:
        raise CorruptFileError("; ".join(problems))


def read_instance(path: str | Path) -> Instance:
    """Read an instance file; raises CorruptFileError or UnsupportedFormatError saying what is wrong."""
    path = Path(path)
    with open(path, "rb") as handle:
        head = handle.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE:
        raise CorruptFileError(
            f"{path} is not an HDF5 file (bad signature); re-install or restore it"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise CorruptFileError(
            f"{path} is damaged or truncated HDF5 ({error}); restore it"
        ) from error
    with f:
        name = _scalar(f.attrs.get("format", ""))
        if name != FORMAT_NAME:
            raise CorruptFileError(f"{path} is HDF5 but not a qnntraps instance (format {name!r})")
        version = f.attrs.get("format_version")
        if (
            not isinstance(version, np.integer | int)
            or int(version) not in SUPPORTED_FORMAT_VERSIONS
        ):
            raise UnsupportedFormatError(
                f"{path} has format version {_scalar(version)!r}; this qnntraps reads "
                f"{SUPPORTED_FORMAT_VERSIONS}: upgrade qnntraps to read it"
            )
        try:
            return _read_contents(f)
        except (KeyError, OSError, ValueError, TypeError) as error:
            raise CorruptFileError(f"{path} is a malformed qnntraps instance: {error}") from error
