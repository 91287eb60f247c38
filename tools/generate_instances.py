#!/usr/bin/env python3
"""(Re)generate the frozen instance files and instances/registry.json from the generators.

    python tools/generate_instances.py            # write every suite instance and the registry
    python tools/generate_instances.py --check    # regenerate in memory, compare with the files
    python tools/generate_instances.py --only construction-p8-v1 ...
    python tools/generate_instances.py --missing  # resume: only IDs without a matching file
    python tools/generate_instances.py --merge DIR ...  # take files generated into other folders

The registry is rewritten after every instance, so an interrupted run loses at most the instance
it was building; --missing then skips every ID whose registered file is present with its sha256.
To use several cores, generate disjoint --only lists into separate --out folders, then --merge
them: every merged file must be a suite ID whose bytes match its folder's registry entry.
The teacher-student files run a multistart each: about 40 minutes in all on two cores
(docs/teacher_student.md).

Generation is deterministic: seeds come from the IDs (qnntraps/seeds.py), files carry no
timestamps, so a run on the same versions of numpy/torch/h5py reproduces every byte.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

from qnntraps.atomic import write_bytes_atomic
from qnntraps.families.catalogue import suite_ids
from qnntraps.freeze import freeze, regenerated_sha256
from qnntraps.registry import file_sha256, read_registry, write_registry

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "instances", help="instances folder")
    parser.add_argument("--only", nargs="+", metavar="ID", help="just these IDs")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument(
        "--missing", action="store_true", help="skip IDs whose registered file is present"
    )
    parser.add_argument(
        "--merge", nargs="+", type=Path, metavar="DIR", help="copy these folders' files in"
    )
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)

    ids = suite_ids()
    selected = args.only or ids
    unknown = sorted(set(selected) - set(ids))
    if unknown:
        parser.error(f"not suite IDs: {', '.join(unknown)}")

    if args.check:
        registered = {e.id: e for e in read_registry(args.out)}
        failures = 0
        for n, instance_id in enumerate(selected, 1):
            start = time.perf_counter()
            ok = regenerated_sha256(instance_id) == registered[instance_id].sha256
            failures += not ok
            print(
                f"[{n}/{len(selected)}] {instance_id}: {'identical' if ok else 'DIFFERS'} "
                f"({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
        print(f"{len(selected) - failures} identical, {failures} differ")
        return 1 if failures else 0

    args.out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if (args.out / "registry.json").is_file():
        previous = {e.id: e for e in read_registry(args.out)}
    if args.missing:
        selected = [i for i in selected if not _present(args.out, previous.get(i))]
    total = time.perf_counter()
    for n, instance_id in enumerate(selected, 1):
        start = time.perf_counter()
        entry = freeze(instance_id, args.out)
        changed = instance_id in previous and previous[instance_id].sha256 != entry.sha256
        previous[instance_id] = entry
        write_registry([previous[i] for i in ids if i in previous], args.out)
        elapsed = time.perf_counter() - total
        eta = elapsed / n * (len(selected) - n)  # a rough guess: instances differ in cost
        print(
            f"[{n}/{len(selected)}] {instance_id}: {entry.sha256[:16]}"
            f"{' (CHANGED)' if changed else ''} ({time.perf_counter() - start:.1f} s, "
            f"ETA {eta:.0f} s)",
            flush=True,
        )
    write_registry([previous[i] for i in ids if i in previous], args.out)
    print(
        f"wrote {len(selected)} instances and registry.json in {time.perf_counter() - total:.0f} s"
    )
    return 0


def merge(folders: list[Path], out: Path) -> int:
    """Copy the registered files of `folders` into `out` and add them to its registry. Every
    file is checked (suite ID, sha256 as registered) before anything is written."""
    ids = suite_ids()
    registry = {e.id: e for e in read_registry(out)}
    taken = {}
    for folder in folders:
        for entry in read_registry(folder):
            if entry.id not in ids:
                raise SystemExit(f"{folder}: {entry.id} is not a suite ID; not merging anything")
            data = (folder / entry.file).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise SystemExit(f"{folder / entry.file}: sha256 differs from its registry entry")
            taken[entry.id] = (entry, data)
    for instance_id, (entry, data) in taken.items():
        write_bytes_atomic(out / entry.file, data)
        registry[instance_id] = entry
        print(f"merged {instance_id}: {entry.sha256[:16]}")
    write_registry([registry[i] for i in ids if i in registry], out)
    return 0


def _present(folder: Path, entry) -> bool:
    """Whether the registry entry's file is in `folder` with the registered sha256."""
    if entry is None or not (folder / entry.file).is_file():
        return False
    return file_sha256(folder / entry.file) == entry.sha256


if __name__ == "__main__":
    sys.exit(main())
