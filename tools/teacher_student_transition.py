"""Hit rate against p on the teacher-student family: the trap transition, shown.

For every frozen teacher-student instance (or those of --qubits), R restarts of each baseline
with its catalogue defaults (hyper-parameters and budget: adam and lbfgs 2000 gradients; smo
max(--smo-evals, --smo-per-parameter x p) loss evaluations, 20,000 for every p <= 200 and
25,600 and 64,000 at n = 8, L = 16 and 40) on the exact CPU track, starts from the harness's
documented seeds. R, the baselines and the depths per n are PLAN's (R = 16 at n = 4 and 6 at
every depth; R = 8 at n = 8 at L = 4, 8, 16 and 40: L = 24 is left to the file's multistart to
save an hour); --restarts and --optimizers override them. Complete run folders, of this or an
older run format, are read and not run again.
Hits are the harness's (final loss within the file's hit tolerance). Run folders are kept under
--out, so an interrupted sweep resumes where it stopped; runs already complete are only read.

Beside them the figure draws the file's own multistart (L-BFGS run to convergence, stored in the
provenance: multistart_hits of multistart_starts). Writes:

- a Markdown table to stdout (one row per instance; per baseline, hits / restarts and the
  median final loss in brackets) and OUT/hits.json;
- docs/figures/teacher_student_transition.png: hit rate against p, one panel per n, the critical
  count p_c = 2^(n+1) - 2 marked;
- docs/figures/teacher_student_ladders.png: where the file's multistart converged, for the
  under-parameterized instance with the fewest multistart hits (the deepest among equals) and
  the deepest instance, per n.

    python tools/teacher_student_transition.py --out runs/ts-transition
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import qnntraps
from qnntraps.atomic import write_json_atomic
from qnntraps.families import teacher_student as ts
from qnntraps.families.catalogue import TEACHER_STUDENT_SWEEP
from qnntraps.harness import results
from qnntraps.harness.plots import plot_converged_ladders, plot_transition
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.oracles.budget import Budget

OPTIMIZERS = ("adam", "lbfgs", "smo")
PLAN = {  # n -> (restarts, baselines, depths run; None: every depth of the sweep)
    4: (16, OPTIMIZERS, None),
    6: (16, OPTIMIZERS, None),
    8: (8, OPTIMIZERS, (4, 8, 16, 40)),
}
MULTISTART = "L-BFGS to convergence (file)"


def outcome(folder: Path) -> tuple[int, int, float]:
    """Hits (unflagged), restarts and the median final loss of a finished run folder."""
    records = results.read_records(folder / results.RECORDS).values()
    hits = sum(1 for r in records if r["hit"] and not r.get("flags"))
    return hits, len(records), float(np.median([r["fun"] for r in records]))


def budget_for(name: str, smo_evals: int, per_parameter: int, p: int) -> Budget:
    """The catalogue's budget; smo's: max(smo_evals, per_parameter * p) loss evaluations."""
    if name == "smo":
        return Budget(loss_evals=max(smo_evals, per_parameter * p))
    return resolve_optimizer(name).budget


def finished(folder: Path, restarts: int) -> bool:
    """A complete run folder, of this or an older run format (read, never resumed)."""
    if not (folder / results.CONFIG).exists() or not (folder / results.RECORDS).exists():
        return False
    return len(results.read_records(folder / results.RECORDS)) >= restarts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ts-transition"))
    parser.add_argument("--qubits", type=int, nargs="+", default=sorted(TEACHER_STUDENT_SWEEP))
    parser.add_argument("--optimizers", nargs="+", help="default: PLAN's for each n")
    parser.add_argument("--restarts", type=int, help="default: PLAN's for each n")
    parser.add_argument(
        "--smo-evals", type=int, default=20_000, help="smo's least loss evaluations"
    )
    parser.add_argument(
        "--smo-per-parameter", type=int, default=100, help="smo's loss evaluations per parameter"
    )
    parser.add_argument(
        "--max-layers", type=int, default=None, help="skip deeper instances (cost grows with L)"
    )
    parser.add_argument(
        "--only-layers", type=int, nargs="+", help="run only these depths (several processes)"
    )
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    args = parser.parse_args()

    def restarts_for(n: int) -> int:
        return args.restarts or PLAN[n][0]

    def optimizers_for(n: int) -> tuple[str, ...]:
        return tuple(args.optimizers or PLAN[n][1])

    def sweep_for(n: int) -> list[int]:
        return [
            layers for layers in TEACHER_STUDENT_SWEEP[n][0]
            if args.max_layers is None or layers <= args.max_layers
        ]  # fmt: skip

    def runs_for(n: int) -> list[int]:
        chosen = PLAN[n][2]
        return [
            layers for layers in sweep_for(n)
            if (chosen is None or layers in chosen)
            and (args.only_layers is None or layers in args.only_layers)
        ]  # fmt: skip

    grid = [
        (n, layers, name)
        for n in args.qubits
        for layers in runs_for(n)
        for name in optimizers_for(n)
    ]

    def weight(n: int, layers: int, name: str) -> float:  # amplitudes pushed, roughly
        budget = budget_for(name, args.smo_evals, args.smo_per_parameter, 2 * n * layers)
        evals = 3 * budget.grad_evals if budget.grad_evals else budget.loss_evals
        return float(evals) * layers * n * 2.0**n

    total, done_weight, started = sum(weight(*g) for g in grid), 0.0, time.monotonic()
    counts: dict[tuple[int, int, str], tuple[int, int, float]] = {}
    for k, (n, layers, name) in enumerate(grid):
        instance = qnntraps.load(ts.instance_id(n, layers))
        spec = resolve_optimizer(name)
        budget = budget_for(name, args.smo_evals, args.smo_per_parameter, 2 * n * layers)
        settings = RunSettings(
            spec, spec.hyperparameters(), budget, restarts_for(n), chunk=restarts_for(n)
        )
        folder = args.out / name / instance.id
        if not finished(folder, restarts_for(n)):
            run(instance, settings, folder)
        counts[n, layers, name] = outcome(folder)
        done_weight += weight(n, layers, name)
        elapsed = time.monotonic() - started
        eta = elapsed * (total - done_weight) / done_weight
        hits, restarts, median = counts[n, layers, name]
        print(
            f"[{k + 1}/{len(grid)}] {instance.id} {name}: {hits}/{restarts} hits, median final "
            f"L {median:.3g} ({elapsed:.0f} s, ETA {eta:.0f} s)",
            flush=True,
        )

    panels, ladders, table = {}, [], []
    for n in args.qubits:
        p_c = ts.state_manifold_dimension(n)
        sweep, ran = sweep_for(n), runs_for(n)
        files = {layers: qnntraps.load(ts.instance_id(n, layers)) for layers in sweep}
        series: dict[str, tuple[list[int], list[int], int]] = {}
        for name in optimizers_for(n):
            series[name] = (
                [2 * n * layers for layers in ran],
                [counts[n, layers, name][0] for layers in ran],
                restarts_for(n),
            )
        starts = TEACHER_STUDENT_SWEEP[n][1]
        series[MULTISTART] = (
            [2 * n * layers for layers in sweep],
            [files[layers].provenance.parameter("multistart_hits") for layers in sweep],
            starts,
        )
        panels[n] = series
        for layers, instance in files.items():
            cert, prov = instance.certificate, instance.provenance
            values = np.array([]) if cert.ladder_values is None else cert.ladder_values
            spurious = values[values > 0]
            table.append(
                {
                    "id": instance.id,
                    "n": n,
                    "L": layers,
                    "p": 2 * n * layers,
                    "p_over_pc": 2 * n * layers / p_c,
                    "rank": prov.parameter("jacobian_rank"),
                    "multistart": [prov.parameter("multistart_hits"), starts],
                    "unconverged": prov.parameter("multistart_unconverged"),
                    "spurious_values": int(spurious.size),
                    "least_spurious": float(spurious.min()) if spurious.size else None,
                    "tolerance": cert.hit_tolerance,
                    "runs": {
                        name: counts[n, layers, name]
                        for name in optimizers_for(n)
                        if (n, layers, name) in counts
                    },
                }
            )
        below = [layers for layers in sweep if 2 * n * layers < p_c]
        # fewest multistart hits; among equals, the deepest
        worst = min(
            below,
            key=lambda layers, f=files: (
                f[layers].provenance.parameter("multistart_hits"),
                -layers,
            ),
        )
        for layers, side in ((worst, "<"), (max(sweep), ">")):
            cert, prov = files[layers].certificate, files[layers].provenance
            ladders.append(
                (
                    f"n = {n}, L = {layers}: p = {2 * n * layers} {side} p_c = {p_c}",
                    [] if cert.ladder_values is None else cert.ladder_values,
                    [] if cert.ladder_counts is None else cert.ladder_counts,
                    prov.parameter("multistart_unconverged"),
                    cert.hit_tolerance,
                )
            )

    names = list(dict.fromkeys(name for n in args.qubits for name in optimizers_for(n)))
    plan = ", ".join(f"n = {n}: {restarts_for(n)}" for n in args.qubits)
    print(
        f"\nrestarts per baseline: {plan}; smo budget max({args.smo_evals:,}, "
        f"{args.smo_per_parameter} p) losses"
    )
    print(
        "| instance | p | p / p_c | rank at θ* | multistart hits | unconverged | spurious values "
        f"| least spurious | tolerance | {' | '.join(names)} |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(names))
    for row in table:
        least = "—" if row["least_spurious"] is None else f"{row['least_spurious']:.2g}"
        runs = " | ".join(
            f"{row['runs'][name][0]}/{row['runs'][name][1]} ({row['runs'][name][2]:.1g})"
            if name in row["runs"]
            else "—"
            for name in names
        )
        print(
            f"| {row['id']} | {row['p']} | {row['p_over_pc']:.2f} | {row['rank']} "
            f"| {row['multistart'][0]}/{row['multistart'][1]} | {row['unconverged']} "
            f"| {row['spurious_values']} | {least} | {row['tolerance']:.2g} | {runs} |"
        )
    write_json_atomic(args.out / "hits.json", table)
    critical = {n: ts.state_manifold_dimension(n) for n in args.qubits}
    title = "teacher–student: hit rate against p (dashed: p_c = 2^(n+1) − 2)"
    print("wrote", plot_transition(args.figures / "teacher_student_transition.png", panels,
                                   critical, title=title))  # fmt: skip
    print("wrote", plot_converged_ladders(args.figures / "teacher_student_ladders.png", ladders))


if __name__ == "__main__":
    main()
