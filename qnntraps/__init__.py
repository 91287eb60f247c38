"""qnntraps: provably hard quantum-neural-network training instances with certified global minima.

import qnntraps
instance = qnntraps.load("construction-p8-v1")
instance.loss(theta)              # exact mean square loss
instance.certificate.global_min_value
qnntraps.reference_rates(instance)  # 2^-p and, on `construction`, gradient flow's q^p
run = qnntraps.run("adam", "construction-p8-v1", restarts=1000, out="runs")   # scored restarts
run.hits, run.hit_rate, run.interval, run.folder
print(qnntraps.report("runs").table)   # every run under a folder; figures written there
result = qnntraps.bench("adam", "quick-v1", "runs/quick-v1/adam")   # a suite, sealed, scored
result.score.value, result.table()
qnntraps.build_submission("runs/quick-v1/adam", "board/submissions/adam.json")  # the leaderboard
qnntraps.verify("board/submissions/adam.json", sample=20)   # = verify_submission
qnntraps.render_leaderboard("board")
"""

from qnntraps import numerics as _numerics

_numerics.pin()  # before numpy, scipy or torch load: the same kernels on every AVX2 machine

from qnntraps.certificates.reference_rates import (  # noqa: E402
    NoClosedFormError,
    ReferenceRates,
    reference_rates,
)
from qnntraps.errors import QnnTrapsError  # noqa: E402
from qnntraps.instance import Certificate, Instance  # noqa: E402
from qnntraps.registry import RegistryEntry, list_instances, load  # noqa: E402

__all__ = [
    "BenchResult",
    "Report",
    "RunResult",
    "Certificate",
    "Instance",
    "NoClosedFormError",
    "QnnTrapsError",
    "ReferenceRates",
    "RegistryEntry",
    "Suite",
    "bench",
    "build_submission",
    "list_instances",
    "load",
    "load_suite",
    "reference_rates",
    "render_leaderboard",
    "report",
    "run",
    "suite_ids",
    "verify",
    "verify_submission",
]
__version__ = "0.1.0"

_LAZY = {
    "run": "qnntraps.harness.api",
    "RunResult": "qnntraps.harness.api",
    "report": "qnntraps.harness.api",
    "Report": "qnntraps.harness.api",
    "verify": "qnntraps.leaderboard.verify",
    "bench": "qnntraps.suites.bench",
    "BenchResult": "qnntraps.suites.bench",
    "Suite": "qnntraps.suites.definitions",
    "load_suite": "qnntraps.suites.definitions",
    "suite_ids": "qnntraps.suites.definitions",
    "build_submission": "qnntraps.leaderboard.submission",
    "verify_submission": "qnntraps.leaderboard.verify",
    "render_leaderboard": "qnntraps.leaderboard.render",
}


def __getattr__(name: str):
    """The run, report, suite and leaderboard API, imported on first use: they need torch,
    which `import qnntraps` does not."""
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        return getattr(module, "verify_submission" if name == "verify" else name)
    raise AttributeError(f"module 'qnntraps' has no attribute {name!r}")
