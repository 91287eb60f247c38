"""The Python API (qnntraps.run, qnntraps.report, qnntraps.verify): typed results equal to what
the command line writes and prints, the same refusals, nothing written on a refusal."""

from __future__ import annotations

import json

import pytest

import qnntraps
from qnntraps.harness import results
from qnntraps.harness.runner import RunSettingsError
from qnntraps.oracles.budget import Budget, BudgetSpecError
from tests.test_cli import run_cli


def test_run_returns_what_the_command_line_prints(tmp_path, monkeypatch, capsys):
    result = qnntraps.run("adam", "construction-p4-v1", restarts=64, out=tmp_path / "api",
                          budget="grad=300")  # fmt: skip
    assert isinstance(result, qnntraps.RunResult)
    assert result.folder == tmp_path / "api" / "construction-p4-v1"
    summary = json.loads((result.folder / results.SUMMARY).read_text())
    assert dict(result.summary) == summary
    assert (result.hits, result.n) == (summary["metrics"]["hits"], 64)
    assert result.interval[0] <= result.hit_rate <= result.interval[1]
    code, out, err = run_cli(
        monkeypatch, capsys, "run", "--instance", "construction-p4-v1", "--optimizer", "adam",
        "--restarts", "64", "--budget", "grad=300", "--out", str(tmp_path / "cli"),
    )  # fmt: skip
    assert code == 0, err
    printed = out.strip().splitlines()[-1]
    assert printed.split(" (")[0] == result.line().split(" (")[0]
    ours = (result.folder / results.RECORDS).read_bytes().splitlines()
    theirs = (tmp_path / "cli" / "construction-p4-v1" / results.RECORDS).read_bytes().splitlines()
    strip = lambda line: {k: v for k, v in json.loads(line).items() if k != "wall_seconds"}  # noqa: E731
    assert [strip(x) for x in ours] == [strip(x) for x in theirs]
    # the same call again resumes: nothing to do, the same result
    again = qnntraps.run("adam", "construction-p4-v1", restarts=64, out=tmp_path / "api",
                         budget=Budget(grad_evals=300))  # fmt: skip
    assert (again.hits, again.n, again.interval) == (result.hits, result.n, result.interval)


def test_run_refuses_bad_options_before_writing(tmp_path):
    with pytest.raises(BudgetSpecError):
        qnntraps.run("adam", "construction-p4-v1", restarts=4, out=tmp_path, budget="grad=-1")
    with pytest.raises(RunSettingsError):
        qnntraps.run("adam", "construction-p4-v1", restarts=4, out=tmp_path, chunk=0)
    with pytest.raises(qnntraps.QnnTrapsError):
        qnntraps.run("adam", "no-such-instance-v1", restarts=4, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_report_and_verify(tmp_path):
    qnntraps.run("lbfgs", "construction-p4-v1", restarts=32, out=tmp_path)
    report = qnntraps.report(tmp_path)
    assert isinstance(report, qnntraps.Report) and len(report.runs) == 1
    assert "construction-p4-v1" in report.table and "lbfgs" in report.table
    assert {p.name for p in report.figures} == {
        "hit_rate_vs_p.png", "gap_ecdf.png", "tts.png", "losses.png", "ecdf_targets.png",
    }  # fmt: skip
    assert qnntraps.report(tmp_path, figures=False).figures == ()
    from qnntraps.leaderboard.verify import verify_submission

    assert qnntraps.verify is verify_submission
