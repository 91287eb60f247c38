#!/usr/bin/env python3
"""Reproduce You & Wu's observation on the separable family: on an 8-parameter instance, few random
starts reach the global minimum (the paper: "no more than 4 of the 70 random initializations").

    python tools/separable_paper_check.py [--instance separable-p8-v1] [--starts 70] [--large 5000]

Starts are uniform on [0, 2pi)^p from a generator keyed by '<instance>/paper-check'. Optimizers:
Adam (lr 0.05, betas 0.9/0.999, 3000 full-batch steps; the paper's settings are unpublished, these
are ours) and scipy's L-BFGS-B (gtol 1e-10). A start hits when L - L* <= the certificate's hit
tolerance. Prints hits for the paper's 70 starts and, with a 95% Wilson interval, for a larger run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.optimize import minimize

import qnntraps
from qnntraps.seeds import generator_from_key
from qnntraps.simulators import torch_product


def adam(instance, starts: np.ndarray, steps: int = 3000, lr: float = 0.05) -> np.ndarray:
    form = torch_product.to_torch(instance.product_form)
    theta = torch.from_numpy(starts.copy())
    first, second = torch.zeros_like(theta), torch.zeros_like(theta)
    for step in range(1, steps + 1):
        _, grad = torch_product.loss_and_grad(form, theta)
        first = 0.9 * first + 0.1 * grad
        second = 0.999 * second + 0.001 * grad * grad
        theta = theta - lr * (first / (1 - 0.9**step)) / (
            torch.sqrt(second / (1 - 0.999**step)) + 1e-12
        )
    return instance.loss(theta.numpy())


def lbfgs(instance, starts: np.ndarray) -> np.ndarray:
    return np.array(
        [
            minimize(
                instance.loss_and_grad,
                x0,
                jac=True,
                method="L-BFGS-B",
                options={"gtol": 1e-10, "maxiter": 5000},
            ).fun
            for x0 in starts
        ]
    )


def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    centre = (hits + z * z / 2) / (n + z * z)
    half = z * np.sqrt(hits * (n - hits) / n + z * z / 4) / (n + z * z)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="separable-p8-v1")
    parser.add_argument("--starts", type=int, default=70)
    parser.add_argument("--large", type=int, default=5000, help="starts for the rate estimate")
    args = parser.parse_args()

    instance = qnntraps.load(args.instance)
    cert = instance.certificate
    rng = generator_from_key(f"{args.instance}/paper-check")
    starts = rng.uniform(0, 2 * np.pi, size=(args.starts + args.large, instance.num_parameters))
    print(
        f"{args.instance}: L* = {cert.global_min_value:.9f} ({cert.kind}), "
        f"hit tolerance {cert.hit_tolerance:.2e}"
    )
    for name, run in (("Adam", adam), ("L-BFGS", lbfgs)):
        began = time.perf_counter()
        few = run(instance, starts[: args.starts])
        hits = int(np.sum(few - cert.global_min_value <= cert.hit_tolerance))
        print(
            f"  {name:<7} {hits} of {args.starts} starts reach the global minimum "
            f"(paper: no more than 4 of 70)",
            flush=True,
        )
        if args.large and name == "Adam":
            many = run(instance, starts[args.starts :])
            hits = int(np.sum(many - cert.global_min_value <= cert.hit_tolerance))
            low, high = wilson(hits, args.large)
            print(
                f"  {name:<7} {hits} of {args.large} = {hits / args.large:.2%} "
                f"(95% Wilson {low:.2%}-{high:.2%}); "
                f"{np.unique(np.round(many, 6)).size} distinct converged values",
                flush=True,
            )
        print(f"          ({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
