"""Verify a submission: its file, its records, its code, a sealed re-run, and held-out instances.

`verify_submission` installs nothing. In order, stopping at the first failure with a
VerificationError (or SubmissionError) that says which check failed and where:

1. the file: the JSON Schema, the suite and its pin, the track, one claim per suite entry;
2. the records: each file matches its sha256; every record is re-scored from its point (``fun``
   is the exact loss at ``x`` bit for bit, ``gap``, ``hit`` and ``equivalent_evals`` follow from
   it), the claims are the records' totals, and the claimed score is recomputed;
3. the code: the installed optimizer's code sha256 (`qnntraps.optimizers.identity`) is the
   declared one;
4. the re-run: sealed, with the declared kind and hyper-parameters and the suite's budgets, all
   restarts or `sample` seeded-random restarts per instance, in a shuffled order and another
   chunking than the submission's, in its arithmetic (1 where it names none); on the exact
   track every record must be identical in every field but wall_seconds (on the gpu track:
   the same hits, flags and counts, losses within 1e-9);
5. held-out (with a seed chosen now): the suite's held-out rule names, for some entries, a fresh
   instance of the same family, variant and p (`heldout`), run in memory with the entry's budget;
   its score is what the leaderboard ranks on, and a one-sided two-proportion z-test of the
   held-out hit rate against the public one on the same entries flags a significant drop
   (p < 0.01).

The report (format qnntraps-verification/1) is written only when every check passed.
"""

from __future__ import annotations

import datetime
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import qnntraps
from qnntraps.atomic import write_json_atomic
from qnntraps.errors import QnnTrapsError
from qnntraps.harness.records import reproducible_part
from qnntraps.harness.runner import RunSettings, run_restarts
from qnntraps.leaderboard.heldout import HeldOutError, HeldOutInstance, held_out_instance
from qnntraps.leaderboard.submission import (
    Submission,
    claim_totals,
    entry_score,
    load_submission,
    outcome_of,
    submitted_records,
)
from qnntraps.optimizers.catalogue import is_builtin
from qnntraps.optimizers.identity import code_identity
from qnntraps.registry import load
from qnntraps.sealed.serve import DEFAULT_TIMEOUT, SealedExecutor
from qnntraps.seeds import generator_from_key
from qnntraps.simulators import evaluate
from qnntraps.simulators.evaluate import cpu_evaluator
from qnntraps.suites.definitions import held_out_entries
from qnntraps.suites.score import Outcome, Score

REPORT_FORMAT = "qnntraps-verification"
REPORT_VERSION = 1
DROP_LEVEL = 0.01  # one-sided p-value below which a held-out drop is flagged
SCORE_TOLERANCE = 1e-12
GPU_TOLERANCE = 1e-9
RERUN_CHUNKS = (97, 89)  # the re-run's chunk: the first that is not the submission's


class VerificationError(QnnTrapsError):
    """A submission that failed a check: which check, and where."""


@dataclass(frozen=True)
class HeldOutResult:
    public_id: str
    key: str
    hits: int
    n: int
    mean_equivalent_evals: float


@dataclass(frozen=True)
class DropTest:
    """One-sided two-proportion z-test of held-out hits against public hits, same entries."""

    public_hits: int
    public_n: int
    held_out_hits: int
    held_out_n: int
    z: float
    p_value: float

    @property
    def flagged(self) -> bool:
        return self.p_value < DROP_LEVEL

    def as_dict(self) -> dict:
        return {
            "public": [self.public_hits, self.public_n],
            "held_out": [self.held_out_hits, self.held_out_n],
            "z": self.z,
            "p_value": self.p_value,
            "level": DROP_LEVEL,
            "drop_flagged": self.flagged,
        }


@dataclass(frozen=True)
class Verification:
    submission: Submission
    public_score: Score
    sample: int | None  # restarts re-run per instance; None: all
    sample_seed: int
    chunk: int
    rerun_restarts: int
    held_out_seed: int | None
    held_out: tuple[HeldOutResult, ...]
    held_out_score: Score | None
    drop: DropTest | None

    def as_dict(self) -> dict:
        document = self.submission.document
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "verdict": "verified",
            "date": datetime.datetime.now(datetime.UTC).date().isoformat(),
            "qnntraps": qnntraps.__version__,
            "submission": {
                "file": self.submission.path.name,
                "sha256": self.submission.sha256,
                "entry": document["entry"],
                "suite": document["suite"]["id"],
                "track": document["track"],
            },
            "public_score": _score_dict(self.public_score),
            "rerun": {
                "sample": self.sample,
                "sample_seed": self.sample_seed,
                "chunk": self.chunk,
                "restarts": self.rerun_restarts,
                "identical": True,
            },
            "held_out": None
            if self.held_out_seed is None
            else {
                "seed": self.held_out_seed,
                "score": _score_dict(self.held_out_score),
                "instances": [
                    {
                        "mirrors": row.public_id,
                        "key": row.key,
                        "hits": row.hits,
                        "n": row.n,
                        "mean_equivalent_evals": row.mean_equivalent_evals,
                    }
                    for row in self.held_out
                ],
                "drop_test": self.drop.as_dict(),
            },
        }


def _score_dict(score: Score) -> dict:
    return {"value": score.value, "interval": [score.low, score.high]}


def default_report_path(submission_path: str | Path) -> Path:
    path = Path(submission_path)
    return path.with_name(f"{path.stem}.verification.json")


def verify_submission(
    path: str | Path,
    *,
    sample: int | None = None,
    sample_seed: int | None = None,
    heldout_seed: int | None = None,
    report: str | Path | None = None,
    worker_timeout: float = DEFAULT_TIMEOUT,
    progress: Callable[[str, int, int], None] | None = None,
    held_out_instances: dict[tuple[str, int], HeldOutInstance] | None = None,
) -> Verification:
    """Run every check (module docstring); write the report (default: beside the submission,
    <stem>.verification.json) and return it. Raises at the first failed check, writing nothing.

    `held_out_instances`, when given, keeps the held-out instances generated here by (public
    ID, seed), so that verifying several submissions with one seed generates each once.
    """
    for name, value in (("--sample", sample), ("--heldout", heldout_seed), ("seed", sample_seed)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise VerificationError(f"{name} must be a whole number >= 0, not {value!r}")
    if sample == 0:
        raise VerificationError("--sample must be at least 1 (leave it out to re-run everything)")
    submission = load_submission(path)
    suite = submission.suite
    if suite.track == "hardware":
        raise VerificationError(
            f"{submission.path}: hardware-track submissions cannot be re-run bit for bit (shots "
            "are random and devices drift); this version verifies the exact and gpu tracks only"
        )
    report_path = Path(report) if report is not None else default_report_path(submission.path)
    submitted, outcomes = [], []
    for index, claim in enumerate(submission.claims):
        records = submitted_records(submission, index)
        _check_records(submission, index, load(claim.instance), records)
        submitted.append(records)
        outcomes.append(outcome_of(claim.instance, records, claim.n))
    public = entry_score(outcomes, suite.budget_range, submission.trials)
    claimed = submission.document["claims"]["score"]
    if abs(claimed["value"] - public.value) > SCORE_TOLERANCE or any(
        abs(a - b) > SCORE_TOLERANCE
        for a, b in zip(claimed["interval"], (public.low, public.high), strict=True)
    ):
        raise VerificationError(
            f"{submission.path}: claims.score is {claimed['value']!r} "
            f"{claimed['interval']}; the records give {public.value!r} [{public.low!r}, "
            f"{public.high!r}]"
        )
    _check_code(submission)
    sample_seed = secrets.randbits(63) if sample_seed is None else sample_seed
    chunk = next(c for c in RERUN_CHUNKS if c != submission.document["execution"]["chunk"])
    rerun = 0
    held, held_score, drop = [], None, None
    with SealedExecutor(worker_timeout) as executor:
        for index, (entry, claim) in enumerate(zip(suite.entries, submission.claims, strict=True)):
            indices = _sample(claim.instance, claim.n, sample, sample_seed)
            settings = _settings(submission, entry, chunk, worker_timeout)
            report = None if progress is None else _labelled(progress, f"re-run {claim.instance}")
            records = run_restarts(
                load(claim.instance), settings, indices, executor=executor, progress=report
            )
            for record in records:
                _compare(
                    submission, index, submitted[index][record["restart"]], record, suite.track
                )
            rerun += len(indices)
        if heldout_seed is not None:
            held, held_score, drop = _held_out(
                submission,
                submitted,
                heldout_seed,
                executor,
                chunk,
                worker_timeout,
                progress,
                {} if held_out_instances is None else held_out_instances,
            )
    verification = Verification(
        submission, public, sample, sample_seed, chunk, rerun, heldout_seed, tuple(held),
        held_score, drop,
    )  # fmt: skip
    write_json_atomic(report_path, verification.as_dict())
    return verification


def _settings(submission: Submission, entry, chunk: int, timeout: float) -> RunSettings:
    """The submission's optimizer and arithmetic (1 when it names none: it predates arithmetic
    2) with the entry's budget and restarts, sealed, in `chunk`s."""
    optimizer = submission.optimizer
    return RunSettings(
        optimizer["name"],
        dict(submission.document["hyperparameters"]),
        entry.budget,
        entry.restarts,
        submission.suite.track,
        chunk,
        kind=optimizer["kind"],
        execution="sealed",
        worker_timeout=timeout,
        arithmetic=_arithmetic(submission),
    )


def _arithmetic(submission: Submission) -> int:
    """The arithmetic its runs used: 1 when the submission names none (it predates 2)."""
    return submission.document["execution"].get("arithmetic", 1)


def _sample(instance_id: str, n: int, sample: int | None, seed: int) -> list[int]:
    """All restarts or `sample` of them, in an order shuffled by a generator keyed by the seed."""
    rng = generator_from_key(f"verify/{seed}/{instance_id}")
    order = rng.permutation(n)
    chosen = order if sample is None else order[: min(sample, n)]
    return [int(r) for r in chosen]


def _check_records(submission: Submission, index: int, instance, records: dict[int, dict]) -> None:
    """Re-score every record from its point; the claim must be the records' totals."""
    claim = submission.claims[index]
    where = f"{submission.path}: claims.instances[{index}] ({claim.instance})"
    cert = instance.certificate
    p = instance.num_parameters
    with_point = [r for r in range(claim.n) if records[r]["x"] is not None]
    for r in with_point:
        if len(records[r]["x"]) != p:
            raise VerificationError(
                f"{where}: restart {r}: x has {len(records[r]['x'])} values, not {p}"
            )
    exact = {}
    if with_point:
        points = np.array([records[r]["x"] for r in with_point], dtype=np.float64)
        arithmetic = _arithmetic(submission)
        losses = evaluate.loss(cpu_evaluator(instance, arithmetic), points)
        exact = dict(zip(with_point, losses.tolist(), strict=True))
    for r in range(claim.n):
        record = records[r]
        fun = exact.get(r)
        gap = None if fun is None else fun - cert.global_min_value
        evaluations = record["nfev"] + record["njev"]
        hit = (
            gap is not None
            and gap <= cert.hit_tolerance
            and not record["flags"]
            and evaluations > 1
        )
        problems = []
        if record["fun"] != fun:
            problems.append(f"fun is {record['fun']!r}, the loss at x is {fun!r}")
        elif record["gap"] != gap:
            problems.append(f"gap is {record['gap']!r}, not fun - L* = {gap!r}")
        if record["hit"] != hit:
            problems.append(f"hit is {record['hit']}, the certificate says {hit}")
        if record["equivalent_evals"] != record["nfev"] + 2 * p * record["njev"]:
            problems.append("equivalent_evals is not nfev + 2p njev")
        if problems:
            raise VerificationError(f"{where}: restart {r}: {'; '.join(problems)}")
    totals = claim_totals(records, claim.n)
    stated = {key: getattr(claim, key) for key in totals}
    for key, value in totals.items():
        close = (
            math.isclose(stated[key], value, rel_tol=1e-9, abs_tol=1e-9)
            if key == "wall_seconds"
            else stated[key] == value
        )
        if not close:
            raise VerificationError(
                f"{where}: {key} is {stated[key]!r}; the records give {value!r}"
            )


def _check_code(submission: Submission) -> None:
    optimizer = submission.optimizer
    name = optimizer["name"]
    identity = code_identity(name, is_builtin(name))
    if identity.sha256 is None:
        raise VerificationError(
            f"{submission.path}: optimizer: {name!r} is not installed here "
            f"({identity.note}); install the submitted version ({optimizer['package'] or name} "
            f"{optimizer['version'] or ''}) and verify again"
        )
    if identity.sha256 != optimizer["code_sha256"]:
        raise VerificationError(
            f"{submission.path}: optimizer.code_sha256: the installed {name!r} "
            f"({identity.module}, {identity.files} files) hashes to {identity.sha256}, the "
            f"submission declares {optimizer['code_sha256']}; install exactly the submitted code"
        )


def _compare(submission: Submission, index: int, submitted: dict, rerun: dict, track: str) -> None:
    claim = submission.claims[index]
    where = f"{submission.path}: claims.instances[{index}] ({claim.instance}), restart {rerun['restart']}"
    want, got = reproducible_part(submitted), reproducible_part(rerun)
    if track == "exact":
        differing = [key for key in want if want[key] != got[key]]
    else:
        differing = [
            key
            for key in ("hit", "flags", "nfev", "njev", "nshots", "stopped_by_wall")
            if want[key] != got[key]
        ]
        if (want["fun"] is None) != (got["fun"] is None) or (
            want["fun"] is not None and abs(want["fun"] - got["fun"]) > GPU_TOLERANCE
        ):
            differing.append("fun")
    if differing:
        key = differing[0]
        raise VerificationError(
            f"{where}: the sealed re-run differs in {', '.join(differing)} "
            f"(submitted {key} = {_short(want[key])}, re-run {_short(got[key])}): the records "
            "were not produced by this optimizer with these settings"
        )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _held_out(submission, submitted, seed, executor, chunk, timeout, progress, generated):
    suite = submission.suite
    entries = held_out_entries(suite)
    if not entries:
        raise VerificationError(
            f"{submission.path}: {suite.id} has no held-out rule (it is not ranked); verify "
            "without --heldout"
        )
    rows, outcomes = [], []
    public_hits = public_n = 0
    by_id = {claim.instance: k for k, claim in enumerate(submission.claims)}
    for entry in entries:
        label = f"held-out {entry.instance}"
        if progress is not None:
            progress(label, 0, entry.restarts)  # the bar shows while the instance is generated
        if (entry.instance, seed) not in generated:
            try:
                generated[entry.instance, seed] = held_out_instance(entry.instance, seed)
            except HeldOutError as error:
                raise VerificationError(f"{suite.id}: {error}") from None
        fresh = generated[entry.instance, seed]
        settings = _settings(submission, entry, chunk, timeout)
        records = run_restarts(
            fresh.instance, settings, list(range(entry.restarts)), sha256=fresh.sha256,
            executor=executor, progress=None if progress is None else _labelled(progress, label),
        )  # fmt: skip
        hits = np.array([bool(r["hit"]) for r in records])
        costs = np.array([float(r["equivalent_evals"]) for r in records])
        outcomes.append(Outcome(entry.instance, hits, costs))
        rows.append(
            HeldOutResult(
                entry.instance, fresh.key, int(hits.sum()), hits.size, float(costs.mean())
            )
        )
        public = submitted[by_id[entry.instance]]
        public_hits += sum(bool(r["hit"]) for r in public.values())
        public_n += len(public)
    score = entry_score(outcomes, suite.budget_range, submission.trials)
    held_hits = sum(row.hits for row in rows)
    held_n = sum(row.n for row in rows)
    return rows, score, drop_test(public_hits, public_n, held_hits, held_n)


def _labelled(progress: Callable[[str, int, int], None], label: str):
    return lambda done, total: progress(label, done, total)


def drop_test(public_hits: int, public_n: int, held_hits: int, held_n: int) -> DropTest:
    """One-sided two-proportion z-test (pooled variance) of a drop from public to held-out."""
    pooled = (public_hits + held_hits) / (public_n + held_n)
    variance = pooled * (1 - pooled) * (1 / public_n + 1 / held_n)
    if variance <= 0:
        z = 0.0
    else:
        z = (public_hits / public_n - held_hits / held_n) / math.sqrt(variance)
    p_value = 0.5 * math.erfc(z / math.sqrt(2))
    return DropTest(public_hits, public_n, held_hits, held_n, z, p_value)
