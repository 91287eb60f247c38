"""Instance IDs: ``family-pP[-variant]-vN``, e.g. ``construction-coupled-p12-v1``, or for
circuit families sized by qubits and layers ``family-nN-lL[-variant]-vN``, e.g.
``barren-plateau-n8-l98-v1`` (p = N L parameters; p = 2 N L for the families in
`ROTATIONS_PER_QUBIT_LAYER`, whose layers rotate every qubit twice).

`parse_instance_id` and `format_instance_id` are exact inverses. The version is required:
content under an ID never changes, a fix is a new version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qnntraps.errors import InvalidInstanceIdError

#: Parameters per qubit and layer of the n/l families that have more than one.
ROTATIONS_PER_QUBIT_LAYER = {"teacher-student": 2}

INSTANCE_ID_RE = re.compile(
    r"^(?P<family>[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*?)"
    r"(?:-p(?P<p>[1-9][0-9]*)|-n(?P<qubits>[1-9][0-9]*)-l(?P<layers>[1-9][0-9]*))"
    r"(?:-(?P<variant>[a-z][a-z0-9.]*))?"
    r"-v(?P<version>[1-9][0-9]*)$"
)


@dataclass(frozen=True)
class InstanceId:
    """The parts of an instance ID; `qubits` and `layers` are set for the n/l form, where
    p = qubits * layers (times ROTATIONS_PER_QUBIT_LAYER of the family, if listed)."""

    family: str
    p: int
    variant: str | None
    version: int
    qubits: int | None = None
    layers: int | None = None

    def __str__(self) -> str:
        return format_instance_id(self)


def parse_instance_id(text: str) -> InstanceId:
    """Split an ID into its parts; raises InvalidInstanceIdError if it is malformed."""
    match = INSTANCE_ID_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInstanceIdError(
            f"{text!r} is not an instance ID: expected family-pP[-variant]-vN or "
            "family-nN-lL[-variant]-vN, e.g. 'construction-p8-v1', 'construction-p8-noise0.05-v1' "
            "or 'barren-plateau-n8-l98-v1' (the version is required); "
            "run 'qnntraps list' to see every ID"
        )
    if match["p"] is None:
        qubits, layers = int(match["qubits"]), int(match["layers"])
        per = ROTATIONS_PER_QUBIT_LAYER.get(match["family"], 1)
        return InstanceId(
            match["family"],
            per * qubits * layers,
            match["variant"],
            int(match["version"]),
            qubits,
            layers,
        )
    return InstanceId(
        family=match["family"],
        p=int(match["p"]),
        variant=match["variant"],
        version=int(match["version"]),
    )


def format_instance_id(parts: InstanceId) -> str:
    """Join parts into an ID string (inverse of `parse_instance_id`)."""
    variant = f"-{parts.variant}" if parts.variant else ""
    if parts.qubits is not None:
        size = f"n{parts.qubits}-l{parts.layers}"
    else:
        size = f"p{parts.p}"
    return f"{parts.family}-{size}{variant}-v{parts.version}"
