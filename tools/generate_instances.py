#!/usr/bin/env python3
"""(Re)generate the frozen instance files and instances/registry.json from the generators.

    python tools/generate_instances.py            # write every suite instance and the registry
    python tools/generate_instances.py --check    # regenerate in memory, compare with the files
    python tools/generate_instances.py --only construction-p8-v1 ...

Generation is deterministic: seeds come from the IDs (qnntraps/seeds.py), files carry no
timestamps, so a run on the same versions of numpy/torch/h5py reproduces every byte.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from qnntraps.families.catalogue import suite_ids
from qnntraps.freeze import freeze, regenerated_sha256
from qnntraps.registry import read_registry, write_registry

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "instances", help="instances folder")
    parser.add_argument("--only", nargs="+", metavar="ID", help="just these IDs")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)

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
    total = time.perf_counter()
    for n, instance_id in enumerate(selected, 1):
        start = time.perf_counter()
        entry = freeze(instance_id, args.out)
        changed = instance_id in previous and previous[instance_id].sha256 != entry.sha256
        previous[instance_id] = entry
        print(
            f"[{n}/{len(selected)}] {instance_id}: {entry.sha256[:16]}"
            f"{' (CHANGED)' if changed else ''} ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )
    write_registry([previous[i] for i in ids if i in previous], args.out)
    print(
        f"wrote {len(selected)} instances and registry.json in {time.perf_counter() - total:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
