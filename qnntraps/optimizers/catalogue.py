"""Finding an optimizer by name: built-ins, `qnntraps.optimizers` entry points, module:callable.

An OptimizerSpec says which adapter runs it (qnntraps/optimizers/adapters.py), its documented
default hyper-parameters and its default budget. A third-party package registers one with

    [project.entry-points."qnntraps.optimizers"]
    my-method = "my_package.module:SPEC"      # an OptimizerSpec, or a factory (kind inferred)
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from qnntraps.errors import QnnTrapsError
from qnntraps.harness.budget import Budget
from qnntraps.optimizers.adapters import KINDS

ENTRY_POINT_GROUP = "qnntraps.optimizers"


class OptimizerSpecError(QnnTrapsError, ValueError):
    """An optimizer name, kind or hyper-parameter that cannot be used."""


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    kind: str  # one of adapters.KINDS
    factory: Callable
    defaults: tuple[tuple[str, object], ...] = ()
    budget: Budget = field(default_factory=lambda: Budget(grad_evals=1000))
    summary: str = ""
    open_hyperparameters: bool = False  # True: pass unknown keys through (third-party factories)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise OptimizerSpecError(f"optimizer kind {self.kind!r} is not one of {KINDS}")

    def hyperparameters(self, overrides: dict | None = None) -> dict:
        """Defaults updated by overrides; unknown names are an error for built-ins."""
        values = dict(self.defaults)
        for key, value in (overrides or {}).items():
            if key not in values and not self.open_hyperparameters:
                known = ", ".join(sorted(values)) or "none"
                raise OptimizerSpecError(
                    f"optimizer {self.name!r} has no hyper-parameter {key!r} (it has: {known})"
                )
            values[key] = value
        return values


def _lbfgs(**hyper):
    from qnntraps.optimizers.lbfgs import LBFGS

    return LBFGS(**hyper)


def _spsa(**hyper):
    from qnntraps.optimizers.spsa import SPSA

    return SPSA(**hyper)


def _smo(**hyper):
    from qnntraps.optimizers.smo import SequentialMinimalOptimizer

    return SequentialMinimalOptimizer(**hyper)


def _scipy(name: str):
    def minimize(fun, x0, jac=None, **hyper):
        from qnntraps.optimizers import scipy_methods

        return getattr(scipy_methods, name)(fun, x0, jac, **hyper)

    return minimize


def _basin_hopping(fun, x0, jac=None, rng=None, **hyper):
    from qnntraps.optimizers.scipy_methods import basin_hopping

    return basin_hopping(fun, x0, jac, rng, **hyper)


def _cmaes(x0, rng, **hyper):
    from qnntraps.optimizers.cmaes import CMAES

    return CMAES(x0, rng, **hyper)


BUILTINS: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        OptimizerSpec(
            "adam", "torch", torch.optim.Adam,
            (("lr", 0.01), ("betas", (0.9, 0.999)), ("eps", 1e-8), ("gtol", 1e-8)),
            Budget(grad_evals=2000), "torch.optim.Adam on the batch of restarts",
        ),
        OptimizerSpec(
            "rmsprop", "torch", torch.optim.RMSprop,
            (("lr", 0.01), ("alpha", 0.99), ("eps", 1e-8), ("gtol", 1e-8)),
            Budget(grad_evals=2000), "torch.optim.RMSprop on the batch of restarts",
        ),
        OptimizerSpec(
            "sgd", "torch", torch.optim.SGD,
            (("lr", 0.1), ("momentum", 0.0), ("gtol", 1e-8)),
            Budget(grad_evals=2000), "torch.optim.SGD (plain gradient descent) on the batch",
        ),
        OptimizerSpec(
            "lbfgs", "batched", _lbfgs,
            (("memory", 10), ("gtol", 1e-8), ("ftol", 2.220446049250313e-09),
             ("max_line_search", 20)),
            Budget(grad_evals=2000), "batched L-BFGS, own memory and strong-Wolfe search per restart",
        ),
        OptimizerSpec(
            "spsa", "batched", _spsa,
            (("a", 0.2), ("c", 0.1), ("A", 10.0), ("alpha", 0.602), ("gamma", 0.101),
             ("iterations", None)),
            Budget(loss_evals=4000), "simultaneous-perturbation stochastic approximation",
        ),
        OptimizerSpec(
            "smo", "batched", _smo, (("sweeps", None), ("ftol", 1e-12)),
            Budget(loss_evals=20000), "exact sequential minimal optimization (5-point rule)",
        ),
        OptimizerSpec(
            "cobyla", "scipy", _scipy("cobyla"),
            (("rhobeg", 0.5), ("tol", 1e-10), ("maxiter", 100000)),
            Budget(loss_evals=4000), "scipy COBYLA",
        ),
        OptimizerSpec(
            "nelder-mead", "scipy", _scipy("nelder_mead"),
            (("xatol", 1e-10), ("fatol", 1e-12), ("adaptive", True), ("initial_step", 0.5),
             ("maxfev", 10**9)),
            Budget(loss_evals=4000), "scipy Nelder-Mead (adaptive)",
        ),
        OptimizerSpec(
            "scipy-lbfgs", "scipy", _scipy("scipy_lbfgs"),
            (("memory", 10), ("gtol", 1e-8), ("ftol", 2.22e-9), ("maxiter", 15000)),
            Budget(grad_evals=2000), "scipy L-BFGS-B, one restart at a time (reference)",
        ),
        OptimizerSpec(
            "basin-hopping", "scipy", _basin_hopping,
            (("hops", 20), ("stepsize", 3.141592653589793 / 2), ("temperature", 0.05),
             ("gtol", 1e-8)),
            Budget(grad_evals=4000), "scipy basin hopping with L-BFGS-B local searches",
        ),
        OptimizerSpec(
            "cma-es", "ask-tell", _cmaes,
            (("sigma0", 3.141592653589793 / 2), ("popsize", None), ("tolfun", 1e-12),
             ("tolx", 1e-11)),
            Budget(loss_evals=20000), "CMA-ES from the cma package",
        ),
    )
}  # fmt: skip


def resolve_optimizer(name: str, kind: str | None = None) -> OptimizerSpec:
    """A built-in name, an installed entry point, or 'module:callable' (kind inferred or given)."""
    if kind is not None and kind not in KINDS:
        raise OptimizerSpecError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if name in BUILTINS and ":" not in name:
        spec = BUILTINS[name]
        if kind is not None and kind != spec.kind:
            raise OptimizerSpecError(f"built-in {name!r} is of kind {spec.kind!r}, not {kind!r}")
        return spec
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise OptimizerSpecError(f"cannot load optimizer {name!r}: {error}") from None
        return _as_spec(name, target, kind)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return _as_spec(name, entry.load(), kind)
    known = ", ".join(sorted(BUILTINS))
    raise OptimizerSpecError(
        f"unknown optimizer {name!r}: built-ins are {known}; or name an installed "
        f"'{ENTRY_POINT_GROUP}' entry point, or give module:callable"
    )


def _as_spec(name: str, target, kind: str | None) -> OptimizerSpec:
    if isinstance(target, OptimizerSpec):
        return target
    if kind is None:
        if inspect.isclass(target) and issubclass(target, torch.optim.Optimizer):
            kind = "torch"
        elif all(hasattr(target, method) for method in ("ask", "tell", "recommend")):
            kind = "ask-tell"
        elif callable(target):
            kind = "scipy"
        else:
            raise OptimizerSpecError(f"{name!r} is neither an OptimizerSpec nor callable")
    budget = Budget(loss_evals=4000) if kind in ("ask-tell",) else Budget(grad_evals=2000)
    return OptimizerSpec(name, kind, target, (), budget, "user-supplied", open_hyperparameters=True)


def parse_hyperparameters(items: tuple[str, ...] = (), path: Path | None = None) -> dict:
    """--param key=value items (values read as JSON, else kept as strings) over a JSON file."""
    values: dict = {}
    if path is not None:
        try:
            loaded = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise OptimizerSpecError(f"cannot read hyper-parameters from {path}: {error}") from None
        if not isinstance(loaded, dict):
            raise OptimizerSpecError(f"{path} must hold a JSON object of hyper-parameters")
        values.update(loaded)
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise OptimizerSpecError(f"--param {item!r}: use key=value (value as JSON)")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    return values
