"""Batched SPSA (Spall 1998): two loss evaluations per iteration, no gradients.

theta_{k+1} = theta_k - a_k g_k,  g_k = (L(theta_k + c_k D) - L(theta_k - c_k D)) / (2 c_k) * D,
a_k = a / (k + 1 + A)^alpha,  c_k = c / (k + 1)^gamma,  D uniform on {-1, +1}^p.

Every restart draws D from its own generator (the harness's per-restart generator), in blocks of
BLOCK iterations, so a restart's path does not depend on which other restarts share its batch.
The final point is the last iterate. It is not a point SPSA evaluated, so the harness evaluates it
once more to score it (the final evaluation, docs/scoring.md): an iteration runs only while the
loss budget pays its two evaluations and that final one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.oracles.budget import affordable

BLOCK = 64
FINAL_EVALUATION = 1  # kept for the harness's evaluation of the last iterate


@dataclass(frozen=True)
class SPSA:
    a: float = 0.2
    c: float = 0.1
    A: float = 10.0
    alpha: float = 0.602
    gamma: float = 0.101
    iterations: int | None = None  # None: run until the loss budget is spent

    def __call__(self, oracle, x0: torch.Tensor, generators) -> torch.Tensor:
        if (
            oracle.budget.loss_evals is None
            and oracle.budget.evals is None
            and (self.iterations is None)
        ):
            raise ValueError("SPSA needs a loss budget (loss=N or evals=N) or iterations=N")
        theta = x0.detach().clone()
        restarts, p = theta.shape
        all_rows = torch.arange(restarts)
        signs = np.empty((restarts, BLOCK, p))
        k = 0
        while self.iterations is None or k < self.iterations:
            if k % BLOCK == 0:
                for r in range(restarts):
                    signs[r] = 2.0 * generators[r].integers(0, 2, size=(BLOCK, p)) - 1.0
            rows = all_rows[_can_pay(oracle, all_rows, 2 + FINAL_EVALUATION)]
            if rows.numel() == 0:
                break
            on_device = rows.to(theta.device)
            delta = torch.as_tensor(signs[rows.numpy(), k % BLOCK], device=theta.device)
            ck = self.c / (k + 1) ** self.gamma
            ak = self.a / (k + 1 + self.A) ** self.alpha
            both = torch.cat([theta[on_device] + ck * delta, theta[on_device] - ck * delta])
            values = oracle.loss(both, torch.cat([rows, rows]))
            plus, minus = values[: rows.numel()], values[rows.numel() :]
            theta[on_device] -= ak * ((plus - minus) / (2 * ck))[:, None] * delta
            k += 1
        return theta


def _can_pay(oracle, rows: torch.Tensor, evaluations: int) -> torch.Tensor:
    ok = oracle.can_evaluate_loss(rows).cpu()
    counters = oracle.loss_evals[rows], oracle.grad_evals[rows]
    return ok & affordable(oracle.budget, oracle.dimension, *counters, loss=evaluations)
