"""Run one optimizer on one instance from N seeded restarts and score every restart.

Restarts are processed in chunks of consecutive pending indices; each chunk is one Oracle and
one adapter call (so batched optimizers run the whole chunk as a batch). Records of a chunk are
appended when it is done, so an interrupted run loses at most the chunk in flight and resumes
with the rest. Because every restart depends only on (instance sha256, restart index) and
optimizers keep restarts independent, the resumed run's records equal an uninterrupted run's
(all fields but wall_seconds). Scores use the exact CPU loss at the final point.

The hardware track (docs/hardware.md) swaps the Oracle for qnntraps.hardware's ShotOracle: shot
estimates from a Qiskit or Cirq backend chosen by RunSettings.hardware, a budget in shots, and
the device facts and jobs written beside the records. It is scored the same way.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy
import torch

import qnntraps
from qnntraps.errors import QnnTrapsError
from qnntraps.hardware.config import HardwareConfig
from qnntraps.hardware.errors import HardwareConfigError
from qnntraps.harness import results
from qnntraps.harness.budget import Budget, BudgetSpecError, require_shots
from qnntraps.harness.oracle import Oracle
from qnntraps.harness.starts import optimizer_generator, start_points
from qnntraps.harness.summary import run_summary
from qnntraps.instance import Instance
from qnntraps.optimizers.adapters import RUNNERS
from qnntraps.optimizers.catalogue import OptimizerSpec
from qnntraps.registry import find_entry
from qnntraps.simulators import torch_product

TRACKS = ("exact", "gpu", "hardware")
DEFAULT_CHUNK = {"exact": 1000, "gpu": 100_000, "hardware": 100}


class TrackUnavailableError(QnnTrapsError):
    """The requested track needs hardware this machine does not have."""


@dataclass(frozen=True)
class RunSettings:
    optimizer: OptimizerSpec
    hyperparameters: dict
    budget: Budget
    restarts: int
    track: str = "exact"
    chunk: int | None = None
    hardware: HardwareConfig | None = None  # the hardware track's provider, device and shots

    def chunk_size(self) -> int:
        return self.chunk or DEFAULT_CHUNK[self.track]


def device_for(track: str) -> torch.device:
    if track not in TRACKS:
        raise TrackUnavailableError(f"unknown track {track!r}: use one of {', '.join(TRACKS)}")
    if track == "gpu":
        if not torch.cuda.is_available():
            raise TrackUnavailableError(
                "--track gpu needs a CUDA device and a CUDA build of torch; none is available "
                "here (use --track exact)"
            )
        return torch.device("cuda")
    return torch.device("cpu")


def check_track_settings(settings: RunSettings) -> None:
    """The hardware track needs a HardwareConfig and a shot budget; the others take neither."""
    if settings.track == "hardware":
        if settings.hardware is None:
            raise HardwareConfigError(
                "--track hardware needs a hardware configuration (--hardware-config FILE; "
                "docs/hardware.md)"
            )
        require_shots(settings.budget)
        return
    if settings.hardware is not None:
        raise HardwareConfigError("a hardware configuration goes with --track hardware only")
    if settings.budget.shots is not None:
        raise BudgetSpecError("shots= is a budget of the hardware track only")


def run_config(instance: Instance, sha256: str, settings: RunSettings) -> dict:
    cert = instance.certificate
    config = {
        "format": results.RUN_FORMAT,
        "instance": instance.id,
        "sha256": sha256,
        "num_parameters": instance.num_parameters,
        "global_min_value": cert.global_min_value,
        "hit_tolerance": cert.hit_tolerance,
        "certificate_kind": cert.kind,
        "optimizer": settings.optimizer.name,
        "kind": settings.optimizer.kind,
        "hyperparameters": _jsonable(settings.hyperparameters),
        "budget": settings.budget.as_dict(),
        "restarts": settings.restarts,
        "chunk": settings.chunk_size(),
        "track": settings.track,
        "versions": {
            "qnntraps": qnntraps.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
        },
    }
    if settings.track == "hardware":
        config["hardware"] = settings.hardware.as_dict()
    return config


def run(
    instance: Instance,
    settings: RunSettings,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Run (or resume) and return the summary; writes config, records and summary under out."""
    if settings.restarts < 1:
        raise ValueError("restarts must be at least 1")
    device = device_for(settings.track)
    check_track_settings(settings)
    sha256 = find_entry(instance.id).sha256
    config = run_config(instance, sha256, settings)
    done = results.open_run(Path(out), config)
    pending = [r for r in range(settings.restarts) if r not in done]
    hardware = None
    if settings.track == "hardware":
        if pending:  # open the device (and record its facts) only when there is work
            from qnntraps.hardware.runs import HardwareRun

            hardware = HardwareRun(instance, settings.hardware, Path(out), sha256)
    else:
        form = torch_product.to_torch(instance.product_form, device)
    runner = RUNNERS[settings.optimizer.kind]
    p = instance.num_parameters
    finished = settings.restarts - len(pending)
    if progress is not None:
        progress(finished, settings.restarts)
    chunk = settings.chunk_size()
    for first in range(0, len(pending), chunk):
        indices = pending[first : first + chunk]
        starts = start_points(sha256, indices, p)
        generators = [optimizer_generator(sha256, r) for r in indices]
        if hardware is not None:
            oracle = hardware.oracle(indices, settings.budget)
        else:
            oracle = Oracle(form, len(indices), settings.budget)
        x0 = torch.as_tensor(starts, device=device)
        began = time.perf_counter()
        oracle.start_clock()
        final = runner(settings.optimizer.factory, settings.hyperparameters, oracle, x0, generators)
        wall = time.perf_counter() - began
        final = np.asarray(final.detach().cpu().numpy(), dtype=np.float64).reshape(len(indices), p)
        records = score_chunk(instance, indices, starts, final, oracle, wall)
        if hardware is not None:
            hardware.annotate(records, oracle, final)
        results.append_records(Path(out) / results.RECORDS, records)
        done.update({r["restart"]: r for r in records})
        summary = run_summary(config, done)
        results.write_json_atomic(Path(out) / results.SUMMARY, summary)
        finished += len(indices)
        if progress is not None:
            progress(finished, settings.restarts)
    summary = run_summary(config, done)
    results.write_json_atomic(Path(out) / results.SUMMARY, summary)
    return summary


def score_chunk(instance, indices, starts, final, oracle: Oracle, wall: float) -> list[dict]:
    """One record per restart, scored by the exact CPU loss at the final point."""
    p = instance.num_parameters
    cert = instance.certificate
    finite = np.all(np.isfinite(final), axis=1)
    safe = np.where(finite[:, None], final, 0.0)
    final_loss = np.where(finite, instance.loss(safe), np.inf)
    start_loss = instance.loss(starts)
    records = []
    for i, r in enumerate(indices):
        loss_evals, grad_evals = int(oracle.loss_evals[i]), int(oracle.grad_evals[i])
        gap = float(final_loss[i] - cert.global_min_value)
        records.append(
            {
                "restart": int(r),
                "start_loss": float(start_loss[i]),
                "final_loss": float(final_loss[i]) if finite[i] else None,
                "gap": gap if math.isfinite(gap) else None,
                "hit": bool(finite[i] and gap <= cert.hit_tolerance),
                "loss_evals": loss_evals,
                "grad_evals": grad_evals,
                "equivalent_evals": loss_evals + 2 * p * grad_evals,
                "stopped_by_wall": bool(oracle.stopped_by_wall[i]),
                "final_point": [float(x) for x in final[i]] if finite[i] else None,
                "wall_seconds": wall / len(indices),
            }
        )
    return records


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
