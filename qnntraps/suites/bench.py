"""`bench`: run one optimizer on every instance of a suite, sealed and resumably, and score it.

Each entry of the suite is one ordinary run (`qnntraps.harness.runner.run`) in OUT/<instance ID>/
with the entry's restarts and budget, so a bench folder is also a folder of runs that `qnntraps
report` reads, and an interrupted bench resumes where it stopped with the same command. One
zygote serves every run (`SealedExecutor`). Plug-ins and built-ins alike run sealed: a suite's
results are comparable only if they were produced the same way. When every run is complete,
OUT/bench.json holds the suite (ID and sha256), the optimizer and its code identity, one row per
instance and the suite score with its interval; OUT/hit_rate_vs_p.png (per family, with the
references 2^-p and, on `construction`, q^p) and OUT/solve_profiles.png (P(b) per instance, the
curves whose mean area is the score) are drawn from the records.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnntraps.atomic import write_json_atomic
from qnntraps.certificates.reference_rates import reference_rates
from qnntraps.harness import results
from qnntraps.harness.plots import plot_hit_rate_vs_p, plot_solve_profiles, reference_curves
from qnntraps.harness.runner import RunSettings, RunSettingsError, check_counts, run
from qnntraps.harness.summary import run_summary
from qnntraps.ids import parse_instance_id
from qnntraps.registry import load
from qnntraps.sealed.serve import DEFAULT_TIMEOUT, SealedExecutor
from qnntraps.suites.definitions import Suite, load_suite
from qnntraps.suites.score import Outcome, Score, budget_grid, solve_probability, suite_score

BENCH_FILE = "bench.json"
BENCH_FORMAT = "qnntraps-bench/1"
HIT_RATE_FIGURE = "hit_rate_vs_p.png"
PROFILE_FIGURE = "solve_profiles.png"


@dataclass(frozen=True)
class InstanceResult:
    """One suite entry's outcome, from its records."""

    instance: str
    family: str
    p: int
    hits: int
    n: int
    hit_rate: float
    interval: tuple[float, float]  # 95% (Wilson; Clopper-Pearson at 0 or n)
    mean_equivalent_evals: float
    tts99: float | None  # equivalent evaluations for 99% confidence of a hit; None at 0 hits
    flagged: int
    score: float  # the instance's area (suite score's term)

    def as_dict(self) -> dict:
        return {
            "instance": self.instance,
            "family": self.family,
            "p": self.p,
            "hits": self.hits,
            "n": self.n,
            "hit_rate": self.hit_rate,
            "interval": list(self.interval),
            "mean_equivalent_evals": self.mean_equivalent_evals,
            "tts99": self.tts99,
            "flagged": self.flagged,
            "score": self.score,
        }


@dataclass(frozen=True)
class BenchResult:
    suite: Suite
    optimizer: str
    folder: Path
    instances: tuple[InstanceResult, ...]
    score: Score
    figures: tuple[Path, ...]

    def table(self) -> str:
        """The table `qnntraps bench` prints: one row per instance, then the score."""
        lines = [
            f"{'instance':<30} {'p':>3} {'hits':>11} {'rate':>8} {'95% interval':>19} "
            f"{'mean eq. evals':>15} {'TTS99':>11} {'flagged':>8} {'score':>6}",
            "-" * 120,
        ]
        for row in self.instances:
            tts = "-" if row.tts99 is None else f"{row.tts99:.3e}"
            lines.append(
                f"{row.instance:<30} {row.p:>3} {row.hits:>5}/{row.n:<5} {row.hit_rate:>8.4f} "
                f"[{row.interval[0]:.4f}, {row.interval[1]:.4f}] {row.mean_equivalent_evals:>15.1f} "
                f"{tts:>11} {row.flagged:>8} {row.score:>6.3f}"
            )
        lines.append(
            f"score of {self.optimizer} on {self.suite.id}: {self.score.value:.4f} "
            f"(95% interval [{self.score.low:.4f}, {self.score.high:.4f}])"
        )
        return "\n".join(lines)


def bench(
    optimizer: str,
    suite: str | Suite,
    out: str | Path,
    *,
    hyperparameters: dict | None = None,
    kind: str | None = None,
    chunk: int | None = None,
    worker_timeout: float = DEFAULT_TIMEOUT,
    hardware=None,
    progress: Callable[[str, int, int], None] | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    workers: int = 1,
) -> BenchResult:
    """Run `optimizer` sealed on every instance of `suite` into `out`, resumably; score it.

    `executor` "dask" runs the chunks on the Dask scheduler at `scheduler`, or on a local
    cluster of `workers` processes, each chunk sealed in a worker process of its own there
    (docs/scale.md); the records are the same.

    `progress(instance, done, restarts)` is called as restarts finish. Raises the typed errors of
    `run` (bad settings, a folder holding another run, ...) before writing anything for the entry
    concerned; entries already finished are kept.
    """
    suite = load_suite(suite) if isinstance(suite, str) else suite
    if (hardware is not None) != (suite.track == "hardware"):
        raise RunSettingsError(
            f"suite {suite.id} is on the hardware track: give the device (--hardware-config)"
            if hardware is None
            else f"suite {suite.id} is on the {suite.track} track: a hardware configuration "
            "is for hardware-track suites only"
        )
    out = Path(out)
    plan = [
        (
            entry,
            RunSettings(
                optimizer,
                dict(hyperparameters or {}),
                entry.budget,
                entry.restarts,
                suite.track,
                chunk,
                hardware,
                kind=kind,
                execution="sealed",
                worker_timeout=worker_timeout,
                workers=workers,
                executor=executor,
                scheduler=scheduler,
            ),
        )
        for entry in suite.entries
    ]
    for _, settings in plan:
        check_counts(settings)  # a bad chunk or worker timeout: refused before a process starts
    runs = []
    with SealedExecutor(worker_timeout) as executor:
        for entry, settings in plan:
            report = None if progress is None else _bind(progress, entry.instance)
            instance = load(entry.instance)
            run(instance, settings, out / entry.instance, report, executor)
            runs.append(instance)
    outcomes, rows = [], []
    for instance in runs:
        row, outcome = _result(out / instance.id, instance)
        outcomes.append(outcome)
        rows.append(row)
    score = suite_score(outcomes, suite.budget_range)
    rows = [_with_score(row, dict(score.per_instance)[row.instance]) for row in rows]
    figures = _figures(out, runs, rows, outcomes, suite, optimizer)
    result = BenchResult(suite, optimizer, out, tuple(rows), score, figures)
    first = results.read_config(out / suite.entries[0].instance)
    write_json_atomic(out / BENCH_FILE, _document(result, first))
    return result


def _bind(progress, instance_id: str):
    return lambda done, total: progress(instance_id, done, total)


def _result(folder: Path, instance) -> tuple[InstanceResult, Outcome]:
    """The entry's row and outcome, computed from its records (summary.json is derived data)."""
    config = results.read_config(folder)
    records = results.load_records(folder / results.RECORDS, keep_final_points=False).records
    ordered = [records[r] for r in range(config["restarts"])]
    hits = np.array([bool(r["hit"]) for r in ordered])
    costs = np.array([float(r["equivalent_evals"]) for r in ordered])
    metrics = run_summary(config, records)["metrics"]
    parsed = parse_instance_id(instance.id)
    tts = metrics["tts99"]["value"]
    row = InstanceResult(
        instance.id,
        parsed.family + (f"-{parsed.variant}" if parsed.variant else ""),
        instance.num_parameters,
        int(metrics["hits"]),
        int(metrics["n"]),
        float(metrics["hit_rate"]),
        (float(metrics["hit_rate_interval"]["low"]), float(metrics["hit_rate_interval"]["high"])),
        float(costs.mean()),
        None if tts is None or not math.isfinite(tts) else float(tts),
        sum(1 for r in ordered if r["flags"]),
        0.0,
    )
    return row, Outcome(instance.id, hits, costs)


def _with_score(row: InstanceResult, score: float) -> InstanceResult:
    return InstanceResult(**{**row.__dict__, "score": score})


def _figures(out, instances, rows, outcomes, suite, optimizer) -> tuple[Path, ...]:
    series: dict[str, list[tuple[int, int, int]]] = {}
    for row in rows:
        series.setdefault(row.family, []).append((row.p, row.hits, row.n))
    flow = {}
    for instance in instances:
        parsed = parse_instance_id(instance.id)
        if parsed.family != "construction" or parsed.variant:
            continue  # q^p is the noise-free construction family's
        rates = reference_rates(instance)
        if rates.gradient_flow is not None:
            flow[instance.num_parameters] = rates.gradient_flow
    references = reference_curves(flow, "gradient flow on construction")
    written = [
        plot_hit_rate_vs_p(
            series, out / HIT_RATE_FIGURE, f"{optimizer} on {suite.id}: hit rate vs p", references
        )
    ]
    budgets = budget_grid(suite.budget_range)
    curves = {
        outcome.instance: (
            budgets,
            solve_probability(outcome.hits.mean(), outcome.costs.mean(), budgets),
        )
        for outcome in outcomes
    }
    written.append(
        plot_solve_profiles(
            curves, out / PROFILE_FIGURE, f"{optimizer} on {suite.id}: P(hit within budget b)"
        )
    )
    return tuple(written)


def _document(result: BenchResult, config: dict) -> dict:
    """bench.json. The optimizer's kind, hyper-parameters, execution and code identity are those
    of its runs' config.json files: every run checks them against the command that resumes it
    (changed code is refused), so all runs of a finished bench hold the same."""
    return {
        "format": BENCH_FORMAT,
        "suite": {"id": result.suite.id, "sha256": result.suite.sha256},
        "track": result.suite.track,
        "optimizer": result.optimizer,
        "kind": config.get("kind"),
        "hyperparameters": config.get("hyperparameters"),
        "execution": config.get("execution"),
        "code": config.get("code"),
        "budget_range": list(result.suite.budget_range),
        "score": result.score.as_dict(),
        "instances": [row.as_dict() for row in result.instances],
    }
