"""Re-run a teacher-student file's stated multistart and check that its spurious ends are minima.

For each ID: the multistart of the file (same keyed starts, same L-BFGS, same budget; the
ladder must come out as stored; with --starts K only the first K starts, whose ends are the
same as in the full run, and every converged value must be on the stored ladder), then for the
first --limit converged ends above the hit tolerance (spurious values), in start order:

1. --more further L-BFGS gradients from it: a minimum does not move (its loss and its
   largest dL/dtheta_i are printed before and after);
2. the Hessian of L there by central differences of the exact gradient (step 1e-5): a strict
   local minimum has every eigenvalue > 0 (smallest and largest printed).

    python tools/teacher_student_minima.py teacher-student-n6-l8-v1 teacher-student-n6-l12-v1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import qnntraps
from qnntraps.certificates.planted_multistart import planted_multistart
from qnntraps.families.catalogue import TEACHER_STUDENT_SWEEP
from qnntraps.ids import parse_instance_id
from qnntraps.optimizers.lbfgs import LBFGS
from qnntraps.oracles.budget import Budget
from qnntraps.oracles.oracle import Oracle
from qnntraps.simulators import compile

HESSIAN_STEP = 1e-5


def hessian(evaluator, point: torch.Tensor) -> np.ndarray:
    """Central differences of the exact gradient, symmetrized; all 2p points in one batch."""
    p = point.numel()
    steps = torch.eye(p, dtype=torch.float64) * HESSIAN_STEP
    _, grads = evaluator.loss_and_grad(torch.cat([point + steps, point - steps]))
    columns = (grads[:p] - grads[p:]).numpy() / (2 * HESSIAN_STEP)
    return (columns + columns.T) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="+")
    parser.add_argument("--more", type=int, default=20_000, help="extra L-BFGS gradients")
    parser.add_argument("--limit", type=int, default=8, help="check at most this many ends")
    parser.add_argument("--starts", type=int, help="only the first K starts of the multistart")
    args = parser.parse_args()
    for instance_id in args.ids:
        started = time.monotonic()
        instance = qnntraps.load(instance_id)
        cert = instance.certificate
        n = parse_instance_id(instance_id).qubits
        _, starts, budget = TEACHER_STUDENT_SWEEP[n]
        subset = starts if args.starts is None else min(args.starts, starts)
        evaluator = compile(instance, "cpu")
        found = planted_multistart(instance, instance_id, subset, gradient_budget=budget)
        stored = [] if cert.ladder_values is None else cert.ladder_values.tolist()
        if subset == starts:
            agrees = f"ladder as stored: {found.values.tolist() == stored}"
        else:
            agrees = (
                f"every value on the stored ladder: {set(found.values.tolist()) <= set(stored)}"
            )
        print(
            f"{instance_id}: {subset} of {starts} starts, {found.hits(cert.hit_tolerance)} hits, "
            f"{found.unconverged} unconverged, {agrees} ({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        end = torch.from_numpy(found.end_points)
        loss, grad = evaluator.loss_and_grad(end)
        largest = grad.abs().amax(dim=1)
        spurious = np.flatnonzero(found.converged & (found.end_losses > cert.hit_tolerance))
        spurious = spurious[: args.limit]
        if spurious.size == 0:
            print("  no spurious end: nothing to check", flush=True)
            continue
        points = end[torch.from_numpy(spurious)]
        oracle = Oracle(evaluator, len(spurious), Budget(grad_evals=args.more))
        moved = LBFGS(gtol=1e-14, ftol=0.0)(oracle, points.clone())
        after, after_grad = evaluator.loss_and_grad(moved)
        for k, start in enumerate(spurious):
            eigenvalues = np.linalg.eigvalsh(hessian(evaluator, moved[k]))
            print(
                f"  start {start}: L {loss[start]:.4g} -> {after[k]:.4g} after {args.more} more "
                f"gradients, max|dL| {largest[start]:.2g} -> {after_grad[k].abs().max():.2g}, "
                f"|dtheta| {torch.linalg.vector_norm(moved[k] - end[start]):.2g}, F "
                f"{1 - after[k].sqrt():.5f}, Hessian eigenvalues [{eigenvalues[0]:.3g}, "
                f"{eigenvalues[-1]:.3g}]",
                flush=True,
            )
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
