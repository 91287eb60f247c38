"""Throughput benchmarks (pytest-benchmark), skipped in the pass/fail suite. Run them with

    .venv/bin/python -m pytest tests/benchmarks --benchmark-enable --benchmark-only

Figures: restart-parameter vectors per second for one loss-and-gradient call on 5000 vectors
(product form) and on 16 vectors of the barren-plateau circuits (statevector);
one full Adam run of 5000 restarts on construction-coupled-p16-v1 (default budget), in the
harness's process and sealed (tools/sealed_overhead.py measures the two side by side); loading
every shipped instance; and reading a file at every limit of the reader, in this process and
through the isolated reader. docs/performance.md quotes them.
"""

from pathlib import Path

import numpy as np
import pytest
import torch

import qnntraps
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.registry import read_registry
from qnntraps.simulators import compile
from qnntraps.store import read_instance
from tests import hdf5_craft

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
VECTORS = 5000


@pytest.mark.parametrize("arithmetic", [1, 2])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "instance_id",
    ["construction-p20-v1", "construction-coupled-p16-v1", "construction-coupled-p32-v1",
     "construction-coupled-p62-v1", "separable-p8-v1", "separable-p12-v1"],
)  # fmt: skip
def test_loss_and_grad_throughput(benchmark, instance_id, device, arithmetic):
    """Arithmetic 1 (torch) and 2 (the fused kernel on the CPU, its mirror on CUDA)."""
    instance = qnntraps.load(instance_id)
    evaluator = compile(instance, device, arithmetic)
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(rng.uniform(0, 2 * np.pi, (VECTORS, instance.num_parameters)))
    theta = theta.to(device)

    def call():
        value, grad = evaluator.loss_and_grad(theta)
        if device == "cuda":
            torch.cuda.synchronize()
        return value, grad

    benchmark(call)
    benchmark.extra_info["vectors_per_second"] = VECTORS / benchmark.stats.stats.mean


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("instance_id", ["barren-plateau-n8-l87-v1", "barren-plateau-n12-l142-v1"])
def test_statevector_loss_and_grad_throughput(benchmark, instance_id, device):
    """Restart-evaluations per second of the batched statevector simulator (adjoint gradient),
    16 restarts per call; tools/statevector_benchmark.py compares it with PennyLane and Aer."""
    instance = qnntraps.load(instance_id)
    evaluator = compile(instance, device)
    rng = np.random.default_rng(0)
    theta = torch.as_tensor(rng.uniform(0, 2 * np.pi, (16, instance.num_parameters))).to(device)

    def call():
        value, grad = evaluator.loss_and_grad(theta)
        if device == "cuda":
            torch.cuda.synchronize()
        return value, grad

    benchmark(call)
    benchmark.extra_info["restart_evals_per_second"] = 16 / benchmark.stats.stats.mean


@pytest.mark.parametrize("execution", ["in-process", "sealed"])
@pytest.mark.parametrize("track", ["exact"] + (["gpu"] if torch.cuda.is_available() else []))
def test_adam_5000_restarts_p16(benchmark, tmp_path_factory, track, execution):
    instance = qnntraps.load("construction-coupled-p16-v1")
    spec = resolve_optimizer("adam")
    settings = RunSettings(
        spec, spec.hyperparameters(), spec.budget, 5000, track, execution=execution
    )

    def one_run():
        out = Path(tmp_path_factory.mktemp("adam"))
        return run(instance, settings, out)

    summary = benchmark.pedantic(one_run, rounds=1, iterations=1)
    benchmark.extra_info["hits"] = summary["metrics"]["hits"]
    benchmark.extra_info["mean_grad_evals"] = summary["metrics"]["grad_evals"]["mean"]


def test_load_every_shipped_instance(benchmark):
    """sha256 check, isolated read, value checks and certificate re-check of all files."""
    ids = [entry.id for entry in read_registry()]
    benchmark.pedantic(lambda: [qnntraps.load(i) for i in ids], rounds=5, iterations=1)
    benchmark.extra_info["files"] = len(ids)


@pytest.mark.parametrize("isolate", [False, True])
def test_read_a_file_at_every_limit(benchmark, tmp_path, isolate):
    path = hdf5_craft.file_at_every_limit(tmp_path / "big.h5")
    instance = benchmark.pedantic(read_instance, (path,), {"isolate": isolate}, rounds=3)
    assert instance.num_samples == 4096
