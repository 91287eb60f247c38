"""The sealed worker: one process per chunk, forked from a zygote that never held an instance.

It receives one job over its channel and answers it:

- ``probe``: resolve the optimizer by name (importing the plug-in here, never in the harness),
  merge its hyper-parameters, check them (`check_hyperparameters`), and answer its kind, merged
  hyper-parameters and summary, or the reason it cannot run;
- ``chunk``: resolve it again, build an `OracleProxy` over the channel, run the chunk with the
  adapter of its kind (`run_chunk`, which ends every restart through the proxy) and say ``done``.

The worker knows the dimension, the start points, the budget and the per-restart seeds of its
restarts — what the optimizer is allowed to know — and nothing else: not the instance ID, file,
data or certificate (its command line and environment do not name them either).
"""

from __future__ import annotations

import json
import socket

import torch

from qnntraps.errors import QnnTrapsError
from qnntraps.optimizers.adapters import describe_error, run_chunk
from qnntraps.optimizers.catalogue import check_hyperparameters, resolve_optimizer
from qnntraps.oracles.budget import Budget
from qnntraps.sealed import channel
from qnntraps.sealed.proxy import OracleProxy
from qnntraps.seeds import SeededGenerators


def main(sock: socket.socket) -> int:
    """Serve one job; the exit status is 0 when the job was answered."""
    torch.set_num_threads(1)  # the harness's process does the heavy arithmetic
    job = channel.receive(sock)
    if job.op == "probe":
        channel.send(sock, _probe(job.header))
        return 0
    if job.op == "chunk":
        _chunk(sock, job)
        return 0
    return 3


def _probe(header: dict) -> dict:
    try:
        spec = resolve_optimizer(header["optimizer"], header.get("kind"))
        hyper = spec.hyperparameters(header.get("overrides") or {})
        check_hyperparameters(spec, hyper, int(header["dimension"]))
    except QnnTrapsError as error:
        return {"op": "error", "message": str(error)}
    except Exception as error:
        return {
            "op": "error",
            "message": f"the optimizer could not be set up: {describe_error(error)}",
        }
    return {
        "op": "probe",
        "kind": spec.kind,
        "hyperparameters": _jsonable(hyper),
        "summary": spec.summary,
    }


def _chunk(sock: socket.socket, job: channel.Message) -> None:
    header = job.header
    restarts, dimension = int(header["restarts"]), int(header["dimension"])
    proxy = OracleProxy(sock, restarts, dimension, Budget(**header["budget"]))
    x0 = torch.from_numpy(job.array("x0", "<f8", (restarts, dimension)))
    generators = SeededGenerators(header["seeds"])
    try:
        spec = resolve_optimizer(header["optimizer"], header.get("kind"))
        hyper = spec.hyperparameters(header.get("overrides") or {})
    except Exception as error:  # it resolved in the probe; a plug-in that changed since
        proxy.fail(None, "optimizer-raised", describe_error(error))
    else:
        run_chunk(spec.kind, spec.factory, hyper, proxy, x0, generators)
    proxy.done()


def _jsonable(value):
    """Hyper-parameters as JSON values (tuples as lists, anything else by its repr)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False, default=repr))
    except (TypeError, ValueError):
        return repr(value)
