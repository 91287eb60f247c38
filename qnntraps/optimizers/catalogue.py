"""Finding an optimizer by name: built-ins, `qnntraps.optimizers` entry points, module:callable.

An OptimizerSpec says which adapter runs it (qnntraps/optimizers/adapters.py), its documented
default hyper-parameters and its default budget. A third-party package registers one with

    [project.entry-points."qnntraps.optimizers"]
    my-method = "my_package.module:SPEC"      # an OptimizerSpec, or a factory (kind inferred)
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from qnntraps.errors import QnnTrapsError
from qnntraps.optimizers.adapters import KINDS
from qnntraps.oracles.budget import Budget

ENTRY_POINT_GROUP = "qnntraps.optimizers"

# The budget of every plug-in that is given no --budget, whatever its kind: the built-in
# gradient-free baselines' loss budget and the gradient baselines' gradient budget, per restart.
DEFAULT_BUDGET = Budget(loss_evals=4000, grad_evals=2000)


class OptimizerSpecError(QnnTrapsError, ValueError):
    """An optimizer name, kind or hyper-parameter that cannot be used."""


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    kind: str  # one of adapters.KINDS
    factory: Callable
    defaults: tuple[tuple[str, object], ...] = ()
    budget: Budget = DEFAULT_BUDGET
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


def _first_order(method: str):
    def build(**hyper):
        from qnntraps.optimizers.first_order import FirstOrder

        return FirstOrder(method, **hyper)

    return build


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
            "adam", "batched", _first_order("adam"),
            (("lr", 0.01), ("betas", (0.9, 0.999)), ("eps", 1e-8), ("gtol", 1e-8)),
            Budget(grad_evals=2000), "Adam (torch.optim's rule), one fused loop over the batch",
        ),
        OptimizerSpec(
            "rmsprop", "batched", _first_order("rmsprop"),
            (("lr", 0.01), ("alpha", 0.99), ("eps", 1e-8), ("gtol", 1e-8)),
            Budget(grad_evals=2000), "RMSProp (torch.optim's rule), one fused loop over the batch",
        ),
        OptimizerSpec(
            "sgd", "batched", _first_order("sgd"),
            (("lr", 0.1), ("momentum", 0.0), ("gtol", 1e-8)),
            Budget(grad_evals=2000), "gradient descent (torch.optim.SGD's rule), fused loop",
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


def is_builtin(name: str) -> bool:
    """True for the name of a built-in baseline (run in the harness's process by default)."""
    return name in BUILTINS and ":" not in name


def resolve_optimizer(name: str, kind: str | None = None) -> OptimizerSpec:
    """A built-in name, an installed entry point, or 'module:callable' (kind inferred or given).

    `module` is imported as `python -m` would: the current working directory comes first on the
    module search path. Importing it runs its code: the harness does this only in a sealed
    worker process for plug-ins (qnntraps.sealed), unless told to run them in process.
    """
    if not isinstance(name, str) or not name.strip():
        raise OptimizerSpecError(
            "--optimizer needs a name: a built-in, an entry point or module:callable"
        )
    if kind is not None and kind not in KINDS:
        raise OptimizerSpecError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if is_builtin(name):
        spec = BUILTINS[name]
        if kind is not None and kind != spec.kind:
            raise OptimizerSpecError(f"built-in {name!r} is of kind {spec.kind!r}, not {kind!r}")
        return spec
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        if not module_name or not attribute:
            raise OptimizerSpecError(
                f"--optimizer {name!r}: give module:callable, e.g. my_package.opt:minimize"
            )
        target = _import_attribute(name, module_name, attribute)
        return _as_spec(name, target, kind)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            try:
                target = entry.load()
            except Exception as error:
                raise OptimizerSpecError(
                    f"cannot load the {ENTRY_POINT_GROUP} entry point {name!r} "
                    f"({entry.value}): {type(error).__name__}: {error}"
                ) from None
            return _as_spec(name, target, kind)
    known = ", ".join(sorted(BUILTINS))
    raise OptimizerSpecError(
        f"unknown optimizer {name!r}: built-ins are {known}; or name an installed "
        f"'{ENTRY_POINT_GROUP}' entry point, or give module:callable"
    )


@contextlib.contextmanager
def _working_directory_first():
    """The working directory first on sys.path while importing, as `python -m` has it."""
    folder = os.getcwd()
    added = folder not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)


def _import_attribute(name: str, module_name: str, attribute: str):
    try:
        with _working_directory_first():
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise OptimizerSpecError(
            f"cannot load optimizer {name!r}: no module named {error.name!r} (modules are found "
            f"in the current folder {os.getcwd()}, on PYTHONPATH and among installed packages)"
        ) from None
    except Exception as error:  # its import-time code failed: a SyntaxError, an ImportError...
        raise OptimizerSpecError(
            f"cannot load optimizer {name!r}: importing {module_name!r} raised "
            f"{type(error).__name__}: {error}"
        ) from None
    target = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise OptimizerSpecError(
                f"cannot load optimizer {name!r}: {module_name!r} has no attribute {attribute!r}"
            )
        target = getattr(target, part)
    return target


def _as_spec(name: str, target, kind: str | None) -> OptimizerSpec:
    if isinstance(target, OptimizerSpec):
        # A package's spec brings its kind, factory and defaults; budgets are the harness's own,
        # the same for every plug-in (DEFAULT_BUDGET), whatever the spec says.
        return dataclasses.replace(target, budget=DEFAULT_BUDGET)
    if inspect.isclass(target) and issubclass(target, torch.optim.LBFGS):
        raise OptimizerSpecError(
            f"{name!r} is refused: torch.optim.LBFGS keeps one line search and one memory for the "
            "whole parameter tensor, so restarts batched into it would share them; use the "
            "built-in 'lbfgs' (batched, per-restart memory and line search)"
        )
    if kind is None:
        if inspect.isclass(target) and issubclass(target, torch.optim.Optimizer):
            kind = "torch"
        elif all(hasattr(target, method) for method in ("ask", "tell", "recommend")):
            kind = "ask-tell"
        elif callable(target):
            kind = "scipy"
        else:
            raise OptimizerSpecError(
                f"{name!r} is a {type(target).__name__}: neither an OptimizerSpec, a "
                "torch.optim.Optimizer class, an ask/tell class nor a minimize function"
            )
    if not callable(target):
        raise OptimizerSpecError(f"{name!r} is a {type(target).__name__}, not callable")
    _check_signature(name, target, kind)
    return OptimizerSpec(
        name, kind, target, (), DEFAULT_BUDGET, "user-supplied", open_hyperparameters=True
    )


_CALL_SHAPES = {
    "scipy": ("minimize(fun, x0, jac=..., **hyper)", ("fun", "x0"), {"jac": None}),
    "ask-tell": ("f(x0, rng, **hyper)", ("x0", "rng"), {}),
    "torch": ("Optimizer(params, **hyper)", ("params",), {}),
    "batched": ("f(**hyper)", (), {}),
}


def _check_signature(name: str, target, kind: str) -> None:
    """Refuse a callable that cannot be called the way its kind is called (e.g. math:sqrt)."""
    text, positional, keywords = _CALL_SHAPES[kind]
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return  # no signature to check (some C callables): its first call will tell
    try:
        signature.bind(*positional, **keywords)
    except TypeError as error:
        raise OptimizerSpecError(
            f"{name!r} has the signature {signature}, which cannot be called as a {kind}-kind "
            f"optimizer {text} ({error}); see docs/optimizers.md"
        ) from None


# --- hyper-parameters ------------------------------------------------------------------------
def check_hyperparameters(spec: OptimizerSpec, hyper: dict, dimension: int = 2) -> None:
    """Refuse hyper-parameters this optimizer cannot run with, before anything is written.

    Built-ins: every value must have its default's type (numbers finite); then every kind that
    can be built without an oracle is built once on a dummy problem of this dimension, so that
    the optimizer's own checks (torch's lr >= 0, betas in [0, 1), L-BFGS memory >= 1, ...) run
    now and not in the middle of a run.
    """
    for key, value in hyper.items():
        _check_json_value(spec.name, key, value)
    if not spec.open_hyperparameters:
        defaults = dict(spec.defaults)
        for key, value in hyper.items():
            _check_type(spec.name, key, value, defaults.get(key))
    try:
        _build_once(spec, hyper, dimension)
    except OptimizerSpecError:
        raise
    except Exception as error:
        given = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(hyper.items()))
        raise OptimizerSpecError(
            f"optimizer {spec.name!r} refuses its hyper-parameters ({given}): "
            f"{type(error).__name__}: {error}"
        ) from None


def _build_once(spec: OptimizerSpec, hyper: dict, dimension: int) -> None:
    rng = np.random.default_rng(0)
    x0 = np.zeros(dimension)
    if spec.kind == "torch":
        hyper = dict(hyper)
        gtol = hyper.pop("gtol", 0.0)
        if isinstance(gtol, bool) or not isinstance(gtol, int | float) or not gtol >= 0:
            raise OptimizerSpecError(f"gtol must be a number >= 0, not {gtol!r}")
        params = torch.zeros((1, dimension), dtype=torch.float64, requires_grad=True)
        optimizer = spec.factory([params], **hyper)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise OptimizerSpecError(
                f"{spec.name!r} built a {type(optimizer).__name__}, not a torch.optim.Optimizer"
            )
    elif spec.kind == "batched":
        runner = spec.factory(**hyper)
        if not callable(runner):
            raise OptimizerSpecError(f"{spec.name!r} built a {type(runner).__name__}, not callable")
    elif spec.kind == "ask-tell":
        solver = spec.factory(x0, rng, **hyper)
        missing = [m for m in ("ask", "tell", "recommend") if not hasattr(solver, m)]
        if missing:
            raise OptimizerSpecError(
                f"{spec.name!r} built a {type(solver).__name__} without {', '.join(missing)}"
            )
    # scipy kind: nothing to build; the types checked above are all that can be known.


def _check_json_value(name: str, key: str, value) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise OptimizerSpecError(f"optimizer {name!r}: {key}={value!r} is not a finite number")
    if isinstance(value, list | tuple):
        for item in value:
            _check_json_value(name, key, item)
    if isinstance(value, dict):
        for item in value.values():
            _check_json_value(name, key, item)


def _check_type(name: str, key: str, value, default) -> None:
    def refuse(expected: str):
        raise OptimizerSpecError(
            f"optimizer {name!r}: {key}={json.dumps(value)} must be {expected} "
            f"(default {json.dumps(default)})"
        )

    if isinstance(default, bool):
        if not isinstance(value, bool):
            refuse("true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            refuse("an integer")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            refuse("a number")
    elif isinstance(default, tuple):
        if not isinstance(value, list | tuple) or len(value) != len(default):
            refuse(f"a list of {len(default)} numbers")
        for item, item_default in zip(value, default, strict=True):
            _check_type(name, key, item, item_default)
    elif default is None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            refuse("an integer or null")


def parse_hyperparameters(items: tuple[str, ...] = (), path: Path | None = None) -> dict:
    """--param key=value items (values read as JSON, else kept as strings) over a JSON file."""
    values: dict = {}
    if path is not None:
        try:
            loaded = json.loads(Path(path).read_bytes().decode("utf-8"))
        except UnicodeDecodeError:
            raise OptimizerSpecError(
                f"{path} is not UTF-8 text: give a JSON object of hyper-parameters"
            ) from None
        except (OSError, json.JSONDecodeError, RecursionError) as error:
            raise OptimizerSpecError(f"cannot read hyper-parameters from {path}: {error}") from None
        if not isinstance(loaded, dict):
            raise OptimizerSpecError(f"{path} must hold a JSON object of hyper-parameters")
        values.update(loaded)
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise OptimizerSpecError(f"--param {item!r}: use key=value (value as JSON)")
        try:
            values[key.strip()] = json.loads(raw, parse_constant=_no_constant)
        except json.JSONDecodeError:
            values[key.strip()] = _number_or_text(item, raw)
        except ValueError as error:
            raise OptimizerSpecError(f"--param {item!r}: {error}") from None
    for key, value in values.items():
        _check_json_value("given", key, value)
    return values


def _number_or_text(item: str, raw: str):
    """A value JSON does not read: a number Python reads ('.5', '1e-3.'), else the text.
    'nan' and 'inf' are refused rather than passed on as text."""
    try:
        number = float(raw)
    except ValueError:
        return raw
    if not math.isfinite(number):
        raise OptimizerSpecError(f"--param {item!r}: {raw} is not a finite number")
    return number


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")
