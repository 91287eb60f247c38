"""What the counted oracle adds to each evaluation, beside the evaluation itself.

    OMP_NUM_THREADS=1 python tools/oracle_overhead.py [--instance construction-p4-v1] [--rounds 5]

Two call patterns, each timed through the oracle (budget check, counting, best and last points)
and through the evaluator alone, in single-thread process CPU time per call, medians of
--rounds:

- one point of one restart per call, preceded by `can_evaluate_loss` (what a scipy-style
  optimizer such as Nelder-Mead or COBYLA does for every point);
- loss and gradient of a whole chunk of 1000 restarts per call, preceded by
  `can_evaluate_grad` (one step of a batched method such as Adam).

The difference is the oracle's own cost per call.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import qnntraps
from qnntraps.oracles.budget import Budget
from qnntraps.oracles.oracle import Oracle
from qnntraps.simulators.evaluate import cpu_evaluator


def _per_call(function, calls: int) -> float:
    start = time.process_time()
    for i in range(calls):
        function(i)
    return (time.process_time() - start) / calls * 1e6


def measure(instance_id: str, rounds: int) -> dict[str, list[float]]:
    evaluator = cpu_evaluator(qnntraps.load(instance_id))
    p = evaluator.num_parameters
    one = torch.zeros(1, p, dtype=torch.float64)
    chunk = torch.as_tensor(np.random.default_rng(0).uniform(0, np.pi, (1000, p)))
    row = torch.tensor([7])
    rows = torch.arange(1000)
    figures: dict[str, list[float]] = {key: [] for key in ("single", "single-eval", "chunk",
                                                            "chunk-eval")}  # fmt: skip
    for _ in range(rounds):
        oracle = Oracle(evaluator, 256, Budget(loss_evals=10**8))

        def single(i, oracle=oracle):
            oracle.can_evaluate_loss(row)
            one[0, 0] = i * 1e-3
            oracle.loss(one, row)

        def single_eval(i):
            one[0, 0] = i * 1e-3
            evaluator.loss(one)

        batched = Oracle(evaluator, 1000, Budget(grad_evals=10**8))

        def chunk_call(i, oracle=batched):
            oracle.can_evaluate_grad(rows)
            oracle.loss_and_grad(chunk, rows)

        figures["single"].append(_per_call(single, 3000))
        figures["single-eval"].append(_per_call(single_eval, 3000))
        figures["chunk"].append(_per_call(chunk_call, 300))
        figures["chunk-eval"].append(_per_call(lambda i: evaluator.loss_and_grad(chunk), 300))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="construction-p4-v1")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    figures = {k: statistics.median(v) for k, v in measure(args.instance, args.rounds).items()}
    print(f"{args.instance}, medians of {args.rounds} rounds, process CPU microseconds per call")
    print("| call | through the oracle | evaluator alone | the oracle's own |")
    print("|---|---:|---:|---:|")
    for key, label in (("single", "one point of one restart (loss)"),
                       ("chunk", "1000 restarts (loss and gradient)")):  # fmt: skip
        total, alone = figures[key], figures[f"{key}-eval"]
        print(f"| {label} | {total:.1f} | {alone:.1f} | {total - alone:.1f} |")


if __name__ == "__main__":
    main()
