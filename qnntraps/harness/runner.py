"""Run one optimizer on one instance from N seeded restarts and score every restart.

`run(instance, settings, out)` first prepares everything and writes nothing: it checks the
settings (restart count, chunk, track, budget, hardware configuration and device), resolves the
optimizer and checks its hyper-parameters (for a plug-in in a sealed worker, so that its code
never runs in this process), computes the optimizer's code identity, and checks that the run
folder is new or holds this same run. Only then does it lock the folder and write.

Restarts run in chunks of consecutive pending indices; each chunk is one oracle and one adapter
call (so batched optimizers run the whole chunk as a batch), in this process (built-ins, by
default) or in a fresh sealed worker process (plug-ins, by default; qnntraps.sealed). Records of
a chunk are appended when it is done, so an interrupted run loses at most the chunk in flight and
resumes with the rest. Because every restart depends only on (instance sha256, restart index)
and optimizers keep restarts independent, the resumed run's records equal an uninterrupted run's
(all fields but wall_seconds), whatever the chunk size. Scores use the exact CPU loss at the point
each restart's oracle decided (docs/scoring.md); a flagged restart is never a hit.

The hardware track (docs/hardware.md) swaps the Oracle for qnntraps.hardware's ShotOracle: shot
estimates from a Qiskit or Cirq backend chosen by RunSettings.hardware, a budget in shots, and
the device facts and jobs written beside the records. It is scored the same way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import platform
import time
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
from qnntraps.harness.ordered import in_order
from qnntraps.harness.starts import optimizer_seed, start_points
from qnntraps.harness.summary import Tally, run_summary
from qnntraps.instance import Instance
from qnntraps.optimizers.adapters import run_chunk
from qnntraps.optimizers.catalogue import (
    DEFAULT_BUDGET,
    OptimizerSpec,
    check_hyperparameters,
    is_builtin,
    resolve_optimizer,
)
from qnntraps.optimizers.identity import CodeIdentity, code_identity
from qnntraps.oracles.budget import Budget, BudgetSpecError, require_shots
from qnntraps.oracles.oracle import Oracle
from qnntraps.registry import find_entry
from qnntraps.sealed.serve import DEFAULT_TIMEOUT, ChunkJob, SealedExecutor
from qnntraps.seeds import SeededGenerators
from qnntraps.simulators import compile as compile_evaluator
from qnntraps.simulators import evaluate
from qnntraps.simulators.evaluate import cpu_evaluator
from qnntraps.simulators.evaluator import RUN_ARITHMETIC, check_arithmetic

TRACKS = ("exact", "gpu", "hardware")
EXECUTORS = ("local", "dask")
EXECUTIONS = ("sealed", "in-process")
DEFAULT_CHUNK = {"exact": 1000, "gpu": 100_000, "hardware": 100}
MAX_RESTARTS = 10**7  # restarts of one instance in one run folder
MAX_CHUNK = 10**6  # restarts per batch
MAX_WORKERS = 256  # processes of one run
SUMMARY_INTERVAL = 5.0  # seconds between rewrites of summary.json during a run (and at its end)
PROGRESS_INTERVAL = 0.25  # seconds between progress reports from within a chunk


class TrackUnavailableError(QnnTrapsError):
    """The requested track needs hardware this machine does not have."""


class WorkerDiedError(QnnTrapsError):
    """A --workers process died mid-chunk; what was written stays, and the run resumes."""


class RunSettingsError(QnnTrapsError, ValueError):
    """Settings of a run that cannot be used (restart count, chunk, execution mode)."""


@dataclass(frozen=True)
class RunSettings:
    """What to run. `optimizer`: a name (built-in, entry point, module:callable) or a resolved
    OptimizerSpec; `hyperparameters`: overrides of its defaults (a full set works too);
    `budget`: None for the optimizer's default (DEFAULT_BUDGET for every plug-in);
    `execution`: "sealed", "in-process" or None (sealed for plug-ins, in process for built-ins);
    `worker_timeout`: seconds a sealed worker may stay silent before it counts as hung;
    `arithmetic`: the oracle's product-form arithmetic (qnntraps.simulators.evaluator; 1 repeats
    runs recorded before arithmetic 2 existed); `workers`: processes running chunks side by
    side (in-process runs of the exact and gpu tracks; the records are the serial run's, in
    restart order, so it is not part of the run's identity)."""

    optimizer: OptimizerSpec | str
    hyperparameters: dict
    budget: Budget | None
    restarts: int
    track: str = "exact"
    chunk: int | None = None
    hardware: HardwareConfig | None = None  # the hardware track's provider, device and shots
    kind: str | None = None  # the adapter for a module:callable (inferred when None)
    execution: str | None = None
    worker_timeout: float = DEFAULT_TIMEOUT
    arithmetic: int = RUN_ARITHMETIC
    workers: int = 1
    executor: str = "local"  # "local": this process, or --workers processes; "dask": a cluster
    scheduler: str | None = None  # with executor "dask": the scheduler's address, else a local one

    @property
    def optimizer_name(self) -> str:
        return self.optimizer if isinstance(self.optimizer, str) else self.optimizer.name

    def chunk_size(self) -> int:
        return self.chunk or DEFAULT_CHUNK[self.track]

    def execution_mode(self) -> str:
        if self.execution is not None:
            return self.execution
        builtin = isinstance(self.optimizer, str) and is_builtin(self.optimizer)
        if isinstance(self.optimizer, OptimizerSpec):
            builtin = is_builtin(self.optimizer.name) and self.optimizer is resolve_optimizer(
                self.optimizer.name
            )
        return "in-process" if builtin else "sealed"


@dataclass(frozen=True)
class _Plan:
    """A run, checked and resolved, before anything is written."""

    instance: Instance
    settings: RunSettings
    sha256: str
    device: torch.device
    kind: str
    spec: OptimizerSpec | None  # in process: the resolved optimizer; sealed: None
    hyperparameters: dict
    budget: Budget
    identity: CodeIdentity
    config: dict
    backend: object | None  # the hardware track's opened backend


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


def check_track_settings(settings: RunSettings, budget: Budget) -> None:
    """The hardware track needs a HardwareConfig and a shot budget; the others take neither."""
    if settings.track == "hardware":
        if settings.hardware is None:
            raise HardwareConfigError(
                "--track hardware needs a hardware configuration (--hardware-config FILE; "
                "docs/hardware.md)"
            )
        require_shots(budget)
        return
    if settings.hardware is not None:
        raise HardwareConfigError("a hardware configuration goes with --track hardware only")
    if budget.shots is not None:
        raise BudgetSpecError("shots= is a budget of the hardware track only")


def check_counts(settings: RunSettings) -> None:
    """Restart count, chunk, execution mode and worker timeout, refused at once when wrong."""
    restarts = settings.restarts
    if isinstance(restarts, bool) or not isinstance(restarts, int) or not 1 <= restarts:
        raise RunSettingsError(f"--restarts must be a whole number >= 1, not {restarts!r}")
    if restarts > MAX_RESTARTS:
        raise RunSettingsError(
            f"--restarts {restarts} is more than the {MAX_RESTARTS:.0e} restarts one run folder "
            "holds; split the work over several --out folders"
        )
    chunk = settings.chunk
    if chunk is not None and (
        isinstance(chunk, bool) or not isinstance(chunk, int) or not 1 <= chunk <= MAX_CHUNK
    ):
        raise RunSettingsError(f"--chunk must be a whole number from 1 to {MAX_CHUNK:.0e}")
    if settings.execution is not None and settings.execution not in EXECUTIONS:
        raise RunSettingsError(f"execution must be one of {', '.join(EXECUTIONS)}")
    workers = settings.workers
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise RunSettingsError(f"--workers must be a whole number from 1 to {MAX_WORKERS}")
    if (
        workers > 1
        and settings.executor == "local"
        and (settings.execution_mode() == "sealed" or settings.track == "hardware")
    ):
        raise RunSettingsError(
            "--workers runs in-process chunks of the exact and gpu tracks side by side; a sealed "
            "or hardware run takes one worker (drop --workers, or add --in-process for a built-in)"
        )
    if settings.executor not in EXECUTORS:
        raise RunSettingsError(f"--executor must be one of {', '.join(EXECUTORS)}")
    if settings.executor == "dask" and settings.track != "exact":
        raise RunSettingsError(
            "--executor dask runs chunks of the exact track; a gpu or hardware run stays on "
            "the machine that holds its device (drop --executor)"
        )
    if settings.scheduler is not None and (
        settings.executor != "dask" or not isinstance(settings.scheduler, str)
    ):
        raise RunSettingsError("--scheduler tcp://HOST:PORT goes with --executor dask")
    try:
        check_arithmetic(settings.arithmetic)
    except ValueError as error:
        raise RunSettingsError(f"--{error}") from None
    timeout = settings.worker_timeout
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not (math.isfinite(timeout) and timeout > 0)
    ):
        raise RunSettingsError(f"--worker-timeout must be positive seconds, not {timeout!r}")


def _prepare(
    instance: Instance,
    settings: RunSettings,
    executor: SealedExecutor | None,
    sha256: str | None = None,
) -> _Plan:
    """Everything that can be checked before a byte is written (see the module docstring).
    `sha256` keys the starts; by default it is the registry's pin of the instance."""
    check_counts(settings)
    device = device_for(settings.track)
    sha256 = sha256 or find_entry(instance.id).sha256
    p = instance.num_parameters
    name = settings.optimizer_name
    overrides = dict(settings.hyperparameters or {})
    identity = code_identity(name, is_builtin(name))  # while a sealed worker pool starts
    if executor is None:
        spec = (
            settings.optimizer
            if isinstance(settings.optimizer, OptimizerSpec)
            else resolve_optimizer(name, settings.kind)
        )
        hyper = spec.hyperparameters(overrides)
        check_hyperparameters(spec, hyper, p)
        kind, default_budget = spec.kind, spec.budget
    else:
        probe = executor.probe(name, settings.kind, overrides, p)
        spec, hyper, kind = None, probe.hyperparameters, probe.kind
        default_budget = BUILTIN_BUDGETS.get(name, DEFAULT_BUDGET)
    budget = settings.budget if settings.budget is not None else default_budget
    check_track_settings(settings, budget)
    backend = None
    if settings.track == "hardware":
        from qnntraps.hardware.backend import open_backend

        backend = open_backend(instance, settings.hardware)
    config = run_config(instance, sha256, settings, kind, hyper, budget, identity)
    return _Plan(
        instance, settings, sha256, device, kind, spec, hyper, budget, identity, config, backend
    )


def _builtin_budgets() -> dict[str, Budget]:
    from qnntraps.optimizers.catalogue import BUILTINS

    return {name: spec.budget for name, spec in BUILTINS.items()}


BUILTIN_BUDGETS = _builtin_budgets()


def software_versions() -> dict[str, str]:
    """The versions a run records, and that a worker running its chunks must have."""
    return {
        "qnntraps": qnntraps.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }


class WorkerSoftwareError(QnnTrapsError):
    """A worker (a Dask worker on another machine) runs other versions than the run records."""


def run_config(
    instance: Instance,
    sha256: str,
    settings: RunSettings,
    kind: str,
    hyperparameters: dict,
    budget: Budget,
    identity: CodeIdentity,
) -> dict:
    cert = instance.certificate
    config = {
        "format": results.RUN_FORMAT,
        "instance": instance.id,
        "sha256": sha256,
        "num_parameters": instance.num_parameters,
        "global_min_value": cert.global_min_value,
        "hit_tolerance": cert.hit_tolerance,
        "certificate_kind": cert.kind,
        "optimizer": settings.optimizer_name,
        "kind": kind,
        "hyperparameters": _jsonable(hyperparameters),
        "budget": budget.as_dict(),
        "restarts": settings.restarts,
        "chunk": settings.chunk_size(),
        "track": settings.track,
        "arithmetic": settings.arithmetic,
        "execution": settings.execution_mode(),
        "code": identity.as_dict(),
        "versions": software_versions(),
    }
    if settings.track == "hardware":
        config["hardware"] = settings.hardware.as_dict()
    return config


def run(
    instance: Instance,
    settings: RunSettings,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    executor: SealedExecutor | None = None,
) -> dict:
    """Run (or resume) and return the summary; writes config, records and summary under out.

    Nothing is written unless every check passes (module docstring); the folder is locked for
    the whole run, so a second run on it is refused with a clear error. A sealed run uses
    `executor` when given (one zygote serving several runs: `qnntraps run --family` starts it
    before loading the first instance) and its own, started and stopped here, otherwise; every
    chunk gets a freshly forked worker either way.
    """
    out = Path(out)
    check_counts(settings)
    own = _pool(settings, executor)
    with own as pool:
        plan = _prepare(instance, settings, pool)
        results.check_run(out, plan.config)
        with results.RunLock(out):
            done = Tally(settings.restarts, results.open_run(out, plan.config))
            return _execute(plan, out, done, pool, progress)


def _pool(settings: RunSettings, executor: SealedExecutor | None):
    """The context giving a run its sealed executor: none in process, the given one, or its own."""
    if settings.execution_mode() != "sealed":
        return contextlib.nullcontext(None)
    if executor is not None:
        return contextlib.nullcontext(executor)
    return SealedExecutor(settings.worker_timeout)


def _execute(plan: _Plan, out: Path, done: Tally, pool, progress) -> dict:
    """Run the restarts not yet done, appending each chunk's records as it ends; `done` is the
    tally of the records written (only what the summary needs is kept in memory)."""
    instance, settings, config = plan.instance, plan.settings, plan.config
    hardware = evaluator = None
    restarts, chunk = settings.restarts, settings.chunk_size()
    finished = done.count
    if finished < restarts:
        if plan.backend is not None:
            from qnntraps.hardware.runs import HardwareRun

            hardware = HardwareRun(
                instance, settings.hardware, out, plan.sha256, backend=plan.backend
            )
        else:
            evaluator = compile_evaluator(instance, plan.device, settings.arithmetic)
    pending = pending_chunks(done, restarts, chunk)
    watch = None if progress is None else _ChunkWatch(progress, finished, restarts)
    if settings.executor == "dask":
        from qnntraps.harness.dask_executor import dask_chunks

        chunks = dask_chunks(
            _chunk_task(plan), pending, config, settings.scheduler, settings.workers
        )
    elif settings.workers > 1:
        chunks = _parallel_chunks(plan, pending, settings.workers)
    else:
        chunks = _serial_chunks(plan, pool, evaluator, hardware, pending, watch)
    written = time.monotonic()
    for indices, records in chunks:
        results.append_records(out / results.RECORDS, records)
        done.add(records)
        if time.monotonic() - written >= SUMMARY_INTERVAL:  # its cost grows with the records
            results.write_json_atomic(out / results.SUMMARY, run_summary(config, done))
            written = time.monotonic()
        finished += len(indices)
        if watch is not None:
            watch.chunk_done(finished)
    summary = run_summary(config, done)
    results.write_json_atomic(out / results.SUMMARY, summary)
    return summary


class _ChunkWatch:
    """Reports progress(done, total) as chunks end and, within a chunk, from its oracle's
    `progress()` (at most every PROGRESS_INTERVAL seconds), never going backwards."""

    def __init__(self, progress: Callable[[int, int], None], finished: int, total: int):
        self.progress, self.finished, self.total = progress, finished, total
        self.shown, self.checked = finished, time.monotonic()
        progress(finished, total)

    def __call__(self, oracle: Oracle) -> None:
        now = time.monotonic()
        if now - self.checked < PROGRESS_INTERVAL:
            return
        self.checked = now
        self._show(self.finished + int(oracle.progress()))

    def chunk_done(self, finished: int) -> None:
        self.finished = finished
        self._show(finished)

    def _show(self, done: int) -> None:
        done = min(max(done, self.shown), self.total)
        if done > self.shown or done == self.finished:
            self.shown = done
            self.progress(done, self.total)


def _serial_chunks(
    plan: _Plan, pool, evaluator, hardware, pending: Iterable[list[int]], watch=None
):
    """(indices, records) of each chunk, run one after another in this process; `watch` (a
    _ChunkWatch) observes each chunk's oracle."""
    for indices in pending:
        oracle = (
            hardware.oracle(indices, plan.budget)
            if hardware is not None
            else Oracle(evaluator, len(indices), plan.budget)
        )
        oracle.observer = watch
        records = _scored_chunk(plan, pool, oracle, indices)
        if hardware is not None:
            hardware.annotate(records, oracle, oracle.final_point.numpy())
        yield indices, records


def _parallel_chunks(plan: _Plan, pending: Iterable[list[int]], workers: int):
    """(indices, records) of each chunk in order, computed by `workers` processes.

    At most 2 x workers chunks are in flight, so memory stays bounded however many chunks a run
    has; results are taken in submission order (restart order), never in completion order.
    A chunk's records depend on its restarts only, so they equal the serial run's (all fields
    but wall_seconds). Workers are spawned (not forked: torch's thread pools do not survive a
    fork) with one intra-op thread each.
    """
    task = _chunk_task(plan)
    context = multiprocessing.get_context("spawn")
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread)

    def result(future, indices: list[int]) -> list[dict]:
        try:
            return future.result()
        except BrokenProcessPool:
            raise WorkerDiedError(
                f"a worker process died (killed, or out of memory) running restarts "
                f"{indices[0]}-{indices[-1]}; the records written so far are kept: run the "
                "same command again to resume (with fewer --workers or a smaller --chunk if "
                "memory ran out)"
            ) from None

    try:
        yield from in_order(pending, 2 * workers, lambda i: executor.submit(task, i), result)
    finally:  # on an error or an interrupt, queued chunks are dropped, not run
        executor.shutdown(wait=True, cancel_futures=True)


def _chunk_task(plan: _Plan) -> _ChunkTask:
    return _ChunkTask(
        plan.instance, plan.settings, plan.sha256, plan.device.type, plan.kind,
        plan.hyperparameters, plan.budget, software_versions(),
    )  # fmt: skip


def _one_thread() -> None:
    torch.set_num_threads(1)


@dataclass(frozen=True)
class _ChunkTask:
    """One chunk of an in-process run, as a worker process runs it (picklable)."""

    instance: Instance
    settings: RunSettings
    sha256: str
    device: str
    kind: str
    hyperparameters: dict
    budget: Budget
    versions: dict | None = None  # those of the machine that runs the command

    def __call__(self, indices: list[int]) -> list[dict]:
        here = software_versions()
        differing = sorted(k for k, v in (self.versions or {}).items() if here.get(k) != v)
        if differing:
            raise WorkerSoftwareError(
                "a worker runs other versions than the run ("
                + ", ".join(f"{k} {here.get(k)} against {self.versions[k]}" for k in differing)
                + "), which can change its records: install the same versions on every worker"
            )
        settings = self.settings
        sealed = settings.execution_mode() == "sealed"
        spec = None  # sealed: the optimizer's code is imported by the sealed worker only
        if not sealed:
            spec = (
                settings.optimizer
                if isinstance(settings.optimizer, OptimizerSpec)
                else resolve_optimizer(settings.optimizer_name, settings.kind)
            )
        plan = _Plan(
            self.instance, settings, self.sha256, torch.device(self.device), self.kind, spec,
            self.hyperparameters, self.budget, None, {}, None,
        )  # fmt: skip
        evaluator = compile_evaluator(self.instance, plan.device, settings.arithmetic)
        oracle = Oracle(evaluator, len(indices), self.budget)
        if not sealed:
            return _scored_chunk(plan, None, oracle, indices)
        # a sealed chunk on a Dask worker: a zygote of its own, on that machine (docs/scale.md)
        with SealedExecutor(settings.worker_timeout) as pool:
            return _scored_chunk(plan, pool, oracle, indices)


def run_restarts(
    instance: Instance,
    settings: RunSettings,
    indices: list[int],
    *,
    sha256: str | None = None,
    executor: SealedExecutor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """The records of restarts `indices`, run in that order in chunks of the settings' chunk
    size; nothing is written. Verification re-runs a submission's restarts this way (another
    order and chunking must give the same records) and runs held-out instances, which are in
    no registry: `sha256` then keys their starts. Not for the hardware track.
    `progress(done, len(indices))` is called as restarts finish, within chunks too.
    """
    if settings.track == "hardware":
        raise RunSettingsError("run_restarts is for the exact and gpu tracks")
    check_counts(settings)
    if len(set(indices)) != len(indices) or not all(
        isinstance(r, int) and 0 <= r < MAX_RESTARTS for r in indices
    ):
        raise RunSettingsError(
            f"restart indices must be distinct whole numbers below {MAX_RESTARTS}"
        )
    own = _pool(settings, executor)
    records: list[dict] = []
    with own as pool:
        plan = _prepare(instance, settings, pool, sha256)
        evaluator = compile_evaluator(instance, plan.device, settings.arithmetic)
        size = settings.chunk_size()
        watch = None if progress is None else _ChunkWatch(progress, 0, len(indices))
        for begin in range(0, len(indices), size):
            chunk = list(indices[begin : begin + size])
            oracle = Oracle(evaluator, len(chunk), plan.budget)
            oracle.observer = watch
            records += _scored_chunk(plan, pool, oracle, chunk)
            if watch is not None:
                watch.chunk_done(len(records))
    return records


def _scored_chunk(plan: _Plan, pool, oracle: Oracle, indices: list[int]) -> list[dict]:
    """Run one chunk of restarts `indices` against `oracle` and score it (one record each)."""
    starts = start_points(plan.sha256, indices, plan.instance.num_parameters)
    began = time.perf_counter()
    _run_one_chunk(plan, pool, oracle, starts, indices)
    wall = time.perf_counter() - began
    return score_chunk(plan.instance, indices, starts, oracle, wall, plan.settings.arithmetic)


def _run_one_chunk(plan: _Plan, pool, oracle: Oracle, starts: np.ndarray, indices) -> None:
    sha256 = plan.sha256
    if pool is None:
        x0 = torch.as_tensor(starts, device=oracle.device)
        generators = SeededGenerators([optimizer_seed(sha256, r) for r in indices])
        oracle.start_clock()
        run_chunk(plan.kind, plan.spec.factory, plan.hyperparameters, oracle, x0, generators)
        return
    job = ChunkJob(
        optimizer=plan.settings.optimizer_name,
        kind=plan.kind,
        overrides=plan.hyperparameters,
        budget=dataclasses.asdict(oracle.budget),
        x0=starts,
        seeds=tuple(optimizer_seed(sha256, r) for r in indices),
    )
    pool.run_chunk(job, oracle)


def pending_chunks(done: Container[int], restarts: int, size: int) -> Iterator[list[int]]:
    """Lists of at most `size` restart indices not in `done`, in increasing order (lazily)."""
    chunk: list[int] = []
    for r in range(restarts):
        if r in done:
            continue
        chunk.append(r)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def score_chunk(
    instance, indices, starts, oracle: Oracle, wall: float, arithmetic: int = RUN_ARITHMETIC
) -> list[dict]:
    """One record per restart (`qnntraps.harness.records`), scored by the exact CPU loss (in the
    run's arithmetic) at the point its oracle decided.

    A hit needs a point, a gap within the tolerance, no flag, and more than one evaluation (a
    restart that evaluated nothing but the point it is scored at is flagged `hit-at-zero-cost`).
    """
    p = instance.num_parameters
    cert = instance.certificate
    final = oracle.final_point.numpy().astype(np.float64).reshape(len(indices), p)
    finite = np.all(np.isfinite(final), axis=1)
    final_loss = np.full(len(indices), np.inf)
    if finite.any():
        final_loss[finite] = evaluate.loss(cpu_evaluator(instance, arithmetic), final[finite])
    start_loss = evaluate.loss(cpu_evaluator(instance, arithmetic), starts)
    loss_counts, grad_counts = oracle.loss_evals.tolist(), oracle.grad_evals.tolist()
    by_wall = oracle.stopped_by_wall.tolist()
    points, start_values = final.tolist(), start_loss.tolist()
    gaps = (final_loss - cert.global_min_value).tolist()
    values = final_loss.tolist()
    share = wall / len(indices)
    records = []
    for i, r in enumerate(indices):
        loss_evals, grad_evals = loss_counts[i], grad_counts[i]
        flags = oracle.flags(i)
        gap = gaps[i]
        within = bool(finite[i] and math.isfinite(gap) and gap <= cert.hit_tolerance)
        if within and not flags and loss_evals + grad_evals <= 1:
            flags = [*flags, "hit-at-zero-cost"]
        records.append(
            {
                "restart": int(r),
                "x": points[i] if finite[i] else None,
                "fun": values[i] if finite[i] else None,
                "nfev": loss_evals,
                "njev": grad_evals,
                "nshots": 0,
                "start_fun": start_values[i],
                "gap": gap if finite[i] and math.isfinite(gap) else None,
                "hit": within and not flags,
                "equivalent_evals": loss_evals + 2 * p * grad_evals,
                "stopped_by_wall": by_wall[i],
                "wall_seconds": share,
                "flags": flags,
                "error": oracle.error(i),
            }
        )
    return records


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)
