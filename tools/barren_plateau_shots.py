"""Hit rate against qubits on the barren-plateau family: shots against exact values, same steps.

For each n and each baseline, two runs of R restarts from the same starting points and with the
same number of optimizer evaluations (the baseline's default hyperparameters):

- hardware track on the ideal (noiseless) device, S shots per circuit: a gradient method gets
  `--steps` parameter-shift gradients (m (1 + 2p) S shots each), SPSA `--spsa-evals` loss
  estimates (m S shots each); the shot budget per restart is exactly what those evaluations cost;
- exact track with the same evaluation counts and exact values.

So the two lines differ only by shot noise: a fixed number of shots per circuit against a
gradient whose typical component shrinks as 2^(-n/2). Hits are judged on the exact loss at each
restart's final point (L <= -0.98). Folders are kept under --out, so an interrupted sweep
resumes; the table goes to stdout (with an ETA per run), the counts to OUT/hits.json and the
figure to docs/figures/barren_plateau_shots.png.

    python tools/barren_plateau_shots.py --out runs/bp-shots
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import qnntraps
from qnntraps.atomic import write_json_atomic
from qnntraps.families import barren_plateau as bp
from qnntraps.families.catalogue import BARREN_PLATEAU_LAYERS
from qnntraps.hardware import config_from_dict
from qnntraps.hardware.estimator import circuits_per_evaluation
from qnntraps.harness import results
from qnntraps.harness.plots import plot_hit_rate_by_qubits
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.oracles.budget import Budget

OPTIMIZERS = ("adam", "sgd", "spsa")
SEED = 2026  # the ideal device's seed (per-restart shot seeds derive from it)


def outcome(folder: Path) -> tuple[int, float]:
    """Hits (unflagged) and the median exact final loss of a finished run folder."""
    records = results.read_records(folder / results.RECORDS).values()
    hits = sum(1 for r in records if r["hit"] and not r.get("flags"))
    return hits, float(np.median([r["fun"] for r in records]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bp-shots"))
    parser.add_argument("--qubits", type=int, nargs="+", default=[2, 4, 6, 8])
    parser.add_argument("--optimizers", nargs="+", default=list(OPTIMIZERS))
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--shots", type=int, default=100, help="shots per circuit S")
    parser.add_argument("--steps", type=int, default=200, help="gradients per restart")
    parser.add_argument(
        "--spsa-evals",
        type=int,
        default=10_000,
        help="loss evaluations of a gradient-free method (SPSA)",
    )
    parser.add_argument(
        "--max-gradient-qubits",
        type=int,
        default=6,
        help="largest n for parameter-shift gradient methods (1 + 2p simulations per gradient)",
    )
    parser.add_argument("--figure", default="docs/figures/barren_plateau_shots.png")
    args = parser.parse_args()
    hw = config_from_dict(
        {"provider": "qnntraps", "backend": "ideal", "shots": args.shots, "seed": SEED,
         "account": None}
    )  # fmt: skip

    def uses_gradients(name: str) -> bool:
        return resolve_optimizer(name).budget.grad_evals is not None

    grid = [
        (n, name)
        for name in args.optimizers
        for n in args.qubits
        if n <= args.max_gradient_qubits or not uses_gradients(name)
    ]
    series: dict[str, tuple[list[int], list[int], int]] = {}
    rows, started, done_weight = [], time.monotonic(), 0.0

    def cost(n: int, name: str) -> float:  # simulated amplitudes, roughly
        p = n * BARREN_PLATEAU_LAYERS[n][0]
        evals = args.steps * (1 + 2 * p) if uses_gradients(name) else args.spsa_evals
        return float(evals) * p * 2.0**n

    total_weight = sum(cost(n, name) for n, name in grid)
    for k, (n, name) in enumerate(grid):
        instance = qnntraps.load(bp.instance_id(n, BARREN_PLATEAU_LAYERS[n][0]))
        m, p = instance.num_samples, instance.num_parameters
        spec = resolve_optimizer(name)
        if uses_gradients(name):
            evals = Budget(grad_evals=args.steps)
            shots = args.steps * circuits_per_evaluation(m, p, True) * args.shots
        else:
            evals = Budget(loss_evals=args.spsa_evals)
            shots = args.spsa_evals * circuits_per_evaluation(m, p, False) * args.shots
        counts, medians = {}, {}
        for track, budget, config in (
            ("hardware", Budget(shots=shots), hw),
            ("exact", evals, None),
        ):
            folder = args.out / f"{name}-n{n}-{track}"
            settings = RunSettings(
                spec, spec.hyperparameters(), budget, args.restarts, track, None, config
            )
            run(instance, settings, folder)
            counts[track], medians[track] = outcome(folder)
            label = f"{name}" if track == "hardware" else f"{name} (exact)"
            qubits, values, _ = series.setdefault(label, ([], [], args.restarts))
            qubits.append(n)
            values.append(counts[track])
        rows.append((n, p, name, evals, shots, counts, medians))
        done_weight += cost(n, name)
        elapsed = time.monotonic() - started
        eta = elapsed * (total_weight - done_weight) / done_weight
        print(
            f"[{k + 1}/{len(grid)}] n={n} {name}: shots {counts['hardware']}/{args.restarts}, "
            f"exact {counts['exact']}/{args.restarts} hits ({elapsed:.0f} s, ETA {eta:.0f} s)",
            flush=True,
        )
    print(f"\nS = {args.shots} shots per circuit, {args.restarts} restarts, "
          f"ideal device seed {SEED}")  # fmt: skip
    print(
        "| n | p | optimizer | evaluations | shots per restart | hits, shots | hits, exact "
        "| median final L, shots | median final L, exact |"
    )
    print("|---:|---:|---|---|---:|---:|---:|---:|---:|")
    for n, p, name, evals, shots, counts, medians in rows:
        what = (
            f"{evals.grad_evals} gradients" if evals.grad_evals else f"{evals.loss_evals:,} losses"
        )
        print(
            f"| {n} | {p} | {name} | {what} | {shots:,} | "
            f"{counts['hardware']}/{args.restarts} | {counts['exact']}/{args.restarts} | "
            f"{medians['hardware']:.3f} | {medians['exact']:.3f} |"
        )
    write_json_atomic(args.out / "hits.json", series)
    title = f"barren plateau, ideal device, S = {args.shots} shots per circuit"
    print("wrote", plot_hit_rate_by_qubits(args.figure, series, title=title))


if __name__ == "__main__":
    main()
