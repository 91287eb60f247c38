"""Sealed execution: one test per attack class, broken plug-ins, and what config.json records.

Every attack runs on construction-coupled-p10-v1, where honest local methods hit about 0.1% of
the time (L-BFGS-B: 0/100). Sealed, no attack may score a hit; the control test shows the
attacks are real by letting the same plug-ins run in the harness's process, where several of
them score every restart.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading

import numpy as np
import pytest

import qnntraps.harness.runner as runner
from qnntraps.harness.runner import RunSettings, run
from qnntraps.optimizers.identity import code_identity
from qnntraps.oracles.budget import Budget
from tests import hostile_optimizers

ID = "construction-coupled-p10-v1"
RESTARTS = 8
BUDGET = Budget(loss_evals=50, grad_evals=50)
ATTACKS = [
    "stack_walk",
    "heap_scan",
    "argv_load",
    "patch_scoring",
    "closure_free_evaluations",
    "reset_counters",
    "thread_after_return",
]


def _settings(name, execution=None, budget=BUDGET, params=None, restarts=RESTARTS, timeout=60):
    return RunSettings(
        f"tests.hostile_optimizers:{name}",
        params or {},
        budget,
        restarts,
        execution=execution,
        worker_timeout=timeout,
    )


def _records(folder):
    lines = (folder / "restarts.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture
def as_if_from_the_command_line(monkeypatch):
    """The harness's own argv names the instance, as `qnntraps run --instance ID` does; and
    whatever a plug-in patches in this process is put back afterwards."""
    monkeypatch.setattr(sys, "argv", ["qnntraps", "run", "--instance", ID, "--out", "runs"])
    monkeypatch.setattr(runner, "score_chunk", runner.score_chunk)


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_sealed_attack_scores_no_hit(attack, load, tmp_path, as_if_from_the_command_line):
    summary = run(load(ID), _settings(attack), tmp_path)
    records = _records(tmp_path)
    assert summary["complete"] and len(records) == RESTARTS
    assert summary["metrics"]["hits"] == 0
    assert not any(r["hit"] for r in records)
    assert runner.score_chunk is not None  # the harness's own scoring was never replaced
    if attack == "reset_counters":  # its calls past the budget were refused and flagged
        assert all("over-budget-calls" in r["flags"] for r in records)
    if attack == "thread_after_return":  # calls for a restart that had ended: refused, flagged
        assert any("late-calls" in r["flags"] for r in records)
    for record in records:  # the harness's counters, not the plug-in's
        assert record["nfev"] <= BUDGET.loss_evals


@pytest.mark.slow
def test_the_attacks_are_real_in_process(load, tmp_path, as_if_from_the_command_line):
    """Control: in the harness's own process the first five tricks find the minimizer, even
    with other instances of the same size in memory (heap_scan must pick the right certificate)."""
    decoys = [load("construction-p10-v1"), load("separable-p10-v1")]
    instance = load(ID)
    scoring = runner.score_chunk
    for attack in ATTACKS[:5]:
        summary = run(instance, _settings(attack, "in-process"), tmp_path / attack)
        assert summary["metrics"]["hits"] == RESTARTS, attack
        runner.score_chunk = scoring  # undo patch_scoring's work before the next one
    assert all(d.certificate.global_minimizer.shape == (10,) for d in decoys)
    # the two that fight the counters are caught even in process: a stolen hit that cost
    # nothing is flagged, and a point moved after the restart ended is not the scored one
    for attack in ATTACKS[5:]:
        summary = run(instance, _settings(attack, "in-process"), tmp_path / attack)
        assert summary["metrics"]["hits"] == 0, attack
    # a thread still inside torch when the interpreter exits aborts it: wait for the late callers
    for thread in threading.enumerate():
        if thread.name == hostile_optimizers.LATE_THREAD:
            thread.join(timeout=60)
            assert not thread.is_alive()


@pytest.mark.parametrize("execution", ["sealed", "in-process"])
def test_a_final_point_is_always_one_the_oracle_evaluated(execution, load, tmp_path):
    instance = load(ID)
    target = instance.certificate.global_minimizer.tolist()
    # the budget pays the final evaluation, but that is the only one: a hit at zero cost
    folder = tmp_path / "paid"
    run(instance, _settings("unevaluated_target", execution, Budget(loss_evals=10),
                            {"target": target}, restarts=3), folder)  # fmt: skip
    for record in _records(folder):
        assert not record["hit"] and record["flags"] == ["hit-at-zero-cost"]
        assert record["nfev"] == 1 and record["gap"] < 1e-20
    # nothing can pay for it and nothing was evaluated: there is no point to score
    folder = tmp_path / "unpaid"
    run(instance, _settings("unevaluated_target", execution, Budget(loss_evals=0),
                            {"target": target}, restarts=3), folder)  # fmt: skip
    for record in _records(folder):
        assert not record["hit"] and record["flags"] == ["final-point-not-evaluated"]
        assert record["x"] is None
    # three honest evaluations spent the budget: scored at the best of those three
    folder = tmp_path / "best"
    run(instance, _settings("unevaluated_target", execution, Budget(loss_evals=3),
                            {"target": target, "honest": 3}, restarts=3), folder)  # fmt: skip
    for record in _records(folder):
        assert not record["hit"] and record["flags"] == [] and record["nfev"] == 3
        assert not np.allclose(record["x"], target)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "flag", "words"),
    [
        ("raises", "optimizer-raised", "RuntimeError: this optimizer is broken"),
        ("wrong_shape", "wrong-shape", "expected 10 numbers"),
        ("exits", "worker-exit", "status 3"),
        ("killed", "worker-died", "signal 9"),
        ("hangs", "worker-hung", "worker timeout"),
    ],
)
def test_a_broken_plug_in_is_recorded_and_flagged(name, flag, words, load, tmp_path):
    summary = run(load(ID), _settings(name, timeout=3, restarts=3), tmp_path)
    assert summary["complete"] and summary["metrics"]["hits"] == 0
    records = _records(tmp_path)
    assert len(records) == 3
    assert flag in records[0]["flags"] and words in records[0]["error"]
    assert all(flag in r["flags"] and not r["hit"] for r in records)
    assert json.loads((tmp_path / "summary.json").read_text())["complete"]


def test_non_finite_final_points_are_misses_and_the_run_is_summarised(load, tmp_path):
    summary = run(load(ID), _settings("nan_sometimes", restarts=12), tmp_path)
    records = _records(tmp_path)
    nan_rows = [r for r in records if "non-finite-final-point" in r["flags"]]
    assert 0 < len(nan_rows) < 12
    assert all(r["x"] is None and not r["hit"] for r in nan_rows)
    assert summary["complete"] and summary["metrics"]["n"] == 12


def test_sealed_and_in_process_records_are_identical(load, tmp_path):
    instance = load("construction-coupled-p6-v1")
    settings = {
        execution: RunSettings("adam", {}, Budget(grad_evals=300), 40, execution=execution)
        for execution in ("sealed", "in-process")
    }
    for execution, value in settings.items():
        run(instance, value, tmp_path / execution)
    sealed, local = _records(tmp_path / "sealed"), _records(tmp_path / "in-process")
    for a, b in zip(sealed, local, strict=True):
        a.pop("wall_seconds"), b.pop("wall_seconds")
        assert a == b
    config = json.loads((tmp_path / "sealed" / "config.json").read_text())
    assert config["execution"] == "sealed"


def test_config_records_the_plug_ins_code_identity(tmp_path, monkeypatch, load):
    module = tmp_path / "my_optimizer.py"
    module.write_text(
        "import numpy as np\n\ndef minimize(fun, x0, jac=None):\n    fun(x0)\n    return x0\n"
    )
    monkeypatch.chdir(tmp_path)  # module:callable resolves from the working directory
    run(
        load("construction-p2-v1"),
        RunSettings("my_optimizer:minimize", {}, None, 2),
        tmp_path / "r",
    )
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    inner = hashlib.sha256(module.read_bytes()).digest()
    expected = hashlib.sha256(b"my_optimizer.py\0" + inner).hexdigest()
    assert config["code"]["sha256"] == expected
    assert config["code"]["module"] == "my_optimizer" and config["code"]["files"] == 1
    assert config["execution"] == "sealed"
    assert config["budget"] == {"loss_evals": 4000, "grad_evals": 2000, "wall_seconds": None}
    module.write_text(module.read_text() + "# changed\n")
    assert code_identity("my_optimizer:minimize", False).sha256 != expected


def test_one_zygote_serves_several_runs_with_the_same_records(load, tmp_path):
    """`run(..., executor=)` (what `qnntraps run --family` does): each run still gets fresh
    workers, and its records equal those of a run with a zygote of its own."""
    from qnntraps.sealed.serve import SealedExecutor

    settings = RunSettings("tests.user_optimizers:random_search", {}, Budget(loss_evals=40), 6)
    ids = ["construction-p2-v1", "construction-p4-v1"]
    with SealedExecutor() as executor:
        for instance_id in ids:
            run(load(instance_id), settings, tmp_path / "shared" / instance_id, executor=executor)
    for instance_id in ids:
        run(load(instance_id), settings, tmp_path / "own" / instance_id)
        shared = _records(tmp_path / "shared" / instance_id)
        own = _records(tmp_path / "own" / instance_id)
        for a, b in zip(shared, own, strict=True):
            a.pop("wall_seconds"), b.pop("wall_seconds")
            assert a == b and a["nfev"] <= 40


def test_a_family_run_from_the_command_line_is_sealed(monkeypatch, capsys, tmp_path):
    from tests.test_cli import run_cli

    code, out, err = run_cli(
        monkeypatch, capsys, "run", "--family", "construction", "--max-p", "4",
        "--optimizer", "tests.user_optimizers:random_search", "--budget", "loss=40",
        "--restarts", "3", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    for instance_id in ("construction-p2-v1", "construction-p4-v1"):
        assert f"{instance_id}: " in out
        config = json.loads((tmp_path / instance_id / "config.json").read_text())
        assert config["execution"] == "sealed" and len(_records(tmp_path / instance_id)) == 3
