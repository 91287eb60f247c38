"""Restart-evaluations per second of the batched statevector simulator on the barren-plateau
circuits, beside PennyLane lightning.qubit (adjoint) and Qiskit Aer where they are installed.

    python tools/statevector_benchmark.py [--qubits 8 12 16] [--restarts 16] [--repeats 3]
    python tools/statevector_benchmark.py --gates [--qubits 8 12 16] [--restarts 16] [--repeats 3]

For each shipped barren-plateau file with n in --qubits: loss and loss-and-gradient of
--restarts parameter vectors, batched as a user of each simulator would (qnntraps: one batched
call; lightning: one adjoint QNode call per vector; Aer: one EstimatorV2 call with all vectors
bound, loss only, since Aer has no adjoint gradient). Prints the median over --repeats of
process CPU time per restart, restart-evals/s, and the peak resident memory of a fresh child
process per measurement (resource.getrusage). Torch runs on one thread (--threads) so that the
figures compare single cores; peers run with their defaults, said in the output.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from qnntraps.families.barren_plateau import instance_id
from qnntraps.families.catalogue import BARREN_PLATEAU_LAYERS


def _ours(instance, theta, gradient: bool, threads: int):
    import torch

    from qnntraps.simulators import compile

    torch.set_num_threads(threads)
    evaluator = compile(instance)
    batch = torch.from_numpy(theta)
    if gradient:
        return lambda: evaluator.loss_and_grad(batch)
    return lambda: evaluator.loss(batch)


def _lightning(instance, theta, gradient: bool, threads: int):
    import pennylane as qml
    from pennylane import numpy as pnp

    n = instance.num_qubits
    device = qml.device("lightning.qubit", wires=n)
    ansatz = instance.ansatz
    gates = list(zip(ansatz.generators, ansatz.parameter_index, ansatz.fixed_angles, strict=True))

    @qml.qnode(device, diff_method="adjoint")
    def circuit(params):
        for codes, index, angle in gates:
            support = np.flatnonzero(codes)
            value = 2 * (params[index] if index >= 0 else angle)  # exp(-i a P) = R_P(2a)
            if support.size == 1:
                rotation = {1: qml.RX, 2: qml.RY, 3: qml.RZ}[int(codes[support[0]])]
                rotation(value, wires=int(support[0]))
            else:
                word = "".join("IXYZ"[int(codes[q])] for q in support)
                qml.PauliRot(value, word, wires=[int(q) for q in support])
        return qml.expval(qml.PauliZ(0) @ qml.PauliZ(1))

    params = [pnp.array(t, requires_grad=True) for t in theta]
    if gradient:
        grad = qml.grad(circuit)
        return lambda: [(circuit(t), grad(t)) for t in params]
    return lambda: [circuit(t) for t in params]


def _aer(instance, theta, gradient: bool, threads: int):
    if gradient:
        return None
    from qiskit_aer.primitives import EstimatorV2

    from qnntraps.export import to_qiskit

    export = to_qiskit(instance)
    circuit = export.circuits[0]
    names = {p.name: j for j, p in enumerate(export.parameters)}
    bound = list(circuit.parameters)
    values = theta[:, [names[p.name] for p in bound]]
    estimator = EstimatorV2(options={"backend_options": {"method": "statevector"}})
    return lambda: estimator.run([(circuit, export.observable, values)]).result()


SIMULATORS = {"qnntraps": _ours, "lightning": _lightning, "aer": _aer}


def measure(simulator: str, n: int, restarts: int, repeats: int, gradient: bool, threads: int):
    """One measurement in this process: median CPU seconds per call and peak RSS."""
    import qnntraps

    instance = qnntraps.load(instance_id(n, BARREN_PLATEAU_LAYERS[n][0]))
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, (restarts, instance.num_parameters))
    call = SIMULATORS[simulator](instance, theta, gradient, threads)
    if call is None:
        return None
    first = float(np.ravel(_first_loss(simulator, call()))[0])  # warm-up, and what it computed
    times = []
    for _ in range(repeats):
        began = time.process_time()
        call()
        times.append(time.process_time() - began)
    return {
        "cpu_seconds_per_call": float(np.median(times)),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "first_loss": first,
    }


def _first_loss(simulator: str, out):
    """The loss of the first parameter vector, from what a call returned."""
    if simulator == "qnntraps":
        return (out[0] if isinstance(out, tuple) else out)[0].item()
    if simulator == "lightning":
        first = out[0]
        return float(first[0] if isinstance(first, tuple) else first)
    return out[0].data.evs[0]


def compare_gates(qubits: list[int], restarts: int, rounds: int) -> None:
    """Our torch gates against the compiled in-place ones, alternated in this process."""
    import statistics

    import torch

    import qnntraps
    from qnntraps.simulators import compile, native, statevector

    torch.set_num_threads(1)
    built = native.library
    if built() is None:
        raise SystemExit("the compiled kernels are not built here; nothing to compare")
    print("| file | restarts | torch gates s/restart | compiled s/restart | ratio |")
    print("|---|---:|---:|---:|---:|")
    for n in qubits:
        instance = qnntraps.load(instance_id(n, BARREN_PLATEAU_LAYERS[n][0]))
        program = compile(instance).program
        theta = torch.from_numpy(
            np.random.default_rng(0).uniform(0, 2 * np.pi, (restarts, instance.num_parameters))
        )
        seconds = {"torch": [], "compiled": []}
        try:
            for _ in range(rounds):
                for mode in seconds:
                    native.library = built if mode == "compiled" else (lambda: None)
                    began = time.process_time()
                    statevector.loss_and_grad(program, theta)
                    seconds[mode].append((time.process_time() - began) / restarts)
        finally:
            native.library = built
        old, new = (statistics.median(seconds[m]) for m in ("torch", "compiled"))
        print(f"| {instance.id} | {restarts} | {old:.4g} | {new:.4g} | {old / new:.2f}× |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--gates", action="store_true",
        help="instead: our torch gates against the compiled ones (loss and gradient)",
    )  # fmt: skip
    parser.add_argument("--qubits", type=int, nargs="+", default=[8, 12, 16])
    parser.add_argument("--restarts", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gates:
        compare_gates(args.qubits, args.restarts, args.repeats)
        return
    if args.child:
        simulator, n, gradient = json.loads(args.child)
        result = measure(simulator, n, args.restarts, args.repeats, gradient, args.threads)
        print(json.dumps(result))
        return
    print(
        "| simulator | n | what | CPU s per restart | restart-evals/s | peak RSS MiB | L(θ₁) − ours |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    reference = {}
    for n in args.qubits:
        for gradient in (False, True):
            for simulator in SIMULATORS:
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    json.dumps([simulator, n, gradient]),
                    "--restarts",
                    str(args.restarts),
                    "--repeats",
                    str(args.repeats),
                    "--threads",
                    str(args.threads),
                ]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["failed"])[-1]
                    print(
                        f"| {simulator} | {n} | {'grad' if gradient else 'loss'} | {last[:60]} | | |"
                    )
                    continue
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if result is None:
                    continue
                per = result["cpu_seconds_per_call"] / args.restarts
                reference.setdefault(n, result["first_loss"])
                difference = result["first_loss"] - reference[n]
                print(
                    f"| {simulator} | {n} | {'loss+grad' if gradient else 'loss'} | {per:.4f} "
                    f"| {1 / per:.1f} | {result['peak_rss_mib']:.0f} | {difference:.1e} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
