"""The shot oracle: the hardware track's counterpart of qnntraps.oracles.oracle.Oracle.

Same interface (`loss`, `loss_and_grad`, `can_evaluate_loss`, `can_evaluate_grad`, `dimension`,
`restarts`, `budget`, `device`, `loss_evals`, `grad_evals`, `best_value`, `best_point`,
`stopped_by_wall`, `start_clock`), but every value is a shot estimate from a ShotBackend:

- a loss evaluation runs the m circuits once each: m * S shots (S shots per circuit);
- a gradient evaluation runs them at theta and at the 2p parameter-shifted points:
  m (1 + 2p) circuits, m (1 + 2p) S shots; the loss at theta comes with it.

It counts loss and gradient evaluations and shots per row and refuses an evaluation that the
row's shot budget cannot pay for (BudgetExceededError, as the Oracle does past its budget).
`budget` is the run's budget with `loss_evals` and `grad_evals` capped at what the shots could
buy if spent on that kind of evaluation alone, so adapters that plan several evaluations ahead
(SPSA's pairs, CMA-ES's generations, SMO's sweeps) never ask for more than the shots pay for.

Every job's log line carries, per point at which the loss was estimated (the unshifted one of a
gradient's 1 + 2p), the loss estimate and an unbiased estimate of its variance from the same
counts (`estimator.loss_variance`; null below 4 shots per circuit).

Shot seeds: row i draws one 63-bit seed from its own generator (`restart_generator`) for each
call it takes part in; all of its points of that call go in one seeded job. A restart's shots so
depend only on (instance, config seed, restart index, its own sequence of calls): the same in any
chunk, batched or not, and bit for bit the same on a rerun with a local simulator.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import torch

from qnntraps.hardware import estimator
from qnntraps.hardware.backend import JobRequest, ShotBackend
from qnntraps.oracles.budget import Budget, require_shots
from qnntraps.oracles.oracle import BudgetExceededError, Oracle

SEED_LIMIT = 2**63


def restart_generator(sha256: str, config_seed: int, restart: int) -> np.random.Generator:
    """Shot-seed generator of restart r: PCG64 seeded by the first 8 bytes (big-endian) of
    SHAKE-256(b"qnntraps-hardware:" + H + b":" + str(config seed) + b":" + str(r))."""
    text = f"qnntraps-hardware:{sha256}:{config_seed}:{restart}".encode()
    seed = int.from_bytes(hashlib.shake_256(text).digest(8), "big")
    return np.random.Generator(np.random.PCG64(seed))


def shot_budget(budget: Budget, loss_shots: int, grad_shots: int) -> Budget:
    """The budget an optimizer sees: loss= and grad= capped at what the shots could pay for."""
    require_shots(budget)

    def cap(limit: int | None, cost: int) -> int:
        affordable = budget.shots // cost
        return affordable if limit is None else min(limit, affordable)

    return Budget(
        loss_evals=cap(budget.loss_evals, loss_shots),
        grad_evals=cap(budget.grad_evals, grad_shots),
        wall_seconds=budget.wall_seconds,
        shots=budget.shots,
        evals=budget.evals,
    )


class ShotOracle(Oracle):
    """Shot-estimated loss and gradient for a batch of R restarts, counted per row.

    The counting, wall clocks, budgets and best points are the Oracle's; this class evaluates
    through the backend and adds the shot budget (`_affordable`, `_pay`).
    """

    def __init__(
        self,
        backend: ShotBackend,
        labels: np.ndarray,
        restarts: int,
        budget: Budget,
        generators: Sequence[np.random.Generator],
        restart_ids: Sequence[int] | None = None,
        job_log: Callable[[list[dict]], None] | None = None,
    ):
        if len(generators) != restarts:
            raise ValueError("one shot-seed generator per row is needed")
        self._backend = backend
        self._labels = np.asarray(labels, dtype=np.float64)
        self._generators = list(generators)
        self._restart_ids = list(restart_ids) if restart_ids is not None else list(range(restarts))
        self._job_log = job_log
        self.num_samples = backend.num_samples
        self.num_data_qubits = backend.num_data_qubits
        self.measurement = backend.measurement
        self.shots_per_circuit = backend.shots
        p = backend.num_parameters
        self.loss_shots = self.num_samples * backend.shots
        self.grad_shots = (
            estimator.circuits_per_evaluation(self.num_samples, p, True) * backend.shots
        )
        self.requested_budget = budget
        capped = shot_budget(budget, self.loss_shots, self.grad_shots)
        self._start_counting(p, restarts, capped, torch.device("cpu"))
        self._shots = np.zeros(restarts, dtype=np.int64)
        self.shots = torch.from_numpy(self._shots)  # shares the counter's memory
        self.jobs = torch.zeros(restarts, dtype=torch.int64)

    # --- the Oracle's hooks -------------------------------------------------------------------
    def _cost(self, kind: str) -> int:
        return self.loss_shots if kind == "loss" else self.grad_shots

    def _affordable(self, rows: np.ndarray, kind: str) -> np.ndarray:
        return self._shots[rows] + self._cost(kind) <= self.budget.shots

    def _pay(self, counts: np.ndarray, kind: str) -> None:
        cost = self._cost(kind)
        if bool((self._shots + counts * cost > self.budget.shots).any()):
            raise BudgetExceededError(
                f"shot budget of {self.budget.shots} exceeded for some rows ({kind} evaluations "
                f"cost {cost} shots each)"
            )
        self._shots += counts * cost

    def _evaluate_loss(self, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        values, _ = self._evaluate(theta.numpy(), rows, gradient=False)
        return torch.as_tensor(values, dtype=torch.float64)

    def _evaluate_loss_and_grad(self, theta: torch.Tensor, rows: torch.Tensor):
        values, grads = self._evaluate(theta.numpy(), rows, gradient=True)
        return torch.as_tensor(values, dtype=torch.float64), torch.as_tensor(
            grads, dtype=torch.float64
        )

    # --- internals ----------------------------------------------------------------------------
    def _evaluate(self, theta: np.ndarray, rows: torch.Tensor, gradient: bool):
        p, shots, measurement = self.dimension, self.shots_per_circuit, self.measurement
        block = 1 + 2 * p if gradient else 1
        order = [int(r) for r in torch.unique(rows)]  # increasing: a fixed seed order
        positions = {r: np.flatnonzero(rows.numpy() == r) for r in order}
        requests = []
        for r in order:
            points = theta[positions[r]]
            if gradient:
                points = np.concatenate([estimator.shift_points(x) for x in points])
            seed = int(self._generators[r].integers(0, SEED_LIMIT))
            requests.append(JobRequest(seed, points))
        results = self._backend.sample(requests)
        values = np.empty(rows.numel())
        grads = np.empty((rows.numel(), p)) if gradient else None
        log = []
        for r, request, result in zip(order, requests, results, strict=True):
            counts = result.counts.reshape(-1, block, self.num_samples)
            for j, position in enumerate(positions[r]):
                values[position] = estimator.loss(counts[j, 0], shots, measurement, self._labels)
                if gradient:
                    grads[position] = estimator.gradient(
                        counts[j], shots, measurement, self._labels
                    )
            variances = (
                estimator.loss_variance(counts[:, 0], shots, measurement, self._labels).tolist()
                if shots >= estimator.VARIANCE_MIN_SHOTS
                else None
            )
            circuits = request.points.shape[0] * self.num_samples
            self.jobs[r] += 1
            log.append(
                {
                    "restart": int(self._restart_ids[r]),
                    "kind": "gradient" if gradient else "loss",
                    "points": int(positions[r].size),
                    "circuits": int(circuits),
                    "shots": int(circuits * shots),
                    "seed": request.seed if self._backend.is_simulator else None,
                    "job_id": result.job_id,
                    "loss_estimates": values[positions[r]].tolist(),
                    "loss_variances": variances,
                }
            )
        if self._job_log is not None:
            self._job_log(log)
        return values, grads
