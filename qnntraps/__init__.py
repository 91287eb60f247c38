"""qnntraps: provably hard quantum-neural-network training instances with certified global minima.

import qnntraps
instance = qnntraps.load("construction-p8-v1")
instance.loss(theta)              # exact mean square loss
instance.certificate.global_min_value
"""

from qnntraps.errors import QnnTrapsError
from qnntraps.instance import Certificate, Instance
from qnntraps.registry import RegistryEntry, list_instances, load

__all__ = ["Certificate", "Instance", "QnnTrapsError", "RegistryEntry", "list_instances", "load"]
__version__ = "0.1.0"
