"""The three ways an optimizer plugs into the harness, each driving a counted Oracle.

- batched torch-style (kind "torch"): a factory ``f(params, **hyper) -> torch.optim.Optimizer``.
  The harness owns the closure: all restarts of a chunk are one (R, p) parameter tensor whose
  gradient rows are the restarts' own gradients (the closure returns the sum of per-restart
  losses, so element-wise methods such as Adam see each restart independently). A restart stops
  when its largest gradient component falls below ``gtol`` or its budget is spent; a stopped
  restart's row is restored after every step, so it never moves again.
- scipy-style (kind "scipy"): ``minimize(fun, x0, jac=..., **hyper)`` returning an object with
  ``.x`` or an array, run restart by restart. ``fun`` costs one loss evaluation; ``jac`` costs one
  gradient evaluation and caches the loss at that point, so a ``fun`` call at the same point is
  free. When the budget is spent the next call raises inside the optimizer, the harness catches
  it, and the restart ends at the best point it evaluated.
- ask/tell (kind "ask-tell"): a factory ``f(x0, rng, **hyper)`` returning an object with
  ``ask(n) -> (k, p)`` (k <= n), ``tell(X, y)`` and ``recommend() -> (p,)``, and optionally
  ``stop() -> bool``. The harness asks every live restart of a chunk, evaluates all their points
  in one oracle call, and tells each its values; n is the restart's remaining loss budget.
- batched built-ins (kind "batched"): ``f(**hyper)`` returns ``run(oracle, x0, generators)``
  driving the oracle directly (L-BFGS, SPSA, the sequential minimal optimizer).

Every adapter returns the final (recommended) point of every restart; the harness scores it with
the exact loss. None of them passes the instance's identity or certificate to the optimizer.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import torch

from qnntraps.harness.oracle import Oracle

KINDS = ("batched", "torch", "scipy", "ask-tell")


class _BudgetSpent(Exception):
    """Raised inside a scipy-style optimizer's callback when the restart's budget is spent."""


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


def run_scipy(minimize, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators) -> torch.Tensor:
    accepts_rng = _accepts(minimize, "rng")
    final = torch.empty_like(x0)
    for r in range(oracle.restarts):
        row = torch.tensor([r])
        cache: dict[bytes, float] = {}

        def fun(x, row=row, cache=cache):
            x = np.asarray(x, dtype=np.float64)
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
            x = np.asarray(x, dtype=np.float64)
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
            point = np.asarray(getattr(result, "x", result), dtype=np.float64).reshape(-1)
        except _BudgetSpent:
            point = oracle.best_point[r].numpy()
        final[r] = torch.as_tensor(point, dtype=final.dtype, device=final.device)
    return final


def run_ask_tell(
    factory, hyper: dict, oracle: Oracle, x0: torch.Tensor, generators
) -> torch.Tensor:
    solvers = [
        factory(x0[r].cpu().numpy().copy(), generators[r], **hyper) for r in range(oracle.restarts)
    ]
    live = np.ones(oracle.restarts, dtype=bool)
    oracle.start_clock()
    while live.any():
        rows, points = [], []
        for r in np.flatnonzero(live):
            remaining = _remaining_loss_evals(oracle, r)
            stop = getattr(solvers[r], "stop", None)
            if remaining == 0 or not bool(oracle.can_evaluate_loss([r])[0]) or (stop and stop()):
                live[r] = False
                continue
            asked = np.asarray(solvers[r].ask(remaining), dtype=np.float64)
            asked = asked.reshape(-1, oracle.dimension)
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
            solvers[r].tell(block, values[start : start + block.shape[0]].copy())
            start += block.shape[0]
    final = np.array([np.asarray(s.recommend(), dtype=np.float64).reshape(-1) for s in solvers])
    return torch.as_tensor(final, dtype=x0.dtype, device=x0.device)


RUNNERS: dict[str, Callable] = {
    "batched": run_batched,
    "torch": run_torch,
    "scipy": run_scipy,
    "ask-tell": run_ask_tell,
}


def _as_row(x: np.ndarray, oracle: Oracle) -> torch.Tensor:
    return torch.as_tensor(x.reshape(1, -1).copy(), dtype=torch.float64, device=oracle.device)


def _remaining_loss_evals(oracle: Oracle, r: int) -> int:
    limit = oracle.budget.loss_evals
    if limit is None:
        return 2**31 - 1
    return max(0, limit - int(oracle.loss_evals[r]))


def _accepts(function, name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
