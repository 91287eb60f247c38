"""Freezing instances into files + registry entries, and checking that regeneration reproduces them."""

from __future__ import annotations

import hashlib
from pathlib import Path

from qnntraps.families.catalogue import build_instance, tags_for
from qnntraps.ids import parse_instance_id
from qnntraps.registry import RegistryEntry
from qnntraps.store import format_version_for, instance_bytes, write_instance


def registry_entry(instance_id: str, sha256: str, format_version: int) -> RegistryEntry:
    """The registry line of a suite instance whose file has this sha256 and format version."""
    parts = parse_instance_id(instance_id)
    return RegistryEntry(
        id=instance_id,
        file=f"{instance_id}.h5",
        sha256=sha256,
        format_version=format_version,
        family=parts.family,
        p=parts.p,
        variant=parts.variant,
        tags=tuple(tags_for(instance_id)),
    )


def freeze(instance_id: str, folder: Path) -> RegistryEntry:
    """Generate an instance, write it into `folder`, and return its registry entry."""
    instance = build_instance(instance_id)
    path = folder / f"{instance_id}.h5"
    write_instance(instance, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return registry_entry(instance_id, digest, format_version_for(instance))


def regenerated_sha256(instance_id: str) -> str:
    """sha256 of the bytes the generator produces now for `instance_id`."""
    return hashlib.sha256(instance_bytes(build_instance(instance_id))).hexdigest()
