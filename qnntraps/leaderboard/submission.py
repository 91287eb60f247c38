"""A leaderboard submission: one JSON file per entry, its raw records beside it.

`build_submission` turns a finished bench folder into FILE (format qnntraps-submission/1, the
JSON Schema in data/submission-1.schema.json) and FILE's folder/<stem>.records/<instance>.jsonl.gz
(each run's restarts.jsonl, gzip'ed without a time stamp, pinned in FILE by the sha256 and length
of the uncompressed bytes). `load_submission` reads one back, validated as a whole: the schema
first, then what a schema cannot say (a known suite with its pinned sha256, the suite's track,
one claim per entry in the suite's order with its restart count, record files inside the
submission's folder). `submitted_records` reads one claim's records, checked against its pin.
Every refusal is a SubmissionError that names the file and the place in it.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import json
import math
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnntraps.atomic import ensure_folder, json_text, write_bytes_atomic, write_text_atomic
from qnntraps.errors import QnnTrapsError
from qnntraps.harness import results
from qnntraps.optimizers.catalogue import is_builtin
from qnntraps.suites.definitions import Suite, SuiteError, load_suite
from qnntraps.suites.score import Outcome, Score, suite_score

FORMAT = "qnntraps-submission"
VERSION = 1
SCHEMA = Path(__file__).resolve().parent / "data" / "submission-1.schema.json"
MAX_SUBMISSION_BYTES = 16 * 2**20
MAX_RECORDS_BYTES = 2**29  # uncompressed records of one instance (gpu-v1's: about 130 MB)
RECORDS_SUFFIX = ".records"


class SubmissionError(QnnTrapsError):
    """A submission (or the bench folder it is built from) that cannot be used, and where."""


@dataclass(frozen=True)
class Claim:
    """What an entry claims on one instance, and where its records are."""

    instance: str
    hits: int
    n: int
    equivalent_evals: float
    nfev: int
    njev: int
    nshots: int
    wall_seconds: float
    flagged: int
    records_path: str
    records_sha256: str
    records_bytes: int


@dataclass(frozen=True)
class Submission:
    path: Path
    sha256: str  # of the submission file's bytes
    document: dict  # as validated
    suite: Suite
    claims: tuple[Claim, ...]

    @property
    def trials(self) -> int:
        return int(self.document["tuning"].get("trials", 1))

    @property
    def optimizer(self) -> dict:
        return self.document["optimizer"]


def entry_score(outcomes: list[Outcome], budget_range, trials: int) -> Score:
    """The suite score of an entry: a tuned entry's costs count every trial (docs/submitting.md)."""
    scaled = [Outcome(o.instance, o.hits, o.costs * float(trials)) for o in outcomes]
    return suite_score(scaled, budget_range)


def outcome_of(instance: str, records: dict[int, dict], n: int) -> Outcome:
    ordered = [records[r] for r in range(n)]
    hits = np.array([bool(r["hit"]) for r in ordered])
    costs = np.array([float(r["equivalent_evals"]) for r in ordered])
    return Outcome(instance, hits, costs)


def claim_totals(records: dict[int, dict], n: int) -> dict:
    """The numbers a claim states, computed from records 0..n-1."""
    ordered = [records[r] for r in range(n)]
    return {
        "hits": sum(bool(r["hit"]) for r in ordered),
        "n": n,
        "equivalent_evals": float(sum(r["equivalent_evals"] for r in ordered)),
        "nfev": sum(r["nfev"] for r in ordered),
        "njev": sum(r["njev"] for r in ordered),
        "nshots": sum(r.get("nshots", 0) for r in ordered),
        "wall_seconds": float(sum(r.get("wall_seconds") or 0.0 for r in ordered)),
        "flagged": sum(1 for r in ordered if r["flags"]),
    }


# --- building -------------------------------------------------------------------------------------
def build_submission(
    bench_folder: str | Path,
    out: str | Path,
    *,
    entry: str | None = None,
    submitter: str = "anonymous",
    description: str = "",
    tuning: dict | None = None,
    today: datetime.date | None = None,
) -> Submission:
    """Write the submission of the finished bench in `bench_folder` to `out` (and its records
    beside it); nothing is written unless every check passes, and nothing is overwritten."""
    bench_folder, out = Path(bench_folder), Path(out)
    if out.suffix != ".json":
        raise SubmissionError(f"{out}: a submission file's name ends in .json")
    records_dir = out.parent / (out.stem + RECORDS_SUFFIX)
    for path in (out, records_dir):
        if path.exists() or path.is_symlink():
            raise SubmissionError(f"{path} exists: choose another -o, or move it away first")
    bench = _read_bench(bench_folder)
    suite = _bench_suite(bench, bench_folder)
    tuning = {"rule": "fixed"} if tuning is None else tuning
    configs, claims, blobs, outcomes = [], [], {}, []
    for entry_ in suite.entries:
        folder = bench_folder / entry_.instance
        config = results.read_config(folder)
        if config.get("restarts") != entry_.restarts or config.get("execution") != "sealed":
            raise SubmissionError(
                f"{folder}: not the suite's sealed {entry_.restarts}-restart run of "
                f"{entry_.instance}; rerun `qnntraps bench` into a new folder"
            )
        raw = _read_bytes(folder / results.RECORDS)
        records = results.read_records(folder / results.RECORDS)
        missing = [r for r in range(entry_.restarts) if r not in records]
        if missing or len(records) != entry_.restarts or raw.count(b"\n") != entry_.restarts:
            raise SubmissionError(
                f"{folder / results.RECORDS}: the run is not complete or holds repeated or extra "
                "restarts; finish it with the same `qnntraps bench` command, or rerun into a "
                "new folder"
            )
        if len(raw) > MAX_RECORDS_BYTES:
            raise SubmissionError(
                f"{folder / results.RECORDS}: {len(raw)} bytes; one instance's records may hold "
                f"at most {MAX_RECORDS_BYTES}"
            )
        name = f"{entry_.instance}.jsonl.gz"
        blobs[name] = raw
        claims.append(
            {
                "instance": entry_.instance,
                **claim_totals(records, entry_.restarts),
                "records": {
                    "path": f"{records_dir.name}/{name}",
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "bytes": len(raw),
                },
            }
        )
        outcomes.append(outcome_of(entry_.instance, records, entry_.restarts))
        configs.append(config)
    first = configs[0]
    for config in configs[1:]:
        for key in ("optimizer", "kind", "hyperparameters", "code", "track", "chunk", "arithmetic"):
            if config.get(key) != first.get(key):
                raise SubmissionError(
                    f"{bench_folder}: its runs differ in {key}; a submission is one optimizer "
                    "with one configuration"
                )
    code = first.get("code") or {}
    if not code.get("sha256"):
        raise SubmissionError(
            f"{bench_folder}: the optimizer's code could not be hashed "
            f"({code.get('note') or 'no code identity recorded'}); a submission names its code "
            "by sha256"
        )
    validate_document(tuning, f"{out} (--tuning)", part="tuning")
    score = entry_score(outcomes, suite.budget_range, int(tuning.get("trials", 1)))
    versions = first.get("versions") or {}
    document = {
        "format": FORMAT,
        "version": VERSION,
        "entry": entry or _entry_name(first["optimizer"], suite.id),
        "submitter": submitter,
        "date": (today or datetime.datetime.now(datetime.UTC).date()).isoformat(),
        "description": description,
        "optimizer": {
            "name": first["optimizer"],
            "kind": first["kind"],
            "builtin": is_builtin(first["optimizer"]),
            "package": code.get("distribution"),
            "version": code.get("version"),
            "module": code.get("module") or first["optimizer"],
            "code_sha256": code["sha256"],
            "code_files": code.get("files") or 1,
        },
        "hyperparameters": first.get("hyperparameters") or {},
        "tuning": tuning,
        "suite": {"id": suite.id, "sha256": suite.sha256},
        "track": suite.track,
        "execution": {
            "mode": "sealed",
            "chunk": first["chunk"],
            "arithmetic": first.get("arithmetic", 1),
        },
        "claims": {
            "score": {"value": score.value, "interval": [score.low, score.high]},
            "instances": claims,
        },
        "environment": {
            **{str(k): str(v) for k, v in versions.items()},
            "platform": platform.platform(),
            "machine": platform.machine(),
            "cpus": str(os.cpu_count()),
        },
    }
    text = json_text(document) + "\n"
    validate_document(json.loads(text), str(out))
    _write(out, records_dir, text, blobs)
    return load_submission(out)


def _write(out: Path, records_dir: Path, text: str, blobs: dict[str, bytes]) -> None:
    """The records first (into a hidden folder, renamed whole), the submission file last."""
    ensure_folder(out.parent)
    staging = out.parent / f".{records_dir.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        ensure_folder(staging)
        for name, raw in blobs.items():
            write_bytes_atomic(staging / name, gzip_bytes(raw))
        os.rename(staging, records_dir)
        try:
            write_text_atomic(out, text)
        except BaseException:
            shutil.rmtree(records_dir, ignore_errors=True)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def gzip_bytes(raw: bytes) -> bytes:
    """gzip without a time stamp or file name: the same bytes give the same file."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, filename="", compresslevel=9) as z:
        z.write(raw)
    return buffer.getvalue()


def _entry_name(optimizer: str, suite_id: str) -> str:
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in optimizer.lower()).strip("-")
    return f"{base or 'entry'}-{suite_id}"[:64]


def _read_bench(folder: Path) -> dict:
    path = folder / "bench.json"
    if not path.is_file():
        raise SubmissionError(
            f"{folder} holds no bench.json: finish the bench first (`qnntraps bench OPTIMIZER "
            "--suite SUITE --out DIR`), then submit DIR"
        )
    bench = results.read_json(path)
    if not isinstance(bench, dict) or bench.get("format") != "qnntraps-bench/1":
        raise SubmissionError(f"{path} is not a qnntraps-bench/1 file")
    return bench


def _bench_suite(bench: dict, folder: Path) -> Suite:
    suite_info = bench.get("suite") or {}
    try:
        suite = load_suite(str(suite_info.get("id")))
    except SuiteError as error:
        raise SubmissionError(f"{folder / 'bench.json'}: {error}") from None
    if suite_info.get("sha256") != suite.sha256:
        raise SubmissionError(f"{folder / 'bench.json'}: ran another version of {suite.id}")
    return suite


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise SubmissionError(f"cannot read {path}: {error.strerror or error}") from None


# --- reading --------------------------------------------------------------------------------------
def validate_document(document, name: str, part: str | None = None) -> None:
    """Check a parsed submission (or one top-level `part` of it) against the JSON Schema; the
    error names the first place that is wrong."""
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    if part is not None:
        schema = {**schema["properties"][part], "$defs": schema["$defs"]}
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(
        validator.iter_errors(document), key=lambda e: (str(list(e.absolute_path)), e.message)
    )
    if errors:
        deepest = max(len(e.absolute_path) for e in errors)  # the most specific place
        error = next(e for e in errors if len(e.absolute_path) == deepest)
        where = _where([part, *error.absolute_path] if part else error.absolute_path)
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        raise SubmissionError(
            f"{name}: {where}: {message} (the schema: {SCHEMA.name}; docs/submitting.md)"
        )


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the document"


def load_submission(path: str | Path) -> Submission:
    """Read and validate a submission file (SubmissionError says what is wrong and where)."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise SubmissionError(f"cannot read {path}: {error.strerror or error}") from None
    if size > MAX_SUBMISSION_BYTES:
        raise SubmissionError(f"{path}: {size} bytes; a submission file holds at most 16 MiB")
    data = _read_bytes(path)
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise SubmissionError(f"{path}: not a JSON submission ({error})") from None
    validate_document(document, str(path))
    try:
        suite = load_suite(document["suite"]["id"])
    except SuiteError as error:
        raise SubmissionError(f"{path}: suite: {error}") from None
    if document["suite"]["sha256"] != suite.sha256:
        raise SubmissionError(
            f"{path}: suite.sha256 is not that of {suite.id} (a suite never changes under its ID)"
        )
    if document["track"] != suite.track:
        raise SubmissionError(
            f"{path}: track is {document['track']!r}; {suite.id} is {suite.track!r}"
        )
    rows = document["claims"]["instances"]
    if len(rows) != len(suite.entries):
        raise SubmissionError(
            f"{path}: claims.instances has {len(rows)} claims; {suite.id} has "
            f"{len(suite.entries)} instances"
        )
    claims = []
    for k, (row, entry) in enumerate(zip(rows, suite.entries, strict=True)):
        where = f"{path}: claims.instances[{k}]"
        if row["instance"] != entry.instance:
            raise SubmissionError(
                f"{where}: instance {row['instance']!r} is not {suite.id}'s instance number {k} "
                f"({entry.instance})"
            )
        if row["n"] != entry.restarts or row["hits"] > row["n"]:
            raise SubmissionError(
                f"{where}: n must be {suite.id}'s {entry.restarts} restarts, with hits <= n"
            )
        if not all(math.isfinite(float(row[key])) for key in ("equivalent_evals", "wall_seconds")):
            raise SubmissionError(f"{where}: costs must be finite")
        records = row["records"]
        if records["bytes"] > MAX_RECORDS_BYTES:
            raise SubmissionError(
                f"{where}: records.bytes is {records['bytes']}; one instance's records hold at "
                f"most {MAX_RECORDS_BYTES} bytes"
            )
        claims.append(
            Claim(
                row["instance"],
                row["hits"],
                row["n"],
                float(row["equivalent_evals"]),
                row["nfev"],
                row["njev"],
                row["nshots"],
                float(row["wall_seconds"]),
                row["flagged"],
                records["path"],
                records["sha256"],
                records["bytes"],
            )  # fmt: skip
        )
    return Submission(path, hashlib.sha256(data).hexdigest(), document, suite, tuple(claims))


def submitted_records(submission: Submission, index: int) -> dict[int, dict]:
    """The records of claim `index`, checked against their pin: restarts 0..n-1, once each."""
    claim = submission.claims[index]
    where = f"{submission.path}: claims.instances[{index}] ({claim.instance})"
    folder = submission.path.resolve().parent
    path = (folder / claim.records_path).resolve()
    if folder not in path.parents:
        raise SubmissionError(f"{where}: records.path leads out of the submission's folder")
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read(claim.records_bytes + 1)  # a longer file is refused below
    except FileNotFoundError:
        raise SubmissionError(f"{where}: records file {path} is missing") from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise SubmissionError(f"{where}: records file {path} is not gzip ({error})") from None
    if len(raw) != claim.records_bytes or hashlib.sha256(raw).hexdigest() != claim.records_sha256:
        raise SubmissionError(
            f"{where}: records file {path} does not match records.sha256 and records.bytes"
        )
    records: dict[int, dict] = {}
    for number, line in enumerate(raw.splitlines(keepends=True), 1):
        try:
            record = results.parse_record(line, path, number)
        except results.RunFolderError as error:
            raise SubmissionError(f"{where}: {error}") from None
        restart = record["restart"]
        if restart >= claim.n or restart in records:
            raise SubmissionError(
                f"{where}: {path}, line {number}: restart {restart} is repeated or beyond n"
            )
        records[restart] = record
    if len(records) != claim.n:
        raise SubmissionError(f"{where}: {path} holds {len(records)} restarts, not n = {claim.n}")
    return records


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number a submission may hold")
