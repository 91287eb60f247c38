"""ERT with COCO's simulated restarts, and runs exported in the IOHprofiler v2 layout (read back
here against the layout docs/scoring.md documents, the one IOHexperimenter's Analyzer writes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import qnntraps
from qnntraps.harness import results
from qnntraps.harness.ioh_export import HEADER
from qnntraps.harness.metrics import MetricsInputError, expected_running_time
from tests.test_cli import run_cli


def test_ert_closed_forms_and_the_simulated_restarts():
    one_in_four = expected_running_time([10, 10, 10, 10], [True, False, False, False])
    assert (one_in_four.value, one_in_four.successes, one_in_four.runs) == (40.0, 1, 4)
    assert expected_running_time([3, 5], [True, True]).value == 4.0
    none = expected_running_time([3, 5], [False, False])
    assert none.value == none.low == none.high == math.inf
    # the simulated restarted runs have mean ERT: failures ~ geometric, costs drawn per kind
    costs = np.array([100.0, 7.0, 300.0, 50.0, 20.0])
    hits = np.array([False, True, False, False, True])
    many = expected_running_time(costs, hits, samples=400_000, seed=3)
    assert many.value == pytest.approx(costs.sum() / 2)
    assert many.low < many.value < many.high
    again = expected_running_time(costs, hits, samples=400_000, seed=3)
    assert (again.low, again.high) == (many.low, many.high)  # seeded: the same every time
    rng = np.random.default_rng(3)
    failures = rng.geometric(2 / 5, size=400_000) - 1
    assert np.mean(failures) * costs[~hits].mean() + costs[hits].mean() == pytest.approx(
        many.value, rel=0.01
    )
    with pytest.raises(MetricsInputError):
        expected_running_time([1.0, -1.0], [True, False])


def _blocks(text: str) -> list[list[list[float]]]:
    blocks = []
    for line in text.splitlines():
        if line == HEADER:
            blocks.append([])
        else:
            blocks[-1].append([float(v) for v in line.split()])
    return blocks


def test_runs_export_to_the_iohprofiler_layout(tmp_path, monkeypatch, capsys):
    runs = tmp_path / "runs"
    qnntraps.run("adam", "construction-p4-v1", restarts=24, out=runs / "adam", budget="grad=200")
    qnntraps.run("lbfgs", "construction-p4-v1", restarts=24, out=runs / "lbfgs")
    qnntraps.run("lbfgs", "construction-p2-v1", restarts=16, out=runs / "lbfgs")
    out = tmp_path / "ioh"
    code, printed, err = run_cli(monkeypatch, capsys, "report", str(runs), "--no-plots",
                                 "--format", "ioh", "-o", str(out))  # fmt: skip
    assert code == 0, err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert files == [
        "adam/IOHprofiler_f2_construction-p4-v1.json",
        "lbfgs/IOHprofiler_f1_construction-p2-v1.json",
        "lbfgs/IOHprofiler_f2_construction-p4-v1.json",
    ]
    for name in files:
        optimizer = name.split("/")[0]
        document = json.loads((out / name).read_text())
        assert {"suite", "function_id", "function_name", "maximization", "algorithm",
                "scenarios"} <= document.keys()  # fmt: skip
        assert document["maximization"] is False and document["algorithm"]["name"] == optimizer
        instance = document["function_name"]
        (scenario,) = document["scenarios"]
        p = qnntraps.load(instance).num_parameters
        assert scenario["dimension"] == p
        assert scenario["path"] == f"data_f{document['function_id']}_{instance}/" \
                                   f"IOHprofiler_f{document['function_id']}_DIM{p}.dat"  # fmt: skip
        blocks = _blocks((out / optimizer / scenario["path"]).read_text())
        records = results.read_records(runs / optimizer / instance / results.RECORDS)
        global_min = qnntraps.load(instance).certificate.global_min_value
        assert len(blocks) == len(scenario["runs"]) == len(records)
        for r, (block, run) in enumerate(zip(blocks, scenario["runs"], strict=True)):
            record = records[r]
            start = record["start_fun"] - global_min
            assert block[0] == [1.0, start, start, start, start]
            assert run["evals"] == max(1, math.ceil(record["equivalent_evals"]))
            assert run["best"]["y"] == block[-1][2] == min(row[1] for row in block)
            if len(block) == 2:  # it ended lower: its end, at its cost, with its final point
                assert block[1][0] == run["evals"] == run["best"]["evals"]
                assert run["best"]["y"] == record["gap"] and run["best"]["x"] == record["x"]
    code, _, err = run_cli(monkeypatch, capsys, "report", str(runs), "--format", "ioh")
    assert code == 2 and "-o" in err


def test_report_prints_ert_beside_tts(tmp_path):
    qnntraps.run("lbfgs", "construction-p2-v1", restarts=40, out=tmp_path)
    report = qnntraps.report(tmp_path, figures=False)
    row = report.table.splitlines()[2]
    records = results.read_records(tmp_path / "construction-p2-v1" / results.RECORDS)
    ert = expected_running_time(
        [r["equivalent_evals"] for r in records.values()], [r["hit"] for r in records.values()]
    )
    assert "ERT" in report.table.splitlines()[0]
    assert row.endswith(f"{ert.value:.4g} [{ert.low:.3g}, {ert.high:.3g}]")
