"""Coverage-guided fuzzing of the instance reader, for as long as you like.

    python tools/fuzz_instances.py --seconds 3600            # built-in engine, no extra package
    python tools/fuzz_instances.py --engine atheris -- -max_total_time=3600 -timeout=5 CORPUS
                                                              # libFuzzer, after pip install atheris

The target is what `qnntraps.load` does to the bytes of a file it does not trust, minus the child
process: `qnntraps.hdf5_reader.read_raw` (byte checks, HDF5 object walk, guarded reads) then
`qnntraps.validation.instance_from_raw` (values, certificate re-check). Every input must end in
an Instance or a `QnnTrapsError`. A finding is anything else: another exception (saved as
``error-<sha>.h5`` with its traceback), a crash of the interpreter (``crash-<sha>.h5``) or a run
longer than ``--timeout`` seconds, typically libhdf5 spinning (``hang-<sha>.h5``). Findings go to
``--findings`` (default: fuzz-findings/); copy them to tests/fuzz_corpus/ with the error the
reader must raise in tests/fuzz_corpus/expected.json, and fix the reader, so that they stay
regression tests.

Seeds are the small shipped instance files. Mutations are byte-level (bit flips, interesting
integers, copied, inserted or deleted chunks, truncation) and, for half of them, followed by
re-computing the Jenkins lookup3 checksums of the superblock and of every object header block
(OHDR, OCHK): without that, libhdf5 refuses almost every mutant at its checksum and the fuzzer
never reaches the object parsers.

Built-in engine: a supervisor runs a worker process that mutates corpus entries, runs the target
under a line-arc tracer over qnntraps's reader modules, and keeps an input when it reaches a new
arc or a new kind of refusal (error type and message shape, which stands in for coverage of
libhdf5's C code). The worker writes each input to ``current.h5`` before running it and arms
`faulthandler.dump_traceback_later` (a C watchdog thread, which works while libhdf5 spins); when
the worker dies, the supervisor files the input as a hang or a crash and starts a new worker.
The atheris engine instruments the same modules for libFuzzer and uses the same mutator.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED_IDS = (
    "construction-p2-v1",
    "construction-coupled-p4-v1",
    "construction-p4-noise0.1-v1",
    "separable-p2-v1",
    "barren-plateau-n2-l19-v1",
)
TRACED = ("hdf5_reader.py", "validation.py", "product_form.py", "statevector.py", "spectral.py")
INTERESTING = (
    0,
    1,
    2,
    7,
    8,
    16,
    255,
    256,
    2**15,
    2**16 - 1,
    2**31 - 1,
    2**32 - 1,
    2**63,
    2**64 - 1,
)


# ---------------------------------------------------------------- HDF5 checksums


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 hashlittle, as libhdf5's H5_checksum_lookup3 computes it."""
    mask = 0xFFFFFFFF

    def rot(x, k):
        return ((x << k) | (x >> (32 - k))) & mask

    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & mask
    k = 0
    while length > 12:
        a = (a + int.from_bytes(data[k : k + 4], "little")) & mask
        b = (b + int.from_bytes(data[k + 4 : k + 8], "little")) & mask
        c = (c + int.from_bytes(data[k + 8 : k + 12], "little")) & mask
        a = (a - c) & mask
        a ^= rot(c, 4)
        c = (c + b) & mask  # noqa: E702
        b = (b - a) & mask
        b ^= rot(a, 6)
        a = (a + c) & mask  # noqa: E702
        c = (c - b) & mask
        c ^= rot(b, 8)
        b = (b + a) & mask  # noqa: E702
        a = (a - c) & mask
        a ^= rot(c, 16)
        c = (c + b) & mask  # noqa: E702
        b = (b - a) & mask
        b ^= rot(a, 19)
        a = (a + c) & mask  # noqa: E702
        c = (c - b) & mask
        c ^= rot(b, 4)
        b = (b + a) & mask  # noqa: E702
        length -= 12
        k += 12
    if length == 0:
        return c
    tail = data[k : k + length] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & mask
    b = (b + int.from_bytes(tail[4:8], "little")) & mask
    c = (c + int.from_bytes(tail[8:12], "little")) & mask
    c ^= b
    c = (c - rot(b, 14)) & mask  # noqa: E702
    a ^= c
    a = (a - rot(c, 11)) & mask  # noqa: E702
    b ^= a
    b = (b - rot(a, 25)) & mask  # noqa: E702
    c ^= b
    c = (c - rot(b, 16)) & mask  # noqa: E702
    a ^= c
    a = (a - rot(c, 4)) & mask  # noqa: E702
    b ^= a
    b = (b - rot(a, 14)) & mask  # noqa: E702
    c ^= b
    c = (c - rot(b, 24)) & mask  # noqa: E702
    return c


def checksummed_blocks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every block whose last 4 bytes are the lookup3 checksum of the rest: the
    version-2/3 superblock and every object header block (qnntraps.hdf5_reader finds those)."""
    from qnntraps.hdf5_reader import object_header_blocks

    blocks = [(0, 48)] if len(data) >= 48 and data[8] in (2, 3) else []
    return blocks + [(start, end) for start, end, _, _ in object_header_blocks(data)]


def repair_checksums(data: bytes) -> bytes:
    """Recompute every superblock, OHDR and OCHK checksum, so libhdf5 parses the mutated block."""
    out = bytearray(data)
    for start, end in checksummed_blocks(bytes(out)):
        out[end - 4 : end] = lookup3(bytes(out[start : end - 4])).to_bytes(4, "little")
    return bytes(out)


# ---------------------------------------------------------------- mutations


def mutate(
    data: bytes,
    rng: random.Random,
    others: list[bytes] = (),
    repair: bool | None = None,
    max_size: int = 2**21,
) -> bytes:
    """One to four byte-level mutations, then (with probability 1/2) checksums repaired."""
    out = bytearray(data or b"\0")
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(7)
        at = rng.randrange(len(out))
        if kind == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[at] = rng.randrange(256)
        elif kind == 2:
            width = rng.choice((1, 2, 4, 8))
            value = rng.choice(INTERESTING) + rng.choice((0, 0, 1, -1))
            out[at : at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
        elif kind == 3:
            source = rng.choice(others) if others and rng.random() < 0.3 else bytes(out)
            start = rng.randrange(len(source))
            out[at : at + 16] = source[start : start + rng.randint(1, 16)]
        elif kind == 4:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 5:
            del out[at : at + rng.randint(1, 8)]
        else:
            del out[max(1, at) :]
        if not out:
            out = bytearray(b"\0")
    if repair if repair is not None else rng.random() < 0.5:
        out = bytearray(repair_checksums(bytes(out)))
    return bytes(out[:max_size])


# ---------------------------------------------------------------- the target


def run_target(data: bytes) -> str:
    """Read `data` as an untrusted instance file in this process: 'ok' or the refusal's kind.

    Raises whatever is not a QnnTrapsError (a finding)."""
    from qnntraps.errors import QnnTrapsError
    from qnntraps.hdf5_reader import read_raw
    from qnntraps.validation import instance_from_raw

    try:
        instance_from_raw(read_raw(data, "fuzz.h5"), "fuzz.h5")
    except QnnTrapsError as error:
        return f"{type(error).__name__}:{re.sub(r'[0-9]+', '#', str(error))[:100]}"
    return "ok"


def seed_inputs() -> list[bytes]:
    sys.path.insert(0, str(ROOT))
    from qnntraps.registry import read_registry, shipped_data_dir

    entries = {e.id: e for e in read_registry(shipped_data_dir())}
    return [(shipped_data_dir() / entries[i].file).read_bytes() for i in SEED_IDS if i in entries]


def _name(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


# ---------------------------------------------------------------- built-in engine: worker


class _ArcTracer:
    """Line arcs (file, previous line, line) executed in the traced reader modules."""

    def __init__(self) -> None:
        self.arcs: set = set()
        self._last: dict = {}

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.endswith(TRACED):
            return None
        key = id(frame)
        self._last[key] = -1

        def local(frame, event, arg):
            if event == "line":
                self.arcs.add((frame.f_code.co_filename, self._last.get(key, -1), frame.f_lineno))
                self._last[key] = frame.f_lineno
            return local

        return local


def worker(
    corpus: Path, findings: Path, work: Path, timeout: float, seed: int, deadline: float
) -> None:
    import faulthandler

    # What a file may make the reader import, imported before the clock and the tracer start
    # (importing torch under a tracer takes far longer than any read).
    import qnntraps.certificates.spectral  # noqa: F401
    import qnntraps.simulators.evaluator  # noqa: F401

    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))
    except (ImportError, ValueError, OSError):
        pass
    rng = random.Random(seed)
    entries = [p.read_bytes() for p in sorted(corpus.glob("*.h5"))] or seed_inputs()
    seen_arcs: set = set()
    seen_outcomes: set = set()
    current = work / "current.h5"
    runs = 0
    while time.time() < deadline:
        parent = rng.choice(entries)
        data = mutate(parent, rng, entries)
        current.write_bytes(data)
        tracer = _ArcTracer()
        faulthandler.dump_traceback_later(timeout, exit=True)
        sys.settrace(tracer)
        try:
            outcome = run_target(data)
        except Exception:  # a finding: not a QnnTrapsError
            sys.settrace(None)
            faulthandler.cancel_dump_traceback_later()
            name = f"error-{_name(data)}"
            (findings / f"{name}.h5").write_bytes(data)
            (findings / f"{name}.txt").write_text(traceback.format_exc())
            print(f"finding: {name}", flush=True)
            continue
        finally:
            sys.settrace(None)
            faulthandler.cancel_dump_traceback_later()
        runs += 1
        new_arcs = tracer.arcs - seen_arcs
        if new_arcs or outcome not in seen_outcomes:
            seen_arcs |= tracer.arcs
            seen_outcomes.add(outcome)
            entries.append(data)
            (corpus / f"{_name(data)}.h5").write_bytes(data)
        if runs % 500 == 0:
            print(
                f"runs {runs}, corpus {len(entries)}, arcs {len(seen_arcs)}, "
                f"outcomes {len(seen_outcomes)}",
                flush=True,
            )
    current.unlink(missing_ok=True)


# ---------------------------------------------------------------- built-in engine: supervisor


def supervise(args) -> int:
    corpus, findings = Path(args.corpus), Path(args.findings)
    work = corpus / ".work"
    for folder in (corpus, findings, work):
        folder.mkdir(parents=True, exist_ok=True)
    if not any(corpus.glob("*.h5")):
        for data in seed_inputs():
            (corpus / f"{_name(data)}.h5").write_bytes(data)
    deadline = time.time() + args.seconds
    seed = args.seed
    found = 0
    while time.time() < deadline:
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--corpus",
            str(corpus),
            "--findings",
            str(findings),
            "--timeout",
            str(args.timeout),
            "--seed",
            str(seed),
            "--deadline",
            str(deadline),
        ]
        result = subprocess.run(command, stderr=subprocess.PIPE, cwd=ROOT, check=False)
        current = work / "current.h5"
        if result.returncode == 0 or not current.exists():
            if result.returncode != 0:
                sys.stderr.write(result.stderr.decode(errors="replace")[-2000:])
                return result.returncode
            break
        data = current.read_bytes()
        stderr = result.stderr.decode(errors="replace")
        kind = "hang" if "Timeout" in stderr else "crash"
        name = f"{kind}-{_name(data)}"
        (findings / f"{name}.h5").write_bytes(data)
        (findings / f"{name}.txt").write_text(f"exit status {result.returncode}\n{stderr[-4000:]}")
        print(f"finding: {name} (exit status {result.returncode})", flush=True)
        found += 1
        current.unlink()
        seed += 1
    print(f"done: {found} hangs or crashes; other findings in {findings}", flush=True)
    return 0


# ---------------------------------------------------------------- atheris engine


def atheris_main(argv: list[str]) -> None:
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["qnntraps"]):
        import qnntraps.hdf5_reader  # noqa: F401
        import qnntraps.validation  # noqa: F401

    def one_input(data: bytes) -> None:
        run_target(data)

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.3:
            return repair_checksums(atheris.Mutate(data, max_size))
        return mutate(data, rng, max_size=max_size)

    atheris.Setup([sys.argv[0], *argv], one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("builtin", "atheris"), default="builtin")
    parser.add_argument("--seconds", type=float, default=600.0, help="built-in: how long to run")
    parser.add_argument("--timeout", type=float, default=5.0, help="a run longer is a hang")
    parser.add_argument("--seed", type=int, default=0, help="built-in: mutation seed")
    parser.add_argument("--corpus", default="fuzz-corpus", help="built-in: the growing corpus")
    parser.add_argument("--findings", default="fuzz-findings", help="where findings go")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("libfuzzer", nargs="*", help="atheris: libFuzzer flags and corpus dirs")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.engine == "atheris":
        atheris_main(args.libfuzzer)
        return 0
    if args.worker:
        corpus = Path(args.corpus)
        worker(
            corpus, Path(args.findings), corpus / ".work", args.timeout, args.seed, args.deadline
        )
        return 0
    return supervise(args)


if __name__ == "__main__":
    sys.exit(main())
