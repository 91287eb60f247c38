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


class RegistryError(QnnTrapsError):
    """The registry file is missing or malformed."""


class UnsupportedStructureError(QnnTrapsError, ValueError):
    """A simulator was asked to evaluate an instance whose structure it does not handle."""


class ParameterShapeError(QnnTrapsError, ValueError):
    """Parameters passed to a loss have the wrong shape or are not finite."""
