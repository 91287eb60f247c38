"""The harness: starts, oracle, budgets, adapters, resumable runs, and the run/report commands."""

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from qnntraps.harness import results
from qnntraps.harness.runner import RunSettings, TrackUnavailableError, run
from qnntraps.harness.starts import (
    optimizer_generator,
    optimizer_seed,
    start_point,
    start_points,
)
from qnntraps.optimizers.catalogue import (
    BUILTINS,
    OptimizerSpecError,
    parse_hyperparameters,
    resolve_optimizer,
)
from qnntraps.oracles.budget import Budget, BudgetSpecError, parse_budget
from qnntraps.oracles.oracle import BudgetExceededError, Oracle, update_best
from qnntraps.registry import find_entry
from qnntraps.registry import load as load_instance
from qnntraps.seeds import SeededGenerators
from qnntraps.simulators import compile
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
TIMING_FIELDS = {"wall_seconds"}


def comparable(folder: Path) -> list[dict]:
    records = results.read_records(folder / results.RECORDS)
    return [
        {k: v for k, v in records[r].items() if k not in TIMING_FIELDS} for r in sorted(records)
    ]


# --- starts -----------------------------------------------------------------------------------
def test_starts_follow_the_documented_rule():
    sha = "ab" * 32
    digest = hashlib.shake_256(f"qnntraps-start:{sha}:17".encode()).digest(8 * 5)
    expected = [
        (int.from_bytes(digest[8 * j : 8 * j + 8], "big") >> 11) / 2**53 * 2 * np.pi
        for j in range(5)
    ]
    assert start_point(sha, 17, 5).tolist() == expected
    block = start_points(sha, range(40), 5)
    assert np.array_equal(block[17], start_point(sha, 17, 5))
    assert np.array_equal(start_points(sha, [39, 2], 5), block[[39, 2]])  # order-free
    assert block.min() >= 0 and block.max() < 2 * np.pi
    assert not np.array_equal(start_points("cd" * 32, [17], 5)[0], block[17])
    a, b = optimizer_generator(sha, 3).random(4), optimizer_generator(sha, 3).random(4)
    assert np.array_equal(a, b) and not np.array_equal(a, optimizer_generator(sha, 4).random(4))


def test_starts_are_uniform():
    points = start_points("0" * 64, range(4000), 4).ravel() / (2 * np.pi)
    counts = np.histogram(points, bins=10, range=(0, 1))[0]
    chi2 = float(((counts - points.size / 10) ** 2 / (points.size / 10)).sum())
    assert chi2 < 27.9  # 99.9% quantile of chi-square with 9 degrees of freedom


# --- budgets and the oracle -------------------------------------------------------------------
def test_budget_parsing_and_errors():
    assert parse_budget("grad=50, loss=7,wall=1.5") == Budget(7, 50, 1.5)
    for bad in ("", "grad=", "grad=1,grad=2", "steps=3", "loss=-1", "wall=0", "loss=1.5"):
        with pytest.raises(BudgetSpecError):
            parse_budget(bad)


def test_an_equivalent_evaluation_budget_counts_a_gradient_as_2p(load):
    assert parse_budget("evals=4e3") == Budget(evals=4000)
    assert Budget(grad_evals=5).as_dict() == {
        "loss_evals": None,
        "grad_evals": 5,
        "wall_seconds": None,
    }  # fmt: skip  (config.json files written before evals= existed keep their form)
    for bad in ("evals=-1", "evals=1e13", "evals=2.5"):
        with pytest.raises(BudgetSpecError):
            parse_budget(bad)
    instance = load("construction-coupled-p4-v1")  # p = 4: a gradient costs 8
    oracle = Oracle(compile(instance), 2, Budget(evals=19))
    theta = torch.as_tensor(start_points("1" * 64, range(2), 4))
    oracle.loss_and_grad(theta, torch.tensor([0, 1]))
    oracle.loss_and_grad(theta[:1], torch.tensor([0]))  # row 0 has spent 16 of 19
    assert oracle.can_evaluate_grad().tolist() == [False, True]
    assert oracle.can_evaluate_loss().tolist() == [True, True]
    with pytest.raises(BudgetExceededError):
        oracle.loss_and_grad(theta[:1], torch.tensor([0]))
    oracle.loss(theta[[0, 0, 0]], torch.tensor([0, 0, 0]))  # 16 + 3 = 19
    assert oracle.can_evaluate_loss().tolist() == [False, True]
    with pytest.raises(BudgetExceededError):
        oracle.loss(theta[:1], torch.tensor([0]))
    assert oracle.loss_evals.tolist() == [3, 0] and oracle.grad_evals.tolist() == [2, 1]


@pytest.mark.parametrize(
    "name", ["adam", "lbfgs", "spsa", "smo", "cobyla", "tests.user_optimizers:random_search"]
)
@pytest.mark.parametrize("execution", ["in-process", "sealed"])
def test_every_kind_stays_within_an_equivalent_budget(load, tmp_path, name, execution):
    instance = load("construction-coupled-p4-v1")
    chosen = dataclasses.replace(settings(name, 4, Budget(evals=90), chunk=4), execution=execution)
    run(instance, chosen, tmp_path)
    records = results.read_records(tmp_path / results.RECORDS)
    for record in records.values():
        assert 0 < record["equivalent_evals"] <= 90 and record["flags"] == []
        assert record["equivalent_evals"] == record["nfev"] + 8 * record["njev"]


def test_oracle_counts_and_refuses_past_the_budget(load):
    instance = load("construction-coupled-p4-v1")
    form = compile(instance)
    oracle = Oracle(form, 3, Budget(loss_evals=3, grad_evals=1))
    theta = torch.as_tensor(start_points("1" * 64, range(4), 4))
    values = oracle.loss(theta[:3], torch.tensor([0, 0, 2]))
    assert np.allclose(values.numpy(), instance.loss(theta[:3].numpy()), atol=1e-15)
    assert oracle.loss_evals.tolist() == [2, 0, 1]
    assert oracle.can_evaluate_loss().tolist() == [True, True, True]
    oracle.loss(theta[3:4], torch.tensor([0]))
    assert oracle.can_evaluate_loss().tolist() == [False, True, True]
    with pytest.raises(BudgetExceededError):
        oracle.loss(theta[:1], torch.tensor([0]))
    value, grad = oracle.loss_and_grad(theta[:1], torch.tensor([1]))
    assert oracle.grad_evals.tolist() == [0, 1, 0] and grad.shape == (1, 4)
    # the best point of row 0 is the lowest of its three points (the first of equals)
    row0 = np.array([instance.loss(theta[i].numpy()) for i in (0, 1, 3)])
    assert float(oracle.best_value[0]) == row0.min()
    assert torch.equal(oracle.best_point[0], theta[[0, 1, 3][int(row0.argmin())]])


def _best_by_definition(restarts, p, calls):
    """Each row's lowest value (NaN as +inf), its first point of that value, and its last point
    in call order: the oracle's bookkeeping written as a loop over the calls."""
    best_value = np.full(restarts, np.inf)
    best_point = np.full((restarts, p), np.nan)
    last_point = np.full((restarts, p), np.nan)
    for rows, theta, value in calls:
        for row, x, v in zip(rows, theta, value, strict=True):
            v = np.inf if np.isnan(v) else v
            if v < best_value[row]:
                best_value[row], best_point[row] = v, x
            last_point[row] = x
    return best_value, best_point, last_point


@pytest.mark.parametrize("shape", ["single", "unique", "repeated"])
def test_best_and_last_points_follow_their_definition(shape):
    """update_best's three paths (one row, distinct rows, rows given several times) keep the
    same books as the definition, ties and NaN included."""
    rng = np.random.default_rng(7)
    restarts, p = 6, 3
    books = (np.full(restarts, np.inf), np.full((restarts, p), np.nan),
             np.full((restarts, p), np.nan))  # fmt: skip
    calls = []
    for _ in range(200):
        if shape == "single":
            rows = rng.integers(0, restarts, 1)
        elif shape == "unique":
            rows = rng.permutation(restarts)[: rng.integers(1, restarts + 1)]
        else:
            rows = rng.integers(0, restarts, rng.integers(2, 12))
        theta = rng.integers(0, 4, (rows.size, p)).astype(float)  # repeated points
        value = rng.integers(0, 5, rows.size).astype(float)  # ties
        value[rng.random(rows.size) < 0.1] = np.nan
        calls.append((rows, theta, value))
        update_best(*books, rows, theta, value, unique=np.unique(rows).size == rows.size)
    for kept, expected in zip(books, _best_by_definition(restarts, p, calls), strict=True):
        assert np.array_equal(kept, expected, equal_nan=True)


# --- optimizer lookup -------------------------------------------------------------------------
def test_every_documented_baseline_is_built_in():
    expected = {
        "adam", "rmsprop", "lbfgs", "sgd", "spsa", "cobyla", "nelder-mead", "cma-es", "smo",
        "basin-hopping", "scipy-lbfgs",
    }  # fmt: skip
    assert expected == set(BUILTINS)


def test_optimizer_lookup_errors_and_user_callables():
    with pytest.raises(OptimizerSpecError, match="built-ins are"):
        resolve_optimizer("adamw-typo")
    with pytest.raises(OptimizerSpecError, match="cannot load"):
        resolve_optimizer("tests.user_optimizers:missing")
    with pytest.raises(OptimizerSpecError, match="kind"):
        resolve_optimizer("adam", kind="scipy")
    assert resolve_optimizer("tests.user_optimizers:random_search").kind == "scipy"
    assert resolve_optimizer("tests.user_optimizers:LocalSearch").kind == "ask-tell"
    assert resolve_optimizer("torch.optim:Adagrad").kind == "torch"
    assert parse_hyperparameters(("lr=0.5", "betas=[0.8, 0.9]", "name=x")) == {
        "lr": 0.5,
        "betas": [0.8, 0.9],
        "name": "x",
    }
    with pytest.raises(OptimizerSpecError):
        parse_hyperparameters(("novalue",))


def test_entry_point_optimizers_are_found(monkeypatch):
    import importlib.metadata

    class Entry:
        name = "my-search"

        def load(self):
            from tests.user_optimizers import LocalSearch

            return LocalSearch

    def entry_points(group):
        return [Entry()] if group == "qnntraps.optimizers" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert resolve_optimizer("my-search").kind == "ask-tell"


# --- runs ---------------------------------------------------------------------------------------
def settings(name, restarts, budget=None, chunk=None, **hyper):
    spec = resolve_optimizer(name)
    return RunSettings(
        spec, spec.hyperparameters(hyper), budget or spec.budget, restarts, chunk=chunk
    )


@pytest.mark.parametrize(
    "name, budget",
    [
        ("adam", Budget(grad_evals=60)),
        ("rmsprop", Budget(grad_evals=60)),
        ("sgd", Budget(grad_evals=60)),
        ("lbfgs", Budget(grad_evals=30)),
        ("spsa", Budget(loss_evals=41)),
        ("smo", Budget(loss_evals=60)),
        ("cobyla", Budget(loss_evals=40)),
        ("nelder-mead", Budget(loss_evals=40)),
        ("scipy-lbfgs", Budget(grad_evals=30)),
        ("basin-hopping", Budget(grad_evals=40)),
        ("cma-es", Budget(loss_evals=45)),
        ("tests.user_optimizers:random_search", Budget(loss_evals=20)),
        ("tests.user_optimizers:LocalSearch", Budget(loss_evals=22)),
    ],
)
def test_every_optimizer_respects_its_budget_and_is_scored_exactly(load, tmp_path, name, budget):
    instance = load("construction-coupled-p4-v1")
    summary = run(instance, settings(name, 6, budget, chunk=4), tmp_path)
    records = results.read_records(tmp_path / results.RECORDS)
    assert sorted(records) == list(range(6)) and summary["complete"]
    for record in records.values():
        # without a loss budget, one loss evaluation may be the final one (docs/scoring.md)
        assert record["nfev"] <= (1 if budget.loss_evals is None else budget.loss_evals)
        assert record["njev"] <= (budget.grad_evals or 0)
        assert record["flags"] == [] and record["error"] is None
        final = np.array(record["x"])
        assert record["fun"] == instance.loss(final)  # the exact loss, recomputed
        assert record["hit"] == (record["gap"] <= instance.certificate.hit_tolerance)
        assert record["equivalent_evals"] == record["nfev"] + 8 * record["njev"]
    assert summary["metrics"]["hits"] == sum(r["hit"] for r in records.values())


def test_the_optimizer_sees_only_the_oracle(load, tmp_path):
    from tests import user_optimizers

    user_optimizers.SEEN_ARGUMENTS.clear()
    instance = load("construction-p4-v1")
    chosen = settings("tests.user_optimizers:random_search", 2, Budget(loss_evals=5))
    # in this process, so that what it was given can be looked at (sealed: tests/test_sealed.py)
    run(instance, dataclasses.replace(chosen, execution="in-process"), tmp_path)
    fun, x0, jac, rng = user_optimizers.SEEN_ARGUMENTS[0]
    assert isinstance(x0, np.ndarray) and isinstance(rng, np.random.Generator)
    closure_cells = [c.cell_contents for c in fun.__closure__ or ()]
    assert not any(
        c is instance or c is instance.certificate or (isinstance(c, str) and instance.id in c)
        for c in closure_cells
    )


@pytest.mark.parametrize("name", ["adam", "lbfgs", "spsa", "smo", "cma-es"])
def test_results_do_not_depend_on_chunking_and_repeat_bit_for_bit(load, tmp_path, name):
    instance = load("construction-coupled-p6-v1")
    budget = Budget(loss_evals=300) if name in ("spsa", "smo", "cma-es") else Budget(grad_evals=80)
    run(instance, settings(name, 12, budget, chunk=12), tmp_path / "a")
    run(instance, settings(name, 12, budget, chunk=12), tmp_path / "b")
    run(instance, settings(name, 12, budget, chunk=5), tmp_path / "c")
    assert comparable(tmp_path / "a") == comparable(tmp_path / "b")
    assert comparable(tmp_path / "a") == comparable(tmp_path / "c")


def test_torch_adam_batched_equals_adam_one_restart_at_a_time(load, tmp_path):
    """The batched torch adapter keeps restarts independent: torch.optim.Adam as a plug-in
    gives each restart what torch.optim.Adam gives it alone (the built-in `adam` is a fused
    loop, tested in tests/test_first_order.py)."""
    instance = load("construction-coupled-p6-v1")
    chosen = settings("torch.optim:Adam", 5, Budget(grad_evals=50), lr=0.01)
    run(instance, dataclasses.replace(chosen, execution="in-process"), tmp_path)
    records = results.read_records(tmp_path / results.RECORDS)
    sha = find_entry(instance.id).sha256
    for r in range(5):
        theta = torch.tensor(start_point(sha, r, 6), requires_grad=True)
        optimizer = torch.optim.Adam([theta], lr=0.01)
        for _ in range(50):
            _, grad = instance.loss_and_grad(theta.detach().numpy())
            theta.grad = torch.as_tensor(grad)
            optimizer.step()
        assert records[r]["x"] == theta.detach().tolist()


def test_resume_after_partial_write_and_extension(load, tmp_path):
    instance = load("construction-p4-v1")
    run(instance, settings("lbfgs", 10, chunk=4), tmp_path / "whole")
    out = tmp_path / "resumed"
    run(instance, settings("lbfgs", 6, chunk=4), out)  # a shorter run, then a torn last line
    with open(out / results.RECORDS, "ab") as stream:
        stream.write(b'{"restart": 6, "start_lo')
    summary = run(instance, settings("lbfgs", 10, chunk=4), out)
    assert summary["complete"] and summary["done"] == 10
    assert comparable(out) == comparable(tmp_path / "whole")
    whole = results.read_json(tmp_path / "whole" / results.SUMMARY)
    assert summary["metrics"] == whole["metrics"]


def test_a_different_run_in_the_same_folder_is_refused(load, tmp_path):
    instance = load("construction-p4-v1")
    run(instance, settings("adam", 3, Budget(grad_evals=5)), tmp_path)
    before = (tmp_path / results.RECORDS).read_bytes()
    with pytest.raises(results.RunFolderError, match="budget"):
        run(instance, settings("adam", 3, Budget(grad_evals=6)), tmp_path)
    with pytest.raises(results.RunFolderError, match="hyperparameters"):
        run(instance, settings("adam", 3, Budget(grad_evals=5), lr=0.1), tmp_path)
    assert (tmp_path / results.RECORDS).read_bytes() == before  # nothing lost


def test_run_survives_sigkill_and_resumes_to_identical_results(tmp_path):
    command = [
        sys.executable, "-m", "qnntraps.cli", "run", "--instance", "construction-coupled-p8-v1",
        "--optimizer", "adam", "--restarts", "60", "--chunk", "6", "--budget", "grad=300",
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([*command, "--out", str(tmp_path / "whole")], check=True, env=env)
    killed = tmp_path / "killed"
    records = killed / "construction-coupled-p8-v1" / results.RECORDS
    process = subprocess.Popen([*command, "--out", str(killed)], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        not records.exists() or records.read_bytes().count(b"\n") < 12
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = records.read_bytes().count(b"\n")
    assert 12 <= done < 60, "the run should have been killed part-way"
    subprocess.run([*command, "--out", str(killed)], check=True, env=env)
    assert comparable(killed / "construction-coupled-p8-v1") == comparable(
        tmp_path / "whole" / "construction-coupled-p8-v1"
    )


def test_gpu_track_without_cuda_is_a_clear_error(load, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(TrackUnavailableError, match="CUDA"):
        spec = resolve_optimizer("adam")
        run(load("construction-p2-v1"), RunSettings(spec, {}, spec.budget, 2, "gpu"), tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["adam", "lbfgs", "smo"])
def test_gpu_track_matches_the_exact_track(load, tmp_path, name):
    instance = load("construction-coupled-p8-v1")
    spec = resolve_optimizer(name)
    budget = Budget(loss_evals=400) if name == "smo" else Budget(grad_evals=200)
    hyper = spec.hyperparameters()
    run(instance, RunSettings(spec, hyper, budget, 200, "exact"), tmp_path / "cpu")
    run(instance, RunSettings(spec, hyper, budget, 200, "gpu"), tmp_path / "gpu")
    cpu, gpu = comparable(tmp_path / "cpu"), comparable(tmp_path / "gpu")
    close = sum(abs(a["fun"] - b["fun"]) < 1e-9 for a, b in zip(cpu, gpu, strict=True))
    assert close >= 198  # paths may split at a saddle by rounding, rarely


# --- command line -------------------------------------------------------------------------------
def test_run_and_report_commands(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(
        monkeypatch, capsys, "run", "--family", "construction", "--max-p", "4",
        "--optimizer", "lbfgs", "--restarts", "40", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    assert "construction-p2-v1:" in out and "construction-p4-v1:" in out and "hits" in out
    code, out, err = run_cli(monkeypatch, capsys, "report", str(tmp_path))
    assert code == 0, err
    assert "lbfgs" in out and "construction-p4-v1" in out
    for png in ("hit_rate_vs_p.png", "gap_ecdf.png", "construction-p4-v1/losses.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--instance", "construction-p4-v1", "--optimizer", "nope"], "unknown optimizer"),
        (["--instance", "construction-p4-v1", "--optimizer", "adam", "--param", "x=1"], "no hyper"),
        (["--instance", "construction-p4-v1", "--optimizer", "adam", "--budget", "g=1"], "budget"),
        (["--instance", "construction-p99-v1", "--optimizer", "adam"], "qnntraps list"),
        (["--optimizer", "adam"], "either --instance"),
        (["--instance", "construction-p4-v1", "--optimizer", "adam", "--track", "gpu"], "CUDA"),
    ],
)
def test_run_command_errors_are_one_line(monkeypatch, capsys, tmp_path, args, message):
    if "gpu" in args and torch.cuda.is_available():
        pytest.skip("CUDA is present")
    code, out, err = run_cli(
        monkeypatch, capsys, "run", *args, "--restarts", "2", "--out", str(tmp_path / "o")
    )
    assert code == 2 and message in err and "Traceback" not in err


def test_report_of_a_folder_without_runs(monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "report", str(tmp_path))
    assert code == 2 and "no run under" in err


def test_wall_budget_stops_restarts_and_says_so(load, tmp_path):
    instance = load("construction-coupled-p8-v1")
    summary = run(instance, settings("adam", 8, Budget(wall_seconds=0.5), lr=1e-4), tmp_path)
    records = results.read_records(tmp_path / results.RECORDS)
    assert summary["complete"] and summary["stopped_by_wall"] == 8
    assert all(r["stopped_by_wall"] and r["njev"] >= 1 for r in records.values())


@pytest.mark.parametrize(
    "name, budget, at_least",
    [
        ("spsa", Budget(loss_evals=2000), 0),  # descends; a hit needs luck
        ("basin-hopping", Budget(grad_evals=4000), 18),  # escapes the traps at p = 4
        ("cma-es", Budget(loss_evals=4000), 0),
    ],
)
def test_baselines_descend_and_global_ones_escape(load, tmp_path, name, budget, at_least):
    instance = load("construction-p4-v1")
    run(instance, settings(name, 20, budget), tmp_path)
    records = list(results.read_records(tmp_path / results.RECORDS).values())
    assert all(r["fun"] <= r["start_fun"] + 1e-12 for r in records)
    assert np.mean([r["fun"] for r in records]) < 0.5 * np.mean([r["start_fun"] for r in records])
    assert sum(r["hit"] for r in records) >= at_least


def test_gpu_figures_script_reports_what_the_harness_measures(load, tmp_path):
    """tools/gpu_figures.py at a tiny size: every row is there, and its Adam hits are the
    harness's own for the same restarts (on the exact track without CUDA)."""
    out = tmp_path / "figures"
    command = [sys.executable, str(ROOT / "tools" / "gpu_figures.py"), "--vectors", "64"]
    command += ["--restarts", "40", "--agree", "40", "--out", str(out)]
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)

    figures = json.loads((out / "gpu_figures.json").read_text())
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    assert [(r["instance"], r["device"]) for r in figures["throughput"]] == [
        (i, d) for i in ("construction-coupled-p16-v1", "construction-coupled-p32-v1",
                         "construction-coupled-p62-v1", "separable-p12-v1") for d in devices
    ]  # fmt: skip
    assert all(r["vectors_per_second"] > 0 for r in figures["throughput"])
    spec = resolve_optimizer("adam")
    for row in figures["runs"]:
        settings = RunSettings(spec, spec.hyperparameters(), spec.budget, 40, row["track"])
        summary = run(load(row["instance"]), settings, tmp_path / row["instance"])
        assert row["hits"] == summary["metrics"]["hits"]
        assert row["mean_grad_evals"] == summary["metrics"]["grad_evals"]["mean"]
    assert (figures["agreement"] is not None) == torch.cuda.is_available()
    assert "vectors per second" in (out / "gpu_figures.md").read_text()


def test_optimizer_generators_are_made_when_asked_and_are_the_documented_ones():
    """The generators a chunk's optimizer gets (in process and sealed: SeededGenerators of the
    restarts' optimizer seeds) are optimizer_generator's, one object per restart."""
    sha = "7" * 64
    generators = SeededGenerators([optimizer_seed(sha, r) for r in (5, 9, 2)])
    assert len(generators) == 3 and generators[1] is generators[-2]
    for i, r in enumerate([5, 9, 2]):
        expected = optimizer_generator(sha, r).integers(0, 2**62, 4)
        assert np.array_equal(generators[i].integers(0, 2**62, 4), expected)
    assert [g.bit_generator.state for g in generators[0:2]] == [
        generators[0].bit_generator.state,
        generators[1].bit_generator.state,
    ]
    with pytest.raises(IndexError):
        generators[3]


def test_spent_fraction_is_the_largest_limit_spent():
    from qnntraps.oracles.budget import spent_fraction

    budget = Budget(grad_evals=10, evals=400, wall_seconds=2.0)
    loss, grad = np.array([0, 0, 100, 0]), np.array([3, 0, 1, 50])
    elapsed = np.array([0.1, np.nan, 0.2, 1.0])
    # p = 4: equivalent evaluations = loss + 8 grad
    np.testing.assert_allclose(
        spent_fraction(budget, 4, loss, grad, elapsed), [0.3, 0.0, 0.27, 1.0]
    )
    assert spent_fraction(Budget(loss_evals=5), 4, loss, grad).tolist() == [0, 0, 1, 0]


def test_progress_is_reported_within_a_chunk_and_changes_nothing(tmp_path, monkeypatch):
    # one chunk of 40 restarts: before, the bar stood at 0 until the chunk ended
    import qnntraps.harness.runner as runner

    instance = load_instance("construction-coupled-p4-v1")
    spec = resolve_optimizer("adam")
    settings = RunSettings(spec, spec.hyperparameters(), Budget(grad_evals=300), 40, chunk=40)
    run(instance, settings, tmp_path / "quiet")
    monkeypatch.setattr(runner, "PROGRESS_INTERVAL", 0.0)
    calls = []
    run(instance, settings, tmp_path / "watched", lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 40) and calls[-1] == (40, 40)
    done = [d for d, _ in calls]
    assert done == sorted(done) and any(0 < d < 40 for d in done)
    quiet = (tmp_path / "quiet" / results.RECORDS).read_bytes().splitlines()
    watched = (tmp_path / "watched" / results.RECORDS).read_bytes().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "wall_seconds"}  # noqa: E731
    assert [strip(x) for x in quiet] == [strip(x) for x in watched]


def test_the_cli_progress_bar_is_quiet_off_a_terminal_and_names_its_place(monkeypatch):
    import io

    from qnntraps import cli

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, shown in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        with cli._SuiteProgress(13) as progress:
            progress("construction-p4-v1", 0, 100)
            progress("construction-p4-v1", 50, 100)
            progress("separable-p4-v1", 100, 100)
        text = stream.getvalue()
        assert ("[1/13] construction-p4-v1" in text and "[2/13] separable-p4-v1" in text) is shown
        assert (text == "") is not shown


def test_run_restarts_reports_progress_within_chunks(monkeypatch):
    # what leaderboard verification re-runs: its bar moves inside each chunk as well
    import qnntraps.harness.runner as runner

    instance = load_instance("construction-coupled-p4-v1")
    spec = resolve_optimizer("adam")
    settings = RunSettings(spec, spec.hyperparameters(), Budget(grad_evals=300), 30, chunk=15)
    quiet = runner.run_restarts(instance, settings, list(range(30)))
    monkeypatch.setattr(runner, "PROGRESS_INTERVAL", 0.0)
    calls = []
    watched = runner.run_restarts(
        instance, settings, list(range(30)), progress=lambda d, t: calls.append((d, t))
    )
    assert calls[0] == (0, 30) and calls[-1] == (30, 30) and (15, 30) in calls
    done = [d for d, _ in calls]
    assert done == sorted(done) and any(0 < d < 15 for d in done)
    strip = lambda r: {k: v for k, v in r.items() if k != "wall_seconds"}  # noqa: E731
    assert [strip(r) for r in quiet] == [strip(r) for r in watched]


def test_a_chunk_worker_with_other_versions_refuses_to_run():
    # a Dask worker on another machine may have another torch: it must not write other records
    import qnntraps.harness.runner as runner

    instance = load_instance("construction-p2-v1")
    spec = resolve_optimizer("lbfgs")
    settings = RunSettings(spec, spec.hyperparameters(), spec.budget, 4)
    sha256 = find_entry(instance.id).sha256
    versions = {**runner.software_versions(), "torch": "1.0.0"}
    task = runner._ChunkTask(
        instance, settings, sha256, "cpu", "batched", spec.hyperparameters(), spec.budget, versions
    )
    with pytest.raises(runner.WorkerSoftwareError, match="torch"):
        task([0, 1])
    same = dataclasses.replace(task, versions=runner.software_versions())
    assert [r["restart"] for r in same([0, 1])] == [0, 1]
