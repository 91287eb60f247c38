"""What sealed execution costs: the same run sealed and in process, side by side.

    .venv/bin/python tools/sealed_overhead.py                      # 5000-restart Adam, p = 16
    .venv/bin/python tools/sealed_overhead.py --rounds 5 --restarts 1000

Runs `adam` (its default hyper-parameters and budget) on construction-coupled-p16-v1 from the same
seeded restarts in three modes, alternating them round by round (A B C A B C ...) so that all see
the same machine load, each round into a fresh folder:

- ``in-process``: the optimizer in this process;
- ``sealed``: `run()` alone, which starts a zygote (a fresh interpreter that imports numpy, torch
  and scipy) for the run and stops it after: what one single-instance `qnntraps run` pays;
- ``sealed-warm``: every round served by one zygote started before the rounds, as `qnntraps run
  --family` does for its instances: what sealing costs per run once the zygote is up.

Per round it measures wall time and this process's CPU time; the workers' CPU time comes from
their rusage, which reaches this process when the zygote that reaped them exits (per round for
``sealed``, once for all ``sealed-warm`` rounds, then shared out). It also times the zygote's start
alone, checks that every mode wrote identical records, and prints the medians and the ratios to
in-process; docs/performance.md quotes them.
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
from qnntraps.sealed.serve import SealedExecutor

INSTANCE = "construction-coupled-p16-v1"


def cpu_seconds() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def one_round(instance, execution: str, restarts: int, folder: Path, executor=None) -> dict:
    mode = "in-process" if execution == "in-process" else "sealed"
    settings = RunSettings("adam", {}, None, restarts, execution=mode)
    own0, children0 = cpu_seconds()
    began = time.perf_counter()
    summary = run(instance, settings, folder, executor=executor)
    wall = time.perf_counter() - began
    own1, children1 = cpu_seconds()
    return {
        "execution": execution,
        "wall": wall,
        "cpu_harness": own1 - own0,
        "cpu_workers": children1 - children0,
        "hits": summary["metrics"]["hits"],
    }


def zygote_start() -> float:
    """Seconds from starting a zygote to a checked optimizer (the probe worker answered)."""
    began = time.perf_counter()
    with SealedExecutor() as executor:
        executor.probe("adam", None, {}, 16)
        return time.perf_counter() - began


def records_of(folder: Path) -> list[dict]:
    rows = [json.loads(line) for line in (folder / "restarts.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("wall_seconds")
    return rows


MODES = ("in-process", "sealed", "sealed-warm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each mode")
    args = parser.parse_args()
    instance = qnntraps.load(INSTANCE)
    rows = []
    starts = []
    with tempfile.TemporaryDirectory() as scratch:
        children0 = cpu_seconds()[1]
        with SealedExecutor() as warm:
            for k in range(args.rounds):
                for execution in MODES:
                    folder = Path(scratch) / f"{execution}-{k}"
                    executor = warm if execution == "sealed-warm" else None
                    row = one_round(instance, execution, args.restarts, folder, executor)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                starts.append(zygote_start())
            sealed_workers = sum(r["cpu_workers"] for r in rows)
        warm_workers = cpu_seconds()[1] - children0 - sealed_workers
        for row in rows:
            if row["execution"] == "sealed-warm":
                row["cpu_workers"] = warm_workers / args.rounds
        reference = records_of(Path(scratch) / "in-process-0")
        identical = all(records_of(Path(scratch) / f"{m}-0") == reference for m in MODES)

    def median(execution: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["execution"] == execution)

    print(f"\n{INSTANCE}, adam, {args.restarts} restarts, {args.rounds} rounds of each mode")
    print(
        f"{'':<12} {'wall (s)':>9} {'/ in-process':>13} {'CPU harness (s)':>16} "
        f"{'CPU workers (s)':>16}"
    )
    base = median("in-process", "wall")
    for execution in MODES:
        wall = median(execution, "wall")
        print(
            f"{execution:<12} {wall:>9.2f} {wall / base:>13.3f} "
            f"{median(execution, 'cpu_harness'):>16.2f} {median(execution, 'cpu_workers'):>16.2f}"
        )
    print(f"zygote start to a checked optimizer: median {statistics.median(starts):.2f} s")
    print(f"records identical in all modes: {identical}")


if __name__ == "__main__":
    main()
