"""Chunks run by several local processes (--workers): the serial run's records, in order."""

import dataclasses

import pytest

from qnntraps.harness import results
from qnntraps.harness.runner import RunSettings, RunSettingsError, WorkerDiedError, run
from qnntraps.oracles.budget import Budget
from tests.test_harness import comparable


def settings(name: str, workers: int, restarts: int = 24, chunk: int = 5) -> RunSettings:
    return RunSettings(name, {}, Budget(grad_evals=40), restarts, chunk=chunk, workers=workers)


@pytest.mark.slow
def test_two_workers_write_the_serial_records_and_resume_across_worker_counts(load, tmp_path):
    instance = load("construction-coupled-p8-v1")
    run(instance, settings("adam", 1), tmp_path / "serial")
    run(instance, settings("adam", 2), tmp_path / "parallel")
    assert comparable(tmp_path / "parallel") == comparable(tmp_path / "serial")
    # a run cut after 9 restarts, resumed by three workers with another chunk size
    run(instance, settings("lbfgs", 1, restarts=9, chunk=4), tmp_path / "cut")
    run(instance, settings("lbfgs", 1, restarts=24, chunk=4), tmp_path / "whole")
    run(instance, dataclasses.replace(settings("lbfgs", 3, chunk=4), restarts=24),
        tmp_path / "cut")  # fmt: skip
    assert comparable(tmp_path / "cut") == comparable(tmp_path / "whole")
    order = [r["restart"] for r in results.load_records(tmp_path / "cut" / results.RECORDS)
             .records.values()]  # fmt: skip
    assert order == list(range(24))


def test_workers_are_checked_before_anything_is_written(load, tmp_path):
    instance = load("construction-p4-v1")
    for workers, message in ((0, "from 1 to"), (True, "from 1 to"), (2, "in-process")):
        bad = dataclasses.replace(settings("adam", workers), execution="sealed")
        if workers != 2:
            bad = settings("adam", workers)
        with pytest.raises(RunSettingsError, match=message):
            run(instance, bad, tmp_path / "refused")
        assert not (tmp_path / "refused").exists()


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_run_with_a_typed_error_and_no_torn_records(load, tmp_path):
    instance = load("construction-p4-v1")
    dying = RunSettings("tests.hostile_optimizers:dies", {}, Budget(grad_evals=20), 12, chunk=3,
                        execution="in-process", workers=2)  # fmt: skip
    with pytest.raises(WorkerDiedError, match="restarts 0-2.*run the same command again"):
        run(instance, dying, tmp_path / "run")
    records = tmp_path / "run" / results.RECORDS
    assert not records.exists() or not results.read_records(records)  # nothing half-written
