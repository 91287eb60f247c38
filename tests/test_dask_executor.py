"""--executor dask: chunks as tasks of a real distributed.LocalCluster of two worker processes
give the serial run's records, in restart order, even when a worker is killed mid-run; a run
resumes across executors."""

from __future__ import annotations

import json
import os
import signal

import pytest

import qnntraps
from qnntraps.harness import results
from qnntraps.harness.records import reproducible_part
from qnntraps.harness.runner import RunSettingsError

distributed = pytest.importorskip("distributed")

INSTANCE = "construction-coupled-p4-v1"
# Nelder-Mead (scipy kind, one point per call) takes about a second a chunk here: long enough
# for a worker to die in the middle of one
OPTIONS = dict(restarts=24, chunk=4, budget="evals=1500")


def _records(folder):
    lines = (folder / INSTANCE / results.RECORDS).read_bytes().splitlines()
    return [reproducible_part(json.loads(line)) for line in lines]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    qnntraps.run("nelder-mead", INSTANCE, out=out, **OPTIONS)
    return _records(out)


@pytest.mark.slow
def test_a_local_cluster_gives_the_serial_records(tmp_path, serial):
    result = qnntraps.run(
        "nelder-mead", INSTANCE, out=tmp_path, executor="dask", workers=2, **OPTIONS
    )
    assert _records(tmp_path) == serial and result.n == 24


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_repeats_nothing(tmp_path, serial):
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        pids = client.run(os.getpid)  # worker address -> its process
        killed = []

        def progress(done, total):
            if done >= 4 and not killed:  # a chunk has landed; others are running on both
                victim = sorted(pids.values())[0]
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

        qnntraps.run(
            "nelder-mead", INSTANCE, out=tmp_path, executor="dask",
            scheduler=cluster.scheduler_address, progress=progress, **OPTIONS,
        )  # fmt: skip
    assert killed
    records = _records(tmp_path)
    assert [r["restart"] for r in records] == list(range(24))  # none lost, none twice
    assert records == serial


@pytest.mark.slow
def test_a_run_resumes_across_executors(tmp_path, serial):
    folder = tmp_path / INSTANCE
    qnntraps.run("nelder-mead", INSTANCE, out=tmp_path, **OPTIONS)
    lines = (folder / results.RECORDS).read_bytes().splitlines(keepends=True)
    (folder / results.RECORDS).write_bytes(b"".join(lines[:10]))  # as if stopped after 10
    qnntraps.run("nelder-mead", INSTANCE, out=tmp_path, executor="dask", workers=2, **OPTIONS)
    assert _records(tmp_path) == serial


def test_refusals(tmp_path):
    with pytest.raises(RunSettingsError, match="--executor dask"):
        qnntraps.run("adam", INSTANCE, out=tmp_path, restarts=4, executor="dask", track="gpu")
    with pytest.raises(RunSettingsError, match="--scheduler"):
        qnntraps.run("adam", INSTANCE, out=tmp_path, restarts=4, scheduler="tcp://x:1")
    with pytest.raises(RunSettingsError, match="--executor must"):
        qnntraps.run("adam", INSTANCE, out=tmp_path, restarts=4, executor="slurm")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_bench_runs_its_chunks_sealed_on_dask_workers(tmp_path):
    # a plug-in (sealed) on a two-instance suite: the Dask workers seal every chunk themselves
    from qnntraps.suites.bench import bench
    from qnntraps.suites.definitions import parse_suite
    from tests.test_suites import as_bytes, suite_document

    suite = parse_suite(as_bytes(suite_document()), "tiny.json", "0" * 64)
    optimizer = "tests.user_optimizers:random_search"
    local = bench(optimizer, suite, tmp_path / "local")
    remote = bench(optimizer, suite, tmp_path / "dask", executor="dask", workers=2)
    assert remote.score == local.score
    for entry in suite.entries:
        ours = (tmp_path / "dask" / entry.instance / results.RECORDS).read_bytes().splitlines()
        theirs = (tmp_path / "local" / entry.instance / results.RECORDS).read_bytes().splitlines()
        assert [reproducible_part(json.loads(x)) for x in ours] == [
            reproducible_part(json.loads(x)) for x in theirs
        ]
        config = json.loads((tmp_path / "dask" / entry.instance / "config.json").read_text())
        assert config["execution"] == "sealed"
