"""The structural half of the instance reader: only the HDF5 objects format v1 defines.

`read_raw` takes the bytes of a file and returns its attributes and arrays as plain Python values
and NumPy arrays (a `RawFile`), after checking, in this order and before any data is read:

1. the bytes: size limit, HDF5 signature at offset 0, a version-2/3 superblock with 8-byte
   addresses, no superblock extension and an end-of-file address equal to the size, and every
   global heap collection (where variable-length strings live) walks to its end;
2. every object: hard links only (no soft, external or user-defined links), each object linked
   once, exactly the groups, datasets and attributes the format names (docs/format.md);
3. every attribute: a scalar of the exact type the format names (int64, uint64, float64 or a
   UTF-8/ASCII string of at most `max_string_bytes`);
4. every dataset: contiguous storage inside the file (no chunks, filters, external raw storage or
   virtual layout), the exact little-endian type, no attributes, and a shape that matches the
   root attributes n, p, m and the stated limits (`ReadLimits`).

Only then are the datasets read. Values (Pauli codes, finiteness, epsilon, the certificate) are
checked afterwards by `qnntraps.validation` on the `RawFile`, in the process that builds the
Instance. This module runs in the isolated reader process too (`qnntraps.sandbox`), so it imports
nothing from qnntraps except errors.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

import h5py
import numpy as np
from h5py import h5a, h5d, h5f, h5l, h5o, h5p, h5s, h5t

from qnntraps.errors import (
    CorruptFileError,
    ForbiddenObjectError,
    InvalidValueError,
    LimitExceededError,
    QnnTrapsError,
    UnsupportedFormatError,
)

FORMAT_NAME = "qnntraps-instance"
FORMAT_VERSION = 2  # the newest; a writer uses the lowest version that holds its instance
SUPPORTED_FORMAT_VERSIONS = (1, 2)
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNDEFINED_ADDRESS = 2**64 - 1
ADVICE = "restore it from the qnntraps release or regenerate it (tools/generate_instances.py)"


@dataclass(frozen=True)
class ReadLimits:
    """What the reader accepts at most; docs/format.md ("What a reader must refuse") lists them.

    The shipped suite stays far inside: n <= 62, p <= 3200, m <= 240, G <= 12,216, ladders of
    at most 65,536 values, files of at most 1.1 MB.
    """

    max_file_bytes: int = 64 * 2**20
    max_qubits: int = 64
    max_parameters: int = 4096
    max_samples: int = 4096  # the product form compiles in O(m^2) today (0.35 s at 4096)
    max_gates: int = 65_536
    max_terms: int = 65_536
    max_ladder: int = 2**20
    max_elements: int = 2**21  # per dataset
    max_string_bytes: int = 4096
    max_attributes: int = 16  # per object, except provenance/parameters
    max_provenance_parameters: int = 64
    max_links: int = 8  # per group
    max_abs_float: float = 1e6


LIMITS = ReadLimits()


@dataclass(frozen=True)
class Attr:
    """One scalar attribute: its exact stored type ('i8', 'u8', 'f8' or 'str') and value."""

    tag: str
    value: int | float | str


@dataclass(frozen=True)
class RawFile:
    """Everything an instance file holds, as plain values: attributes keyed by '/group/name'
    ('/format', '/certificate/kind', '/provenance/parameters/p') and arrays keyed by
    'group/name' ('ansatz/generators')."""

    attrs: Mapping[str, Attr] = field(default_factory=dict)
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)


# ---------------------------------------------------------------- the format's objects

ROOT_GROUPS = ("ansatz", "observable", "dataset", "certificate", "provenance")
ROOT_ATTRIBUTES = {
    "format": "str",
    "format_version": "i8",
    "id": "str",
    "num_qubits": "i8",
    "num_parameters": "i8",
    "num_samples": "i8",
}
# group -> (required attributes, optional attributes)
GROUP_ATTRIBUTES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "ansatz": ({}, {}),
    "observable": ({"form": "str"}, {}),
    "dataset": ({"input_form": "str"}, {"loss": "str"}),  # loss: version 2 only
    "certificate": (
        {
            "kind": "str",
            "global_min_value": "f8",
            "hit_tolerance": "f8",
            "method": "str",
            "effort": "str",
        },
        {
            "num_local_minima": "i8",
            # version 2 only
            "gradient_variance": "f8",
            "gradient_variance_method": "str",
            "gradient_variance_low": "f8",
            "gradient_variance_high": "f8",
            "gradient_variance_samples": "i8",
        },
    ),
    "provenance": ({"family": "str", "generator_version": "i8", "seed": "u8"}, {}),
}
PARAMETER_TAGS = ("i8", "u8", "f8", "str")
PARAMETER_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
OBSERVABLE_FORMS = ("product", "pauli_sum")
INPUT_FORMS = ("pauli_mixture", "encoded_features")

INT8 = np.dtype("int8")
INT64 = np.dtype("<i8")
UINT64 = np.dtype("<u8")
FLOAT64 = np.dtype("<f8")
_H5_TYPES = {INT8: h5t.STD_I8LE, INT64: h5t.STD_I64LE, FLOAT64: h5t.IEEE_F64LE}
_TAG_DTYPES = {"i8": INT64, "u8": UINT64, "f8": FLOAT64}

# dataset -> (dtype, dimensions); a dimension is a number or a symbol: n, p, m from the root
# attributes, 2n, and G (gates), K (Pauli-sum terms), L (ladder length) bound by first use.
DATASETS: dict[str, tuple[np.dtype, tuple[str | int, ...]]] = {
    "ansatz/generators": (INT8, ("G", "n")),
    "ansatz/parameter_index": (INT64, ("G",)),
    "ansatz/fixed_angles": (FLOAT64, ("G",)),
    "observable/factors": (FLOAT64, ("n", 4)),
    "observable/pauli_codes": (INT8, ("K", "n")),
    "observable/coefficients": (FLOAT64, ("K",)),
    "dataset/pauli_codes": (INT8, ("m", "n")),
    "dataset/epsilon": (FLOAT64, ("m",)),
    "dataset/features": (FLOAT64, ("m", "2n")),
    "dataset/labels": (FLOAT64, ("m",)),
    "dataset/noiseless_labels": (FLOAT64, ("m",)),
    "certificate/global_minimizer": (FLOAT64, ("p",)),
    "certificate/ladder_values": (FLOAT64, ("L",)),
    "certificate/ladder_counts": (INT64, ("L",)),
    "certificate/planted_signs": (INT8, ("p",)),
    "certificate/gradient_variance_by_depth": (FLOAT64, ("D",)),
}


def group_members(observable_form: str, input_form: str) -> dict[str, tuple[tuple, tuple]]:
    """group -> (required datasets, optional datasets) for the given forms, in reading order."""
    observable = ("factors",) if observable_form == "product" else ("pauli_codes", "coefficients")
    inputs = ("pauli_codes", "epsilon") if input_form == "pauli_mixture" else ("features",)
    return {
        "ansatz": (("generators", "parameter_index", "fixed_angles"), ()),
        "observable": (observable, ()),
        "dataset": ((*inputs, "labels"), ("noiseless_labels",)),
        "certificate": (
            ("global_minimizer",),
            ("ladder_values", "ladder_counts", "planted_signs", "gradient_variance_by_depth"),
        ),
        "provenance": ((), ()),
    }


def symbol_limits(limits: ReadLimits) -> dict[str, int]:
    return {
        "n": limits.max_qubits,
        "p": limits.max_parameters,
        "m": limits.max_samples,
        "G": limits.max_gates,
        "K": limits.max_terms,
        "L": limits.max_ladder,
        "D": limits.max_gates,
    }


SYMBOL_NAMES = {
    "n": "num_qubits",
    "p": "num_parameters",
    "m": "num_samples",
    "G": "the number of gates",
    "K": "the number of Pauli-sum terms",
    "L": "the ladder length",
    "D": "the number of layers",
}


def show(text) -> str:
    """A value for a one-line message: printable ASCII, at most 80 characters."""
    shown = ascii(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def bind_symbol(
    symbols: dict[str, int], symbol: str, value: int, where: str, name: str, limits: ReadLimits
) -> None:
    """Record the value of a dimension symbol, checking it against its limit (1 <= v <= max)."""
    maximum = symbol_limits(limits)[symbol]
    if value > maximum:
        raise LimitExceededError(
            f"{name}: {where} declares {SYMBOL_NAMES[symbol]} = {value}, above this reader's limit "
            f"of {maximum}; {ADVICE}"
        )
    if value < 1:
        raise InvalidValueError(
            f"{name}: {where} declares {SYMBOL_NAMES[symbol]} = {value}; it must be at least 1; "
            f"{ADVICE}"
        )
    symbols[symbol] = value


def expected_shape(
    path: str, shape: tuple[int, ...], symbols: dict[str, int], name: str, limits: ReadLimits
) -> None:
    """Check a dataset's declared shape against its dimension symbols (binding new ones)."""
    _, dims = DATASETS[path]
    if len(shape) != len(dims):
        raise CorruptFileError(
            f"{name}: {path} has {len(shape)} dimensions, the format says {len(dims)}; {ADVICE}"
        )
    for size, dim in zip(shape, dims, strict=True):
        if isinstance(dim, int):
            want = dim
        elif dim == "2n":
            want = 2 * symbols["n"]
        elif dim in symbols:
            want = symbols[dim]
        else:
            bind_symbol(symbols, dim, size, path, name, limits)
            want = size
        if size != want:
            raise CorruptFileError(
                f"{name}: {path} has shape {tuple(shape)}; the format says "
                f"{_described(dims, symbols)} from the file's other sizes; {ADVICE}"
            )
    elements = int(np.prod(shape, dtype=object))
    if elements > limits.max_elements:
        raise LimitExceededError(
            f"{name}: {path} declares {elements} elements, above this reader's limit of "
            f"{limits.max_elements}; {ADVICE}"
        )


def _described(dims, symbols) -> str:
    names = ", ".join(str(dim) for dim in dims)
    sizes = ", ".join(
        str(dim if isinstance(dim, int) else 2 * symbols["n"] if dim == "2n" else symbols[dim])
        for dim in dims
    )
    return f"({names}{',' if len(dims) == 1 else ''}) = ({sizes}{',' if len(dims) == 1 else ''})"


# ---------------------------------------------------------------- checks on the bytes


def check_image(data: bytes, name: str, limits: ReadLimits = LIMITS) -> None:
    """Cheap checks on the raw bytes before libhdf5 sees them."""
    if len(data) > limits.max_file_bytes:
        raise LimitExceededError(
            f"{name} is {len(data)} bytes, above this reader's limit of {limits.max_file_bytes}; "
            "instance files are small: it is not one"
        )
    if data[: len(HDF5_SIGNATURE)] != HDF5_SIGNATURE:
        raise CorruptFileError(
            f"{name} is not an HDF5 file (bad signature); re-install qnntraps or restore it"
        )
    if len(data) < 48:
        raise CorruptFileError(f"{name} is damaged or truncated HDF5 (no superblock); {ADVICE}")
    version, offsets, lengths = data[8], data[9], data[10]
    if version not in (2, 3):
        raise ForbiddenObjectError(
            f"{name} is HDF5 but not a qnntraps instance file: superblock version {version} "
            "(instance files are written with libver v110, superblock version 3)"
        )
    if (offsets, lengths) != (8, 8):
        raise ForbiddenObjectError(
            f"{name} uses {offsets}-byte addresses and {lengths}-byte lengths; the format uses 8; "
            f"{ADVICE}"
        )
    base, extension, end, root = struct.unpack_from("<4Q", data, 12)
    if base != 0 or extension != UNDEFINED_ADDRESS:
        raise ForbiddenObjectError(
            f"{name} has a base address or a superblock extension, which the format does not use; "
            f"{ADVICE}"
        )
    if end != len(data):
        raise CorruptFileError(
            f"{name} is damaged or truncated HDF5 (its superblock says {end} bytes, the file has "
            f"{len(data)}); {ADVICE}"
        )
    if not 48 <= root < len(data):
        raise CorruptFileError(f"{name} is damaged HDF5 (root group outside the file); {ADVICE}")
    check_global_heaps(data, name)
    check_object_headers(data, name, limits)


def check_global_heaps(data: bytes, name: str) -> None:
    """Walk every global heap collection in the file the way libhdf5 parses it.

    libhdf5 (2.0 and earlier) loops forever on a collection whose free-space object has size 0,
    or whose object sizes wrap the 64-bit size arithmetic, and no signal can interrupt it. Every
    collection libhdf5 could load starts with 'GCOL' and version 1, so scanning for those finds
    them all; a collection that would not walk to its end in strictly increasing steps is refused.
    """
    start = 0
    while (at := data.find(b"GCOL", start)) >= 0:
        start = at + 1
        if at + 16 > len(data) or data[at + 4] != 1:
            continue
        (size,) = struct.unpack_from("<Q", data, at + 8)
        if size > len(data) - at:
            continue  # libhdf5 refuses a collection running past the end of the file
        end = at + size
        position = at + 16
        while position + 16 <= end:
            index, _, _ = struct.unpack_from("<HHI", data, position)
            (object_size,) = struct.unpack_from("<Q", data, position + 8)
            if index > 0:
                step = (16 + ((object_size + 7) & ~7)) % 2**64
            else:
                step = object_size
            if step == 0 or position + step >= 2**64:
                raise ForbiddenObjectError(
                    f"{name} holds a global heap collection at byte {at} whose object list does "
                    f"not advance (libhdf5 would loop forever on it); {ADVICE}"
                )
            position += step


DENSE_STORAGE_SIGNATURES = (b"FRHP", b"BTHD")


def object_header_blocks(data: bytes) -> list[tuple[int, int, int, int]]:
    """(start, end, messages start, flags) of every version-2 object header block in the bytes:
    each 'OHDR' block and, through their continuation messages, each 'OCHK' block. The last 4
    bytes of a block are its lookup3 checksum. libhdf5 checks both signatures, so scanning for
    them finds every version-2 header it could parse."""
    blocks, pending = [], []
    at = data.find(b"OHDR")
    while at >= 0:
        block = _ohdr_block(data, at)
        if block is not None:
            blocks.append(block)
            pending += [(o, n, block[3]) for o, n in _continuations(data, block)]
        at = data.find(b"OHDR", at + 1)
    seen = set()
    while pending:
        offset, length, flags = pending.pop()
        if (offset, length) in seen or data[offset : offset + 4] != b"OCHK" or length < 8:
            continue
        seen.add((offset, length))
        block = (offset, offset + length, offset + 4, flags)
        blocks.append(block)
        pending += [(o, n, flags) for o, n in _continuations(data, block)]
    return blocks


def _ohdr_block(data: bytes, at: int) -> tuple[int, int, int, int] | None:
    if at + 6 > len(data) or data[at + 4] != 2:
        return None
    flags = data[at + 5]
    position = at + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    width = 1 << (flags & 3)
    if position + width > len(data):
        return None
    size = int.from_bytes(data[position : position + width], "little")
    start = position + width
    end = start + size + 4
    return None if end > len(data) else (at, end, start, flags)


def header_messages(data: bytes, block: tuple[int, int, int, int]):
    """(type, body start, body size) of each message of an object header block."""
    _, end, position, flags = block
    step = 6 if flags & 0x04 else 4  # creation order of each message, if tracked
    stop = end - 4
    while position + step <= stop:
        kind = data[position]
        size = int.from_bytes(data[position + 1 : position + 3], "little")
        body = position + step
        if body + size > stop:
            return
        yield kind, body, size
        position = body + size


def _continuations(data: bytes, block) -> list[tuple[int, int]]:
    found = []
    for kind, body, size in header_messages(data, block):
        if kind == 0x10 and size >= 16:
            offset, length = struct.unpack_from("<QQ", data, body)
            if offset + length <= len(data):
                found.append((offset, length))
    return found


def check_object_headers(data: bytes, name: str, limits: ReadLimits = LIMITS) -> None:
    """Refuse what makes libhdf5 spin or read without bound before a string is ever read.

    Every attribute message of every version-2 object header is decoded: a shared datatype or
    dataspace is refused (the format shares nothing), and a variable-length value whose stored
    length exceeds `max_string_bytes` is refused (libhdf5 2.0 works through a declared length of
    billions of bytes for minutes). Dense attribute or link storage (fractal heaps, v2 B-trees),
    which the format's small groups never need, is refused as a whole.
    """
    for signature in DENSE_STORAGE_SIGNATURES:
        if signature in data:
            raise ForbiddenObjectError(
                f"{name} uses dense attribute or link storage ({signature.decode()}); the format "
                f"keeps every group's links and attributes in its object header; {ADVICE}"
            )
    for block in object_header_blocks(data):
        for kind, body, size in header_messages(data, block):
            if kind == 0x0C:
                _check_attribute_message(data[body : body + size], name, limits)


def _check_attribute_message(message: bytes, name: str, limits: ReadLimits) -> None:
    refuse = ForbiddenObjectError(
        f"{name} holds an attribute message this reader cannot check (shared or malformed); "
        f"{ADVICE}"
    )
    if len(message) < 8:
        raise refuse
    version, flags = message[0], message[1]
    name_size, type_size, space_size = struct.unpack_from("<HHH", message, 2)
    if version not in (1, 2, 3) or flags & 0x03:
        raise refuse
    if version == 1:
        sizes = [(s + 7) & ~7 for s in (name_size, type_size, space_size)]
        position = 8
    else:
        sizes = [name_size, type_size, space_size]
        position = 8 if version == 2 else 9
    type_at = position + sizes[0]
    space_at = type_at + sizes[1]
    value_at = space_at + sizes[2]
    if value_at > len(message) or type_size < 8 or space_size < 2:
        raise refuse
    if message[type_at] & 0x0F != h5t.VLEN:
        return
    elements = _dataspace_elements(message[space_at : space_at + space_size])
    if elements is None or value_at + 16 * elements > len(message):
        raise refuse
    for k in range(elements):
        (length,) = struct.unpack_from("<I", message, value_at + 16 * k)
        if length > limits.max_string_bytes:
            raise LimitExceededError(
                f"{name} declares a variable-length attribute value of {length} bytes, above "
                f"this reader's limit of {limits.max_string_bytes}; {ADVICE}"
            )


def _dataspace_elements(space: bytes) -> int | None:
    """The number of elements a dataspace message describes (None if it cannot be decoded)."""
    version, rank = space[0], space[1]
    if version == 1:
        dims_at, kind = 8, (0 if rank == 0 else 1)
    elif version == 2 and len(space) >= 4:
        dims_at, kind = 4, space[3]
    else:
        return None
    if kind == 2:
        return 0
    if kind == 0:
        return 1
    if kind != 1 or rank > 32 or dims_at + 8 * rank > len(space):
        return None
    count = 1
    for d in struct.unpack_from(f"<{rank}Q", space, dims_at):
        count *= d
    return count if count <= 2**20 else None


# ---------------------------------------------------------------- opening and walking


def open_image(data: bytes) -> h5py.File:
    """Open HDF5 bytes in memory, read-only: the bytes that were hashed are the bytes parsed."""
    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5f.CLOSE_STRONG)
    fapl.set_fapl_core(4096, False)
    fapl.set_file_image(data)
    return h5py.File(h5f.open(b"qnntraps-instance-image", h5f.ACC_RDONLY, fapl=fapl))


def read_raw(data: bytes, name: str, limits: ReadLimits = LIMITS) -> RawFile:
    """Check and read an instance file's bytes; raises a typed CorruptFileError saying why not."""
    check_image(data, name, limits)
    try:
        handle = open_image(data)
    except Exception as error:  # libhdf5 refuses it: any damage shows up here
        raise CorruptFileError(
            f"{name} is damaged or truncated HDF5 ({_short(error)}); {ADVICE}"
        ) from error
    try:
        with handle:
            return _walk(handle, name, limits, len(data))
    except QnnTrapsError:
        raise
    except Exception as error:  # libhdf5 or h5py failing on a malformed object
        raise CorruptFileError(
            f"{name} is a malformed qnntraps instance ({_short(error)}); {ADVICE}"
        ) from error


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _walk(f: h5py.File, name: str, limits: ReadLimits, size: int) -> RawFile:
    attrs: dict[str, Attr] = {}
    arrays: dict[str, np.ndarray] = {}
    _check_object(f.id, "/", h5o.TYPE_GROUP, name, limits.max_attributes)
    _read_root_attributes(f, name, limits, attrs)
    symbols: dict[str, int] = {}
    for attribute, symbol in (("num_qubits", "n"), ("num_parameters", "p"), ("num_samples", "m")):
        bind_symbol(
            symbols, symbol, attrs[f"/{attribute}"].value, f"attribute {attribute}", name, limits
        )

    groups = _links(f, "/", name, limits)
    if set(groups) != set(ROOT_GROUPS):
        raise _unexpected_members(name, "/", groups, ROOT_GROUPS)
    opened = {}
    for group in ROOT_GROUPS:
        opened[group] = _open_child(f, group, "/", h5o.TYPE_GROUP, name, limits.max_attributes)
        required, optional = GROUP_ATTRIBUTES[group]
        _read_attributes(opened[group], f"/{group}", required, optional, name, limits, attrs)
    forms = {}
    for group, key, known in (
        ("observable", "form", OBSERVABLE_FORMS),
        ("dataset", "input_form", INPUT_FORMS),
    ):
        value = attrs[f"/{group}/{key}"].value
        if value not in known:
            raise InvalidValueError(
                f"{name}: /{group} attribute {key} is {show(value)}; the format knows "
                f"{', '.join(known)}; {ADVICE}"
            )
        forms[group] = value
    members = group_members(forms["observable"], forms["dataset"])
    for group in ROOT_GROUPS:
        required, optional = members[group]
        children = _links(opened[group], f"/{group}", name, limits)
        allowed = (*required, *optional) if group != "provenance" else ("parameters",)
        if not set(required) <= set(children) <= set(allowed) or (
            group == "provenance" and children != ["parameters"]
        ):
            raise _unexpected_members(name, f"/{group}", children, allowed)
        if group == "certificate" and (
            ("ladder_values" in children) != ("ladder_counts" in children)
        ):
            raise CorruptFileError(
                f"{name}: /certificate has only one of ladder_values and ladder_counts; the "
                f"format stores both or neither; {ADVICE}"
            )
        if group == "provenance":
            _read_parameters(opened[group], name, limits, attrs)
            continue
        for member in (*required, *optional):
            if member in children:
                path = f"{group}/{member}"
                arrays[path] = _read_dataset(
                    opened[group], member, path, symbols, name, limits, size
                )
    return RawFile(attrs=attrs, arrays=arrays)


def _unexpected_members(name, where, found, allowed) -> CorruptFileError:
    extra = sorted(set(found) - set(allowed))
    missing = sorted(set(allowed) - set(found))
    if extra:
        return ForbiddenObjectError(
            f"{name}: {where} holds {', '.join(show(e) for e in extra[:5])}, which the format "
            f"does not define there; {ADVICE}"
        )
    return CorruptFileError(
        f"{name} is a malformed qnntraps instance: {where} lacks {', '.join(missing)}; {ADVICE}"
    )


def _check_object(oid, where: str, kind: int, name: str, max_attributes: int) -> None:
    info = h5o.get_info(oid)
    if info.type != kind:
        what = {h5o.TYPE_GROUP: "group", h5o.TYPE_DATASET: "dataset"}[kind]
        raise ForbiddenObjectError(f"{name}: {where} is not a {what}, as the format says; {ADVICE}")
    if info.rc != 1:
        raise ForbiddenObjectError(
            f"{name}: {where} is linked {info.rc} times; every object of the format is linked "
            f"once; {ADVICE}"
        )
    if kind == h5o.TYPE_GROUP and info.hdr.version != 2:
        raise ForbiddenObjectError(
            f"{name}: {where} has a version-1 object header; the format's groups use version 2 "
            f"(libver v110), whose attributes can be checked before they are read; {ADVICE}"
        )
    if info.num_attrs > max_attributes:
        raise LimitExceededError(
            f"{name}: {where} has {info.num_attrs} attributes, above this reader's limit of "
            f"{max_attributes}; {ADVICE}"
        )


def _links(group: h5py.Group, where: str, name: str, limits: ReadLimits) -> list[str]:
    """Names of a group's links, after checking that there are few and all are hard links."""
    count = group.id.get_num_objs()
    if count > limits.max_links:
        raise LimitExceededError(
            f"{name}: {where} has {count} members, above this reader's limit of "
            f"{limits.max_links}; {ADVICE}"
        )
    names = []
    for index in range(count):
        raw_name = group.id.get_objname_by_idx(index)
        link_type = group.id.links.get_info(raw_name).type
        shown = show(
            raw_name.decode("utf-8", "replace") if isinstance(raw_name, bytes) else raw_name
        )
        if link_type == h5l.TYPE_EXTERNAL:
            raise ForbiddenObjectError(
                f"{name}: {where} member {shown} is an external link (to another file, which no "
                f"hash covers); the format allows none; {ADVICE}"
            )
        if link_type == h5l.TYPE_SOFT:
            raise ForbiddenObjectError(
                f"{name}: {where} member {shown} is a soft link; the format allows only hard "
                f"links; {ADVICE}"
            )
        if link_type != h5l.TYPE_HARD:
            raise ForbiddenObjectError(
                f"{name}: {where} member {shown} is a user-defined link; the format allows only "
                f"hard links; {ADVICE}"
            )
        names.append(raw_name.decode("utf-8") if isinstance(raw_name, bytes) else raw_name)
    return names


def _open_child(
    group: h5py.Group, member: str, where: str, kind: int, name: str, max_attributes: int
):
    # a hard link (checked by _links): nothing outside the file is touched
    oid = h5o.open(group.id, member.encode("utf-8"))
    path = f"{where.rstrip('/')}/{member}"
    _check_object(oid, path, kind, name, max_attributes)
    return h5py.Group(oid) if kind == h5o.TYPE_GROUP else h5py.Dataset(oid)


def _read_root_attributes(f: h5py.File, name: str, limits: ReadLimits, attrs: dict) -> None:
    present = _attribute_names(f, "/", name, limits.max_attributes)
    fmt = _read_attribute(f, "format", "/", "str", name, limits) if "format" in present else None
    if fmt is None or fmt.value != FORMAT_NAME:
        shown = show(fmt.value) if fmt is not None else "missing"
        raise CorruptFileError(
            f"{name} is HDF5 but not a qnntraps instance (format {shown}); use a file made by "
            "qnntraps"
        )
    if "format_version" not in present:
        raise CorruptFileError(f"{name} has no format_version attribute; {ADVICE}")
    version = _read_attribute(f, "format_version", "/", "i8", name, limits)
    if version.value not in SUPPORTED_FORMAT_VERSIONS:
        raise UnsupportedFormatError(
            f"{name} has format version {version.value!r}; this qnntraps reads "
            f"{SUPPORTED_FORMAT_VERSIONS}: upgrade qnntraps to read it"
        )
    _read_attributes(f, "", ROOT_ATTRIBUTES, {}, name, limits, attrs, present)


def _attribute_names(obj, where: str, name: str, maximum: int) -> list[str]:
    count = h5o.get_info(obj.id).num_attrs
    if count > maximum:
        raise LimitExceededError(
            f"{name}: {where} has {count} attributes, above this reader's limit of {maximum}; "
            f"{ADVICE}"
        )
    return list(obj.attrs)


def _read_attributes(
    obj,
    where: str,
    required: dict,
    optional: dict,
    name: str,
    limits: ReadLimits,
    attrs: dict,
    present: list[str] | None = None,
) -> None:
    present = (
        _attribute_names(obj, where or "/", name, limits.max_attributes)
        if present is None
        else present
    )
    allowed = {**required, **optional}
    extra = sorted(set(present) - set(allowed))
    if extra:
        raise ForbiddenObjectError(
            f"{name}: {where or '/'} has attribute(s) {', '.join(show(e) for e in extra[:5])}, "
            f"which the format does not define; {ADVICE}"
        )
    missing = sorted(set(required) - set(present))
    if missing:
        raise CorruptFileError(
            f"{name} is a malformed qnntraps instance: {where or '/'} lacks attribute(s) "
            f"{', '.join(missing)}; {ADVICE}"
        )
    for attribute, tag in allowed.items():
        if attribute in present:
            attrs[f"{where}/{attribute}"] = _read_attribute(
                obj, attribute, where or "/", tag, name, limits
            )


def _read_parameters(provenance: h5py.Group, name: str, limits: ReadLimits, attrs: dict) -> None:
    parameters = _open_child(
        provenance,
        "parameters",
        "/provenance",
        h5o.TYPE_GROUP,
        name,
        limits.max_provenance_parameters,
    )
    if _links(parameters, "/provenance/parameters", name, limits):
        raise ForbiddenObjectError(
            f"{name}: /provenance/parameters holds groups or datasets; the format stores only "
            f"attributes there; {ADVICE}"
        )
    names = _attribute_names(
        parameters, "/provenance/parameters", name, limits.max_provenance_parameters
    )
    for parameter in names:
        if not PARAMETER_NAME.fullmatch(parameter):
            raise InvalidValueError(
                f"{name}: /provenance/parameters has an attribute named {show(parameter)}; "
                f"parameter names are lower-case identifiers; {ADVICE}"
            )
        attrs[f"/provenance/parameters/{parameter}"] = _read_attribute(
            parameters, parameter, "/provenance/parameters", None, name, limits
        )


def _attribute_tag(tid) -> str | None:
    """The format's name of an attribute type, or None when the format has no such type."""
    kind = tid.get_class()
    if kind == h5t.INTEGER and tid.get_size() == 8 and tid.get_order() == h5t.ORDER_LE:
        return "i8" if tid.get_sign() == h5t.SGN_2 else "u8"
    if kind == h5t.FLOAT and tid.equal(h5t.IEEE_F64LE):
        return "f8"
    if kind == h5t.STRING and tid.get_cset() in (h5t.CSET_ASCII, h5t.CSET_UTF8):
        return "str"
    return None


TAG_WORDS = {"i8": "int64", "u8": "uint64", "f8": "float64", "str": "string"}


def _read_attribute(
    obj, attribute: str, where: str, tag: str | None, name: str, limits: ReadLimits
) -> Attr:
    """Read one scalar attribute whose type must be `tag` (any of PARAMETER_TAGS if None)."""
    aid = h5a.open(obj.id, attribute.encode("utf-8"))
    label = f"{where.rstrip('/')}/{attribute}" if where != "/" else f"/{attribute}"
    if aid.get_space().get_simple_extent_type() != h5s.SCALAR:
        raise CorruptFileError(
            f"{name}: attribute {label} is not a scalar; the format stores one value; {ADVICE}"
        )
    tid = aid.get_type()
    found = _attribute_tag(tid)
    wanted = (tag,) if tag else PARAMETER_TAGS
    if found not in wanted:
        raise InvalidValueError(
            f"{name}: attribute {label} has the wrong type; the format says "
            f"{' or '.join(TAG_WORDS[t] for t in wanted)}; {ADVICE}"
        )
    if found == "str":
        return Attr("str", _read_string(obj, attribute, tid, label, name, limits))
    value = np.empty((), dtype=_TAG_DTYPES[found])
    aid.read(value)
    return Attr(found, value.item())


def _read_string(obj, attribute: str, tid, label: str, name: str, limits: ReadLimits) -> str:
    if not tid.is_variable_str() and tid.get_size() > limits.max_string_bytes:
        raise LimitExceededError(
            f"{name}: attribute {label} is {tid.get_size()} bytes, above this reader's limit of "
            f"{limits.max_string_bytes}; {ADVICE}"
        )
    value = obj.attrs[attribute]
    if isinstance(value, np.bytes_ | bytes):
        value = bytes(value)
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidValueError(f"{name}: attribute {label} is not UTF-8; {ADVICE}") from error
    if not isinstance(value, str):
        raise InvalidValueError(f"{name}: attribute {label} is not a string; {ADVICE}")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidValueError(f"{name}: attribute {label} is not UTF-8; {ADVICE}") from error
    if len(encoded) > limits.max_string_bytes:
        raise LimitExceededError(
            f"{name}: attribute {label} is {len(encoded)} bytes, above this reader's limit of "
            f"{limits.max_string_bytes}; {ADVICE}"
        )
    return value


def _read_dataset(
    group: h5py.Group,
    member: str,
    path: str,
    symbols: dict,
    name: str,
    limits: ReadLimits,
    size: int,
) -> np.ndarray:
    """Check a dataset's storage, type and shape; read it only if every check passes."""
    dataset = _open_child(
        group, member, f"/{path.split('/')[0]}", h5o.TYPE_DATASET, name, limits.max_attributes
    )
    dsid = dataset.id
    dcpl = dsid.get_create_plist()
    layout = dcpl.get_layout()
    if layout == h5d.VIRTUAL:
        raise ForbiddenObjectError(
            f"{name}: /{path} is a virtual dataset (its data comes from other files); the format "
            f"allows none; {ADVICE}"
        )
    if dcpl.get_external_count() > 0:
        raise ForbiddenObjectError(
            f"{name}: /{path} keeps its data in external files, which no hash covers; the format "
            f"allows none; {ADVICE}"
        )
    if dcpl.get_nfilters() > 0:
        raise ForbiddenObjectError(
            f"{name}: /{path} uses filters (compression); the format allows none; {ADVICE}"
        )
    if layout != h5d.CONTIGUOUS:
        raise ForbiddenObjectError(
            f"{name}: /{path} uses {'chunked' if layout == h5d.CHUNKED else 'compact'} storage; "
            f"the format stores datasets contiguously; {ADVICE}"
        )
    dtype, _ = DATASETS[path]
    tid = dsid.get_type()
    kind = tid.get_class()
    if kind in (h5t.VLEN, h5t.STRING, h5t.REFERENCE, h5t.OPAQUE, h5t.COMPOUND, h5t.ARRAY):
        raise ForbiddenObjectError(
            f"{name}: /{path} has a variable-length, string, reference or compound type; the "
            f"format stores {_dtype_word(dtype)}; {ADVICE}"
        )
    if tid.committed() or not tid.equal(_H5_TYPES[dtype]):
        raise InvalidValueError(f"{name}: /{path} is not stored as {_dtype_word(dtype)}; {ADVICE}")
    space = dsid.get_space()
    if space.get_simple_extent_type() != h5s.SIMPLE:
        raise CorruptFileError(f"{name}: /{path} is not an array; {ADVICE}")
    shape = tuple(int(d) for d in space.shape)
    maximum = space.get_simple_extent_dims(True)
    if tuple(int(d) for d in maximum) != shape:
        raise ForbiddenObjectError(
            f"{name}: /{path} is resizable; the format's datasets have a fixed shape; {ADVICE}"
        )
    expected_shape(path, shape, symbols, name, limits)
    if h5o.get_info(dsid).num_attrs:
        raise ForbiddenObjectError(
            f"{name}: /{path} has attributes; the format defines none on datasets; {ADVICE}"
        )
    nbytes = int(np.prod(shape)) * dtype.itemsize
    offset = dsid.get_offset()
    if dsid.get_storage_size() != nbytes or offset is None or offset + nbytes > size:
        raise CorruptFileError(
            f"{name}: /{path} does not have its {nbytes} bytes of data inside the file; {ADVICE}"
        )
    out = np.empty(shape, dtype=dtype)
    dsid.read(h5s.ALL, h5s.ALL, out)
    return out


def _dtype_word(dtype: np.dtype) -> str:
    return {INT8: "int8", INT64: "little-endian int64", FLOAT64: "little-endian float64"}[dtype]
