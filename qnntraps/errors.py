"""Typed errors that users can cause. Each message says what went wrong and what to do."""

from __future__ import annotations


class QnnTrapsError(Exception):
    """Base class of every error a user of qnntraps can cause."""


class InvalidInstanceIdError(QnnTrapsError, ValueError):
    """An instance ID does not follow the grammar ``family-pP[-variant]-vN``."""


class UnknownInstanceError(QnnTrapsError, KeyError):
    """A well-formed ID that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class InstanceFileError(QnnTrapsError):
    """An instance file cannot be trusted or read."""


class MissingFileError(InstanceFileError, FileNotFoundError):
    """The registry lists an instance whose file is not on disk."""


class ChecksumMismatchError(InstanceFileError):
    """The file's sha256 differs from the registry: it was modified, truncated or replaced."""


class CorruptFileError(InstanceFileError):
    """The file is not HDF5, or is HDF5 but not a well-formed qnntraps instance."""


class UnsupportedFormatError(InstanceFileError):
    """The file's format version is not one this package can read."""


class ForbiddenObjectError(CorruptFileError):
    """The file holds an HDF5 object or feature the format does not define.

    External or soft links, external raw storage, virtual datasets, filters (compression),
    chunked storage, variable-length or reference types, extra groups, datasets or attributes.
    """


class LimitExceededError(CorruptFileError):
    """A declared size (file, dataset shape, string, count) exceeds the reader's stated limits."""


class InvalidValueError(CorruptFileError):
    """A stored value is outside its domain: NaN, a Pauli code outside 0..3, epsilon > 1, ..."""


class CertificateError(CorruptFileError):
    """The certificate fails its re-check on open (L(theta*) != L*, bad tolerance or ladder)."""


class ReadTimeoutError(CorruptFileError):
    """Reading the file did not finish within the time limit (libhdf5 kept spinning on it)."""


class ReaderCrashedError(CorruptFileError):
    """The isolated reader process died while parsing the file (libhdf5 crashed on it)."""


class RegistryError(QnnTrapsError):
    """The registry file is missing or malformed: not UTF-8 JSON, wrong types, duplicate IDs or
    files, or a file name that is not a plain name inside the data folder."""


class UnsupportedStructureError(QnnTrapsError, ValueError):
    """A simulator was asked to evaluate an instance whose structure it does not handle."""


class ParameterShapeError(QnnTrapsError, ValueError):
    """Parameters passed to a loss have the wrong shape or are not finite."""
