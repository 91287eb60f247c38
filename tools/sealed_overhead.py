"""What sealed execution costs: the same run sealed and in process, side by side.

    .venv/bin/python tools/sealed_overhead.py                      # 5000-restart Adam, p = 16
    .venv/bin/python tools/sealed_overhead.py --rounds 5 --restarts 1000

Runs `adam` (its default hyper-parameters and budget) on construction-coupled-p16-v1 from the same
seeded restarts, alternating in-process and sealed rounds (A B A B ...) so that both see the same
machine load, each into a fresh folder. Per round it measures wall time and CPU time — this
process's and, for the sealed rounds, the worker processes' (their rusage, collected when the
zygote reaps them) — and checks that both modes wrote identical records. It prints the medians and
the sealed/in-process ratios; docs/performance.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import qnntraps
from qnntraps.harness.runner import RunSettings, run

INSTANCE = "construction-coupled-p16-v1"


def cpu_seconds() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def one_round(instance, execution: str, restarts: int, folder: Path) -> dict:
    settings = RunSettings("adam", {}, None, restarts, execution=execution)
    own0, children0 = cpu_seconds()
    began = time.perf_counter()
    summary = run(instance, settings, folder)
    wall = time.perf_counter() - began
    own1, children1 = cpu_seconds()
    return {
        "execution": execution,
        "wall": wall,
        "cpu_harness": own1 - own0,
        "cpu_workers": children1 - children0,
        "hits": summary["metrics"]["hits"],
    }


def records_of(folder: Path) -> list[dict]:
    rows = [json.loads(line) for line in (folder / "restarts.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("wall_seconds")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode")
    args = parser.parse_args()
    instance = qnntraps.load(INSTANCE)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for k in range(args.rounds):
            for execution in ("in-process", "sealed"):
                folder = Path(scratch) / f"{execution}-{k}"
                row = one_round(instance, execution, args.restarts, folder)
                rows.append(row)
                print(json.dumps(row), flush=True)
        identical = records_of(Path(scratch) / "in-process-0") == records_of(
            Path(scratch) / "sealed-0"
        )

    def median(execution: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["execution"] == execution)

    print(f"\n{INSTANCE}, adam, {args.restarts} restarts, {args.rounds} rounds of each mode")
    print(f"{'':<12} {'wall (s)':>9} {'CPU harness (s)':>16} {'CPU workers (s)':>16}")
    for execution in ("in-process", "sealed"):
        print(
            f"{execution:<12} {median(execution, 'wall'):>9.2f} "
            f"{median(execution, 'cpu_harness'):>16.2f} {median(execution, 'cpu_workers'):>16.2f}"
        )
    wall_ratio = median("sealed", "wall") / median("in-process", "wall")
    sealed_cpu = median("sealed", "cpu_harness") + median("sealed", "cpu_workers")
    cpu_ratio = sealed_cpu / median("in-process", "cpu_harness")
    print(f"sealed / in-process: wall {wall_ratio:.3f}, total CPU {cpu_ratio:.3f}")
    print(f"records identical: {identical}")


if __name__ == "__main__":
    main()
