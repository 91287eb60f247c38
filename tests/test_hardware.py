"""The hardware track: shot budgets, configuration, unbiased shot estimators, the shot oracle,
and short runs on local fake/virtual backends (Qiskit Aer with a fake IBM backend's noise, Cirq's
density-matrix simulator with a noise model). The SDK tests skip without the SDKs."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from qnntraps.hardware import (
    HardwareAccountError,
    HardwareConfigError,
    UnsupportedHardwareInstanceError,
    config_from_dict,
    load_hardware_config,
)
from qnntraps.hardware import estimator as est
from qnntraps.hardware.backend import JobRequest, check_instance, open_backend
from qnntraps.hardware.measurement import Measurement, measurement_for
from qnntraps.hardware.oracle import ShotOracle, restart_generator, shot_budget
from qnntraps.harness import results
from qnntraps.harness.runner import RunSettings, run
from qnntraps.instance import ProductObservable
from qnntraps.model import PauliSumObservable
from qnntraps.optimizers.catalogue import resolve_optimizer
from qnntraps.oracles.budget import Budget, BudgetSpecError, parse_budget
from qnntraps.oracles.oracle import BudgetExceededError
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
Z_LIMIT = 4.0
QISKIT = {
    "provider": "qiskit",
    "backend": "fake_guadalupe",
    "shots": 200,
    "seed": 11,
    "optimization_level": 1,
    "mitigation": {
        "resilience_level": 0,
        "dynamical_decoupling": False,
        "twirling_gates": False,
        "twirling_measure": False,
    },
    "account": None,
}
CIRQ = {
    "provider": "cirq",
    "backend": "density_matrix",
    "shots": 200,
    "seed": 11,
    "noise": {"depolarize": 0.01, "readout_flip": 0.02},
    "account": None,
}
NO_NOISE = {k: v for k, v in CIRQ.items() if k != "noise"}
IDEAL = {"provider": "qnntraps", "backend": "ideal", "shots": 50, "seed": 11, "account": None}
THETA = np.array([0.3, 1.1])  # a generic point of construction-p2-v1 (residuals far from 0)


def needs_qiskit():
    for module in ("qiskit", "qiskit_aer", "qiskit_ibm_runtime"):
        pytest.importorskip(module)


def needs_cirq():
    pytest.importorskip("cirq")


def config(base: dict, **changes):
    return config_from_dict({**base, **changes})


def projector(n: int, loss: str = "square") -> Measurement:
    """M = (x)_l (I + Y_l): every qubit read +1 in the Y basis, y = 2^n q."""
    return Measurement("Y" * n, (0,) * n, "all", 0.0, 2.0**n, loss)


# --- budget and configuration (no SDK) --------------------------------------------------------
def test_budget_counts_shots():
    assert parse_budget("shots=1000, loss=5") == Budget(loss_evals=5, shots=1000)
    assert Budget(shots=10).describe() == "shots=10"
    assert Budget(7, 50, 1.5).as_dict() == {"loss_evals": 7, "grad_evals": 50, "wall_seconds": 1.5}
    assert Budget(shots=3).as_dict()["shots"] == 3
    for bad in ("shots=-1", "shots=1.5", "shots=", "shots=1,shots=2"):
        with pytest.raises(BudgetSpecError):
            parse_budget(bad)
    capped = shot_budget(Budget(loss_evals=3, shots=1000), loss_shots=100, grad_shots=500)
    assert (capped.loss_evals, capped.grad_evals, capped.shots) == (3, 2, 1000)
    with pytest.raises(BudgetSpecError, match="shots="):
        shot_budget(Budget(loss_evals=3), 100, 500)


def test_config_is_explicit_and_validated(tmp_path):
    for base in (QISKIT, CIRQ, IDEAL):
        parsed = config_from_dict(base)
        assert parsed.as_dict() == base and parsed.is_local
        assert config_from_dict(parsed.as_dict()) == parsed
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(QISKIT))
    assert load_hardware_config(path) == config_from_dict(QISKIT)
    without = {k: v for k, v in QISKIT.items() if k != "optimization_level"}
    bad = [
        without,  # every setting written out
        {**QISKIT, "extra": 1},
        {**QISKIT, "provider": "braket"},
        {**QISKIT, "shots": 1},
        {**QISKIT, "seed": -1},
        {**QISKIT, "optimization_level": 4},
        {**QISKIT, "mitigation": {**QISKIT["mitigation"], "resilience_level": 1}},
        {**QISKIT, "mitigation": {**QISKIT["mitigation"], "twirling_gates": True}},  # local
        {**QISKIT, "mitigation": {"resilience_level": 0}},
        {**QISKIT, "noise": CIRQ["noise"]},
        {**QISKIT, "backend": "ibm_torino", "account": {"token": "secret"}},
        {k: v for k, v in CIRQ.items() if k != "noise"},
        {**CIRQ, "noise": {"depolarize": 0.7, "readout_flip": 0.0}},
        {**CIRQ, "backend": "google:rainbow", "noise": None},  # noise is not a key for google
        {**NO_NOISE, "backend": "google:rainbow"},  # no project_id
        {**CIRQ, "backend": "rainbow"},
        {**IDEAL, "backend": "noisy"},  # the qnntraps provider has one backend
        {**IDEAL, "account": {"project_id": "p"}},  # and no account
        {**IDEAL, "noise": CIRQ["noise"]},  # and no noise
        {**IDEAL, "optimization_level": 1},
    ]
    for data in bad:
        with pytest.raises(HardwareConfigError):
            config_from_dict(data)
    path.write_text("{not json")
    with pytest.raises(HardwareConfigError, match="not JSON"):
        load_hardware_config(path)


def test_importing_needs_no_sdk():
    code = (
        "import sys, qnntraps, qnntraps.hardware, qnntraps.hardware.oracle, "
        "qnntraps.hardware.runs, qnntraps.harness.runner, qnntraps.cli\n"
        "print(sorted(m for m in ('qiskit', 'qiskit_aer', 'qiskit_ibm_runtime', 'cirq') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# --- the estimators, exactly (no SDK) ---------------------------------------------------------
@pytest.mark.parametrize("shots", [2, 7, 100])
def test_shot_estimators_are_unbiased_exactly(shots):
    """Expectations over the exact binomial law of the counts, for projectors (y = 2^n q) and a
    Pauli string with a constant (M = 0.25 P - 0.5 I: y = -0.75 + 0.5 q), several q and labels,
    and both loss forms."""
    counts = np.arange(shots + 1)
    string = Measurement("ZXI", (0, 0, 0), "parity", -0.75, 0.5, "square")
    cases = [
        (projector(1), 0.3, 0.2),
        (projector(2), 0.9, 1.5),
        (projector(4), 1 / 16, 1.0),
        (projector(8), 0.004, 0.8),
        (string, 0.35, -0.2),
    ]
    for meas, q, label in cases:
        law = stats.binom.pmf(counts, shots, q)
        y = meas.offset + meas.slope * q
        assert law @ est.predictions(counts, shots, meas) == pytest.approx(y, rel=1e-12)
        r2 = est.square_residuals(counts, shots, meas, label)
        assert law @ r2 == pytest.approx((y - label) ** 2, rel=1e-9, abs=1e-12)
        variance = est.prediction_variance(q, shots, meas)
        naive = (est.predictions(counts, shots, meas) - label) ** 2
        assert law @ naive == pytest.approx((y - label) ** 2 + variance, rel=1e-9)
        estimated = est.estimated_prediction_variance(counts, shots, meas)
        assert law @ estimated == pytest.approx(variance, rel=1e-9)
        # the loss estimate's variance: the closed form, and its unbiased estimate (S >= 4)
        r2_variance = law @ (r2 - law @ r2) ** 2
        exact = est.square_residual_variance(q, shots, meas, label)
        assert exact == pytest.approx(r2_variance, rel=1e-9, abs=1e-15)
        if shots >= est.VARIANCE_MIN_SHOTS:
            estimate = est.loss_variance(counts[:, None], shots, meas, [label])
            assert law @ estimate == pytest.approx(r2_variance, rel=1e-9, abs=1e-15)
        else:
            with pytest.raises(ValueError, match="4 shots"):
                est.estimated_square_residual_variance(counts, shots, meas, label)
        # the expectation loss label * y: unbiased, and so is its variance estimate
        expectation = dataclasses.replace(meas, loss="expectation")
        values = est.loss(counts[:, None], shots, expectation, [label])
        assert law @ values == pytest.approx(label * y, rel=1e-12, abs=1e-15)
        spread = law @ (values - law @ values) ** 2
        assert spread == pytest.approx(label**2 * variance, rel=1e-9, abs=1e-15)
        estimate = est.loss_variance(counts[:, None], shots, expectation, [label])
        assert law @ estimate == pytest.approx(spread, rel=1e-9, abs=1e-15)


def test_events_counted_from_bits():
    """Bit l is data qubit l; "all" compares with the targets on the support, "parity" counts
    even parity of the support's bits; the readout weights are the event's law given the bits."""
    bits = np.array([[0, 0, 1], [1, 1, 0], [1, 0, 0], [0, 1, 1]], dtype=bool)
    assert Measurement("YZI", (0, 1, 0), "all", 0.0, 4.0, "square").count(bits) == 1
    assert Measurement("ZZI", (0, 0, 0), "parity", -1.0, 2.0, "square").count(bits) == 2
    assert Measurement("ZIZ", (0, 0, 0), "parity", -1.0, 2.0, "square").count(bits) == 0
    read = [(0.9, 0.2), (0.8, 0.1)]  # P(read 0 | 0), P(read 0 | 1) per qubit
    for meas in (
        Measurement("ZX", (0, 1), "all", 0.0, 4.0, "square"),
        Measurement("ZX", (0, 0), "parity", -1.0, 2.0, "square"),
    ):
        weights = meas.event_weights(read)
        for b in range(4):  # b little-endian: qubit 0 is the low bit
            truth = [(b >> q) & 1 for q in range(2)]
            total = 0.0
            for r in range(4):
                outcome = [(r >> q) & 1 for q in range(2)]
                law = np.prod(
                    [
                        read[q][truth[q]] if outcome[q] == 0 else 1 - read[q][truth[q]]
                        for q in (0, 1)
                    ]
                )
                total += law * meas.count(np.array([outcome], dtype=bool))
            assert weights[b] == pytest.approx(total, abs=1e-15)


def test_parameter_shift_and_the_gradient_estimator(load):
    """The shift rule is exact for exp(-i theta P), and the estimator is unbiased: it is bilinear
    in independent counts, so its mean is the formula at the mean counts S q."""
    for instance_id in (
        "construction-p2-v1",
        "construction-coupled-p4-v1",
        "construction-p4-noise0.1-v1",
    ):
        instance = load(instance_id)
        theta = np.random.default_rng(3).uniform(0, 2 * np.pi, instance.num_parameters)
        points = est.shift_points(theta)
        y = instance.predictions(points)
        p = instance.num_parameters
        loss, grad = instance.loss_and_grad(theta)
        residual = y[0] - instance.dataset.labels
        assert np.allclose(2 * np.mean(residual * (y[1 : 1 + p] - y[1 + p :]), axis=1), grad)
        shots, n = 1000, instance.num_qubits
        mean_counts = shots * y / 2.0**n
        gradient = est.gradient(mean_counts, shots, projector(n), instance.dataset.labels)
        assert np.allclose(gradient, grad)
        assert (
            est.circuits_per_evaluation(instance.num_samples, p, True)
            == points.shape[0] * instance.num_samples
        )


def test_shots_table_in_the_doc():
    doc = (ROOT / "docs" / "hardware.md").read_text()
    for p in (2, 4, 8, 12, 16):
        shots = est.shots_for_relative_error(2.0**-p, 0.01)
        assert shots == (2**p - 1) * 10_000
        assert f"{shots:,}" in doc
        assert est.relative_error(2.0**-p, shots) <= 0.01


def test_measurements_and_unsupported_instances(load):
    instance = load("construction-p2-v1")
    assert measurement_for(instance) == projector(2)
    check_instance(instance)
    factors = np.array([[0.5, 0.0, 0.0, -0.5], [1.0, 0.0, 1.0, 0.0]])  # |1><1| (x) (I + Y)
    mixed = dataclasses.replace(instance, observable=ProductObservable(factors))
    assert measurement_for(mixed) == Measurement("ZY", (1, 0), "all", 0.0, 2.0, "square")
    plateau = load("barren-plateau-n4-l35-v1")
    assert measurement_for(plateau) == Measurement(
        "ZZII", (0, 0, 0, 0), "parity", -1.0, 2.0, "expectation"
    )
    check_instance(plateau)
    not_a_projector = np.array([[1.0, 0.0, 0.5, 0.0], [1.0, 0.0, 1.0, 0.0]])
    two_terms = PauliSumObservable(np.array([[3, 0], [1, 1]]), np.array([1.0, 0.5]))
    for observable, message in (
        (ProductObservable(not_a_projector), "projectors"),
        (two_terms, "2 non-identity terms"),
    ):
        other = dataclasses.replace(instance, observable=observable)
        with pytest.raises(UnsupportedHardwareInstanceError, match=message):
            check_instance(other)


# --- the shot oracle with the ideal device (no SDK) ------------------------------------------
def shot_oracle(instance, restarts, budget, shots=50, first=0, log=None):
    backend = open_backend(instance, config(IDEAL, shots=shots))
    generators = [restart_generator("ab" * 32, 5, first + r) for r in range(restarts)]
    ids = range(first, first + restarts)
    return ShotOracle(backend, instance.dataset.labels, restarts, budget, generators, ids, log)


def test_shot_oracle_counts_shots_and_refuses_past_them(load):
    instance = load("construction-p2-v1")  # m = 4, p = 2: a loss costs 4 S, a gradient 20 S
    jobs = []
    oracle = shot_oracle(instance, 2, Budget(shots=1200), shots=50, log=jobs.extend)
    assert (oracle.loss_shots, oracle.grad_shots) == (200, 1000)
    assert (oracle.budget.loss_evals, oracle.budget.grad_evals) == (6, 1)  # what shots can buy
    theta = torch.as_tensor(np.tile(THETA, (5, 1)))
    values = oracle.loss(theta[:3], [0, 0, 1])
    assert values.shape == (3,) and values[0] != values[1]  # independent shots
    assert oracle.shots.tolist() == [400, 200] and oracle.loss_evals.tolist() == [2, 1]
    assert oracle.can_evaluate_loss().tolist() == [True, True]
    assert oracle.can_evaluate_grad().tolist() == [False, True]  # 400 + 1000 > 1200
    value, grad = oracle.loss_and_grad(theta[:1], [1])
    assert grad.shape == (1, 2) and oracle.shots.tolist() == [400, 1200]
    assert oracle.grad_evals.tolist() == [0, 1] and not bool(oracle.can_evaluate_loss([1])[0])
    with pytest.raises(BudgetExceededError, match="shot budget"):
        oracle.loss(theta[:1], [1])
    with pytest.raises(BudgetExceededError, match="loss budget"):
        oracle.loss(theta, [0] * 5)  # 2 + 5 loss evaluations > the 6 that the shots buy
    assert oracle.shots.tolist() == [400, 1200]  # refused calls cost nothing
    assert [j["restart"] for j in jobs] == [0, 1, 1]
    assert [j["shots"] for j in jobs] == [400, 200, 1000]
    assert [len(j["loss_estimates"]) for j in jobs] == [2, 1, 1]
    assert jobs[0]["loss_estimates"] == values[:2].tolist()
    assert jobs[2]["loss_estimates"] == value.tolist()
    assert all(len(j["loss_variances"]) == j["points"] for j in jobs)
    assert oracle.best_point[0].tolist() == THETA.tolist()


def test_shot_oracle_rows_do_not_depend_on_the_batch(load):
    instance = load("construction-p2-v1")
    theta = torch.as_tensor(np.array([THETA, THETA + 0.5]))
    together = shot_oracle(instance, 2, Budget(shots=10**6))
    alone = shot_oracle(instance, 1, Budget(shots=10**6), first=1)
    for _ in range(2):
        both_values, both_grads = together.loss_and_grad(theta, [0, 1])
        one_value, one_grad = alone.loss_and_grad(theta[1:], [0])
        assert both_values[1] == one_value[0] and torch.equal(both_grads[1], one_grad[0])
    assert together.loss(theta, [0, 1])[1] == alone.loss(theta[1:], [0])[0]


def test_shot_oracle_estimates_are_unbiased(load):
    """Many rows at one point: mean loss and gradient against the exact values (binomial)."""
    instance = load("construction-p2-v1")
    rows = 400
    jobs = []
    oracle = shot_oracle(instance, rows, Budget(shots=10**6), shots=100, log=jobs.extend)
    value, grad = oracle.loss_and_grad(torch.as_tensor(np.tile(THETA, (rows, 1))))
    loss, exact_grad = instance.loss_and_grad(THETA)
    z_loss = (value.mean() - loss) / (value.std() / rows**0.5)
    z_grad = (grad.mean(0) - torch.as_tensor(exact_grad)) / (grad.std(0) / rows**0.5)
    assert abs(float(z_loss)) < Z_LIMIT and bool((z_grad.abs() < Z_LIMIT).all())
    # the logged variance estimates are unbiased for Var L_hat: exact value, and the spread seen
    q = instance.predictions(THETA) / 2.0**instance.num_qubits
    labels = instance.dataset.labels
    variances = est.square_residual_variance(q, 100, projector(2), labels)
    exact_variance = np.sum(variances) / labels.size**2
    logged = np.array([j["loss_variances"][0] for j in jobs])
    spread = np.sqrt(logged.var() / rows)
    assert abs(logged.mean() - exact_variance) < Z_LIMIT * spread
    assert float(value.var()) == pytest.approx(exact_variance, rel=0.3)


# --- runner and command line: the checks that need no SDK -------------------------------------
def test_the_hardware_track_needs_a_config_and_shots(load, tmp_path, monkeypatch, capsys):
    instance = load("construction-p2-v1")
    spsa = resolve_optimizer("spsa")
    hyper = spsa.hyperparameters()
    hw = config_from_dict(CIRQ)
    with pytest.raises(HardwareConfigError, match="--hardware-config"):
        run(instance, RunSettings(spsa, hyper, Budget(shots=10), 1, "hardware"), tmp_path / "a")
    with pytest.raises(BudgetSpecError, match="shots="):
        run(instance, RunSettings(spsa, hyper, spsa.budget, 1, "hardware", None, hw), tmp_path)
    with pytest.raises(BudgetSpecError, match="hardware track only"):
        run(instance, RunSettings(spsa, hyper, Budget(shots=10), 1), tmp_path / "b")
    with pytest.raises(HardwareConfigError, match="--track hardware only"):
        run(instance, RunSettings(spsa, hyper, spsa.budget, 1, "exact", None, hw), tmp_path)
    assert not any(tmp_path.iterdir())
    path = tmp_path / "hw.json"
    path.write_text(json.dumps(CIRQ))
    args = ["run", "--instance", "construction-p2-v1", "--optimizer", "spsa", "--restarts", "1"]
    out = ["--out", str(tmp_path / "out")]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--track", "hardware", *out)
    assert code == 2 and "--hardware-config" in err
    config = ["--hardware-config", str(path)]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--track", "hardware", *config, *out)
    assert code == 2 and "shots=N" in err
    code, _, err = run_cli(
        monkeypatch, capsys, *args, "--track", "hardware", *config, "--budget", "loss=9", *out
    )
    assert code == 2 and "shots=N" in err
    code, _, err = run_cli(monkeypatch, capsys, *args, *config, *out)
    assert code == 2 and "--track hardware" in err
    path.write_text(json.dumps({**CIRQ, "shots": 1}))
    code, _, err = run_cli(
        monkeypatch, capsys, *args, "--track", "hardware", *config, "--budget", "shots=9", *out
    )
    assert code == 2 and err.startswith("error: shots must be")
    assert not (tmp_path / "out").exists()


# --- Qiskit Aer with a fake backend's noise, and Cirq with a noise model ----------------------
def z_scores(backend, instance, repeats: int) -> tuple[np.ndarray, float]:
    """z of the mean y_hat (per sample) and of the mean loss over independently seeded jobs,
    against the exact noisy values of the same noise model."""
    shots, n = backend.shots, backend.measurement
    exact = backend.noisy_predictions(THETA[None])[0]
    labels = instance.dataset.labels
    requests = [JobRequest(int(s), THETA[None]) for s in range(1000, 1000 + repeats)]
    counts = np.concatenate([r.counts for r in backend.sample(requests)])  # (repeats, m)
    y_hat = est.predictions(counts, shots, n)
    q = n.probabilities(exact)
    z_y = (y_hat.mean(0) - exact) / np.sqrt(est.prediction_variance(q, shots, n) / repeats)
    losses = est.loss(counts, shots, n, labels)
    exact_loss = float(np.mean((exact - labels) ** 2))
    z_loss = (losses.mean() - exact_loss) / (losses.std(ddof=1) / repeats**0.5)
    noiseless = instance.predictions(THETA)
    print(f"exact noisy y {exact}, noiseless {noiseless}; z(y) {z_y}, z(loss) {z_loss:.3f}")
    assert np.max(np.abs(exact - noiseless)) > 5e-3  # the noise is really there
    return z_y, float(z_loss)


def test_qiskit_fake_backend_estimates_are_unbiased(load):
    needs_qiskit()
    from qnntraps.hardware.backend import open_backend

    instance = load("construction-p2-v1")
    backend = open_backend(instance, config(QISKIT, shots=1000))
    z_y, z_loss = z_scores(backend, instance, repeats=60)
    assert np.all(np.abs(z_y) < Z_LIMIT) and abs(z_loss) < Z_LIMIT
    # gradients: parameter shift is exact for the noisy model too (noise does not depend on
    # theta), and the shot estimate is unbiased for it (one job, 150 independent repeats)
    exact_noisy = backend.noisy_predictions(est.shift_points(THETA))
    labels, p = instance.dataset.labels, 2
    exact_grad = 2 * np.mean((exact_noisy[0] - labels) * (exact_noisy[1:3] - exact_noisy[3:]), 1)
    step = 1e-5 * np.eye(p)
    loss = lambda t: np.mean((backend.noisy_predictions(t[None])[0] - labels) ** 2)  # noqa: E731
    fd = [(loss(THETA + step[l]) - loss(THETA - step[l])) / 2e-5 for l in range(p)]
    assert np.allclose(exact_grad, fd, atol=1e-8)
    repeats = 150
    points = np.tile(est.shift_points(THETA), (repeats, 1))
    counts = backend.sample([JobRequest(5, points)])[0].counts.reshape(repeats, 1 + 2 * p, -1)
    grads = np.array([est.gradient(c, backend.shots, projector(2), labels) for c in counts])
    z_grad = (grads.mean(0) - exact_grad) / (grads.std(0, ddof=1) / repeats**0.5)
    print(f"z(gradient) {z_grad}")
    assert np.all(np.abs(z_grad) < Z_LIMIT)


def test_cirq_noisy_simulator_estimates_are_unbiased(load):
    needs_cirq()
    from qnntraps.hardware.backend import open_backend

    instance = load("construction-p2-v1")
    backend = open_backend(instance, config(CIRQ, shots=1000))
    z_y, z_loss = z_scores(backend, instance, repeats=40)
    assert np.all(np.abs(z_y) < Z_LIMIT) and abs(z_loss) < Z_LIMIT
    exact_noisy = backend.noisy_predictions(est.shift_points(THETA))
    step = 1e-5 * np.eye(2)
    for l in range(2):
        derivative = (
            backend.noisy_predictions((THETA + step[l])[None])[0]
            - backend.noisy_predictions((THETA - step[l])[None])[0]
        ) / 2e-5
        assert np.allclose(exact_noisy[1 + l] - exact_noisy[3 + l], derivative, atol=1e-8)


def comparable(folder: Path) -> list[dict]:
    records = results.read_records(folder / results.RECORDS)
    return [{k: v for k, v in records[r].items() if k != "wall_seconds"} for r in sorted(records)]


def hardware_run(instance, name, budget, restarts, hw, out, chunk=None, **hyper):
    spec = resolve_optimizer(name)
    settings = RunSettings(
        spec, spec.hyperparameters(hyper), budget, restarts, "hardware", chunk, hw
    )
    return run(instance, settings, out)


def check_folder(out: Path, instance, hw, restarts: int) -> list[dict]:
    summary = json.loads((out / results.SUMMARY).read_text())
    assert summary["complete"] and summary["track"] == "hardware"
    config = json.loads((out / results.CONFIG).read_text())
    assert config["hardware"] == hw.as_dict() and "shots" in config["budget"]
    facts = json.loads((out / "hardware.json").read_text())
    assert facts["format"] == "qnntraps-hardware/1" and facts["config"] == hw.as_dict()
    session = facts["sessions"][-1]
    for key in ("device", "backend_version", "calibration_time", "calibration_time_note"):
        assert key in session
    assert session["shots_per_circuit"] == hw.shots
    records = list(results.read_records(out / results.RECORDS).values())
    assert len(records) == restarts
    jobs = [json.loads(line) for line in (out / "hardware_jobs.jsonl").read_text().splitlines()]
    m, p = instance.num_samples, instance.num_parameters
    for record in records:
        expected = (record["nfev"] * m + record["njev"] * m * (1 + 2 * p)) * hw.shots
        assert record["nshots"] == expected > 0
        mine = [j for j in jobs if j["restart"] == record["restart"]]
        assert sum(j["shots"] for j in mine) == record["nshots"]
        assert record["hardware"]["jobs"] == len(mine)
        noisy = record["hardware"]["noisy_final_loss"]
        assert noisy is not None and abs(noisy - record["fun"]) < 0.1
    return records


def test_qiskit_hardware_runs_at_p2_and_p4_and_repeat_bit_for_bit(load, tmp_path):
    needs_qiskit()
    hw = config(QISKIT)
    p2 = load("construction-p2-v1")
    hardware_run(p2, "spsa", Budget(shots=200 * 4 * 16), 2, hw, tmp_path / "spsa2")
    records = check_folder(tmp_path / "spsa2", p2, hw, 2)
    # 7 iterations of 2 evaluations, then the final evaluation of the last iterate
    assert all(r["nfev"] == 15 for r in records)
    # the same run in chunks of one restart: identical records, bit for bit
    hardware_run(p2, "spsa", Budget(shots=200 * 4 * 16), 2, hw, tmp_path / "again", chunk=1)
    assert comparable(tmp_path / "spsa2") == comparable(tmp_path / "again")
    session = json.loads((tmp_path / "spsa2" / "hardware.json").read_text())["sessions"][0]
    assert session["device"] == "fake_guadalupe" and session["calibration_time"]
    assert session["transpiler"]["seed_transpiler"] == hw.seed
    assert all(len(c["initial_layout"]) == 4 for c in session["circuits"])  # 2 data, 2 ancillas
    hardware_run(p2, "adam", Budget(grad_evals=3, shots=10**6), 1, hw, tmp_path / "adam2", lr=0.1)
    assert check_folder(tmp_path / "adam2", p2, hw, 1)[0]["njev"] == 3
    p4 = load("construction-p4-v1")
    hardware_run(p4, "spsa", Budget(shots=200 * 8 * 6), 1, hw, tmp_path / "spsa4")
    assert check_folder(tmp_path / "spsa4", p4, hw, 1)[0]["nfev"] == 5
    hardware_run(p4, "adam", Budget(shots=200 * 8 * 9 * 2), 1, hw, tmp_path / "adam4", lr=0.1)
    assert check_folder(tmp_path / "adam4", p4, hw, 1)[0]["njev"] == 2
    # a resume with another configuration is refused and touches nothing
    before = (tmp_path / "adam4" / results.RECORDS).read_bytes()
    with pytest.raises(results.RunFolderError, match="hardware"):
        hardware_run(
            p4, "adam", Budget(shots=200 * 8 * 9 * 2), 1, config(QISKIT, seed=12),
            tmp_path / "adam4", lr=0.1,
        )  # fmt: skip
    assert (tmp_path / "adam4" / results.RECORDS).read_bytes() == before


def test_cirq_hardware_runs_from_the_command_line(load, tmp_path, monkeypatch, capsys):
    needs_cirq()
    path = tmp_path / "cirq.json"
    path.write_text(json.dumps(CIRQ))
    hw = config_from_dict(CIRQ)
    common = ["--instance", "construction-p2-v1", "--restarts", "1", "--track", "hardware"]
    for name, budget in (("spsa", "shots=6400"), ("adam", "grad=2,shots=100000")):
        out = tmp_path / name
        code, text, err = run_cli(
            monkeypatch, capsys, "run", *common, "--optimizer", name, "--budget", budget,
            "--hardware-config", str(path), "--out", str(out),
        )  # fmt: skip
        assert code == 0, err
        assert "construction-p2-v1: " in text and "hits" in text
        records = check_folder(out / "construction-p2-v1", load("construction-p2-v1"), hw, 1)
        # spsa: 3 iterations of 2 loss evaluations and the final one (800 shots each); adam:
        # 2 gradients (4000 shots each) and the final loss evaluation of the point they led to
        assert records[0]["nshots"] == (7 * 800 if name == "spsa" else 2 * 20 * 200 + 800)
    session = json.loads((tmp_path / "adam" / "construction-p2-v1" / "hardware.json").read_text())
    assert session["sessions"][0]["device"] == "cirq.DensityMatrixSimulator"
    assert session["sessions"][0]["calibration_time"] is None


# --- observables beyond (I + Y)^n: the barren-plateau family's Z_0 Z_1, mixed projectors -------
def mixed_projector(load):
    """construction-p2-v1 with M = |1><1| (x) (I + Y): a Z-basis and a Y-basis qubit."""
    instance = load("construction-p2-v1")
    factors = np.array([[0.5, 0.0, 0.0, -0.5], [1.0, 0.0, 1.0, 0.0]])
    return dataclasses.replace(instance, observable=ProductObservable(factors))


def test_cirq_noiseless_values_are_the_exact_predictions(load):
    """With zero noise, cirq's density matrix after our basis change, weighted by the event,
    gives back the exact prediction: the basis changes and the events are right."""
    needs_cirq()
    silent = config(CIRQ, noise={"depolarize": 0.0, "readout_flip": 0.0})
    rng = np.random.default_rng(8)
    for instance in (
        load("barren-plateau-n2-l19-v1"),
        load("teacher-student-n4-l1-v1"),
        mixed_projector(load),
    ):
        points = rng.uniform(0, 2 * np.pi, (3, instance.num_parameters))
        values = open_backend(instance, silent).noisy_predictions(points)
        assert np.max(np.abs(values - instance.predictions(points))) < 1e-12


def test_barren_plateau_shots_on_every_provider(load):
    """Z_0 Z_1 from parity counts: the ideal device, Qiskit Aer (fake backend noise) and cirq
    (depolarizing + readout noise) each estimate y and the expectation loss without bias."""
    instance = load("barren-plateau-n2-l19-v1")
    theta = np.random.default_rng(4).uniform(0, 2 * np.pi, instance.num_parameters)
    providers = [(IDEAL, 1000, 200)]
    if all(_importable(m) for m in ("qiskit", "qiskit_aer", "qiskit_ibm_runtime")):
        providers.append((QISKIT, 1000, 40))
    if _importable("cirq"):
        providers.append((CIRQ, 1000, 30))
    for base, shots, repeats in providers:
        backend = open_backend(instance, config(base, shots=shots))
        assert backend.measurement.bases == "ZZ" and backend.measurement.event == "parity"
        exact = backend.noisy_predictions(theta[None])[0]
        if base is IDEAL:
            assert exact.tolist() == instance.predictions(theta[None])[0].tolist()
        requests = [JobRequest(int(s), theta[None]) for s in range(100, 100 + repeats)]
        counts = np.concatenate([r.counts for r in backend.sample(requests)])
        if base is IDEAL:  # one batch for all requests: the same counts as one request at a time
            alone = [backend.sample([r])[0].counts for r in requests[:5]]
            assert np.array_equal(np.concatenate(alone), counts[:5])
        losses = est.loss(counts, shots, backend.measurement, instance.dataset.labels)
        q = backend.measurement.probabilities(exact)
        spread = np.sqrt(est.prediction_variance(q, shots, backend.measurement) / repeats)
        z = (losses.mean() - exact[0]) / spread[0]
        print(
            f"{base['provider']}: exact {exact[0]:.5f}, mean estimate {losses.mean():.5f}, z {z:.2f}"
        )
        assert abs(z) < Z_LIMIT


def test_teacher_student_fidelity_from_all_zero_counts(load):
    """The fidelity is the probability of reading 0...0 in the Z basis: at theta* every shot
    reads it (the loss estimate is exactly 0), elsewhere the estimates are unbiased."""
    instance = load("teacher-student-n4-l3-v1")
    backend = open_backend(instance, config(IDEAL, shots=400))
    assert backend.measurement.bases == "ZZZZ" and backend.measurement.event == "all"
    teacher = instance.certificate.global_minimizer
    (at_teacher,) = backend.sample([JobRequest(1, teacher[None])])
    assert at_teacher.counts.tolist() == [[400]]
    labels = instance.dataset.labels
    assert est.loss(at_teacher.counts, 400, backend.measurement, labels).tolist() == [0.0]
    theta = np.random.default_rng(6).uniform(0, 2 * np.pi, instance.num_parameters)
    exact = instance.predictions(theta[None])[0]
    requests = [JobRequest(int(s), theta[None]) for s in range(300)]
    counts = np.concatenate([r.counts for r in backend.sample(requests)])
    fidelity = counts[:, 0] / 400
    spread = np.sqrt(exact[0] * (1 - exact[0]) / 400 / len(requests))
    assert abs(fidelity.mean() - exact[0]) / spread < Z_LIMIT
    losses = est.loss(counts, 400, backend.measurement, labels)
    q = backend.measurement.probabilities(exact)
    variance = est.square_residual_variance(q, 400, backend.measurement, labels)[0]
    truth = (1 - exact[0]) ** 2
    assert abs(losses.mean() - truth) / np.sqrt(variance / 300) < Z_LIMIT, (losses.mean(), truth)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def test_the_ideal_device_repeats_bit_for_bit_and_descends_on_a_plateau(load, tmp_path):
    """A hardware-track run of adam on barren-plateau-n2 with the ideal device: the gradient
    estimate is unbiased enough to descend to L* = -1 from every restart, the folder records the
    measurement, and a rerun in other chunks gives identical records."""
    instance = load("barren-plateau-n2-l19-v1")
    hw = config(IDEAL, shots=500)
    budget = Budget(shots=4 * 10**6)
    hardware_run(instance, "adam", budget, 4, hw, tmp_path / "a", lr=0.05)
    records = check_folder(tmp_path / "a", instance, hw, 4)
    assert all(r["hit"] for r in records), [r["fun"] for r in records]
    facts = json.loads((tmp_path / "a" / "hardware.json").read_text())["sessions"][0]
    assert facts["measurement"]["event"] == "parity" and facts["measurement"]["bases"] == "ZZ"
    hardware_run(instance, "adam", budget, 4, hw, tmp_path / "b", chunk=3, lr=0.05)
    assert comparable(tmp_path / "a") == comparable(tmp_path / "b")


# --- real devices: the code paths exist and fail with typed errors without an account ---------
def saved_ibm_accounts() -> dict:
    """The accounts saved by QiskitRuntimeService.save_account. Merely looking for one makes
    qiskit-ibm-runtime create the file as "{}", so an empty file means no account."""
    path = Path.home() / ".qiskit" / "qiskit-ibm.json"
    try:
        return json.loads(path.read_text()) or {}
    except (OSError, json.JSONDecodeError):
        return {}


def test_real_ibm_device_without_an_account_is_a_typed_error(load):
    needs_qiskit()
    if os.environ.get("QISKIT_IBM_TOKEN") or saved_ibm_accounts():
        pytest.skip("an IBM Quantum account is configured here")
    from qnntraps.hardware.backend import open_backend

    with pytest.raises(HardwareAccountError, match="save_account"):
        open_backend(load("construction-p2-v1"), config(QISKIT, backend="ibm_torino"))


def test_google_processor_without_credentials_is_a_typed_error(load):
    needs_cirq()
    from qnntraps.errors import QnnTrapsError
    from qnntraps.export import MissingSdkError
    from qnntraps.hardware.backend import open_backend

    google = config(NO_NOISE, backend="google:rainbow", account={"project_id": "p"})
    try:
        import cirq_google  # noqa: F401
    except ImportError:
        with pytest.raises(MissingSdkError, match="cirq-google"):
            open_backend(load("construction-p2-v1"), google)
        return
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        pytest.skip("Google credentials are configured here")
    with pytest.raises(QnnTrapsError):
        open_backend(load("construction-p2-v1"), google)


def test_the_shipped_example_configuration_is_the_documented_one():
    """README and docs/hardware.md run examples/hardware/fake_guadalupe.json; docs/hardware.md
    prints it in full: the two must agree."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shipped = root / "examples" / "hardware" / "fake_guadalupe.json"
    text = (root / "docs" / "hardware.md").read_text(encoding="utf-8")
    printed = re.search(r"cat > guadalupe.json <<'EOF'\n(.*?)\nEOF", text, flags=re.S).group(1)
    assert json.loads(printed) == json.loads(shipped.read_text(encoding="utf-8"))
    config = load_hardware_config(shipped)
    assert config.backend == "fake_guadalupe" and config.provider == "qiskit"
    assert "examples/hardware/fake_guadalupe.json" in (root / "README.md").read_text()
