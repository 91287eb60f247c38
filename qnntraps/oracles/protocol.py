"""What an optimizer adapter may use of an oracle: the public interface, and nothing else.

The harness's `Oracle` (exact, GPU) and `ShotOracle` (hardware) implement it in the harness's
process; `qnntraps.sealed.proxy.OracleProxy` implements it in a sealed worker process, where every
evaluation and every ending of a restart is a message to the harness's oracle. Adapters and the
built-in batched optimizers are written against this protocol only, so any simulator behind the
oracle works, in process or sealed.
"""

from __future__ import annotations

from typing import Protocol

import torch

from qnntraps.oracles.budget import Budget


class OracleView(Protocol):
    """Counted loss and gradient for a batch of `restarts` rows of dimension `dimension`.

    Rows are restarts 0 .. R-1 of the chunk. Counters, best points and `finished` are the
    oracle's (in a sealed worker: mirrors kept in step with the harness's authoritative ones).
    """

    dimension: int
    restarts: int
    budget: Budget
    device: torch.device
    dtype: torch.dtype
    loss_evals: torch.Tensor  # (R,) int64, CPU
    grad_evals: torch.Tensor  # (R,) int64, CPU
    best_value: torch.Tensor  # (R,) float64, CPU; +inf before any evaluation
    best_point: torch.Tensor  # (R, p) float64, CPU; NaN before any evaluation
    finished: torch.Tensor  # (R,) bool, CPU: the restart has ended

    def start_clock(self, rows=None) -> None: ...

    def can_evaluate_loss(self, rows=None) -> torch.Tensor: ...

    def can_evaluate_grad(self, rows=None) -> torch.Tensor: ...

    def loss(self, theta: torch.Tensor, rows=None) -> torch.Tensor: ...

    def loss_and_grad(
        self, theta: torch.Tensor, rows=None
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def finish(self, rows, points) -> None: ...

    def fail(self, rows, flag: str, message: str | None = None) -> None: ...
