#!/usr/bin/env python3
"""Reproduce You & Wu (ICML 2021) Fig. 4 on our construction families: hit rate of Adam, RMSProp
and L-BFGS from 5000 seeded restarts, for p = 2, 4, ..., 16.

    python tools/reproduce_paper.py [--restarts 5000] [--max-p 16] [--out results/paper]
                                    [--docs docs]   # also write docs/figures/*.png and the table

Every run goes through the harness (qnntraps.harness.runner) with the optimizers' documented
defaults and default budgets (docs/scoring.md), so each number here is also one
`qnntraps run --instance ID --optimizer NAME --restarts N` away. Runs resume if interrupted.
Writes OUT/<optimizer>/<ID>/ per run, OUT/table.md, OUT/hit_rate_vs_p_<family>.png and
OUT/losses_<ID>_<optimizer>.png for p = 8, and prints the wall time of each run.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import qnntraps
from qnntraps.harness.plots import plot_hit_rate_vs_p, plot_loss_histograms
from qnntraps.harness.report import find_runs
from qnntraps.harness.results import RECORDS, read_records
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import resolve_optimizer

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZERS = ("adam", "rmsprop", "lbfgs")
FAMILIES = {"construction": range(2, 17, 2), "construction-coupled": range(4, 17, 2)}
HISTOGRAM_P = 8


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5000)
    parser.add_argument("--max-p", type=int, default=16)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "paper")
    parser.add_argument("--docs", type=Path, help="copy figures and table into DOCS/figures")
    args = parser.parse_args(argv)

    total = time.perf_counter()
    rows = []
    for family, sizes in FAMILIES.items():
        series: dict[str, list[tuple[int, int, int]]] = {}
        for name in OPTIMIZERS:
            spec = resolve_optimizer(name)
            settings = RunSettings(spec, spec.hyperparameters(), spec.budget, args.restarts)
            for p in (p for p in sizes if p <= args.max_p):
                instance_id = f"{family}-p{p}-v1"
                instance = qnntraps.load(instance_id)
                started = time.perf_counter()
                folder = args.out / name / instance_id
                summary = run(instance, settings, folder)
                seconds = run_seconds(folder, time.perf_counter() - started)
                m = summary["metrics"]
                series.setdefault(name, []).append((p, m["hits"], m["n"]))
                rows.append((family, p, name, m, seconds))
                interval = m["hit_rate_interval"]
                print(
                    f"{instance_id:<28} {name:<8} {m['hits']:>5}/{m['n']} "
                    f"rate {m['hit_rate']:.4f} [{interval['low']:.4f}, {interval['high']:.4f}] "
                    f"mean grads {m['grad_evals']['mean']:.0f}  {seconds:.1f} s",
                    flush=True,
                )
        plot_hit_rate_vs_p(
            series,
            args.out / f"hit_rate_vs_p_{family}.png",
            f"{family}: hit rate vs p ({args.restarts} restarts)",
        )
    for view in find_runs(args.out):
        if view.config["num_parameters"] == HISTOGRAM_P:
            instance = qnntraps.load(view.config["instance"])
            plot_loss_histograms(
                [r["start_loss"] for r in view.records],
                [r["final_loss"] for r in view.records],
                args.out / f"losses_{view.config['instance']}_{view.config['optimizer']}.png",
                ladder_values=instance.certificate.ladder_values,
                global_min=instance.certificate.global_min_value,
                title=f"{view.config['optimizer']} on {view.config['instance']}",
            )
    elapsed = time.perf_counter() - total
    table = markdown_table(rows, args.restarts, elapsed)
    (args.out / "table.md").write_text(table)
    print(table)
    if args.docs:
        figures = args.docs / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        for png in sorted(args.out.glob("*.png")):
            shutil.copy(png, figures / png.name)
        (figures / "paper_table.md").write_text(table)
    print(f"total {elapsed:.0f} s")
    return 0


def run_seconds(folder: Path, fallback: float) -> float:
    """Wall time of the whole run from its records (a resumed run adds up its pieces)."""
    records = read_records(folder / RECORDS)
    return sum(r["wall_seconds"] for r in records.values()) if records else fallback


def markdown_table(rows, restarts: int, elapsed: float) -> str:
    lines = [
        f"Hits of {restarts} seeded restarts (95% interval: Wilson; Clopper-Pearson at 0 or N); "
        f"mean gradient evaluations per restart; wall time of the run (optimizer and oracle, from "
        f"the records). This invocation: {elapsed:.0f} s.",
        "",
        "| family | p | optimizer | hits | rate | 95% interval | 2^-p | mean grads | wall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for family, p, name, m, seconds in sorted(rows, key=lambda r: (r[0], r[1], r[2])):
        interval = m["hit_rate_interval"]
        lines.append(
            f"| {family} | {p} | {name} | {m['hits']}/{m['n']} | {m['hit_rate']:.4f} | "
            f"[{interval['low']:.4f}, {interval['high']:.4f}] | {2.0**-p:.4f} | "
            f"{m['grad_evals']['mean']:.0f} | {seconds:.1f} s |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
