"""Loss-and-gradient throughput of the product-form arithmetics, side by side, with the roofline.

For each instance, R restart-parameter vectors (uniform in [0, 2 pi), seed 0) go through one
loss-and-gradient call of:

- ``native``: arithmetic 2, the compiled fused kernel (qnntraps/simulators/fused_product.c);
- ``mirror``: arithmetic 2, its torch mirror (the fallback without a compiler; same bits);
- ``torch``: arithmetic 1, the torch closed form (torch_product.py), the exact track before 2;
- ``autograd``: what a researcher writes in 20 lines: the product form in torch with
  ``loss.sum().backward()``, checked against the others to 1e-12 first.

The modes alternate for --rounds rounds; the table gives medians of restart-evals per second
(single-thread process CPU time, so that other load on the machine does not count; the wall
time is printed beside it) and the native kernel's fraction of the roofline: the kernel's own
floating-point operations per restart-eval (counted from the code: FLOPS below) over
--peak-gflops. Run with one intra-op thread:

    OMP_NUM_THREADS=1 .venv/bin/python tools/kernel_figures.py --rounds 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

import qnntraps
from qnntraps.simulators import compile, fused_product, native, torch_product

INSTANCES = (
    "construction-coupled-p16-v1",
    "construction-coupled-p32-v1",
    "construction-p20-v1",
    "separable-p8-v1",
    "separable-p12-v1",
)
SINCOS_FLOPS = 38  # qn_sincos per angle: reduction 7, sine 15, cosine 16 (selects not counted)
SLOT_FLOPS = 15  # factor 4, derivative 4, prefix 1; gradient: 4 products, suffix 1, add 1
TERM_FLOPS = 3  # weight x prefix x last factor, added to the sample's sum
SAMPLE_FLOPS = 6  # y, residual, squared residual summed, 2/m x residual; the final / m amortized


def flops(form) -> int:
    """Floating-point operations of one restart-eval in fused_product.c."""
    m, terms, slots = form.a.shape
    return (
        SINCOS_FLOPS * form.num_parameters
        + m * terms * (slots * SLOT_FLOPS + TERM_FLOPS)
        + m * SAMPLE_FLOPS
    )


def autograd_loss_and_grad(form, theta: torch.Tensor):
    """The plain torch autograd version a user would write (arithmetic of its own)."""
    theta = theta.detach().requires_grad_(True)
    cos, sin = torch.cos(2 * theta)[:, form.support], torch.sin(2 * theta)[:, form.support]
    factors = form.a + form.b * cos + form.c * sin
    yhat = form.offset + (form.weights * factors.prod(dim=3)).sum(dim=2)
    loss = ((yhat - form.labels) ** 2).mean(dim=1)
    loss.sum().backward()
    return loss.detach(), theta.grad


def implementations(fused, tform) -> dict:
    """Each mode: theta (R, p) -> (loss, gradient)."""
    lib = native.library()
    chunk = torch_product.DEFAULT_CHUNK_BYTES
    return {
        "native": lambda t: fused_product._native(lib, fused, t, True, False)[1:],
        "mirror": lambda t: fused_product._mirror(fused, t, True, chunk)[1:],
        "torch": lambda t: torch_product.loss_and_grad(tform, t),
        "autograd": lambda t: autograd_loss_and_grad(tform, t),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="+", default=list(INSTANCES))
    parser.add_argument("--restarts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peak-gflops", type=float, default=78.0,
                        help="the roofline: one core's float64 peak (default: AVX2 + FMA, 4.9 GHz)")  # fmt: skip
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} intra-op thread(s), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; kernel: {native.status()}"
    )
    if native.library() is None:
        raise SystemExit("the native kernel is not available here; nothing to compare")
    print(f"R = {args.restarts:,} vectors per call, {args.rounds} rounds, medians\n")
    print(
        "| instance | m × S | flops / eval | native | mirror | torch (arithmetic 1) "
        "| autograd | native / torch | native / roofline |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for instance_id in args.instances:
        instance = qnntraps.load(instance_id)
        form = compile(instance, "cpu", arithmetic=1).form
        fused = fused_product.fuse(form)
        tform = torch_product.to_torch(form)
        theta = torch.from_numpy(
            np.random.default_rng(0).uniform(0, 2 * np.pi, (args.restarts, form.num_parameters))
        )
        modes = implementations(fused, tform)
        small = theta[:257]
        reference = modes["native"](small)
        for name, call in modes.items():
            value, grad = call(small)
            if name == "mirror":
                assert torch.equal(value, reference[0]) and torch.equal(grad, reference[1])
            assert torch.allclose(value, reference[0], rtol=1e-12, atol=0), name
            assert torch.allclose(grad, reference[1], rtol=1e-10, atol=1e-13), name
        cpu: dict[str, list[float]] = {name: [] for name in modes}
        wall: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.rounds):
            for name, call in modes.items():
                start_cpu, start_wall = time.process_time(), time.perf_counter()
                call(theta)
                cpu[name].append(time.process_time() - start_cpu)
                wall[name].append(time.perf_counter() - start_wall)
        rate = {name: args.restarts / statistics.median(cpu[name]) for name in modes}
        walls = {name: args.restarts / statistics.median(wall[name]) for name in modes}
        count = flops(form)
        roofline = args.peak_gflops * 1e9 / count
        m, _, slots = form.a.shape
        print(
            f"| {instance_id} | {m} × {slots} | {count:,} | {rate['native']:.3g}/s "
            f"| {rate['mirror']:.3g}/s | {rate['torch']:.3g}/s | {rate['autograd']:.3g}/s "
            f"| {rate['native'] / rate['torch']:.1f}× | {rate['native'] / roofline:.1%} "
            f"(roofline {roofline:.3g}/s) |",
            flush=True,
        )
        print(
            "  wall: " + ", ".join(f"{name} {value:.3g}/s" for name, value in walls.items()),
            flush=True,
        )


if __name__ == "__main__":
    main()
