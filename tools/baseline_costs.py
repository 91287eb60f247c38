"""What one restart of every built-in baseline costs, to size a suite's restarts.

    .venv/bin/python tools/baseline_costs.py                       # 40 restarts per cell
    .venv/bin/python tools/baseline_costs.py --restarts 100 --instances construction-p8-v1

Runs each built-in baseline sealed (as `qnntraps bench` does) from the same seeded restarts on
each instance, with a budget of evals = 2000·p equivalent evaluations per restart (what quick-v1
gives), and prints, per cell, the wall seconds per restart (optimizer + oracle, from the records),
the mean equivalent evaluations per restart, and the hits. docs/performance.md quotes a table.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import qnntraps
from qnntraps.harness import results
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import BUILTINS
from qnntraps.oracles.budget import Budget
from qnntraps.sealed.serve import SealedExecutor

INSTANCES = ["construction-coupled-p8-v1", "separable-p8-v1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restarts", type=int, default=40)
    parser.add_argument("--instances", nargs="+", default=INSTANCES)
    parser.add_argument("--optimizers", nargs="+", default=sorted(BUILTINS))
    args = parser.parse_args()
    print(f"{'optimizer':<14} {'instance':<28} {'s/restart':>10} {'eq. evals':>10} {'hits':>6}")
    with tempfile.TemporaryDirectory() as scratch, SealedExecutor() as executor:
        for name in args.optimizers:
            for instance_id in args.instances:
                instance = qnntraps.load(instance_id)
                budget = Budget(evals=2000 * instance.num_parameters)
                settings = RunSettings(name, {}, budget, args.restarts, execution="sealed")
                folder = Path(scratch) / name / instance_id
                summary = run(instance, settings, folder, executor=executor)
                records = results.load_records(folder / results.RECORDS, False).records.values()
                wall = statistics.fmean(r["wall_seconds"] for r in records)
                evals = statistics.fmean(r["equivalent_evals"] for r in records)
                hits = summary["metrics"]["hits"]
                print(
                    f"{name:<14} {instance_id:<28} {wall:>10.4f} {evals:>10.0f} "
                    f"{hits:>3}/{args.restarts}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
