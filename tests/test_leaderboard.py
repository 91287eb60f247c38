"""Submissions, verification (re-run and held-out), tampering and cheating, and the rendered page."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qnntraps.atomic import json_text
from qnntraps.harness import results
from qnntraps.harness.records import RestartRecord, reproducible_part
from qnntraps.harness.runner import RunSettings, run, run_restarts
from qnntraps.leaderboard import render as render_module
from qnntraps.leaderboard.heldout import held_out_instance
from qnntraps.leaderboard.submission import (
    SubmissionError,
    build_submission,
    gzip_bytes,
    load_submission,
    validate_document,
)
from qnntraps.leaderboard.verify import VerificationError, drop_test, verify_submission
from qnntraps.oracles.budget import Budget
from qnntraps.registry import load
from qnntraps.suites import definitions
from qnntraps.suites.bench import bench
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
OPTIMIZER = "lbfgs"
TINY = {
    "format": "qnntraps-suite",
    "version": 1,
    "id": "tiny-v1",
    "track": "exact",
    "description": "two small instances, held out at p = 2 and 4, for the tests",
    "score": {"budget_range": [10, 1e7]},
    "held_out": {
        "description": "both entries, 16 restarts each",
        "families": ["construction", "construction-coupled"],
        "p": [2, 4],
        "restarts": 16,
    },
    "entries": [
        {"instance": "construction-p2-v1", "restarts": 24, "budget": {"evals": 800}},
        {"instance": "construction-coupled-p4-v1", "restarts": 24, "budget": {"evals": 1600}},
    ],
}


@pytest.fixture(scope="module")
def suites(tmp_path_factory):
    """The shipped suites plus tiny-v1, pinned, in a folder `load_suite` reads."""
    folder = tmp_path_factory.mktemp("suites")
    for path in definitions.DATA.glob("*.json"):
        shutil.copy(path, folder / path.name)
    data = json.dumps(TINY).encode()
    (folder / "tiny-v1.json").write_bytes(data)
    pins = json.loads((folder / definitions.PINS).read_text())
    pins["tiny-v1"] = hashlib.sha256(data).hexdigest()
    (folder / definitions.PINS).write_text(json.dumps(pins))
    return folder


@pytest.fixture
def tiny(suites, monkeypatch):
    monkeypatch.setattr(definitions, "DATA", suites)


@pytest.fixture(scope="module")
def bench_folder(suites, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(definitions, "DATA", suites)
        out = tmp_path_factory.mktemp("bench") / "lbfgs"
        bench(OPTIMIZER, "tiny-v1", out)
    return out


@pytest.fixture
def submission(tiny, bench_folder, tmp_path):
    return build_submission(
        bench_folder, tmp_path / "submissions" / "lbfgs-tiny.json", submitter="tests"
    )


def rewrite(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json_text(document))


def rewrite_records(submission, index: int, change) -> None:
    """Change one claim's records and re-pin them (sha256, bytes) in the submission."""
    claim = submission.claims[index]
    path = submission.path.parent / claim.records_path
    lines = [json.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()]
    change(lines)
    raw = "".join(json.dumps(x) + "\n" for x in lines).encode()
    path.write_bytes(gzip_bytes(raw))

    def repin(document):
        records = document["claims"]["instances"][index]["records"]
        records.update(sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw))

    rewrite(submission.path, repin)


# --- submissions ----------------------------------------------------------------------------------
def test_a_submission_holds_the_bench_and_its_records(submission, bench_folder):
    document = submission.document
    assert document["suite"]["id"] == "tiny-v1" and document["track"] == "exact"
    assert document["optimizer"]["name"] == OPTIMIZER and document["optimizer"]["builtin"]
    assert document["tuning"] == {"rule": "fixed"} and document["execution"]["mode"] == "sealed"
    bench_json = json.loads((bench_folder / "bench.json").read_text())
    assert document["claims"]["score"]["value"] == bench_json["score"]["value"]
    for claim, row in zip(submission.claims, bench_json["instances"], strict=True):
        raw = (bench_folder / claim.instance / results.RECORDS).read_bytes()
        packed = (submission.path.parent / claim.records_path).read_bytes()
        assert (
            gzip.decompress(packed) == raw
            and claim.records_sha256 == hashlib.sha256(raw).hexdigest()
        )
        assert (claim.hits, claim.n) == (row["hits"], row["n"])
        assert claim.equivalent_evals == pytest.approx(row["mean_equivalent_evals"] * row["n"])
    schema = json.loads(Path(ROOT / "leaderboard" / "submission.schema.json").read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_submit_refuses_to_overwrite_and_unfinished_benches(tiny, bench_folder, tmp_path):
    out = tmp_path / "s.json"
    build_submission(bench_folder, out)
    before = out.read_bytes()
    with pytest.raises(SubmissionError, match="exists"):
        build_submission(bench_folder, out)
    assert out.read_bytes() == before
    with pytest.raises(SubmissionError, match="no bench.json"):
        build_submission(tmp_path, tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists() and not (tmp_path / "t.records").exists()


def test_a_record_has_one_typed_shape_with_scipy_names(bench_folder):
    line = (bench_folder / "construction-p2-v1" / results.RECORDS).read_text().splitlines()[0]
    record = RestartRecord.from_dict(json.loads(line))
    assert record.as_dict() == json.loads(line)
    assert record.equivalent_evals == record.nfev + 2 * 2 * record.njev and record.nshots == 0
    assert record.fun == load("construction-p2-v1").loss(np.array([record.x]))[0]


# --- verification ---------------------------------------------------------------------------------
def test_run_restarts_gives_the_records_of_a_run_in_any_order_and_chunking(tmp_path):
    instance = load("construction-coupled-p4-v1")
    settings = RunSettings("adam", {}, Budget(evals=400), 12, execution="sealed")
    run(instance, settings, tmp_path / "run")
    whole = results.read_records(tmp_path / "run" / results.RECORDS)
    shuffled = RunSettings("adam", {}, Budget(evals=400), 12, chunk=5, execution="sealed")
    again = run_restarts(instance, shuffled, [7, 2, 11, 0, 5, 9, 3])
    assert [r["restart"] for r in again] == [7, 2, 11, 0, 5, 9, 3]
    for record in again:
        assert reproducible_part(record) == reproducible_part(whole[record["restart"]])


def test_verify_reruns_everything_and_runs_held_out_instances(submission, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "verify", str(submission.path),
                             "--heldout", "7", "--sample-seed", "3")  # fmt: skip
    assert code == 0, err
    report = json.loads(submission.path.with_name("lbfgs-tiny.verification.json").read_text())
    assert report["verdict"] == "verified" and report["submission"]["sha256"] == submission.sha256
    assert report["rerun"] == {"sample": None, "sample_seed": 3, "chunk": 97, "restarts": 48,
                               "identical": True}  # fmt: skip
    held = report["held_out"]
    assert held["seed"] == 7 and [row["mirrors"] for row in held["instances"]] == [
        "construction-p2-v1", "construction-coupled-p4-v1",
    ]  # fmt: skip
    assert all(row["n"] == 16 and row["key"].startswith("heldout/7/") for row in held["instances"])
    test = held["drop_test"]
    assert test["public"][1] == 48 and test["held_out"][1] == 32
    assert "held-out (seed 7)" in out and "every record identical" in out


def test_held_out_instances_are_fresh_certified_and_reproducible():
    public = load("construction-coupled-p4-v1")
    first, again, other = (held_out_instance("construction-coupled-p4-v1", s) for s in (5, 5, 6))
    assert first.instance.id == public.id and first.key == "heldout/5/construction-coupled-p4-v1"
    assert np.array_equal(first.instance.dataset.labels, again.instance.dataset.labels)
    assert first.sha256 == hashlib.sha256(first.key.encode()).hexdigest() != other.sha256
    differs = [
        not np.array_equal(h.instance.dataset.labels, public.dataset.labels)
        or not np.array_equal(
            h.instance.certificate.global_minimizer, public.certificate.global_minimizer
        )
        for h in (first, other)
    ]
    assert all(differs)
    for held in (first, other):  # the certificate holds: the minimizer is at L*, a vertex
        cert = held.instance.certificate
        value = held.instance.loss(np.array([cert.global_minimizer]))[0]
        assert abs(value - cert.global_min_value) < 1e-12
    noisy = held_out_instance("construction-p4-noise0.05-v1", 5).instance
    assert noisy.certificate.kind == "enumerated"
    assert ("seed_key", "heldout/5/construction-p4-noise0.05-v1") in noisy.provenance.parameters


def test_a_held_out_teacher_student_instance_has_a_fresh_teacher_and_multistart():
    public = load("teacher-student-n4-l1-v1")
    held, again = (held_out_instance(public.id, 5) for _ in range(2))
    teacher = held.instance.certificate.global_minimizer
    assert held.instance.certificate.kind == "planted"
    assert not np.array_equal(teacher, public.certificate.global_minimizer)
    assert teacher.tolist() == again.instance.certificate.global_minimizer.tolist()
    assert abs(held.instance.loss(teacher[None])[0]) <= 1e-12
    provenance = held.instance.provenance
    assert provenance.parameter("seed_key") == "heldout/5/teacher-student-n4-l1-v1"
    assert provenance.parameter("multistart_starts") == public.provenance.parameter(
        "multistart_starts"
    )
    assert "heldout/5/teacher-student-n4-l1-v1/multistart" in held.instance.certificate.effort


def test_verify_takes_several_files_and_skips_reports(tiny, bench_folder, tmp_path, monkeypatch,
                                                      capsys):  # fmt: skip
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        build_submission(bench_folder, path)
    (tmp_path / "a.verification.json").write_text("{}")
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "verify", str(paths[0]),
                             str(tmp_path / "a.verification.json"), str(paths[1]),
                             "--sample", "2", "--heldout", "4")  # fmt: skip
    assert code == 0, err
    assert "skipped" in out and out.count("held-out (seed 4)") == 2
    reports = [json.loads((tmp_path / f"{n}.verification.json").read_text()) for n in "ab"]
    assert reports[0]["held_out"]["instances"] == reports[1]["held_out"]["instances"]


def test_the_drop_test_is_the_pooled_two_proportion_z_test():
    from scipy.stats import norm

    test = drop_test(60, 200, 10, 100)
    pooled = 70 / 300
    z = (0.3 - 0.1) / math.sqrt(pooled * (1 - pooled) * (1 / 200 + 1 / 100))
    assert test.z == pytest.approx(z) and test.p_value == pytest.approx(norm.sf(z))
    assert test.flagged and not drop_test(30, 100, 14, 50).flagged
    assert drop_test(0, 10, 0, 10).p_value == 0.5


def test_a_sample_reruns_k_restarts_per_instance(submission):
    result = verify_submission(submission.path, sample=5, sample_seed=11)
    assert result.rerun_restarts == 10 and result.held_out_seed is None
    report = json.loads(submission.path.with_name("lbfgs-tiny.verification.json").read_text())
    assert report["held_out"] is None and report["rerun"]["sample"] == 5


def test_malformed_submissions_are_rejected_with_where(submission):
    path = submission.path
    rewrite(path, lambda d: d["claims"]["instances"][1].pop("nfev"))
    with pytest.raises(SubmissionError, match=r"claims\.instances\[1\]: 'nfev' is a required"):
        load_submission(path)
    path.write_text("{not json")
    with pytest.raises(SubmissionError, match="not a JSON submission"):
        load_submission(path)
    with pytest.raises(SubmissionError, match=r"optimizer\.kind"):
        validate_document({**submission.document, "optimizer": {
            **submission.document["optimizer"], "kind": "magic"}}, "x.json")  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["suite"].update(id="nope-v1"), "unknown suite 'nope-v1'"),
        (lambda d: d["suite"].update(sha256="0" * 64), "suite.sha256 is not that of tiny-v1"),
        (lambda d: d.update(track="gpu"), "track is 'gpu'; tiny-v1 is 'exact'"),
        (
            lambda d: d["claims"]["instances"][0].update(instance="construction-p4-v1"),
            r"claims.instances\[0\]: instance 'construction-p4-v1' is not tiny-v1's",
        ),
        (lambda d: d["claims"]["instances"][0].update(hits=3), r"\[0\].*hits is 3; the records"),
        (lambda d: d["claims"]["score"].update(value=0.99), "claims.score is 0.99"),
        (
            lambda d: d["optimizer"].update(code_sha256="a" * 64),
            "optimizer.code_sha256: the installed",
        ),
        (
            lambda d: d["claims"]["instances"][1]["records"].update(sha256="b" * 64),
            r"\[1\].*does not match records.sha256",
        ),
        (
            lambda d: d["claims"]["instances"][0]["records"].update(path="x.records/y.jsonl.gz"),
            "is missing",
        ),
    ],
)
def test_tampered_submissions_are_rejected_and_nothing_is_written(submission, change, message):
    rewrite(submission.path, change)
    with pytest.raises((SubmissionError, VerificationError), match=message):
        verify_submission(submission.path, sample=2)
    assert not submission.path.with_name("lbfgs-tiny.verification.json").exists()


def test_records_that_lie_about_a_hit_are_rejected(submission):
    def claim_a_hit(lines):
        miss = next(line for line in lines if not line["hit"])
        miss["hit"] = True

    rewrite_records(submission, 0, claim_a_hit)
    with pytest.raises(
        VerificationError, match=r"restart \d+: hit is True, the certificate says False"
    ):
        verify_submission(submission.path, sample=2)


def test_a_cheat_that_plants_the_minimizer_is_caught_by_the_rerun(submission):
    """Records made consistent by hand (the certified minimizer as every x, exact fun, hits,
    claims and score recomputed) pass every file check; the sealed re-run refutes them."""
    from qnntraps.leaderboard.submission import claim_totals, entry_score, outcome_of

    index = 1
    instance = load(submission.claims[index].instance)
    cert = instance.certificate
    fun = float(instance.loss(np.array([cert.global_minimizer]))[0])

    def plant(lines):
        for line in lines:
            line.update(x=[float(v) for v in cert.global_minimizer], fun=fun,
                        gap=fun - cert.global_min_value, hit=True, flags=[])  # fmt: skip

    rewrite_records(submission, index, plant)
    from qnntraps.leaderboard.submission import submitted_records

    loaded = load_submission(submission.path)
    records = [submitted_records(loaded, k) for k in range(2)]
    outcomes = [outcome_of(c.instance, r, c.n) for c, r in zip(loaded.claims, records, strict=True)]
    score = entry_score(outcomes, loaded.suite.budget_range, 1)

    def restate(document):
        document["claims"]["instances"][index].update(claim_totals(records[index], 24))
        document["claims"]["score"] = {"value": score.value, "interval": [score.low, score.high]}

    rewrite(submission.path, restate)
    with pytest.raises(
        VerificationError,
        match=r"\(construction-coupled-p4-v1\), restart \d+: the sealed re-run differs in x, fun",
    ):
        verify_submission(submission.path, sample=3)


def test_other_hyper_parameters_are_caught_by_the_rerun(submission):
    rewrite(submission.path, lambda d: d["hyperparameters"].update(memory=3))
    with pytest.raises(VerificationError, match="the sealed re-run differs"):
        verify_submission(submission.path, sample=4)


def test_a_tuned_entry_pays_for_its_trials(tiny, bench_folder, tmp_path):
    fixed = build_submission(bench_folder, tmp_path / "a.json")
    tuning = {"rule": "tuned", "search_space": {"memory": [3, 10]}, "trials": 8,
              "description": "grid over memory"}  # fmt: skip
    tuned = build_submission(bench_folder, tmp_path / "b.json", tuning=tuning)
    assert tuned.trials == 8
    assert tuned.document["claims"]["score"]["value"] < fixed.document["claims"]["score"]["value"]
    with pytest.raises(SubmissionError, match="tuning"):
        build_submission(bench_folder, tmp_path / "c.json", tuning={"rule": "tuned", "trials": 2})
    verify_submission(tmp_path / "b.json", sample=2)  # the claimed score counts the trials


# --- rendering ------------------------------------------------------------------------------------
def test_render_keeps_the_readme_outside_the_markers(submission, tmp_path):
    folder = submission.path.parent.parent
    (folder / "README.md").write_text(
        "# Our board\n\nintro kept\n\n<!-- leaderboard:exact:begin -->\nold\n"
        "<!-- leaderboard:exact:end -->\n\nfooter kept\n"
    )
    verify_submission(submission.path, sample=2, heldout_seed=1)
    rendered = render_module.render_leaderboard(folder)
    text = (folder / "README.md").read_text()
    assert text.startswith("# Our board\n\nintro kept\n") and "footer kept" in text
    assert "old" not in text and "<!-- leaderboard:gpu:begin -->" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| 1 |")]
    assert "lbfgs-tiny" in row and "held-out" in row and "verified" in row
    assert rendered.rows["exact"][0].ranked
    # a changed submission is no longer verified: its report pins other bytes
    rewrite(submission.path, lambda d: d.update(description="edited"))
    render_module.render_leaderboard(folder)
    (row,) = [
        line for line in (folder / "README.md").read_text().splitlines() if "lbfgs-tiny" in line
    ]
    assert row.startswith("| – |") and "self-reported" in row and "public" in row


def chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("QNNTRAPS_REQUIRE_CHROMIUM"):
        pytest.fail("QNNTRAPS_REQUIRE_CHROMIUM is set but chromium is not installed")
    return found


def test_the_page_in_headless_chromium(submission, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it)")
    folder = submission.path.parent.parent
    verify_submission(submission.path, sample=2, heldout_seed=2)
    page = render_module.render_leaderboard(folder).page
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout  # fmt: skip
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.images, self.body = [], [], {}

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "tr" and "data-entry" in attrs:
                self.rows.append(attrs["data-entry"])
            elif tag == "img":
                self.images.append(attrs.get("id"))
            elif tag == "body":
                self.body = attrs

    reader = Reader()
    reader.feed(dom)
    assert reader.rows == ["lbfgs-tiny-v1"]
    suite = submission.suite.id
    assert set(reader.images) == {f"hit-rate-exact-{suite}-construction",
                                  f"hit-rate-exact-{suite}-construction-coupled",
                                  f"profile-exact-{suite}"}  # fmt: skip
    widths = [int(w) for w in reader.body["data-images"].split(",")]
    assert len(widths) == 3 and all(w > 300 for w in widths)  # every figure decoded and drawn
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, "--window-size=1280,1600", f"--screenshot={shot}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)  # fmt: skip
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (1600, 1280)
    top = pixels[:900, :, :3]
    assert top.std() > 0.05  # a table and figures, not a blank page
    assert (np.abs(top - top[0, 0]).sum(axis=2) > 0.3).mean() > 0.02


def test_rendering_the_committed_leaderboard_is_a_fixed_point(tmp_path):
    """leaderboard/ holds what `qnntraps leaderboard render` makes of its submissions."""
    folder = tmp_path / "leaderboard"
    shutil.copytree(ROOT / "leaderboard", folder, symlinks=True)
    render_module.render_leaderboard(folder)
    assert (folder / "README.md").read_text() == (ROOT / "leaderboard" / "README.md").read_text()
    rows = render_module.read_rows(folder)["exact"]
    assert {row.submission.suite.id for row in rows} == {"core-v1", "core-v3"}
    assert all(row.verified and row.ranked for row in rows)
    assert "**Suite core-v3**" in (folder / "README.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "path",
    sorted(p for p in (ROOT / "leaderboard" / "submissions").glob("*.json")
           if not p.name.endswith(".verification.json")),
    ids=lambda p: p.stem,
)  # fmt: skip
def test_every_committed_entry_still_verifies(path, tmp_path):
    """Its file, records and code check out, and one restart per instance re-runs identically
    with today's harness (a change that altered a baseline's records would fail here)."""
    result = verify_submission(path, sample=1, sample_seed=0, report=tmp_path / "report.json")
    assert result.rerun_restarts == len(result.submission.claims)


def test_leaderboard_commands_fail_in_one_line(monkeypatch, capsys, tmp_path):
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "verify", str(tmp_path / "x.json"))
    assert code == 2 and err.count("\n") == 1 and "cannot read" in err
    code, out, err = run_cli(
        monkeypatch, capsys, "leaderboard", "render", "--folder", str(tmp_path)
    )
    assert code == 2 and "submissions/" in err and err.count("\n") == 1
    code, out, err = run_cli(monkeypatch, capsys, "leaderboard", "submit", str(tmp_path), "-o",
                             str(tmp_path / "s.json"))  # fmt: skip
    assert code == 2 and "no bench.json" in err and not (tmp_path / "s.json").exists()


def test_each_suite_ranks_its_own_entries(submission, tmp_path):
    """A core-v1 entry and a tiny-v1 entry on one track: two tables, each with its own ranks
    and the hit-rate columns of its own families (scores of two suites are not comparable)."""
    folder = submission.path.parent.parent
    committed = ROOT / "leaderboard" / "submissions"
    for name in ("smo.json", "smo.verification.json"):
        shutil.copy(committed / name, folder / "submissions" / name)
    shutil.copytree(committed / "smo.records", folder / "submissions" / "smo.records")
    verify_submission(submission.path, sample=2, heldout_seed=3)
    rendered = render_module.render_leaderboard(folder)
    text = (folder / "README.md").read_text()
    core = text.split("**Suite core-v1**")[1].split("**Suite tiny-v1**")[0]
    tiny = text.split("**Suite tiny-v1**")[1]
    assert "hit rate: separable" in core and "hit rate: separable" not in tiny
    assert [line.split(" | ")[1] for line in core.splitlines() if line.startswith("| 1 |")] == [
        "smo"
    ]
    assert [line.split(" | ")[1] for line in tiny.splitlines() if line.startswith("| 1 |")] == [
        "lbfgs-tiny-v1"
    ]
    page = rendered.page.read_text()
    assert 'id="table-exact-core-v1"' in page and 'id="table-exact-tiny-v1"' in page


def test_hit_rate_captions_name_only_the_references_drawn():
    assert "2<sup>−p</sup>" in render_module.hit_rate_caption("separable")
    assert "q<sup>p</sup>" in render_module.hit_rate_caption("construction")
    for family in ("teacher-student", "barren-plateau"):
        caption = render_module.hit_rate_caption(family)
        assert "2<sup>−p</sup>" not in caption and "q<sup>p</sup>" not in caption
