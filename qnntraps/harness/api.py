"""The Python path to what `qnntraps run` and `qnntraps report` do, with typed results.

    import qnntraps
    result = qnntraps.run("adam", "construction-coupled-p8-v1", restarts=5000, out="runs")
    result.hits, result.hit_rate, result.interval, result.folder
    report = qnntraps.report("runs")          # the table and the figures of every run there
    print(report.table)

The command line parses its options into the same settings and prints these results; every
check happens before anything is written, and errors are the typed, one-line ones of the
command line (qnntraps.errors).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from qnntraps.harness import report as report_module
from qnntraps.harness.runner import RunSettings, check_counts
from qnntraps.harness.runner import run as run_folder
from qnntraps.instance import Instance
from qnntraps.oracles.budget import Budget, parse_budget
from qnntraps.registry import find_entry, load
from qnntraps.sealed.serve import DEFAULT_TIMEOUT
from qnntraps.simulators.evaluator import RUN_ARITHMETIC


@dataclass(frozen=True)
class RunResult:
    """One optimizer's run on one instance, as scored (summary.json holds the rest)."""

    instance: str
    optimizer: str
    folder: Path
    hits: int
    n: int
    hit_rate: float
    interval: tuple[float, float]  # 95%: Wilson, Clopper-Pearson at 0 or n hits
    tts99: float | None  # equivalent evaluations until a hit with probability 0.99; None: 0 hits
    mean_equivalent_evals: float
    flagged: Mapping[str, int]  # restarts by flag (docs/scoring.md)
    seconds: float  # wall time of this call
    summary: Mapping  # the whole summary, read-only

    def line(self) -> str:
        """The line `qnntraps run` prints for it."""
        note = ""
        if self.flagged:
            note = "; flagged: " + ", ".join(f"{f} {c}" for f, c in sorted(self.flagged.items()))
        return (
            f"{self.instance}: {self.hits}/{self.n} hits, rate {self.hit_rate:.4f} "
            f"[{self.interval[0]:.4f}, {self.interval[1]:.4f}] ({self.seconds:.1f} s){note}"
        )


@dataclass(frozen=True)
class Report:
    """Every run under a folder: the table `qnntraps report` prints, and the figures written."""

    folder: Path
    runs: tuple[report_module.RunView, ...]
    table: str
    figures: tuple[Path, ...]
    ioh: tuple[Path, ...] = ()  # the IOHprofiler JSON files written, when asked


def run_settings(
    optimizer: str,
    restarts: int,
    *,
    hyperparameters: Mapping | None = None,
    budget: Budget | str | None = None,
    kind: str | None = None,
    track: str = "exact",
    hardware=None,
    chunk: int | None = None,
    sealed: bool | None = None,
    worker_timeout: float = DEFAULT_TIMEOUT,
    arithmetic: int = RUN_ARITHMETIC,
    workers: int = 1,
    executor: str = "local",
    scheduler: str | None = None,
) -> RunSettings:
    """A run's settings, every count checked (nothing is written). `budget` is a Budget or the
    command line's text ("grad=2000,wall=60"); `hardware` a configuration or its JSON file;
    `sealed` None for the default (plug-ins sealed, built-ins in process); `executor` "dask"
    runs the chunks on the Dask scheduler at `scheduler` ("tcp://HOST:PORT"), or on a local
    cluster of `workers` processes without one (docs/scale.md)."""
    if hardware is not None and not hasattr(hardware, "as_dict"):
        from qnntraps.hardware.config import load_hardware_config

        hardware = load_hardware_config(Path(hardware))
    if isinstance(budget, str):
        budget = parse_budget(budget)
    execution = None if sealed is None else ("sealed" if sealed else "in-process")
    settings = RunSettings(
        optimizer,
        dict(hyperparameters or {}),
        budget,
        restarts,
        track,
        chunk,
        hardware,
        kind=kind,
        execution=execution,
        worker_timeout=worker_timeout,
        arithmetic=arithmetic,
        workers=workers,
        executor=executor,
        scheduler=scheduler,
    )
    check_counts(settings)
    return settings


def run(
    optimizer: str,
    instance: str | Instance,
    *,
    restarts: int,
    out: str | Path,
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> RunResult:
    """Run `optimizer` (a built-in name, an entry point or module:callable) from `restarts`
    seeded restarts of `instance` (an ID or a loaded Instance) and score it; results go to
    OUT/<instance ID>/, and the same call again resumes an interrupted run. `options` are those
    of :func:`run_settings`; `progress(done, total)` is called as restarts finish."""
    settings = run_settings(optimizer, restarts, **options)
    return run_with(settings, instance, Path(out), progress)


def run_with(
    settings: RunSettings,
    instance: str | Instance,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    executor=None,
) -> RunResult:
    """:func:`run` with settings made already (the command line's path: one sealed executor
    may serve the runs of several instances)."""
    if not isinstance(instance, Instance):
        instance = load(find_entry(instance).id)
    started = time.perf_counter()
    summary = run_folder(instance, settings, Path(out) / instance.id, progress, executor)
    return _result(instance.id, settings.optimizer_name, Path(out) / instance.id, summary,
                   time.perf_counter() - started)  # fmt: skip


def _result(instance_id: str, optimizer: str, folder: Path, summary: dict, seconds: float):
    m = summary["metrics"]
    interval = m["hit_rate_interval"]
    return RunResult(
        instance=instance_id,
        optimizer=optimizer,
        folder=folder,
        hits=int(m["hits"]),
        n=int(m["n"]),
        hit_rate=float(m["hit_rate"]),
        interval=(float(interval["low"]), float(interval["high"])),
        tts99=m["tts99"]["value"],
        mean_equivalent_evals=float(m["equivalent_evals"]["mean"]),
        flagged=MappingProxyType(dict(summary.get("flagged") or {})),
        seconds=seconds,
        summary=MappingProxyType(summary),
    )


def report(
    folder: str | Path,
    *,
    figures: bool = True,
    log_counts: bool = False,
    ioh: str | Path | None = None,
) -> Report:
    """The table of every run under `folder` and, with `figures`, its PNG figures written there
    (docs/scoring.md, "Reproducing a number"); `log_counts` puts the losses figures' counts on
    a log axis; `ioh` names a folder to write the runs to in the IOHprofiler v2 layout."""
    from qnntraps.harness.ioh_export import write_ioh

    folder = Path(folder)
    views = report_module.find_runs(folder)
    written = report_module.write_figures(views, folder, log_counts) if figures else []
    exported = write_ioh(views, Path(ioh)) if ioh is not None else []
    return Report(folder, tuple(views), report_module.table(views), tuple(written), tuple(exported))
