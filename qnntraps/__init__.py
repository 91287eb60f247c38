"""qnntraps: provably hard quantum-neural-network training instances with certified global minima.

import qnntraps
instance = qnntraps.load("construction-p8-v1")
instance.loss(theta)              # exact mean square loss
instance.certificate.global_min_value
qnntraps.reference_rates(instance)  # 2^-p and, on `construction`, gradient flow's q^p
"""

from qnntraps.certificates.reference_rates import (
    NoClosedFormError,
    ReferenceRates,
    reference_rates,
)
from qnntraps.errors import QnnTrapsError
from qnntraps.instance import Certificate, Instance
from qnntraps.registry import RegistryEntry, list_instances, load

__all__ = [
    "Certificate",
    "Instance",
    "NoClosedFormError",
    "QnnTrapsError",
    "ReferenceRates",
    "RegistryEntry",
    "list_instances",
    "load",
    "reference_rates",
]
__version__ = "0.1.0"
