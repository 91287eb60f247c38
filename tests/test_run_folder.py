"""Run folders a hostile tester cannot break: summaries of non-finite and flagged restarts, record
checks, resume rules, the run lock, full disks and read-only folders, and `qnntraps report` over
finished, unfinished and in-progress runs (qnntraps.harness.results, summary, report)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qnntraps.atomic import WriteError, json_text
from qnntraps.harness import report, results
from qnntraps.harness.records import OLD_NAMES, are_numbers, is_number, normalize
from qnntraps.harness.results import RunFolderError, RunLock
from qnntraps.harness.summary import run_summary
from qnntraps.registry import find_entry
from tests.filesystems import fill, read_only_view, small_filesystem
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
ID = "construction-p4-v1"
TOLERANCE = 0.03125


def make_config(restarts: int = 4, **changes) -> dict:
    return {
        "format": results.RUN_FORMAT,
        "instance": ID,
        "sha256": find_entry(ID).sha256,
        "num_parameters": 4,
        "global_min_value": 0.0,
        "hit_tolerance": TOLERANCE,
        "certificate_kind": "analytic",
        "optimizer": "adam",
        "kind": "torch",
        "hyperparameters": {"lr": 0.01},
        "budget": {"grad_evals": 10, "loss_evals": None, "wall_seconds": None},
        "restarts": restarts,
        "chunk": 2,
        "track": "exact",
        "versions": {"qnntraps": "test"},
    } | changes


def make_record(restart: int, final: float | None = 0.25, flags=(), old=False, **changes) -> dict:
    """A qnntraps-run/3 record; `old`: a /1 record (the old names, no flags or error)."""
    record = {
        "restart": restart,
        "x": None if final is None else [0.0, 0.0, 0.0, 0.0],
        "fun": final,
        "nfev": 0,
        "njev": 10,
        "nshots": 0,
        "start_fun": 0.5,
        "gap": final,  # L* = 0
        "hit": final is not None and final <= TOLERANCE and not flags,
        "equivalent_evals": 80,
        "stopped_by_wall": False,
        "wall_seconds": 0.01,
    }
    if old:
        new_to_old = {new: old for old, new in OLD_NAMES.items()}
        record = {new_to_old.get(key, key): value for key, value in record.items()}
        del record["shots"]
    else:
        record.update(flags=list(flags), error=None)
    return record | changes


def write_run(folder: Path, config: dict, records: list[dict], summary: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / results.CONFIG).write_text(json_text(config))
    (folder / results.RECORDS).write_text("".join(json.dumps(r) + "\n" for r in records))
    if summary:
        done = {r["restart"]: normalize(r) for r in records}
        (folder / results.SUMMARY).write_text(json_text(run_summary(config, done)))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# --- summaries ------------------------------------------------------------------------------------
def test_a_non_finite_final_point_is_a_miss_and_the_summary_is_strict_json():
    config = make_config(5)
    records = {
        0: make_record(0, None, flags=["non-finite-final-point"]),
        1: make_record(1, 0.0),
        2: make_record(2, 1e308),  # a real, absurd loss: its ladder rung must not overflow
        3: make_record(3, 0.125),
        4: make_record(4, None, flags=["non-finite-final-point"]),
    }
    summary = run_summary(config, records)
    json.loads(json_text(summary))  # allow_nan=False: never fails
    m = summary["metrics"]
    assert summary["complete"] and m["n"] == 5 and m["hits"] == 1
    assert summary["non_finite_final_points"] == 2
    assert summary["flagged"] == {"non-finite-final-point": 2}
    assert m["gap_quantiles"]["restarts"] == 3
    assert m["gap_quantiles"]["values"][0] == 0.0 and m["gap_quantiles"]["values"][-1] == 1e308
    assert summary["converged_ladder"]["values"] == [0.0, 0.125, 1e308]
    assert summary["converged_ladder"]["counts"] == [1, 1, 1]


def test_hits_come_from_the_records_and_flagged_restarts_are_out_of_the_gaps():
    config = make_config(4)
    records = {
        0: make_record(0, 0.0),
        1: make_record(1, 0.0, flags=["late-calls"]),  # at L*, flagged: a miss
        2: make_record(2, 0.0, flags=["hit-at-zero-cost", "late-calls"]),
        3: make_record(3, 0.5, flags=["worker-hung"], error="the worker sent nothing"),
    }
    summary = run_summary(config, records)
    assert summary["metrics"]["hits"] == 1
    assert summary["flagged"] == {"hit-at-zero-cost": 1, "late-calls": 2, "worker-hung": 1}
    assert summary["metrics"]["gap_quantiles"]["restarts"] == 1
    assert summary["converged_ladder"]["values"] == [0.0]
    # the runner's hit is authoritative: a clean restart it did not call a hit stays a miss
    records[0] = make_record(0, 0.0, hit=False)
    assert run_summary(config, records)["metrics"]["hits"] == 0


def test_every_restart_flagged_and_no_restart_done():
    config = make_config(2)
    flagged = {r: make_record(r, None, flags=["worker-died"]) for r in range(2)}
    summary = run_summary(config, flagged)
    assert summary["metrics"]["hits"] == 0 and summary["metrics"]["tts99"]["value"] is None
    assert summary["metrics"]["gap_quantiles"]["values"] is None
    assert summary["converged_ladder"]["distinct"] == 0
    json.loads(json_text(summary))
    empty = run_summary(config, {})
    assert empty["done"] == 0 and not empty["complete"] and "metrics" not in empty
    json.loads(json_text(empty))


def test_old_runs_are_reported_but_never_resumed(tmp_path):
    old = make_config(2, format="qnntraps-run/1")
    write_run(tmp_path, old, [make_record(0, 0.0, old=True), make_record(1, old=True)])
    records = results.read_records(tmp_path / results.RECORDS)
    assert all(r["flags"] == [] and r["error"] is None for r in records.values())
    assert records[0]["fun"] == 0.0 and records[1]["njev"] == 10 and records[1]["nshots"] == 0
    assert run_summary(old, records)["metrics"]["hits"] == 1
    (view,) = report.find_runs(tmp_path)
    assert view.finished and view.summary["metrics"]["hits"] == 1
    before = snapshot(tmp_path)
    for check in (results.check_run, results.open_run):
        with pytest.raises(RunFolderError, match=r"older qnntraps \(qnntraps-run/1.*new --out"):
            check(tmp_path, make_config(4))
    assert snapshot(tmp_path) == before


# --- reading records ------------------------------------------------------------------------------
GOOD = json.dumps(make_record(0))


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"[1, 2]", "not a JSON object"),
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (GOOD.replace('"restart": 0', '"restart": "0"').encode(), "restart"),
        (GOOD.replace('"restart": 0', '"restart": true').encode(), "restart"),
        (GOOD.replace('"restart": 0', '"restart": -1').encode(), "restart"),
        (GOOD.replace('"fun": 0.25', '"fun": NaN').encode(), "NaN"),
        (GOOD.replace('"fun": 0.25', '"fun": Infinity').encode(), "Infinity"),
        (GOOD.replace('"fun": 0.25', '"fun": 1e999').encode(), "fun"),
        (GOOD.replace('"fun": 0.25, ', "").encode(), "fun"),
        (GOOD.replace('"hit": false', '"hit": "no"').encode(), "hit"),
        (GOOD.replace('"nfev": 0', '"nfev": -1').encode(), "nfev"),
        (GOOD.replace('"njev": 10', '"njev": 1.5').encode(), "njev"),
        (GOOD.replace('"flags": []', '"flags": "late-calls"').encode(), "flags"),
        (GOOD.replace('"flags": []', '"flags": [1]').encode(), "flags"),
        (GOOD.replace('"error": null', '"error": 3').encode(), "error"),
        (GOOD.replace('"x": [0.0, 0.0, 0.0, 0.0]', '"x": 1').encode(), "x is"),
        (
            GOOD.replace('"hit": false', '"hit": true').replace('"flags": []', '"flags": ["x"]'),
            "marked as a hit",
        ),
    ],
)
def test_a_bad_record_line_names_file_and_line(tmp_path, line, problem):
    path = tmp_path / results.RECORDS
    path.write_bytes(GOOD.encode() + b"\n" + (line if isinstance(line, bytes) else line.encode()))
    path.write_bytes(path.read_bytes() + b"\n" + GOOD.encode() + b"\n")
    with pytest.raises(RunFolderError) as caught:
        results.read_records(path)
    message = str(caught.value)
    assert message.startswith(f"{path}, line 2: not a restart record (")
    assert problem in message and "\n" not in message
    assert "run the same command again" in message


def test_a_partial_last_line_is_refused_ignored_or_cut(tmp_path):
    path = tmp_path / results.RECORDS
    whole = (GOOD + "\n").encode()
    path.write_bytes(whole + b'{"restart": 1, "sta')
    with pytest.raises(RunFolderError, match="partial line"):
        results.read_records(path)
    assert list(results.read_records(path, allow_partial=True)) == [0]
    assert path.read_bytes() == whole + b'{"restart": 1, "sta'  # a reader never writes
    assert list(results.read_records(path, repair=True)) == [0]
    assert path.read_bytes() == whole


def test_a_repeated_restart_keeps_the_last_record(tmp_path):
    path = tmp_path / results.RECORDS
    path.write_text(json.dumps(make_record(0, 0.5)) + "\n" + json.dumps(make_record(0, 0.0)) + "\n")
    assert results.read_records(path)[0]["fun"] == 0.0


def test_final_points_can_be_left_out(tmp_path):
    write_run(tmp_path, make_config(1), [make_record(0)])
    loaded = results.load_records(tmp_path / results.RECORDS, keep_final_points=False)
    assert "x" not in loaded.records[0] and not loaded.torn


# --- resume rules ---------------------------------------------------------------------------------
def test_a_new_folder_gets_its_config(tmp_path):
    folder = tmp_path / "out" / ID
    assert results.check_run(folder, make_config()) is None
    assert not (tmp_path / "out").exists()  # check_run writes nothing
    with RunLock(folder):
        assert results.open_run(folder, make_config()) == {}
    assert results.read_config(folder) == make_config()


def test_fewer_restarts_are_refused_and_nothing_is_touched(tmp_path):
    write_run(tmp_path, make_config(8), [make_record(r) for r in range(8)])
    before = snapshot(tmp_path)
    for check in (results.check_run, results.open_run):
        with pytest.raises(RunFolderError) as caught:
            check(tmp_path, make_config(2))
        assert str(caught.value) == (
            f"{tmp_path} holds a 8-restart run, not 2: give --restarts 8 (or more, to extend "
            "it) to resume it, or use another --out for a 2-restart run"
        )
    assert snapshot(tmp_path) == before


def test_another_chunk_resumes_and_the_first_chunk_stays(tmp_path):
    write_run(tmp_path, make_config(4, chunk=2), [make_record(r) for r in range(2)])
    before = snapshot(tmp_path)
    results.check_run(tmp_path, make_config(4, chunk=7))
    assert sorted(results.open_run(tmp_path, make_config(4, chunk=7))) == [0, 1]
    assert snapshot(tmp_path) == before
    results.open_run(tmp_path, make_config(6, chunk=3))  # extend with yet another chunk
    assert results.read_config(tmp_path) == make_config(6, chunk=2)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"budget": {"grad_evals": 11, "loss_evals": None, "wall_seconds": None}}, "budget"),
        ({"hyperparameters": {"lr": 0.1}}, "hyperparameters"),
        ({"sha256": "0" * 64}, "sha256"),
        ({"execution": "sealed"}, "execution"),
    ],
)
def test_any_other_difference_is_refused_and_nothing_is_touched(tmp_path, changes, field):
    write_run(tmp_path, make_config(4), [make_record(0)])
    (tmp_path / results.RECORDS).write_bytes(
        (tmp_path / results.RECORDS).read_bytes() + b'{"rest'
    )  # a torn line stays torn: a refused run writes nothing
    before = snapshot(tmp_path)
    for check in (results.check_run, results.open_run):
        with pytest.raises(RunFolderError, match=f"differs in: {field}"):
            check(tmp_path, make_config(4) | changes)
    assert snapshot(tmp_path) == before


def test_more_restarts_extend_and_a_torn_line_is_cut(tmp_path):
    write_run(tmp_path, make_config(4), [make_record(r) for r in range(4)])
    records = tmp_path / results.RECORDS
    whole = records.read_bytes()
    records.write_bytes(whole + b'{"restart": 4, "start_lo')
    (tmp_path / ".summary.json.k1ll3d.tmp").write_text("{")
    (tmp_path / ".config.json.k1ll3d.tmp").write_text("{")
    with RunLock(tmp_path):
        done = results.open_run(tmp_path, make_config(10))
    assert sorted(done) == [0, 1, 2, 3]
    assert records.read_bytes() == whole
    assert results.read_config(tmp_path)["restarts"] == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".lock", "config.json", "restarts.jsonl", "summary.json",
    ]  # fmt: skip


def test_a_corrupt_records_file_is_refused_before_anything_is_written(tmp_path):
    write_run(tmp_path, make_config(4), [make_record(0)])
    records = tmp_path / results.RECORDS
    records.write_bytes(records.read_bytes() + b"garbage\n" + b'{"torn')
    before = snapshot(tmp_path)
    with pytest.raises(RunFolderError, match=r"restarts.jsonl, line 2: not a restart record"):
        results.open_run(tmp_path, make_config(8))
    assert snapshot(tmp_path) == before


def test_records_without_a_config_are_refused(tmp_path):
    (tmp_path / results.RECORDS).write_text(GOOD + "\n")
    for check in (results.check_run, results.open_run):
        with pytest.raises(RunFolderError, match="no config.json"):
            check(tmp_path, make_config())
    assert not (tmp_path / results.CONFIG).exists()


def test_a_config_that_is_not_a_run_config_is_refused(tmp_path):
    (tmp_path / results.CONFIG).write_text('{"format": "something-else"}')
    with pytest.raises(RunFolderError, match="not a qnntraps run configuration"):
        results.check_run(tmp_path, make_config())
    (tmp_path / results.CONFIG).write_text("{broken")
    with pytest.raises(RunFolderError, match="cannot read"):
        results.check_run(tmp_path, make_config())


# --- where a run folder cannot be -----------------------------------------------------------------
def test_a_file_in_the_way_is_refused_in_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match="it is a file; choose another --out"):
        results.check_run(tmp_path / "file", make_config())
    with pytest.raises(WriteError, match="file is a file, not a folder; choose another --out"):
        results.check_run(tmp_path / "file" / "a" / ID, make_config())
    with pytest.raises(WriteError):
        with RunLock(tmp_path / "file" / ID):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_folder_that_cannot_be_created_is_a_write_error():
    with pytest.raises(WriteError, match="cannot"):
        with RunLock(Path("/proc/qnntraps-test") / ID):
            pass


def test_a_read_only_folder_is_refused_and_kept(tmp_path):
    source = write_run(tmp_path / "source", make_config(4), [make_record(0)])
    before = snapshot(source)
    with read_only_view(source, tmp_path / "view") as view:
        with pytest.raises(WriteError, match="read-only") as caught:
            results.check_run(view, make_config(4))
        assert "\n" not in str(caught.value)
        with pytest.raises(WriteError, match="read-only"):
            results.check_run(view / "new", make_config(4))
        with pytest.raises(WriteError, match="read-only"):
            with RunLock(view):
                pass
        assert [v.state for v in report.find_runs(view)] == ["unfinished"]  # report only reads
    assert snapshot(source) == before


def test_a_folder_without_write_permission_is_refused(tmp_path, monkeypatch):
    # root ignores permission bits; what the check sees is os.access
    monkeypatch.setattr(results.os, "access", lambda *args, **kwargs: False)
    with pytest.raises(WriteError, match="permission denied"):
        results.check_run(tmp_path / "out", make_config())
    assert not (tmp_path / "out").exists()


# --- full disks -----------------------------------------------------------------------------------
def _a_chunk_on(folder: Path, first: int, config: dict) -> None:
    """What the runner does per chunk: append the records, then rewrite the summary."""
    records = [make_record(first), make_record(first + 1, 0.0)]
    results.append_records(folder / results.RECORDS, records)
    done = results.read_records(folder / results.RECORDS)
    results.write_json_atomic(folder / results.SUMMARY, run_summary(config, done))


def test_a_full_disk_leaves_a_consistent_resumable_run(tmp_path):
    config = make_config(6)
    with small_filesystem(tmp_path / "disk", kilobytes=64) as disk:
        folder = disk / ID
        with RunLock(folder):
            results.open_run(folder, config)
            _a_chunk_on(folder, 0, config)
            fill(disk)
            with pytest.raises(WriteError, match="disk is full"):
                for first in range(2, 6, 2):
                    _a_chunk_on(folder, first, config)
        assert sorted(results.read_records(folder / results.RECORDS)) in ([0, 1], [0, 1, 2, 3])
        assert sorted(p.name for p in folder.iterdir()) == [
            ".lock", "config.json", "restarts.jsonl", "summary.json",
        ]  # fmt: skip
        (disk / "ballast").unlink()
        with RunLock(folder):
            done = results.open_run(folder, config)
            for first in range(len(done), 6, 2):
                _a_chunk_on(folder, first, config)
        summary = json.loads((folder / results.SUMMARY).read_text())
        assert summary["complete"] and summary["metrics"]["hits"] == 3


def test_a_failed_append_is_cut_back(tmp_path, monkeypatch):
    import errno

    from qnntraps import atomic

    write_run(tmp_path, make_config(4), [make_record(0), make_record(1)])
    before = snapshot(tmp_path)

    def no_space(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(WriteError, match="disk is full"):
        results.append_records(tmp_path / results.RECORDS, [make_record(2), make_record(3)])
    with pytest.raises(WriteError, match="disk is full"):
        results.write_json_atomic(tmp_path / results.SUMMARY, {"stale": False})
    assert snapshot(tmp_path) == before


# --- the run lock ---------------------------------------------------------------------------------
def test_one_run_at_a_time(tmp_path):
    with RunLock(tmp_path):
        assert results.lock_holder(tmp_path) == os.getpid()
        with pytest.raises(RunFolderError) as caught:
            with RunLock(tmp_path):
                pass
        assert str(caught.value) == (
            f"{tmp_path} is being written by another qnntraps run (pid {os.getpid()}); "
            "wait for it to finish or use another --out"
        )
    assert results.lock_holder(tmp_path) is None
    with RunLock(tmp_path):  # released on exit
        pass


def test_the_lock_goes_when_its_holder_dies(tmp_path):
    code = (
        "import sys, time; from qnntraps.harness.results import RunLock\n"
        f"with RunLock({str(tmp_path)!r}):\n"
        "    print('locked', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=ROOT, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert results.lock_holder(tmp_path) == holder.pid
        with pytest.raises(RunFolderError, match=f"pid {holder.pid}"):
            with RunLock(tmp_path):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert results.lock_holder(tmp_path) is None
    with RunLock(tmp_path):
        pass


def test_the_runner_refuses_a_folder_another_run_writes(load, tmp_path):
    from qnntraps.harness.runner import RunSettings, run
    from qnntraps.oracles.budget import Budget

    settings = RunSettings("adam", {}, Budget(grad_evals=5), 2)
    with RunLock(tmp_path):
        with pytest.raises(RunFolderError, match="being written by another qnntraps run"):
            run(load(ID), settings, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_a_huge_learning_rate_run_is_summarised_resumed_and_reported(load, tmp_path):
    from qnntraps.harness.runner import RunSettings, run
    from qnntraps.oracles.budget import Budget

    settings = RunSettings("adam", {"lr": 1e308}, Budget(grad_evals=5), 3)
    summary = run(load(ID), settings, tmp_path)
    assert summary["complete"] and summary["metrics"]["hits"] == 0
    assert summary["non_finite_final_points"] == 3
    written = json.loads((tmp_path / results.SUMMARY).read_text())
    assert written["flagged"] == {"non-finite-final-point": 3}
    assert run(load(ID), settings, tmp_path)["metrics"] == summary["metrics"]  # resume works
    (view,) = report.find_runs(tmp_path)
    assert view.finished and "inf" in report.table([view])


# --- report ---------------------------------------------------------------------------------------
def test_report_lists_finished_unfinished_and_in_progress_runs(tmp_path):
    write_run(
        tmp_path / "done", make_config(4), [make_record(r, 0.0 if r else 0.25) for r in range(4)]
    )
    write_run(tmp_path / "killed", make_config(4), [make_record(0), make_record(1)], summary=False)
    with open(tmp_path / "killed" / results.RECORDS, "ab") as stream:
        stream.write(b'{"restart": 2, "sta')  # killed mid-write, no lock held
    busy = write_run(tmp_path / "busy", make_config(4), [make_record(0)])
    with open(busy / results.RECORDS, "ab") as stream:
        stream.write(b'{"restart": 1')  # being appended right now
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / results.CONFIG).write_text('{"not": "a run"}')
    with RunLock(busy):
        views = report.find_runs(tmp_path)
        text = report.table(views)
        written = report.write_figures(views, tmp_path)
    states = {view.folder.name: view.state for view in views}
    assert states == {"busy": "in progress", "done": "finished", "killed": "unfinished"}
    lines = {line.split()[0] + line.split()[3]: line for line in text.splitlines()[2:]}
    assert lines[f"{ID}4/4"].split()[4] == "3"  # hits
    assert lines[f"{ID}2/4"].endswith("unfinished")
    assert lines[f"{ID}1/4"].endswith("in progress")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "done/losses.png", "ecdf_targets.png", "gap_ecdf.png", "hit_rate_vs_p.png", "tts.png",
    ]  # fmt: skip
    assert not (tmp_path / "killed" / "losses.png").exists()
    assert (tmp_path / "killed" / results.RECORDS).read_bytes().endswith(b'"sta')  # untouched


def test_report_recomputes_from_the_records_not_a_stale_summary(tmp_path):
    write_run(tmp_path, make_config(2), [make_record(0, 0.0), make_record(1, 0.5)])
    stale = json.loads((tmp_path / results.SUMMARY).read_text())
    stale["metrics"]["hits"] = 2
    (tmp_path / results.SUMMARY).write_text(json.dumps(stale))
    (view,) = report.find_runs(tmp_path)
    assert view.summary["metrics"]["hits"] == 1
    (tmp_path / results.SUMMARY).unlink()  # killed before its first summary: still reported
    (view,) = report.find_runs(tmp_path)
    assert view.finished and view.summary["metrics"]["hits"] == 1


def test_report_removes_the_temporaries_of_a_killed_report(tmp_path):
    run = write_run(tmp_path / "run", make_config(2), [make_record(0, 0.0), make_record(1)])
    leftovers = [
        tmp_path / ".hit_rate_vs_p.png.abcd1234.tmp",
        tmp_path / ".gap_ecdf.png.x.tmp",
        run / ".losses.png.y.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half a png")
    report.write_figures(report.find_runs(tmp_path), tmp_path)
    assert not any(path.exists() for path in leftovers)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_a_killed_report_leaves_at_most_hidden_temporaries_and_the_next_clears_them(tmp_path):
    write_run(tmp_path / "run", make_config(2), [make_record(0, 0.0), make_record(1)])
    command = [sys.executable, "-m", "qnntraps.cli", "report", str(tmp_path)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.rglob(".*.png.*.tmp")):
        if process.poll() is not None:
            break
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    for path in tmp_path.rglob("*.png*"):
        assert path.name.endswith(".png") or path.name.startswith(".")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("*.tmp"))


def test_report_of_a_corrupt_records_file_is_one_line(tmp_path, monkeypatch, capsys):
    write_run(tmp_path / "run", make_config(2), [make_record(0), make_record(1)])
    path = tmp_path / "run" / results.RECORDS
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"restart": 1, "hit": "maybe"}\n')
    code, out, err = run_cli(monkeypatch, capsys, "report", str(tmp_path), "--no-plots")
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: {path}, line 2: not a restart record (start_fun is not a finite number); "
        "restore the file, or delete that line and run the same command again to recompute "
        "that restart"
    )


def test_report_of_a_run_with_no_records_yet(tmp_path):
    (tmp_path / ID).mkdir()
    (tmp_path / ID / results.CONFIG).write_text(json_text(make_config(4)))
    (view,) = report.find_runs(tmp_path)
    assert view.state == "unfinished" and view.summary["done"] == 0
    assert report.table([view]).splitlines()[-1].split()[3:] == ["0/4", "unfinished"]
    assert report.write_figures([view], tmp_path) == []


def test_report_of_a_folder_without_runs(tmp_path):
    with pytest.raises(RunFolderError, match="no run under"):
        report.find_runs(tmp_path)
    with pytest.raises(RunFolderError, match="not a folder"):
        report.find_runs(tmp_path / "missing")


class _Float(float):
    pass


NUMBER_CASES = [0.0, -0.0, 1.5, 1e308, 5e-324, math.inf, -math.inf, math.nan, 0, -3, 2**80,
                True, False, None, "1.0", [1.0], _Float(2.0), _Float(math.nan)]  # fmt: skip


@pytest.mark.parametrize("value", NUMBER_CASES, ids=repr)
def test_is_number_is_its_definition(value):
    # the fast paths for exact float and int give what the definition says for every type
    definition = (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    )
    assert is_number(value) is definition
    assert are_numbers([1.0, value, 2.0]) is definition
    assert are_numbers([value]) is definition


def test_are_numbers_of_lists():
    assert are_numbers([]) and are_numbers([0.5, -2.0]) and are_numbers([1, 2.5])
    assert not are_numbers([0.5, math.nan]) and not are_numbers([0.5, True])


def test_report_orders_runs_by_family_then_numeric_p():
    # p10 after p2 and p4 (not as text), one family's runs together, damaged IDs last
    def view(instance):
        config = {"instance": instance, "optimizer": "adam"}
        return report.RunView(Path(instance), config, {}, [], report.FINISHED)

    ids = ["construction-p10-v1", "construction-p2-v1", "not an id", "construction-p4-v1",
           "construction-coupled-p12-v1", "construction-coupled-p4-v1"]  # fmt: skip
    ordered = [v.config["instance"] for v in sorted(map(view, ids), key=report._order)]
    assert ordered == [
        "construction-p2-v1", "construction-p4-v1", "construction-p10-v1",
        "construction-coupled-p4-v1", "construction-coupled-p12-v1", "not an id",
    ] or ordered == [
        "construction-coupled-p4-v1", "construction-coupled-p12-v1",
        "construction-p2-v1", "construction-p4-v1", "construction-p10-v1", "not an id",
    ]  # fmt: skip
