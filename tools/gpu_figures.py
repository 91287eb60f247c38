#!/usr/bin/env python3
"""Measure the GPU track: throughput, one large Adam run, and agreement with the exact track.

    python tools/gpu_figures.py [--vectors 100000] [--restarts 100000] [--agree 2000]
                                [--out results/gpu-figures]

Prints, and writes to OUT/gpu_figures.md (and OUT/gpu_figures.json):

1. loss-and-gradient throughput (restart-parameter vectors per second, best of 5 calls after a
   warm-up) of the product form, in the runs' arithmetic (2: the compiled kernel on the CPU,
   its torch mirror on CUDA), at R = --vectors on the CPU and, where CUDA exists, on the GPU,
   for construction-coupled p = 16, 32 and 62 and separable-p12;
2. one Adam run (default hyper-parameters and budget) of --restarts seeded restarts on
   construction-coupled-p62-v1 and -p16-v1 through the harness, on the GPU track where CUDA
   exists, else on the exact track: wall time, restarts per second, hits;
3. with CUDA, the same --agree restarts of Adam on construction-coupled-p16-v1 on both tracks:
   how many final losses agree to 1e-9 and whether the hit counts agree.

Without CUDA the script still runs (CPU figures only) and says so; the figures in docs/scoring.md
name the machine they came from. Seeds: the harness's (docs/scoring.md), and numpy's
default_rng(0) for the throughput points.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import qnntraps
from qnntraps.atomic import write_json_atomic, write_text_atomic
from qnntraps.harness.results import RECORDS, read_records
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.simulators import compile
from qnntraps.simulators.evaluator import RUN_ARITHMETIC

ROOT = Path(__file__).resolve().parent.parent
THROUGHPUT_IDS = (
    "construction-coupled-p16-v1",
    "construction-coupled-p32-v1",
    "construction-coupled-p62-v1",
    "separable-p12-v1",
)
RUN_IDS = ("construction-coupled-p16-v1", "construction-coupled-p62-v1")
AGREE_ID = "construction-coupled-p16-v1"
CALLS = 5


def throughput(instance_id: str, device: str, vectors: int) -> float:
    """Vectors per second of one loss_and_grad call on `vectors` points (best of CALLS)."""
    instance = qnntraps.load(instance_id)
    evaluator = compile(instance, device, RUN_ARITHMETIC)
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(rng.uniform(0, 2 * np.pi, (vectors, instance.num_parameters)))
    theta = theta.to(device)
    best = float("inf")
    for call in range(CALLS + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        evaluator.loss_and_grad(theta)
        if device == "cuda":
            torch.cuda.synchronize()
        if call:  # the first call warms up kernels and caches
            best = min(best, time.perf_counter() - started)
    return vectors / best


def adam_run(instance_id: str, track: str, restarts: int, folder: Path) -> dict:
    spec = resolve_optimizer("adam")
    settings = RunSettings(spec, spec.hyperparameters(), spec.budget, restarts, track)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  {instance_id} [{track}] {done}/{total} restarts", file=sys.stderr, flush=True)

    summary = run(qnntraps.load(instance_id), settings, folder, progress)
    seconds = time.perf_counter() - started
    metrics = summary["metrics"]
    return {
        "instance": instance_id,
        "track": track,
        "restarts": restarts,
        "seconds": round(seconds, 2),
        "restarts_per_second": round(restarts / seconds, 1),
        "hits": metrics["hits"],
        "mean_grad_evals": metrics["grad_evals"]["mean"],
    }


def agreement(restarts: int, folder: Path) -> dict:
    rows = {}
    for track in ("exact", "gpu"):
        adam_run(AGREE_ID, track, restarts, folder / track)
        rows[track] = sorted(read_records(folder / track / RECORDS), key=lambda r: r["restart"])
    pairs = list(zip(rows["exact"], rows["gpu"], strict=True))
    close = sum(abs(a["fun"] - b["fun"]) < 1e-9 for a, b in pairs)
    return {
        "instance": AGREE_ID,
        "restarts": restarts,
        "final_losses_within_1e-9": close,
        "hits_exact": sum(r["hit"] for r in rows["exact"]),
        "hits_gpu": sum(r["hit"] for r in rows["gpu"]),
        "max_abs_difference": max(abs(a["fun"] - b["fun"]) for a, b in pairs),
    }


def machine() -> dict:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda_version"] = torch.version.cuda
    return info


def markdown(figures: dict) -> str:
    lines = [f"Machine: {json.dumps(figures['machine'])}", ""]
    lines += [
        "| instance | p | device | vectors | vectors per second |",
        "|---|---:|---|---:|---:|",
    ]
    for row in figures["throughput"]:
        lines.append(
            f"| `{row['instance']}` | {row['p']} | {row['device']} | {row['vectors']:,} | "
            f"{row['vectors_per_second']:,.0f} |"
        )
    lines += ["", "| Adam run | track | restarts | wall | restarts/s | hits | mean grads |"]
    lines += ["|---|---|---:|---:|---:|---:|---:|"]
    for row in figures["runs"]:
        lines.append(
            f"| `{row['instance']}` | {row['track']} | {row['restarts']:,} | {row['seconds']} s | "
            f"{row['restarts_per_second']:,} | {row['hits']} | {row['mean_grad_evals']:.0f} |"
        )
    if figures.get("agreement"):
        a = figures["agreement"]
        lines += [
            "",
            f"Agreement on `{a['instance']}`, {a['restarts']} Adam restarts: "
            f"{a['final_losses_within_1e-9']} final losses within 1e-9 "
            f"(largest difference {a['max_abs_difference']:.2e}); hits {a['hits_exact']} "
            f"(exact) and {a['hits_gpu']} (gpu).",
        ]
    else:
        lines += ["", "No CUDA device here: GPU throughput and agreement not measured."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--restarts", type=int, default=100_000)
    parser.add_argument("--agree", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gpu-figures")
    args = parser.parse_args(argv)
    if min(args.vectors, args.restarts, args.agree) < 1:
        parser.error("--vectors, --restarts and --agree must be positive")

    cuda = torch.cuda.is_available()
    devices = ["cpu"] + (["cuda"] if cuda else [])
    figures: dict = {"machine": machine(), "throughput": [], "runs": [], "agreement": None}
    for instance_id in THROUGHPUT_IDS:
        for device in devices:
            rate = throughput(instance_id, device, args.vectors)
            p = qnntraps.load(instance_id).num_parameters
            figures["throughput"].append(
                {
                    "instance": instance_id,
                    "p": p,
                    "device": device,
                    "vectors": args.vectors,
                    "vectors_per_second": rate,
                }
            )
            print(f"{instance_id} on {device}: {rate:,.0f} vectors/s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for instance_id in RUN_IDS:
            track = "gpu" if cuda else "exact"
            row = adam_run(instance_id, track, args.restarts, Path(scratch) / instance_id)
            figures["runs"].append(row)
            print(json.dumps(row), flush=True)
        if cuda:
            figures["agreement"] = agreement(args.agree, Path(scratch) / "agreement")
            print(json.dumps(figures["agreement"]), flush=True)

    write_json_atomic(args.out / "gpu_figures.json", figures, sort_keys=False)
    table = markdown(figures)
    write_text_atomic(args.out / "gpu_figures.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
