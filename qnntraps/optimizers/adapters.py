"""The ways an optimizer plugs into the harness, each driving a counted oracle.

- batched torch-style (kind "torch"): a factory ``f(params, **hyper) -> torch.optim.Optimizer``.
  The harness owns the closure: all restarts of a chunk are one (R, p) parameter tensor whose
  gradient rows are the restarts' own gradients (the closure returns the sum of per-restart
  losses, so element-wise methods such as torch.optim.Adam see each restart independently, up to
  torch's position-dependent rounding; docs/optimizers.md). A restart stops
  when its largest gradient component falls below ``gtol`` or its budget is spent; a stopped
  restart's row is restored after every step, so it never moves again.
- scipy-style (kind "scipy"): ``minimize(fun, x0, jac=..., **hyper)`` returning an object with
  ``.x`` or an array, run restart by restart. ``fun`` costs one loss evaluation; ``jac`` costs one
  gradient evaluation and caches the loss at that point, so a ``fun`` call at the same point is
  free. When the budget is spent the next call raises inside the optimizer (an exception that
  ``except Exception`` does not catch), the harness catches it, and the restart ends at the best
  point it evaluated.
- ask/tell (kind "ask-tell"): a factory ``f(x0, rng, **hyper)`` returning an object with
  ``ask(n) -> (k, p)`` (k <= n), ``tell(X, y)`` and ``recommend() -> (p,)``, and optionally
  ``stop() -> bool``. The harness asks every live restart of a chunk, evaluates all their points
  in one oracle call, and tells each its values; n is the restart's remaining loss budget.
- batched built-ins (kind "batched"): ``f(**hyper)`` returns ``run(oracle, x0, generators)``
  driving the oracle directly (Adam, RMSProp and SGD as fused loops, L-BFGS, SPSA, the
  sequential minimal optimizer).

`run_chunk` runs any of them on one chunk and ends every restart through the oracle: at its
recommended point (`oracle.finish`, which makes and charges the final evaluation where the point
was not evaluated), or without one (`oracle.fail`) when the optimizer raised or returned something
that is not a point. The same code runs in the harness's process with the real oracle and, sealed,
in a worker process with a view of it (qnntraps.sealed). None of it passes the instance's identity
or certificate to the optimizer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import torch

from qnntraps.oracles.budget import remaining_loss_evaluations
from qnntraps.oracles.protocol import OracleView as Oracle

KINDS = ("batched", "torch", "scipy", "ask-tell")


class _BudgetSpent(BaseException):
    """Raised inside a scipy-style optimizer's callback when the restart's budget is spent.

    A BaseException, so that an optimizer's own ``except Exception`` cannot swallow it."""


def describe_error(error: BaseException) -> str:
    """One line naming an optimizer's exception: its type and message."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def run_chunk(kind: str, factory, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators):
    """Run one chunk of restarts with the adapter of `kind`; every row ends through the oracle.

    Rows the adapter did not end are finished at the points it returned; an exception of the
    optimizer fails the rows still open (`optimizer-raised`), and a result that is not an
    (R, p) array of numbers fails them as `wrong-shape`. KeyboardInterrupt and SystemExit
    propagate: a user's Ctrl-C stops the run, and a worker that exits says so by its status.
    """
    runner = RUNNERS[kind]
    try:
        final = runner(factory, hyper, oracle, x0, generators)
    except Exception as error:
        oracle.fail(_open_rows(oracle), "optimizer-raised", describe_error(error))
        return
    rows = _open_rows(oracle)
    if rows.numel() == 0:
        return
    points = _as_points(final, (oracle.restarts, oracle.dimension))
    if points is None:
        oracle.fail(
            rows,
            "wrong-shape",
            f"the optimizer returned {_shape_of(final)}, "
            f"expected ({oracle.restarts}, {oracle.dimension}) numbers",
        )
        return
    oracle.finish(rows, points[rows.numpy()])


def _open_rows(oracle: Oracle) -> torch.Tensor:
    return torch.nonzero(~oracle.finished.cpu()).reshape(-1)


def _as_points(value, shape: tuple[int, ...]) -> np.ndarray | None:
    """value as a float64 array of `shape` ((R, p), or (p,) for one restart), else None.

    A single restart's point may come as (p,), (1, p) or (p, 1); a chunk's must be (R, p),
    or (p,) when R = 1."""
    try:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    if array.shape == shape:
        return array
    if array.size == int(np.prod(shape)) and (len(shape) == 1 or shape[0] == 1):
        if array.ndim >= 1 and max(array.shape, default=0) == array.size:
            return array.reshape(shape)
    return None


def _shape_of(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    return f"a {type(value).__name__}"


def run_batched(factory, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators) -> torch.Tensor:
    minimize = factory(**hyper)
    oracle.start_clock()  # set-up (imports, construction) is not charged to the wall budget
    return minimize(oracle, x0, generators)


def run_torch(factory, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators) -> torch.Tensor:
    hyper = dict(hyper)
    gtol = float(hyper.pop("gtol", 0.0))
    params = x0.detach().clone().requires_grad_(True)
    params.grad = torch.zeros_like(params)
    optimizer = factory([params], **hyper)
    oracle.start_clock()
    all_rows = torch.arange(oracle.restarts)
    live = oracle.can_evaluate_grad(all_rows).cpu()
    while bool(live.any()):
        rows = all_rows[live]
        evaluated = torch.zeros(oracle.restarts, dtype=torch.bool)
        converged = torch.zeros(oracle.restarts, dtype=torch.bool)

        def closure(rows=rows, evaluated=evaluated, converged=converged):
            rows = rows[oracle.can_evaluate_grad(rows).cpu()]
            with torch.no_grad():
                params.grad.zero_()
            if rows.numel() == 0:
                return torch.zeros((), dtype=params.dtype, device=params.device)
            on_device = rows.to(params.device)
            value, grad = oracle.loss_and_grad(params.detach()[on_device], rows)
            with torch.no_grad():
                params.grad[on_device] = grad
            evaluated[rows] = True
            converged[rows] = grad.abs().amax(dim=1).cpu() < gtol
            return value.sum()

        before = params.detach().clone()
        optimizer.step(closure)
        # A restart moves only if it was evaluated and had not converged at this step's start;
        # every other row is put back (momentum would otherwise move it on zero gradients).
        moved = live & evaluated & ~converged
        with torch.no_grad():
            params[~moved.to(params.device)] = before[~moved.to(params.device)]
        live = moved & oracle.can_evaluate_grad(all_rows).cpu()
    return params.detach()


def run_scipy(minimize, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators) -> None:
    accepts_rng = _accepts(minimize, "rng")
    p = oracle.dimension
    for r in range(oracle.restarts):
        row = torch.tensor([r])
        cache: dict[bytes, float] = {}

        def fun(x, row=row, cache=cache):
            x = _vector(x, p)
            key = x.tobytes()
            if key in cache:
                return cache[key]
            if not bool(oracle.can_evaluate_loss(row)[0]):
                raise _BudgetSpent
            value = float(oracle.loss(_as_row(x, oracle), row)[0])
            cache.clear()
            cache[key] = value
            return value

        def jac(x, row=row, cache=cache):
            x = _vector(x, p)
            if not bool(oracle.can_evaluate_grad(row)[0]):
                raise _BudgetSpent
            value, grad = oracle.loss_and_grad(_as_row(x, oracle), row)
            cache.clear()
            cache[x.tobytes()] = float(value[0])
            return grad[0].cpu().numpy()

        extra = {"rng": generators[r]} if accepts_rng else {}
        oracle.start_clock(row)
        try:
            result = minimize(fun, x0[r].cpu().numpy().copy(), jac=jac, **extra, **hyper)
        except _BudgetSpent:
            result = oracle.best_point[r].numpy().copy()
        except Exception as error:
            oracle.fail(row, "optimizer-raised", describe_error(error))
            continue
        point = _as_points(getattr(result, "x", result), (p,))
        if point is None:
            oracle.fail(
                row,
                "wrong-shape",
                f"the optimizer returned {_shape_of(result)}, expected {p} numbers",
            )
            continue
        oracle.finish(row, point[None, :])  # the restart ends now: later calls are refused


def _vector(x, p: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.size != p:
        raise ValueError(f"the oracle takes points of {p} numbers, not shape {x.shape}")
    return x.reshape(p)


def run_ask_tell(factory, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators) -> None:
    solvers: list = [None] * oracle.restarts
    live = np.ones(oracle.restarts, dtype=bool)
    for r in range(oracle.restarts):
        try:
            solvers[r] = factory(x0[r].cpu().numpy().copy(), generators[r], **hyper)
        except Exception as error:
            oracle.fail([r], "optimizer-raised", describe_error(error))
            live[r] = False
    oracle.start_clock()

    def fail(r: int, error: Exception) -> None:
        oracle.fail([r], "optimizer-raised", describe_error(error))
        live[r] = False

    while live.any():
        rows, points = [], []
        for r in np.flatnonzero(live):
            remaining = _remaining_loss_evals(oracle, r)
            try:
                stop = getattr(solvers[r], "stop", None)
                stopping = (
                    remaining == 0
                    or not bool(oracle.can_evaluate_loss([r])[0])
                    or (stop is not None and bool(stop()))
                )
                if stopping:
                    live[r] = False
                    continue
                asked = np.asarray(solvers[r].ask(remaining), dtype=np.float64)
                asked = asked.reshape(-1, oracle.dimension)
            except Exception as error:
                fail(r, error)
                continue
            if asked.shape[0] == 0 or asked.shape[0] > remaining:
                live[r] = False  # nothing asked, or more than the budget can pay for
                continue
            rows += [r] * asked.shape[0]
            points.append(asked)
        if not rows:
            break
        values = oracle.loss(
            torch.as_tensor(np.concatenate(points), device=oracle.device), torch.tensor(rows)
        )
        values = values.cpu().numpy()
        start = 0
        for block in points:
            r = rows[start]
            try:
                solvers[r].tell(block, values[start : start + block.shape[0]].copy())
            except Exception as error:
                fail(r, error)
            start += block.shape[0]
    for r in range(oracle.restarts):
        if bool(oracle.finished[r]):
            continue
        try:
            recommended = solvers[r].recommend()
        except Exception as error:
            oracle.fail([r], "optimizer-raised", describe_error(error))
            continue
        point = _as_points(recommended, (oracle.dimension,))
        if point is None:
            oracle.fail(
                [r],
                "wrong-shape",
                f"recommend() returned {_shape_of(recommended)}, "
                f"expected {oracle.dimension} numbers",
            )
            continue
        oracle.finish([r], point[None, :])


RUNNERS: dict[str, Callable] = {
    "batched": run_batched,
    "torch": run_torch,
    "scipy": run_scipy,
    "ask-tell": run_ask_tell,
}


def _as_row(x: np.ndarray, oracle: Oracle) -> torch.Tensor:
    return torch.as_tensor(x.reshape(1, -1).copy(), dtype=torch.float64, device=oracle.device)


def _remaining_loss_evals(oracle: Oracle, r: int) -> int:
    left = remaining_loss_evaluations(
        oracle.budget, oracle.dimension, int(oracle.loss_evals[r]), int(oracle.grad_evals[r])
    )
    return 2**31 - 1 if left is None else left


def _accepts(function, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
