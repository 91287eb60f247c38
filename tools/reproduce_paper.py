#!/usr/bin/env python3
"""Reproduce You & Wu (ICML 2021) Fig. 4 on our construction families: hit rate of Adam, RMSProp
and L-BFGS from 5000 seeded restarts, for p = 2, 4, ..., 16, beside the reference rates.

    python tools/reproduce_paper.py [--restarts 5000] [--max-p 16] [--out results/paper]
                                    [--docs docs]   # also write docs/figures/*.png and the table

Every run goes through the harness (qnntraps.harness.runner) with the optimizers' documented
defaults and default budgets (docs/scoring.md), so each number here is also one
`qnntraps run --instance ID --optimizer NAME --restarts N` away. Runs resume if interrupted; the
table then says so, because its total time is only that of the last invocation.

Writes OUT/<optimizer>/<ID>/ per run, OUT/table.md, OUT/hit_rate_vs_p_<family>.png (with the
reference lines 2^-p and, on `construction`, q^p: qnntraps.reference_rates) and
OUT/losses_<ID>_<optimizer>.png for p = 8. Times reported:

- total: wall-clock time of this invocation of the whole script (runs, scoring, figures), with
  the machine, the CPUs this process may use and the 1-minute load average seen during the run;
- per row: optimizer + oracle time of that run, the sum of the records' `wall_seconds` (the
  harness times each chunk's optimizer call; loading, scoring and writing are not included).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import qnntraps
from qnntraps.atomic import write_bytes_atomic, write_text_atomic
from qnntraps.certificates.reference_rates import in_gradient_flow_basin
from qnntraps.harness.plots import plot_hit_rate_vs_p, plot_loss_histograms, reference_curves
from qnntraps.harness.report import read_run
from qnntraps.harness.results import RECORDS, read_records
from qnntraps.harness.runner import RunSettings, run
from qnntraps.harness.starts import start_points
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.registry import find_entry

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = ("adam", "rmsprop", "lbfgs")
FAMILIES = {"construction": range(2, 17, 2), "construction-coupled": range(4, 17, 2)}
HISTOGRAM_P = 8


@dataclass(frozen=True)
class Row:
    """One optimizer on one instance: its scores, references and optimizer + oracle time."""

    family: str
    p: int
    optimizer: str
    metrics: dict
    random_vertex: float | None
    gradient_flow: float | None
    flow_hits: int | None  # restarts whose start lies in gradient flow's global basin
    differ_from_flow: int | None  # restarts scored differently from gradient flow
    seconds: float
    resumed: int  # restarts already on disk before this invocation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5000)
    parser.add_argument("--max-p", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "paper")
    parser.add_argument("--docs", type=Path, help="copy figures and table into DOCS/figures")
    parser.add_argument(
        "--jobs",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="rows run side by side in this many processes, one thread each (default: the CPUs "
        "this process may use); the records do not depend on it",
    )
    args = parser.parse_args(argv)

    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    began = time.perf_counter()
    loads = [os.getloadavg()[0]]
    tasks = [
        (family, p, name, args.restarts, args.out)
        for family, sizes in FAMILIES.items()
        for name in OPTIMIZERS
        for p in sizes
        if p <= args.max_p
    ]
    rows: list[Row] = []
    for row in run_rows(tasks, args.jobs):
        loads.append(os.getloadavg()[0])
        rows.append(row)
        print(row_line(row), flush=True)
    for family in FAMILIES:
        plot_family(family, [r for r in rows if r.family == family], args.out, args.restarts)
    plot_histograms(args.out, args.max_p)
    elapsed = time.perf_counter() - began
    table = markdown_table(rows, args.restarts, elapsed, machine_note(loads, args.jobs))
    write_text_atomic(args.out / "table.md", table)
    print(table)
    if args.docs:
        figures = args.docs / "figures"
        for png in sorted(args.out.glob("*.png")):
            write_bytes_atomic(figures / png.name, png.read_bytes())
        write_text_atomic(figures / "paper_table.md", table)
    print(f"total {elapsed:.0f} s")
    return 0


def run_rows(tasks: list[tuple], jobs: int):
    """run_row of every task, in the tasks' order; `jobs` > 1 runs them in that many spawned
    processes (each imports torch once, about 2 s, and runs one intra-op thread)."""
    if jobs == 1 or len(tasks) < 2:
        yield from (run_row(*task) for task in tasks)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(jobs, len(tasks)), context, initializer=_one_thread) as pool:
        yield from pool.map(run_row, *zip(*tasks, strict=True))


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def run_row(family: str, p: int, name: str, restarts: int, out: Path) -> Row:
    """Run (or resume) one optimizer on one instance through the harness and score it."""
    spec = resolve_optimizer(name)
    settings = RunSettings(spec, spec.hyperparameters(), spec.budget, restarts)
    instance = qnntraps.load(f"{family}-p{p}-v1")
    folder = out / name / instance.id
    resumed = len(existing_records(folder))
    summary = run(instance, settings, folder)
    records = read_records(folder / RECORDS)
    rates = qnntraps.reference_rates(instance)
    flow_hits = differ = None
    if rates.gradient_flow is not None:
        starts = start_points(find_entry(instance.id).sha256, range(restarts), p)
        in_basin = np.asarray(in_gradient_flow_basin(instance, starts))
        hits = np.array([records[r]["hit"] for r in range(restarts)])
        flow_hits, differ = int(in_basin.sum()), int(np.sum(in_basin != hits))
    seconds = sum(records[r]["wall_seconds"] for r in range(restarts))
    return Row(
        family,
        p,
        name,
        summary["metrics"],
        rates.random_vertex,
        rates.gradient_flow,
        flow_hits,
        differ,
        seconds,
        resumed,
    )


def existing_records(folder: Path) -> dict:
    path = folder / RECORDS
    return read_records(path, allow_partial=True) if path.exists() else {}


def row_line(row: Row) -> str:
    m = row.metrics
    interval = m["hit_rate_interval"]
    flow = (
        "" if row.flow_hits is None else f"  flow {row.flow_hits} (differs {row.differ_from_flow})"
    )
    return (
        f"{row.family}-p{row.p}-v1".ljust(28)
        + f" {row.optimizer:<8} {m['hits']:>5}/{m['n']} rate {m['hit_rate']:.4f} "
        f"[{interval['low']:.4f}, {interval['high']:.4f}] mean grads "
        f"{m['grad_evals']['mean']:.0f}{flow}  {row.seconds:.1f} s"
    )


def machine_note(loads: Sequence[float], jobs: int = 1) -> str:
    """The machine in words: CPU model, CPUs this process may use, processes running rows, load
    average range."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpus} CPU cores ({model}), rows run in {jobs} process{'es' if jobs > 1 else ''} "
        "of one thread each, machine shared: the 1-minute load average ranged from "
        f"{min(loads):.1f} to {max(loads):.1f} during the run"
    )


def markdown_table(rows: Sequence[Row], restarts: int, elapsed: float, machine: str) -> str:
    resumed = sum(r.resumed for r in rows)
    if resumed:
        timing = (
            f"This invocation took {elapsed:.0f} s but RESUMED earlier runs ({resumed} restarts "
            "were already on disk), so that is not the time of the whole experiment"
        )
    else:
        timing = (
            f"Total: {elapsed:.0f} s wall-clock for a fresh, uninterrupted run of the whole "
            "script (every restart computed in this invocation)"
        )
    lines = [
        f"Hits of {restarts} seeded restarts (95% interval: Wilson; Clopper-Pearson at 0 or N). "
        "2^-p: a random vertex; q^p: gradient flow from a uniform start (exact, `construction` "
        "only); flow hits: restarts whose start lies in gradient flow's global basin; differ: "
        "restarts the optimizer scored differently from gradient flow. Mean gradient evaluations "
        "per restart. Wall: optimizer + oracle time of the run (sum of the records' "
        f"wall_seconds). {timing}; {machine}.",
        "",
        "| family | p | optimizer | hits | rate | 95% interval | 2^-p | q^p | flow hits | differ "
        "| mean grads | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: (r.family, r.p, r.optimizer)):
        m = row.metrics
        interval = m["hit_rate_interval"]
        lines.append(
            f"| {row.family} | {row.p} | {row.optimizer} | {m['hits']}/{m['n']} | "
            f"{m['hit_rate']:.4f} | [{interval['low']:.4f}, {interval['high']:.4f}] | "
            f"{fmt(row.random_vertex)} | {fmt(row.gradient_flow)} | {fmt_int(row.flow_hits)} | "
            f"{fmt_int(row.differ_from_flow)} | {m['grad_evals']['mean']:.0f} | "
            f"{row.seconds:.1f} s |"
        )
    return "\n".join(lines) + "\n"


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def fmt_int(value: int | None) -> str:
    return "—" if value is None else str(value)


def plot_family(family: str, rows: Sequence[Row], out: Path, restarts: int) -> Path:
    series: dict[str, list[tuple[int, int, int]]] = {}
    for row in rows:
        series.setdefault(row.optimizer, []).append((row.p, row.metrics["hits"], row.metrics["n"]))
    flow = {row.p: row.gradient_flow for row in rows if row.gradient_flow is not None}
    references = reference_curves(flow)
    return plot_hit_rate_vs_p(
        series,
        out / f"hit_rate_vs_p_{family}.png",
        f"{family}: hit rate vs p ({restarts} restarts)",
        references,
    )


def plot_histograms(out: Path, max_p: int) -> None:
    """The losses histograms of the p = HISTOGRAM_P runs (only their records are read)."""
    if HISTOGRAM_P > max_p:
        return
    for family in FAMILIES:
        for name in OPTIMIZERS:
            view = read_run(out / name / f"{family}-p{HISTOGRAM_P}-v1")
            instance = qnntraps.load(view.config["instance"])
            plot_loss_histograms(
                [r["start_fun"] for r in view.records],
                [r["fun"] for r in view.records],
                out / f"losses_{view.config['instance']}_{view.config['optimizer']}.png",
                ladder_values=instance.certificate.ladder_values,
                global_min=instance.certificate.global_min_value,
                ladder_counts=instance.certificate.ladder_counts,
                title=f"{view.config['optimizer']} on {view.config['instance']}",
            )


if __name__ == "__main__":
    sys.exit(main())
