"""The harness's side of sealed execution: probe an optimizer, serve one chunk's oracle.

`SealedExecutor` owns one zygote for a run. `probe` asks a fresh worker to resolve and check the
optimizer (so a plug-in's code runs only in a worker, and a bad hyper-parameter is refused before
anything is written). `run_chunk` forks a worker for one chunk, sends it the chunk's public facts
(dimension, start points, budget, per-restart seeds), and answers its requests with the harness's
own oracle until it says ``done``, dies, stops answering, or breaks the protocol. Every request is
checked (shapes, dtypes, row ranges, sizes) before the oracle sees it; the oracle counts, refuses
(over budget, restart already ended) and decides the scored points. Restarts the worker did not
end are ended here with a flag saying why: `worker-hung` (no message for `timeout` seconds),
`worker-protocol-error`, `worker-died` (killed by a signal) or `worker-exit` (a non-zero status).
A worker whose restarts all ended but which then exits non-zero gets `worker-exit` on all of
them: nothing a broken worker produced is scored silently.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from qnntraps.oracles.oracle import BudgetExceededError, Oracle, RowClosedError
from qnntraps.sealed import channel
from qnntraps.sealed.zygote import SealedWorkerError, Zygote

DEFAULT_TIMEOUT = 300.0  # seconds a worker may stay silent before it counts as hung
REAP_GRACE = 5.0  # seconds a worker gets to exit after its last message
MAX_REFUSED = 10_000  # refused requests in one chunk before the worker is stopped
MAX_POINTS_PER_ROW = 1024  # points one request may ask per restart of the chunk, on average
WALL_GRACE = 1.0  # seconds past a wall budget before the harness itself refuses a call
WORKER_FLAGS = ("optimizer-raised", "wrong-shape")  # what a worker may report itself
MAX_MESSAGE = 2000  # characters of a worker's error message kept


@dataclass(frozen=True)
class ChunkJob:
    """What the worker of one chunk is told: the optimizer and the restarts' public facts."""

    optimizer: str
    kind: str | None
    overrides: dict
    budget: dict
    x0: np.ndarray  # (R, p)
    seeds: tuple[int, ...]  # the optimizer's generator seed of each restart


@dataclass(frozen=True)
class Probe:
    kind: str
    hyperparameters: dict
    summary: str


class SealedExecutor:
    """One run's sealed workers: a zygote, started on entry and stopped on exit."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, zygote: Zygote | None = None):
        """`zygote`: one already started (its interpreter imports while the caller works; the
        command line starts one before importing torch itself). The executor closes it."""
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"the worker timeout must be positive seconds, not {timeout!r}")
        self.timeout = timeout
        self._zygote: Zygote | None = None
        self._started = zygote

    def __enter__(self) -> SealedExecutor:
        self._zygote = self._started if self._started is not None else Zygote()
        self._started = None
        return self

    def __exit__(self, *exc) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None

    # --- probe -------------------------------------------------------------------------------
    def probe(self, optimizer: str, kind: str | None, overrides: dict, dimension: int) -> Probe:
        """Resolve and check the optimizer in a worker; OptimizerSpecError if it cannot run."""
        from qnntraps.optimizers.catalogue import OptimizerSpecError

        pid, sock = self._spawn()
        try:
            channel.send(
                sock,
                {
                    "op": "probe",
                    "optimizer": optimizer,
                    "kind": kind,
                    "overrides": overrides,
                    "dimension": dimension,
                },
            )
            answer = channel.receive(sock, time.monotonic() + self.timeout, 0)
        except channel.ChannelError as error:
            answer = None
            reason = str(error)
        finally:
            sock.close()
        status = self._zygote.reap(pid, REAP_GRACE)
        if answer is None:
            raise OptimizerSpecError(
                f"cannot set up optimizer {optimizer!r}: its worker process ended without an "
                f"answer ({reason}; exit status {status}); run it with --in-process to see the "
                "traceback"
            )
        if answer.op == "error":
            raise OptimizerSpecError(_clip(str(answer.header.get("message")), MAX_MESSAGE))
        hyper = answer.header.get("hyperparameters")
        kind_found = answer.header.get("kind")
        if answer.op != "probe" or not isinstance(hyper, dict) or not isinstance(kind_found, str):
            raise OptimizerSpecError(f"optimizer {optimizer!r}: its worker answered nonsense")
        return Probe(kind_found, hyper, _clip(str(answer.header.get("summary", "")), 200))

    # --- one chunk ---------------------------------------------------------------------------
    def run_chunk(self, job: ChunkJob, oracle: Oracle) -> None:
        """Run one chunk in a fresh worker; every row of `oracle` ends finished or failed."""
        pid, sock = self._spawn()
        oracle.wall_grace = WALL_GRACE
        oracle.start_clock()
        outcome = _Session(oracle, sock, self.timeout).serve(job)
        sock.close()
        status = self._zygote.reap(pid, REAP_GRACE)
        _end_rows(oracle, outcome, status)

    def _spawn(self) -> tuple[int, object]:
        if self._zygote is None:
            raise SealedWorkerError("use SealedExecutor in a with-block")
        return self._zygote.spawn()


class _Session:
    """Serve one worker's requests against the oracle until it ends."""

    def __init__(self, oracle: Oracle, sock, timeout: float):
        self.oracle = oracle
        self.sock = sock
        self.timeout = timeout
        self.refused = 0
        p = oracle.dimension
        self.max_points = MAX_POINTS_PER_ROW * oracle.restarts
        self.max_payload = 8 * (2 * p + 2) * self.max_points + (1 << 16)

    def serve(self, job: ChunkJob) -> str:
        """'done', 'hung', 'closed' or 'protocol: <reason>'."""
        try:
            channel.send(
                self.sock,
                {
                    "op": "chunk",
                    "optimizer": job.optimizer,
                    "kind": job.kind,
                    "overrides": job.overrides,
                    "budget": job.budget,
                    "restarts": self.oracle.restarts,
                    "dimension": self.oracle.dimension,
                    "seeds": [int(s) for s in job.seeds],
                },
                {"x0": job.x0},
            )
        except OSError:
            return "closed"
        while True:
            try:
                request = channel.receive(
                    self.sock, time.monotonic() + self.timeout, self.max_payload
                )
                if request.op == "done":
                    return "done"
                self._answer(request)
            except channel.ChannelTimeout:
                return "hung"
            except channel.ChannelClosed:
                return "closed"
            except (channel.ChannelProtocolError, KeyError, TypeError, ValueError) as error:
                return f"protocol: {_clip(str(error), 200)}"
            except OSError:
                return "closed"
            if self.refused > MAX_REFUSED:
                return f"protocol: more than {MAX_REFUSED} refused requests"

    def _answer(self, request: channel.Message) -> None:
        op, oracle, p = request.op, self.oracle, self.oracle.dimension
        rows = self._rows(request)
        if op in ("loss", "grad"):
            theta = request.array("theta", "<f8", (rows.numel(), p))
            try:
                with torch.no_grad():
                    if op == "loss":
                        value = oracle.loss(torch.from_numpy(theta), rows)
                        arrays = {"value": value.detach().cpu().numpy()}
                    else:
                        value, grad = oracle.loss_and_grad(torch.from_numpy(theta), rows)
                        arrays = {
                            "value": value.detach().cpu().numpy(),
                            "grad": grad.detach().cpu().numpy(),
                        }
            except RowClosedError as error:
                self.refused += 1
                channel.send(self.sock, {"op": "refused", "closed": True, "reason": str(error)})
                return
            except BudgetExceededError as error:
                self.refused += 1
                channel.send(self.sock, {"op": "refused", "closed": False, "reason": str(error)})
                return
            channel.send(self.sock, {"op": "ok"}, arrays)
        elif op == "can":
            kind = request.header.get("kind")
            if kind not in ("loss", "gradient"):
                raise ValueError(f"unknown evaluation kind {kind!r}")
            check = oracle.can_evaluate_loss if kind == "loss" else oracle.can_evaluate_grad
            mask = check(rows).cpu().numpy()
            channel.send(self.sock, {"op": "ok"}, {"mask": mask})
        elif op == "best":
            channel.send(
                self.sock,
                {"op": "ok"},
                {"value": oracle.best_value.numpy(), "point": oracle.best_point.numpy()},
            )
        elif op == "start_clock":
            oracle.start_clock(rows)
            channel.send(self.sock, {"op": "ok"})
        elif op == "finish":
            points = request.array("points", "<f8", (rows.numel(), p))
            oracle.finish(rows, torch.from_numpy(points))
            channel.send(self.sock, {"op": "ok"})
        elif op == "fail":
            flag = request.header.get("flag")
            if flag not in WORKER_FLAGS:
                raise ValueError(f"a worker may not report the flag {flag!r}")
            message = request.header.get("message")
            oracle.fail(rows, flag, _clip(str(message), MAX_MESSAGE) if message else None)
            channel.send(self.sock, {"op": "ok"})
        else:
            raise ValueError(f"unknown request {op!r}")

    def _rows(self, request: channel.Message) -> torch.Tensor:
        if request.op == "best":
            return torch.arange(self.oracle.restarts)
        rows = request.array("rows", "<i8", (None,))
        if rows.size > self.max_points:
            raise ValueError(f"a request of {rows.size} points is too large")
        if rows.size and (rows.min() < 0 or rows.max() >= self.oracle.restarts):
            raise ValueError("a request names rows outside the chunk")
        return torch.from_numpy(rows)


def _end_rows(oracle: Oracle, outcome: str, status: int) -> None:
    open_rows = torch.nonzero(~oracle.finished).reshape(-1)
    if outcome == "hung":
        flag, why = "worker-hung", "the worker sent nothing for the worker timeout and was killed"
    elif outcome.startswith("protocol"):
        flag, why = "worker-protocol-error", f"the worker broke the protocol ({outcome[10:]})"
    elif status < 0:
        flag, why = "worker-died", f"the worker was ended by signal {-status}"
    elif status > 0 or outcome != "done":
        flag, why = "worker-exit", f"the worker exited with status {status}"
    else:
        flag = None
    if flag is not None and open_rows.numel():
        oracle.fail(open_rows, flag, why)
    if status != 0 and outcome == "done":
        # every restart ended, yet the worker then failed: flag them all, score none silently
        oracle.flag(None, "worker-exit", f"the worker exited with status {status}")


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
