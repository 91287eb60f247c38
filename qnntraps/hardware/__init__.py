"""The hardware track: shot-based, noisy loss and gradients through Qiskit and Cirq backends.

    from qnntraps.hardware import load_hardware_config
    config = load_hardware_config("fake_guadalupe.json")
    # qnntraps run --track hardware --hardware-config FILE --budget shots=N ...

The SDKs (`pip install 'qnntraps[hardware]'`) are imported only when a backend is opened, so
`import qnntraps.hardware` works without them. See docs/hardware.md.
"""

from __future__ import annotations

from qnntraps.hardware.config import (
    CirqNoise,
    HardwareConfig,
    Mitigation,
    config_from_dict,
    load_hardware_config,
)
from qnntraps.hardware.errors import (
    HardwareAccountError,
    HardwareConfigError,
    HardwareError,
    UnsupportedHardwareInstanceError,
)

__all__ = [
    "CirqNoise",
    "HardwareAccountError",
    "HardwareConfig",
    "HardwareConfigError",
    "HardwareError",
    "Mitigation",
    "UnsupportedHardwareInstanceError",
    "config_from_dict",
    "load_hardware_config",
]
