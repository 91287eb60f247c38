"""Loss and gradient of product-form instances in qnntraps beside the tools a researcher would
otherwise use: every peer checked against qnntraps to 1e-9, then timed, in one process.

    .venv/bin/pip install -e '.[peers]'          # PennyLane, lightning, Qiskit, Aer
    .venv/bin/python tools/peer_table.py --rounds 3        # about 10 minutes

Every peer gets the same restart-parameter vectors (uniform in [0, 2 pi), seed 0; a peer that is
slow gets the first few of them, --scale) and computes the loss and its gradient for each:

- ``qnntraps``: ``qnntraps.simulators.compile(instance, "cpu", 2).loss_and_grad`` on the whole
  batch: arithmetic 2, the runs' oracle (the fused kernel, or its torch mirror where it is not
  built);
- ``torch autograd``: the product form in 20 lines of torch with ``backward()``
  (tools/kernel_figures.py);
- ``PennyLane default.qubit``: backprop through torch, the restarts broadcast in one QNode call
  per sample (parameter broadcasting);
- ``PennyLane lightning.qubit``: the adjoint method, one gradient call per restart (lightning
  does not broadcast parameters under the adjoint method);
- ``Qiskit StatevectorEstimator`` and ``Qiskit Aer EstimatorV2``: the parameter-shift rule
  (d y_k / d theta_j = y_k(theta + pi/4 e_j) - y_k(theta - pi/4 e_j) for a gate exp(-i theta P)),
  2p + 1 bindings per restart, one ``run`` over every sample's circuit.

The SDK peers run qnntraps' own export (qnntraps.export): a Pauli-mixture input is purified
with one ancilla per data qubit, so an instance with n data qubits is a 2n-qubit circuit
(construction-coupled-p16 would need 32 qubits, beyond every statevector peer here), and M is
expanded into its Pauli terms for Qiskit (2^p for the suite's M) and into a product of one
Hermitian 2 x 2 factor per qubit for PennyLane. A peer that is not installed is reported as such.

Timing is single-thread process CPU time (OMP_NUM_THREADS=1 unless set, torch on one thread) of
one loss-and-gradient call after a warm-up call, peers alternated round by round; the table gives
medians of restart-evals per second and qnntraps' ratio to each.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy, torch and the SDKs load

import argparse  # noqa: E402
import importlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import qnntraps  # noqa: E402
from qnntraps.export.circuits import ANGLE_SCALE, build_plan, dataset_loss  # noqa: E402
from qnntraps.instance import Instance, ProductObservable  # noqa: E402
from qnntraps.simulators import compile, torch_product  # noqa: E402
from qnntraps.simulators.evaluator import RUN_ARITHMETIC  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_figures import autograd_loss_and_grad  # noqa: E402

INSTANCES = ("construction-coupled-p4-v1", "construction-coupled-p8-v1", "separable-p8-v1")
TOLERANCE = 1e-9
# restarts per timed call at --scale 1: enough for a call of roughly a second on one core
RESTARTS = {
    "qnntraps": 20000,
    "torch autograd": 2000,
    "PennyLane default.qubit": 16,
    "PennyLane lightning.qubit": 2,
    "Qiskit StatevectorEstimator": 1,
    "Qiskit Aer EstimatorV2": 1,
}
PEER_MODULES = {
    "PennyLane default.qubit": ("pennylane",),
    "PennyLane lightning.qubit": ("pennylane", "pennylane_lightning"),
    "Qiskit StatevectorEstimator": ("qiskit",),
    "Qiskit Aer EstimatorV2": ("qiskit", "qiskit_aer"),
}
# One call: theta (R, p) float64 -> (loss (R,), gradient (R, p)) as NumPy arrays.
Call = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _ours(instance: Instance) -> Call:
    evaluator = compile(
        instance, "cpu", RUN_ARITHMETIC
    )  # the runs' oracle (compile's default is 1)

    def call(theta):
        loss, grad = evaluator.loss_and_grad(torch.from_numpy(theta))
        return loss.numpy(), grad.numpy()

    return call


def _autograd(instance: Instance) -> Call:
    form = torch_product.to_torch(compile(instance, "cpu", arithmetic=1).form)

    def call(theta):
        loss, grad = autograd_loss_and_grad(form, torch.from_numpy(theta))
        return loss.numpy(), grad.numpy()

    return call


def _pennylane_observable(qml, instance: Instance):
    """M as a constant times a product of one Hermitian 2 x 2 factor per non-identity qubit."""
    observable = instance.observable
    if not isinstance(observable, ProductObservable):
        raise ValueError("the PennyLane peers here take product observables only")
    paulis = [
        np.eye(2),
        np.array([[0, 1], [1, 0]]),
        np.array([[0, -1j], [1j, 0]]),
        np.diag([1, -1]),
    ]
    constant, factors = 1.0, []
    for q, f in enumerate(observable.factors):
        if not np.any(f[1:]):
            constant *= float(f[0])
        else:
            matrix = sum(float(f[c]) * paulis[c] for c in range(4))
            factors.append(qml.Hermitian(matrix, wires=q))
    return constant, qml.prod(*factors) if len(factors) > 1 else factors[0]


def _pennylane_gates(qml, gates, params) -> None:
    """Queue the plan's gates; rotation angles of parameterized gates come from params[..., j]."""
    for gate in gates:
        if gate.name in ("rx", "ry", "rz"):
            angle = (
                ANGLE_SCALE * params[..., gate.parameter]
                if gate.parameter is not None
                else gate.angle
            )
            {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ}[gate.name](angle, wires=gate.qubits[0])
        elif gate.name == "h":
            qml.Hadamard(wires=gate.qubits[0])
        elif gate.name == "s":
            qml.S(wires=gate.qubits[0])
        elif gate.name == "sdg":
            qml.adjoint(qml.S(wires=gate.qubits[0]))
        elif gate.name == "cx":
            qml.CNOT(wires=list(gate.qubits))
        else:
            raise ValueError(f"unknown gate {gate.name!r}")


def _differentiable_loss(predictions, labels, loss_form: str):
    """The dataset loss over the last axis in operations torch and autograd both trace."""
    terms = (predictions - labels) ** 2 if loss_form == "square" else labels * predictions
    return terms.sum(-1) / labels.shape[-1]


def _default_qubit(instance: Instance) -> Call:
    import pennylane as qml

    plan = build_plan(instance)
    constant, observable = _pennylane_observable(qml, instance)
    device = qml.device("default.qubit", wires=plan.num_qubits)
    labels = torch.tensor(np.array(instance.dataset.labels, dtype=np.float64))

    @qml.qnode(device, interface="torch", diff_method="backprop")
    def circuit(params, k):
        _pennylane_gates(qml, plan.preparations[k], params)
        _pennylane_gates(qml, plan.ansatz, params)
        return qml.expval(observable)

    def call(theta):
        params = torch.tensor(theta, requires_grad=True)
        predictions = torch.stack(
            [constant * circuit(params, k) for k in range(len(plan.preparations))], dim=-1
        )
        loss = _differentiable_loss(predictions, labels, instance.dataset.loss)
        loss.sum().backward()
        return loss.detach().numpy(), params.grad.numpy()

    return call


def _lightning(instance: Instance) -> Call:
    import pennylane as qml
    from pennylane import numpy as pnp

    plan = build_plan(instance)
    constant, observable = _pennylane_observable(qml, instance)
    device = qml.device("lightning.qubit", wires=plan.num_qubits)
    labels = np.asarray(instance.dataset.labels, dtype=np.float64)

    @qml.qnode(device, diff_method="adjoint")
    def circuit(params, k):
        _pennylane_gates(qml, plan.preparations[k], params)
        _pennylane_gates(qml, plan.ansatz, params)
        return qml.expval(observable)

    def cost(params):
        predictions = pnp.stack([constant * circuit(params, k) for k in range(len(labels))])
        return _differentiable_loss(predictions, labels, instance.dataset.loss)

    gradient = qml.grad(cost)

    def call(theta):
        losses, grads = [], []
        for row in theta:
            grads.append(np.asarray(gradient(pnp.array(row, requires_grad=True))))
            losses.append(float(gradient.forward))
        return np.array(losses), np.stack(grads)

    return call


def shifted(theta: np.ndarray) -> np.ndarray:
    """(R, p) -> (R, 1 + 2p, p): theta, then theta +- pi/4 e_j for every j."""
    count, p = theta.shape
    out = np.repeat(theta[:, None, :], 1 + 2 * p, axis=1)
    for j in range(p):
        out[:, 1 + 2 * j, j] += np.pi / 4
        out[:, 2 + 2 * j, j] -= np.pi / 4
    return out


def parameter_shift(predictions: np.ndarray, labels: np.ndarray, loss_form: str):
    """Loss (R,) and gradient (R, p) from y_k at the shifted points (R, 1 + 2p, m)."""
    at = predictions[:, 0, :]
    derivative = predictions[:, 1::2, :] - predictions[:, 2::2, :]  # (R, p, m)
    m = at.shape[-1]
    if loss_form == "square":
        weight = 2.0 * (at - labels) / m
    else:
        weight = np.broadcast_to(labels / m, at.shape)
    loss = dataset_loss(at, labels, loss_form, single=False)
    return loss, np.einsum("rm,rpm->rp", weight, derivative)


def _qiskit(instance: Instance, aer: bool) -> Call:
    from qnntraps.export import to_qiskit

    if aer:
        from qiskit_aer.primitives import EstimatorV2

        estimator = EstimatorV2(options={"backend_options": {"method": "statevector"}})
    else:
        from qiskit.primitives import StatevectorEstimator

        estimator = StatevectorEstimator()
    export = to_qiskit(instance)
    names = {p.name: j for j, p in enumerate(export.parameters)}
    circuits = export.circuits
    columns = [[names[p.name] for p in c.parameters] for c in circuits]
    labels = np.asarray(instance.dataset.labels, dtype=np.float64)

    def call(theta):
        points = shifted(theta)
        flat = points.reshape(-1, theta.shape[1])
        pubs = [
            (c, export.observable, flat[:, cols]) for c, cols in zip(circuits, columns, strict=True)
        ]
        results = estimator.run(pubs).result()
        predictions = np.stack([np.real(r.data.evs) for r in results], axis=-1)
        return parameter_shift(predictions.reshape(*points.shape[:2], -1), labels, export.loss_form)

    return call


PEERS: dict[str, Callable[[Instance], Call]] = {
    "qnntraps": _ours,
    "torch autograd": _autograd,
    "PennyLane default.qubit": _default_qubit,
    "PennyLane lightning.qubit": _lightning,
    "Qiskit StatevectorEstimator": lambda instance: _qiskit(instance, aer=False),
    "Qiskit Aer EstimatorV2": lambda instance: _qiskit(instance, aer=True),
}


def missing(peer: str) -> str | None:
    """The first module of a peer that does not import, or None."""
    for module in PEER_MODULES.get(peer, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def check(call: Call, theta: np.ndarray, loss: np.ndarray, grad: np.ndarray) -> float:
    """The largest absolute difference of a peer's loss and gradient from qnntraps'."""
    peer_loss, peer_grad = call(theta)
    return float(
        max(np.max(np.abs(peer_loss - loss)), np.max(np.abs(np.asarray(peer_grad) - grad)))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", nargs="+", default=list(INSTANCES))
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every peer's restarts per call"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"# OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, torch threads "
        f"{torch.get_num_threads()}, {args.rounds} rounds, medians of single-thread process CPU"
    )
    print(
        "| instance | SDK qubits | peer | restarts per call | restart-evals/s | qnntraps ÷ peer "
        "| max abs difference |"
    )
    print("|---|---:|---|---:|---:|---:|---:|")
    for instance_id in args.instances:
        instance = qnntraps.load(instance_id)
        qubits = build_plan(instance).num_qubits
        counts = {peer: max(1, round(RESTARTS[peer] * args.scale)) for peer in args.peers}
        rng = np.random.default_rng(0)
        theta = rng.uniform(0, 2 * np.pi, (max(counts.values()), instance.num_parameters))
        reference = _ours(instance)(theta)
        calls, differences, notes = {}, {}, {}
        for peer in args.peers:
            module = missing(peer)
            if module is not None:
                notes[peer] = f"not installed ({module}): pip install -e '.[peers]'"
                continue
            call = PEERS[peer](instance)
            rows = theta[: counts[peer]]
            differences[peer] = check(
                call, rows, reference[0][: counts[peer]], reference[1][: counts[peer]]
            )
            if differences[peer] > TOLERANCE:
                notes[peer] = f"differs from qnntraps by {differences[peer]:.2e}: not timed"
                continue
            calls[peer] = (call, rows)
        seconds = {peer: [] for peer in calls}
        for _ in range(args.rounds):
            for peer, (call, rows) in calls.items():
                began = time.process_time()
                call(rows)
                seconds[peer].append((time.process_time() - began) / len(rows))
        rate = {peer: 1.0 / statistics.median(values) for peer, values in seconds.items()}
        for peer in args.peers:
            if peer in notes:
                print(f"| {instance_id} | {qubits} | {peer} | | {notes[peer]} | | |")
                continue
            ratio = rate["qnntraps"] / rate[peer] if "qnntraps" in rate else float("nan")
            print(
                f"| {instance_id} | {qubits} | {peer} | {counts[peer]} | {rate[peer]:.3g} "
                f"| {ratio:.3g}× | {differences[peer]:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
