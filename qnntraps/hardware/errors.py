"""Typed errors of the hardware track (docs/hardware.md)."""

from __future__ import annotations

from qnntraps.errors import QnnTrapsError


class HardwareError(QnnTrapsError):
    """Base class of the hardware track's errors."""


class HardwareConfigError(HardwareError, ValueError):
    """A hardware configuration file is missing, malformed, or asks for something not offered."""


class HardwareAccountError(HardwareError):
    """A real device was asked for, but no account or credentials for its provider exist."""


class UnsupportedHardwareInstanceError(HardwareError, ValueError):
    """The instance cannot be measured by the shot estimator (observable or gate structure)."""
