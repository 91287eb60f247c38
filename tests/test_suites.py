"""Suites as frozen data, the suite score against closed forms, and `bench` end to end."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from qnntraps.suites import definitions
from qnntraps.suites.bench import BENCH_FILE, bench
from qnntraps.suites.definitions import (
    SuiteError,
    held_out_entries,
    load_suite,
    parse_suite,
    suite_ids,
)
from qnntraps.suites.score import (
    Outcome,
    budget_grid,
    profile_area,
    solve_probability,
    suite_score,
)
from tests.test_cli import run_cli


def suite_document(**changes) -> dict:
    document = {
        "format": "qnntraps-suite",
        "version": 1,
        "id": "tiny-v1",
        "track": "exact",
        "description": "two small instances for the tests",
        "score": {"budget_range": [10, 1e7]},
        "held_out": {"description": "none", "families": [], "p": [], "restarts": 0},
        "entries": [
            {"instance": "construction-p2-v1", "restarts": 24, "budget": {"evals": 800}},
            {"instance": "construction-coupled-p4-v1", "restarts": 24, "budget": {"evals": 1600}},
        ],
    }
    return document | changes


def as_bytes(document: dict) -> bytes:
    return json.dumps(document).encode()


# --- definitions --------------------------------------------------------------------------------
def test_every_shipped_suite_matches_its_pin_and_validates():
    assert "quick-v1" in suite_ids()
    for suite_id in suite_ids():
        suite = load_suite(suite_id)
        data = (definitions.DATA / f"{suite_id}.json").read_bytes()
        assert suite.sha256 == hashlib.sha256(data).hexdigest() and suite.id == suite_id


def test_quick_v1_is_what_its_description_says():
    suite = load_suite("quick-v1")
    assert suite.track == "exact" and not suite.ranked and len(suite.entries) == 6
    for entry in suite.entries:  # every gradient method gets 1000 gradients' worth
        p = int(entry.instance.split("-p")[1].split("-")[0])
        assert entry.restarts == 1000 and entry.budget.evals == 2000 * p


def test_core_v1_is_every_family_and_variant_with_proved_targets():
    from qnntraps.families.catalogue import suite_ids as instance_ids
    from qnntraps.ids import parse_instance_id
    from qnntraps.registry import find_entry

    suite = load_suite("core-v1")
    assert suite.track == "exact" and suite.ranked

    def kind(instance_id):
        parsed = parse_instance_id(instance_id)
        return parsed.family, parsed.variant

    # every family and variant that existed when core-v1 was frozen; a family added later
    # (barren-plateau, teacher-student) goes into a new suite version, never into core-v1
    later = ("barren-plateau", "teacher-student")
    kinds = {kind(i) for i in instance_ids() if parse_instance_id(i).family not in later}
    present = {kind(e.instance) for e in suite.entries}
    assert present == kinds
    for entry in suite.entries:
        p = parse_instance_id(entry.instance).p
        assert entry.restarts * 2.0**-p >= 10  # at least 10 expected hits at the rate 2^-p
        assert entry.budget.evals == 2000 * p
        assert "best-known" not in find_entry(entry.instance).tags  # every target is proved
    held = held_out_entries(suite)
    assert {e.instance for e in held} == {e.instance for e in suite.entries}
    assert all(parse_instance_id(e.instance).p == 4 for e in held if "separable" in e.instance)


def test_core_v2_is_core_v1_and_the_barren_plateau_family():
    import qnntraps
    from qnntraps.ids import parse_instance_id

    v1, v2 = load_suite("core-v1"), load_suite("core-v2")
    assert v2.track == "exact" and v2.ranked and v2.budget_range == v1.budget_range
    assert v2.entries[: len(v1.entries)] == v1.entries and v2.held_out == v1.held_out
    added = v2.entries[len(v1.entries) :]
    assert [parse_instance_id(e.instance).family for e in added] == ["barren-plateau"] * 2
    for entry in added:  # 100 gradients: a gradient counts 2p equivalent evaluations
        p = qnntraps.load(entry.instance).num_parameters
        assert entry.restarts == 64 and entry.budget.evals == 200 * p
    assert {e.instance for e in held_out_entries(v2)} == {e.instance for e in v1.entries}


def test_gpu_and_hardware_suites_are_what_their_descriptions_say():
    from qnntraps.registry import find_entry

    gpu = load_suite("gpu-v1")
    assert gpu.track == "gpu" and len(gpu.entries) == 4
    assert all("gpu-scale" in find_entry(e.instance).tags for e in gpu.entries)
    assert all(10**5 <= e.restarts <= 10**6 for e in gpu.entries)
    hardware = load_suite("hardware-v1")
    assert hardware.track == "hardware" and not hardware.ranked
    for entry in hardware.entries:
        assert entry.budget.shots == 2 * 10**6 and find_entry(entry.instance).p <= 4
    assert {e.instance.split("-p")[0] for e in hardware.entries} == {
        "construction", "construction-coupled", "separable",
    }  # fmt: skip


def test_a_changed_suite_file_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    original = (definitions.DATA / "quick-v1.json").read_bytes()
    (folder / "quick-v1.json").write_bytes(original.replace(b"1000", b"1001", 1))
    (folder / "pins.json").write_text(
        json.dumps({"quick-v1": hashlib.sha256(original).hexdigest()})
    )
    monkeypatch.setattr(definitions, "DATA", folder)
    with pytest.raises(SuiteError, match="does not match its pinned sha256"):
        load_suite("quick-v1")
    with pytest.raises(SuiteError, match="unknown suite 'core-v9'; the suites are quick-v1"):
        load_suite("core-v9")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"track": "quantum"}, "track 'quantum'"),
        ({"id": "Quick"}, "not of the form name-vN"),
        ({"version": 2}, "not a version-1"),
        ({"score": {"budget_range": [100, 10]}}, "1 <= low < high"),
        ({"entries": []}, "non-empty list"),
        ({"entries": [{"instance": "construction-p3-v1", "restarts": 1, "budget": {"evals": 1}}]},
         "entries[0]"),
        ({"entries": [{"instance": "construction-p2-v1", "restarts": 0, "budget": {"evals": 1}}]},
         "restarts must be"),
        ({"entries": [{"instance": "construction-p2-v1", "restarts": 1, "budget": {"wall": 1}}]},
         "budget must be an object of"),
        ({"entries": [{"instance": "construction-p2-v1", "restarts": 1, "budget": {"evals": -1}}]},
         "evals= must be"),
        ({"entries": 2 * [{"instance": "construction-p2-v1", "restarts": 1,
                           "budget": {"evals": 9}}]}, "listed twice"),
        ({"track": "hardware"}, "counts shots"),
        ({"held_out": {"description": "x", "families": ["construction"], "p": [], "restarts": 5}},
         "together"),
    ],
)  # fmt: skip
def test_malformed_suites_are_refused_with_the_reason(change, problem):
    with pytest.raises(SuiteError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_suite(as_bytes(suite_document(**change)), "tiny.json")
    with pytest.raises(SuiteError, match="not a JSON suite file"):
        parse_suite(b'{"a": NaN}', "tiny.json")
    with pytest.raises(SuiteError, match="exactly the fields"):
        parse_suite(as_bytes(suite_document() | {"extra": 1}), "tiny.json")


# --- the score ----------------------------------------------------------------------------------
def test_solve_probability_is_the_restart_formula():
    budgets = np.array([99.0, 100.0, 250.0, 1000.0])
    p = solve_probability(0.2, 100.0, budgets)
    assert p[0] == 0.0  # not one restart affordable
    assert np.allclose(p[1:], [0.2, 1 - 0.8**2, 1 - 0.8**10], rtol=1e-15, atol=0)
    assert np.all(solve_probability(0.0, 100.0, budgets) == 0.0)
    assert np.all(solve_probability(1.0, 100.0, budgets)[1:] == 1.0)


def test_profile_area_against_closed_forms():
    # h = 1, cost c: P jumps from 0 to 1 at b = c, so the area is the log-width above c
    area = profile_area(1.0, 1000.0, (10.0, 1e7))
    assert abs(area - (7 - 3) / (7 - 1)) < 2e-3  # trapezoid on the 601-point grid
    assert profile_area(0.0, 5.0, (10.0, 1e7)) == 0.0
    assert profile_area(1.0, 1.0, (10.0, 1e7)) == 1.0
    # rises with the hit rate and falls with the cost
    assert profile_area(0.1, 100.0, (10, 1e7)) < profile_area(0.2, 100.0, (10, 1e7))
    assert profile_area(0.1, 200.0, (10, 1e7)) < profile_area(0.1, 100.0, (10, 1e7))
    assert budget_grid((10, 1e7)).size == 601


def test_suite_score_is_the_mean_area_with_a_reproducible_interval():
    rng = np.random.default_rng(3)
    outcomes = [
        Outcome("a", rng.random(400) < 0.05, rng.uniform(500, 1500, 400)),
        Outcome("b", np.zeros(300, dtype=bool), np.full(300, 100.0)),
    ]
    score = suite_score(outcomes, (10, 1e8))
    areas = dict(score.per_instance)
    assert areas["b"] == 0.0
    expected = profile_area(outcomes[0].hits.mean(), outcomes[0].costs.mean(), (10, 1e8))
    assert score.value == pytest.approx(float(expected) / 2, rel=1e-12)
    assert score.low < score.value < score.high < 0.5
    assert suite_score(outcomes, (10, 1e8)) == score  # the bootstrap seed is fixed
    with pytest.raises(ValueError):
        Outcome("c", np.array([True]), np.array([np.nan]))


# --- bench --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    suite = parse_suite(as_bytes(suite_document()), "tiny.json", "0" * 64)
    out = tmp_path_factory.mktemp("bench")
    calls = []
    result = bench("tests.user_optimizers:random_search", suite, out,
                   progress=lambda *a: calls.append(a))  # fmt: skip
    return suite, out, result, calls


def test_bench_runs_every_entry_sealed_and_scores_it(tiny_bench):
    suite, out, result, calls = tiny_bench
    assert [row.instance for row in result.instances] == [e.instance for e in suite.entries]
    for row, entry in zip(result.instances, suite.entries, strict=True):
        config = json.loads((out / entry.instance / "config.json").read_text())
        assert config["execution"] == "sealed" and config["restarts"] == entry.restarts
        assert config["budget"]["evals"] == entry.budget.evals
        records = [json.loads(x) for x in (out / entry.instance / "restarts.jsonl").open()]
        assert row.hits == sum(r["hit"] for r in records) and row.n == entry.restarts
        assert max(r["equivalent_evals"] for r in records) <= entry.budget.evals
        assert row.mean_equivalent_evals == pytest.approx(
            np.mean([r["equivalent_evals"] for r in records])
        )
    document = json.loads((out / BENCH_FILE).read_text())
    assert document["suite"] == {"id": "tiny-v1", "sha256": "0" * 64}
    assert document["execution"] == "sealed" and document["kind"] == "scipy"
    first = json.loads((out / suite.entries[0].instance / "config.json").read_text())
    assert document["code"] == first["code"] and len(document["code"]["sha256"]) == 64
    assert document["score"]["value"] == result.score.value
    assert result.score.value == pytest.approx(np.mean([r.score for r in result.instances]))
    assert sorted(p.name for p in result.figures) == ["hit_rate_vs_p.png", "solve_profiles.png"]
    assert calls[-1] == ("construction-coupled-p4-v1", 24, 24)
    assert "score of tests.user_optimizers:random_search on tiny-v1" in result.table()


def test_bench_resumes_and_gives_the_same_result(tiny_bench):
    suite, out, result, _ = tiny_bench
    again = bench("tests.user_optimizers:random_search", suite, out)
    assert again.score == result.score and again.instances == result.instances


def test_bench_and_suites_from_the_command_line(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "list", "--suites")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[1:]] == [
        "core-v1", "core-v2", "core-v3", "gpu-v1", "hardware-v1", "hardware-v2", "quick-v1",
    ]  # fmt: skip
    code, out, _ = run_cli(monkeypatch, capsys, "show", "quick-v1", "--json")
    shown = json.loads(out)
    assert shown["entries"][0] == {
        "instance": "construction-p4-v1", "restarts": 1000, "budget": "evals=8000",
    }  # fmt: skip
    code, out, _ = run_cli(monkeypatch, capsys, "list", "--json", "--p", "8")
    row = next(r for r in json.loads(out) if r["id"] == "construction-coupled-p8-v1")
    assert row["certificate_kind"] == "analytic" and row["global_min_value"] == 0.0
    assert row["hit_tolerance"] > 0
    code, _, err = run_cli(monkeypatch, capsys, "bench", "adam", "--suite", "nope-v1",
                           "--out", str(tmp_path / "b"))  # fmt: skip
    assert code == 2 and "unknown suite 'nope-v1'" in err and not (tmp_path / "b").exists()


def test_bench_refuses_a_device_for_a_suite_off_the_hardware_track(monkeypatch, capsys, tmp_path):
    from pathlib import Path

    config = Path(__file__).resolve().parent.parent / "examples/hardware/fake_guadalupe.json"
    code, _, err = run_cli(monkeypatch, capsys, "bench", "adam", "--suite", "quick-v1",
                           "--hardware-config", str(config), "--out", str(tmp_path / "b"))  # fmt: skip
    assert code == 2 and "quick-v1 is on the exact track" in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_bench_refuses_bad_settings_in_one_line(monkeypatch, capsys, tmp_path):
    for args, message in (
        (["--worker-timeout", "-1"], "--worker-timeout must be positive"),
        (["--param", "lr=nan"], "not a finite number"),
        (["--param", "lr=-1"], "lr must be a finite number >= 0"),
    ):
        code, _, err = run_cli(monkeypatch, capsys, "bench", "adam", "--suite", "quick-v1",
                               "--out", str(tmp_path / "b"), *args)  # fmt: skip
        assert code == 2 and message in err and err.count("\n") == 1, err
        assert not (tmp_path / "b").exists()


def test_the_baseline_cost_tool_reports_the_harness_own_counts(load, tmp_path):
    """tools/baseline_costs.py at a tiny size: one row per cell, its evaluations and hits those
    of the same sealed run made here."""
    import subprocess
    import sys
    from pathlib import Path

    from qnntraps.harness.runner import RunSettings, run
    from qnntraps.oracles.budget import Budget

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, str(root / "tools" / "baseline_costs.py"), "--restarts", "6",
               "--instances", "construction-p2-v1", "--optimizers", "lbfgs", "spsa"]  # fmt: skip
    lines = subprocess.run(
        command, check=True, cwd=root, capture_output=True, text=True
    ).stdout.splitlines()
    assert lines[0].split() == ["optimizer", "instance", "s/restart", "eq.", "evals", "hits"]
    for line, name in zip(lines[1:], ["lbfgs", "spsa"], strict=True):
        optimizer, instance, seconds, evals, hits = line.split()
        settings = RunSettings(name, {}, Budget(evals=4000), 6, execution="sealed")
        summary = run(load(instance), settings, tmp_path / name)
        assert (optimizer, instance) == (name, "construction-p2-v1") and float(seconds) > 0
        assert float(evals) == pytest.approx(
            summary["metrics"]["equivalent_evals"]["mean"], abs=0.5
        )
        assert hits == f"{summary['metrics']['hits']}/6"


def test_core_v3_is_core_v2_and_the_trap_transition():
    import qnntraps
    from qnntraps.families.teacher_student import state_manifold_dimension
    from qnntraps.ids import parse_instance_id

    v2, v3 = load_suite("core-v2"), load_suite("core-v3")
    assert v3.track == "exact" and v3.ranked and v3.budget_range == v2.budget_range
    assert v3.entries[: len(v2.entries)] == v2.entries
    added = v3.entries[len(v2.entries) :]
    parts = [parse_instance_id(e.instance) for e in added]
    assert [x.family for x in parts] == ["teacher-student"] * 2
    # one instance on each side of the critical count, at the same n
    assert {x.qubits for x in parts} == {6}
    sides = sorted(x.p < state_manifold_dimension(x.qubits) for x in parts)
    assert sides == [False, True]
    for entry in added:  # 1000 gradients: a gradient counts 2p equivalent evaluations
        p = qnntraps.load(entry.instance).num_parameters
        assert entry.restarts == 64 and entry.budget.evals == 2000 * p
    held = {e.instance for e in held_out_entries(v3)}
    assert held == {e.instance for e in v2.entries if "barren" not in e.instance} | {
        e.instance for e in added
    }


def test_hardware_v2_adds_the_entangling_families():
    v1, v2 = load_suite("hardware-v1"), load_suite("hardware-v2")
    assert v2.track == "hardware" and not v2.ranked
    assert v2.entries[: len(v1.entries)] == v1.entries
    assert [e.instance for e in v2.entries[len(v1.entries) :]] == [
        "barren-plateau-n2-l19-v1",
        "teacher-student-n4-l1-v1",
    ]
    assert all(e.budget.shots == 2 * 10**6 and e.restarts == 20 for e in v2.entries)
