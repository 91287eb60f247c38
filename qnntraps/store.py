"""HDF5 instance format, versions 1 and 2 (docs/format.md): write byte-reproducibly, read only what cannot lie.

The file holds only numbers and plain strings: no Python class or module names, operators as integer
Pauli codes plus coefficients, no timestamps, no creation-order tracking, so regenerating an instance
gives identical bytes. Writes are atomic (`qnntraps.atomic`).

Reading happens in three steps, each refusing with a typed CorruptFileError subclass:
`qnntraps.hdf5_reader` checks the bytes and the HDF5 structure before reading any data,
`qnntraps.validation` checks every value and re-checks the certificate, and the first step runs in
a child process with a time limit (`qnntraps.sandbox`), because libhdf5 can spin forever on a
crafted file — unless the caller trusts the bytes (`qnntraps.load`, for files whose sha256 the
shipped registry pins).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

import h5py
import numpy as np

from qnntraps.atomic import atomic_path
from qnntraps.errors import CorruptFileError, LimitExceededError, MissingFileError
from qnntraps.hdf5_reader import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HDF5_SIGNATURE,
    LIMITS,
    SUPPORTED_FORMAT_VERSIONS,
    ReadLimits,
    read_raw,
)
from qnntraps.instance import BOUND_KINDS, Instance, PauliMixtureStates, ProductObservable
from qnntraps.validation import instance_from_raw

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HDF5_SIGNATURE",
    "SUPPORTED_FORMAT_VERSIONS",
    "instance_bytes",
    "read_file_bytes",
    "read_instance",
    "read_instance_bytes",
    "write_instance",
]


def _dataset(group: h5py.Group, name: str, data: np.ndarray) -> None:
    group.create_dataset(name, data=np.ascontiguousarray(data), track_times=False)


def format_version_for(instance: Instance) -> int:
    """The lowest format version that holds `instance`: 2 for the expectation loss, a spectral or
    planted certificate or a gradient variance; 1 otherwise (so that every version-1 file stays
    byte-identical when regenerated)."""
    cert = instance.certificate
    needs_2 = (
        instance.dataset.loss != "square"
        or cert.kind in BOUND_KINDS
        or cert.gradient_variance is not None
    )
    return 2 if needs_2 else 1


def _write_contents(f: h5py.File, instance: Instance) -> None:
    version = format_version_for(instance)
    f.attrs["format"] = FORMAT_NAME
    f.attrs["format_version"] = np.int64(version)
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
    if version >= 2:
        dataset.attrs["loss"] = instance.dataset.loss
    _dataset(dataset, "labels", instance.dataset.labels)
    if instance.dataset.noiseless_labels is not None:
        _dataset(dataset, "noiseless_labels", instance.dataset.noiseless_labels)

    cert = instance.certificate
    if cert.gradient_variance is None:
        certificate = f.create_group("certificate")
    else:
        # Up to 10 attributes: keep them in the object header (libhdf5 moves more than 8 into
        # dense storage, a fractal heap, which the format forbids). Only version-2 files with a
        # gradient variance are made this way, so every other file keeps its bytes.
        gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
        gcpl.set_attr_phase_change(16, 14)
        gcpl.set_obj_track_times(False)  # as create_group does: no timestamps
        name, lcpl = f._e("certificate", lcpl=True)  # the link as create_group makes it
        certificate = h5py.Group(h5py.h5g.create(f.id, name, lcpl=lcpl, gcpl=gcpl))
    certificate.attrs["kind"] = cert.kind
    certificate.attrs["global_min_value"] = np.float64(cert.global_min_value)
    certificate.attrs["hit_tolerance"] = np.float64(cert.hit_tolerance)
    certificate.attrs["method"] = cert.method
    certificate.attrs["effort"] = cert.effort
    if cert.num_local_minima is not None:
        certificate.attrs["num_local_minima"] = np.int64(cert.num_local_minima)
    variance = cert.gradient_variance
    if variance is not None:
        certificate.attrs["gradient_variance"] = np.float64(variance.value)
        certificate.attrs["gradient_variance_method"] = variance.method
        if variance.method == "sampled":
            certificate.attrs["gradient_variance_low"] = np.float64(variance.low)
            certificate.attrs["gradient_variance_high"] = np.float64(variance.high)
            certificate.attrs["gradient_variance_samples"] = np.int64(variance.samples)
    _dataset(certificate, "global_minimizer", cert.global_minimizer)
    for name in ("ladder_values", "ladder_counts", "planted_signs"):
        value = getattr(cert, name)
        if value is not None:
            _dataset(certificate, name, value)
    if variance is not None and variance.by_depth is not None:
        _dataset(certificate, "gradient_variance_by_depth", variance.by_depth)

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
    """Write `instance` to `path` atomically and durably (`qnntraps.atomic.atomic_path`)."""
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w", libver=("v110", "v110"), track_order=False) as f:
            _write_contents(f, instance)


def instance_bytes(instance: Instance) -> bytes:
    """The exact bytes `write_instance` would produce."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "instance.h5"
        write_instance(instance, path)
        return path.read_bytes()


@contextlib.contextmanager
def open_regular_file(path: Path):
    """Open `path` for binary reading without blocking (a FIFO or device must not hang us);
    yields None when it is not a regular file."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        yield None
        return
    with os.fdopen(descriptor, "rb") as handle:
        yield handle


def read_file_bytes(path: str | Path, limits: ReadLimits = LIMITS) -> bytes:
    """The bytes of a regular file of at most `limits.max_file_bytes`, read once."""
    path = Path(path)
    try:
        with open_regular_file(path) as handle:
            if handle is None:
                raise CorruptFileError(
                    f"{path} is not a regular file; point qnntraps at an instance file"
                )
            info = os.fstat(handle.fileno())
            if info.st_size > limits.max_file_bytes:
                raise LimitExceededError(
                    f"{path} is {info.st_size} bytes, above this reader's limit of "
                    f"{limits.max_file_bytes}; instance files are small: it is not one"
                )
            data = handle.read(limits.max_file_bytes + 1)
    except FileNotFoundError as error:
        raise MissingFileError(f"{path} does not exist; check the path or restore it") from error
    except IsADirectoryError as error:
        raise CorruptFileError(f"{path} is a folder, not an instance file") from error
    except OSError as error:
        raise CorruptFileError(f"{path} cannot be read ({error.strerror}); check it") from error
    if len(data) > limits.max_file_bytes:
        raise LimitExceededError(f"{path} grew beyond {limits.max_file_bytes} bytes while read")
    return data


def read_instance_bytes(
    data: bytes, name: str, *, isolate: bool = True, limits: ReadLimits = LIMITS
) -> Instance:
    """Check and read the bytes of an instance file (`name` is used in messages only).

    isolate=True (the default) runs the structural step in the isolated child process with a
    time limit; False runs it in this process, only for bytes you trust (`qnntraps.load` does so
    for bytes whose sha256 the shipped registry pins).
    """
    if isolate:
        from qnntraps.sandbox import shared_reader

        raw = shared_reader().read_raw(data, name, limits)
    else:
        raw = read_raw(data, name, limits)
    return instance_from_raw(raw, name, limits)


def read_instance(
    path: str | Path, *, isolate: bool = True, limits: ReadLimits = LIMITS
) -> Instance:
    """Read an instance file; raises a typed CorruptFileError (or UnsupportedFormatError) saying
    what is wrong and what to do. See `read_instance_bytes` for `isolate`."""
    return read_instance_bytes(
        read_file_bytes(path, limits), str(path), isolate=isolate, limits=limits
    )
