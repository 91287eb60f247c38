"""The oracle as a sealed worker sees it: every evaluation is a request to the harness's oracle.

`OracleProxy` implements qnntraps.oracles.protocol.OracleView inside the worker process. It holds
no instance, no certificate and no authority: counters, best points and `finished` are mirrors,
counted from the harness's answers, so that adapters can plan (remaining budget) without a round
trip; the best points, needed rarely (a scipy-style optimizer whose budget ran out mid-way), are
asked of the harness. The harness counts,
refuses and scores on its own copies; a worker that tampers with its mirrors changes nothing but
its own decisions. Checks that need the harness's clock or its shot counts (a wall or shot budget)
are asked of the harness.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
import torch

from qnntraps.oracles.budget import Budget, can_pay
from qnntraps.oracles.oracle import BudgetExceededError, RowClosedError
from qnntraps.sealed import channel


class OracleProxy:
    """The worker's view of one chunk's oracle; requests go over `sock`."""

    def __init__(self, sock: socket.socket, restarts: int, dimension: int, budget: Budget):
        self._sock = sock
        self._lock = threading.Lock()  # one request and its answer at a time
        self.dimension = dimension
        self.restarts = restarts
        self.budget = budget
        self.device = torch.device("cpu")
        self.dtype = torch.float64
        self.loss_evals = torch.zeros(restarts, dtype=torch.int64)
        self.grad_evals = torch.zeros(restarts, dtype=torch.int64)
        self.finished = torch.zeros(restarts, dtype=torch.bool)
        self._ask_harness = budget.wall_seconds is not None or budget.shots is not None

    @property
    def best_value(self) -> torch.Tensor:
        """(R,) each restart's lowest value so far, as the harness's oracle has it."""
        return torch.from_numpy(self._best().array("value", "<f8", (self.restarts,)))

    @property
    def best_point(self) -> torch.Tensor:
        """(R, p) each restart's best evaluated point, as the harness's oracle has it."""
        return torch.from_numpy(self._best().array("point", "<f8", (self.restarts, self.dimension)))

    def _best(self) -> channel.Message:
        return self._request({"op": "best"}, {})

    # --- budget -------------------------------------------------------------------------------
    def start_clock(self, rows=None) -> None:
        self._request({"op": "start_clock"}, {"rows": self._rows(rows).numpy()})

    def can_evaluate_loss(self, rows=None) -> torch.Tensor:
        return self._can(self._rows(rows), "loss")

    def can_evaluate_grad(self, rows=None) -> torch.Tensor:
        return self._can(self._rows(rows), "gradient")

    def _can(self, rows: torch.Tensor, kind: str) -> torch.Tensor:
        if self._ask_harness:
            answer = self._request({"op": "can", "kind": kind}, {"rows": rows.numpy()})
            return torch.from_numpy(answer.array("mask", "|b1", (rows.numel(),)))
        counts = can_pay(
            self.budget, self.dimension, self.loss_evals[rows], self.grad_evals[rows], kind
        )
        return ~self.finished[rows] & counts

    # --- evaluation ---------------------------------------------------------------------------
    def loss(self, theta, rows=None) -> torch.Tensor:
        rows, theta = self._rows(rows), self._points(theta, rows)
        answer = self._request({"op": "loss"}, {"rows": rows.numpy(), "theta": theta.numpy()})
        value = torch.from_numpy(answer.array("value", "<f8", (rows.numel(),)))
        self.loss_evals += torch.bincount(rows, minlength=self.restarts)
        return value

    def loss_and_grad(self, theta, rows=None) -> tuple[torch.Tensor, torch.Tensor]:
        rows, theta = self._rows(rows), self._points(theta, rows)
        answer = self._request({"op": "grad"}, {"rows": rows.numpy(), "theta": theta.numpy()})
        value = torch.from_numpy(answer.array("value", "<f8", (rows.numel(),)))
        grad = torch.from_numpy(answer.array("grad", "<f8", (rows.numel(), self.dimension)))
        self.grad_evals += torch.bincount(rows, minlength=self.restarts)
        return value, grad

    # --- the end of a restart -----------------------------------------------------------------
    def finish(self, rows, points) -> None:
        rows = self._rows(rows)
        points = np.asarray(points, dtype=np.float64).reshape(rows.numel(), self.dimension)
        self._request({"op": "finish"}, {"rows": rows.numpy(), "points": points})
        self.finished[rows] = True

    def fail(self, rows, flag: str, message: str | None = None) -> None:
        rows = self._rows(rows)
        self._request({"op": "fail", "flag": flag, "message": message}, {"rows": rows.numpy()})
        self.finished[rows] = True

    def done(self) -> None:
        """The chunk is over: no answer comes, the harness closes the channel."""
        with self._lock:
            channel.send(self._sock, {"op": "done"})

    # --- internals ----------------------------------------------------------------------------
    def _rows(self, rows) -> torch.Tensor:
        if rows is None:
            return torch.arange(self.restarts)
        return torch.as_tensor(rows, dtype=torch.int64).reshape(-1).cpu()

    def _points(self, theta, rows) -> torch.Tensor:
        theta = torch.as_tensor(theta, dtype=torch.float64).detach().cpu()
        count = self.restarts if rows is None else torch.as_tensor(rows).numel()
        if theta.shape != (count, self.dimension):
            raise ValueError(
                f"theta has shape {tuple(theta.shape)}, expected ({count}, {self.dimension})"
            )
        return theta.contiguous()

    def _request(self, header: dict, arrays: dict) -> channel.Message:
        with self._lock:
            channel.send(self._sock, header, arrays)
            answer = channel.receive(self._sock)
        if answer.op == "refused":
            error = RowClosedError if answer.header.get("closed") else BudgetExceededError
            raise error(str(answer.header.get("reason", "refused by the harness")))
        return answer
