"""Chunks of an in-process run as tasks of a Dask cluster (`--executor dask`; docs/scale.md).

Each chunk is one task, keyed by the run (a hash of its configuration), the instance and the
chunk's restart range, so the same chunk of the same run always has the same key and two runs
never share one. Results come back through `ordered.in_order`: in restart order, never in
completion order. A worker that dies mid-chunk has its task re-run by the scheduler on another
worker (Dask's `distributed.scheduler.allowed-failures`, 3 by default); the chunk's records
depend on its restarts only, so the re-run gives the same records and the run writes each once.
A chunk that kills three workers stops the run with a one-line error; what was written stays,
and the same command resumes it, with any executor.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator

from qnntraps.errors import QnnTrapsError

CONNECT_TIMEOUT = "30s"


class DaskExecutorError(QnnTrapsError):
    """The Dask executor cannot be used as asked (not installed, no scheduler, a lost task)."""


class _OneThread:
    """A chunk task that sets torch to one intra-op thread in the worker first (picklable)."""

    def __init__(self, task):
        self.task = task

    def __call__(self, indices: list[int]) -> list[dict]:
        import torch

        torch.set_num_threads(1)
        return self.task(indices)


def _call(job: _OneThread, indices: list[int]) -> list[dict]:
    return job(indices)


def run_key(config: dict) -> str:
    """16 hex digits naming the run: the hash of its configuration (instance file, optimizer,
    hyper-parameters, budget, arithmetic, code identity...)."""
    text = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(text).hexdigest()[:16]


def _client(scheduler: str | None, workers: int, stack: contextlib.ExitStack):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise DaskExecutorError(
            "--executor dask needs the Python package 'distributed': pip install 'qnntraps[dask]'"
        ) from None
    if scheduler is None:
        cluster = stack.enter_context(
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
            )
        )  # fmt: skip
        return stack.enter_context(Client(cluster)), workers
    try:
        client = stack.enter_context(Client(scheduler, timeout=CONNECT_TIMEOUT))
    except (OSError, TimeoutError) as error:
        raise DaskExecutorError(
            f"cannot reach the Dask scheduler at {scheduler} ({error}); start one "
            "(`dask scheduler`, then `dask worker ADDRESS`) or leave out --scheduler for a local "
            "cluster of --workers processes"
        ) from None
    count = len(client.scheduler_info().get("workers", {}))
    return client, max(count, 1)


def dask_chunks(
    task, pending: Iterable[list[int]], config: dict, scheduler: str | None, workers: int
) -> Iterator[tuple[list[int], list[dict]]]:
    """(indices, records) of every chunk, computed on a Dask cluster: the scheduler at
    `scheduler`, or a LocalCluster of `workers` processes of one thread each started here."""
    from distributed import KilledWorker

    from qnntraps.harness.ordered import in_order

    prefix = f"qnntraps-{config['instance']}-{run_key(config)}"
    with contextlib.ExitStack() as stack:
        client, width = _client(scheduler, workers, stack)
        job = client.scatter(_OneThread(task), broadcast=True)  # sent once, not with every chunk

        live: set = set()  # the futures in flight (a held future keeps its result alive)

        def submit(indices: list[int]):
            members = hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:8]
            key = f"{prefix}-r{indices[0]}-{indices[-1]}-{members}"  # a resumed chunk has holes
            future = client.submit(_call, job, indices, key=key, pure=False)
            live.add(future)
            return future

        def result(future, indices: list[int]) -> list[dict]:
            try:
                return future.result()
            except KilledWorker:
                raise DaskExecutorError(
                    f"restarts {indices[0]}-{indices[-1]} killed every worker that ran them "
                    "(Dask's allowed failures); the records written so far are kept: run the "
                    "same command again to resume (with a smaller --chunk if memory ran out)"
                ) from None
            finally:
                live.discard(future)
                future.release()

        try:
            yield from in_order(pending, 2 * width, submit, result)
        finally:  # on an error or an interrupt, the queued chunks are dropped, not run
            if live:
                client.cancel(list(live))
