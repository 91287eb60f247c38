"""Hit rate against qubits on the barren-plateau family: shots against exact values, same budget.

For each n and each baseline, two runs of R restarts from the same starting points:

- hardware track on the ideal (noiseless) device: S shots per circuit, a budget of B shots per
  restart; the oracle converts B into the loss and gradient evaluations it can pay for
  (m S shots per loss, m (1 + 2p) S per parameter-shift gradient);
- exact track with exactly those evaluation counts as its budget: the same number of steps with
  exact values, so the difference between the two lines is what shot noise does.

Hits are judged on the exact loss at each restart's final point (L <= -0.98). Folders are kept
under --out, so an interrupted sweep resumes; the table goes to stdout (with an ETA per run) and
the figure to docs/figures/barren_plateau_shots.png.

    python tools/barren_plateau_shots.py --out runs/bp-shots
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import qnntraps
from qnntraps.atomic import write_json_atomic
from qnntraps.families import barren_plateau as bp
from qnntraps.families.catalogue import BARREN_PLATEAU_LAYERS
from qnntraps.hardware import config_from_dict
from qnntraps.hardware.estimator import circuits_per_evaluation
from qnntraps.hardware.oracle import shot_budget
from qnntraps.harness import results
from qnntraps.harness.plots import plot_hit_rate_by_qubits
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.oracles.budget import Budget

OPTIMIZERS = ("adam", "spsa", "cma-es")
SEED = 2026  # the ideal device's seed (per-restart shot seeds derive from it)


def hits(folder: Path) -> int:
    records = results.read_records(folder / results.RECORDS)
    return sum(1 for r in records.values() if r["hit"] and not r.get("flags"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bp-shots"))
    parser.add_argument("--qubits", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS))
    parser.add_argument("--restarts", type=int, default=12)
    parser.add_argument("--shots", type=int, default=100, help="shots per circuit S")
    parser.add_argument("--budget", type=int, default=10**6, help="shots per restart B")
    parser.add_argument("--figure", default="docs/figures/barren_plateau_shots.png")
    args = parser.parse_args()
    hw = config_from_dict(
        {"provider": "qnntraps", "backend": "ideal", "shots": args.shots, "seed": SEED,
         "account": None}
    )  # fmt: skip
    grid = [(n, name) for name in args.optimizers for n in args.qubits]
    series: dict[str, tuple[list[int], list[int], int]] = {}
    rows, started, done_weight = [], time.monotonic(), 0.0
    total_weight = sum(float(n * BARREN_PLATEAU_LAYERS[n][0]) ** 2 for n, _ in grid)
    for k, (n, name) in enumerate(grid):
        instance = qnntraps.load(bp.instance_id(n, BARREN_PLATEAU_LAYERS[n][0]))
        m, p = instance.num_samples, instance.num_parameters
        loss_shots = circuits_per_evaluation(m, p, False) * args.shots
        grad_shots = circuits_per_evaluation(m, p, True) * args.shots
        caps = shot_budget(Budget(shots=args.budget), loss_shots, grad_shots)
        spec = resolve_optimizer(name)
        exact_budget = Budget(loss_evals=caps.loss_evals, grad_evals=caps.grad_evals)
        counts = {}
        for track, budget, config in (
            ("hardware", Budget(shots=args.budget), hw),
            ("exact", exact_budget, None),
        ):
            folder = args.out / f"{name}-n{n}-{track}"
            settings = RunSettings(
                spec, spec.hyperparameters(), budget, args.restarts, track, None, config
            )
            run(instance, settings, folder)
            counts[track] = hits(folder / instance.id)
            label = f"{name}" if track == "hardware" else f"{name} (exact)"
            qubits, values, _ = series.setdefault(label, ([], [], args.restarts))
            qubits.append(n)
            values.append(counts[track])
        rows.append((n, p, name, caps.loss_evals, caps.grad_evals, counts))
        done_weight += float(p) ** 2
        elapsed = time.monotonic() - started
        eta = elapsed * (total_weight - done_weight) / done_weight
        print(
            f"[{k + 1}/{len(grid)}] n={n} {name}: shots {counts['hardware']}/{args.restarts}, "
            f"exact {counts['exact']}/{args.restarts} hits ({elapsed:.0f} s, ETA {eta:.0f} s)",
            flush=True,
        )
    print(f"\nB = {args.budget:,} shots per restart, S = {args.shots} per circuit, "
          f"{args.restarts} restarts, ideal device seed {SEED}")  # fmt: skip
    print("| n | p | optimizer | loss evals | gradient evals | hits, shots | hits, exact |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for n, p, name, loss_evals, grad_evals, counts in rows:
        print(
            f"| {n} | {p} | {name} | {loss_evals:,} | {grad_evals:,} | "
            f"{counts['hardware']}/{args.restarts} | {counts['exact']}/{args.restarts} |"
        )
    write_json_atomic(args.out / "hits.json", series)
    print("wrote", plot_hit_rate_by_qubits(args.figure, series))


if __name__ == "__main__":
    main()
