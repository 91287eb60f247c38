"""Hostile instance files for the reader's tests: each one is a valid instance edited the way an
attacker would, plus a data folder whose registry pins the edited bytes (so the sha256 check
passes and the reader itself is exercised)."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np

from qnntraps.registry import read_registry, shipped_data_dir
from qnntraps.store import write_instance

BASE_ID = "construction-p4-v1"


def base_file(folder: Path, instance_id: str = BASE_ID) -> Path:
    """A fresh copy of a shipped file, named as in the registry."""
    folder.mkdir(parents=True, exist_ok=True)
    entry = next(e for e in read_registry(shipped_data_dir()) if e.id == instance_id)
    target = folder / entry.file
    shutil.copyfile(shipped_data_dir() / entry.file, target)
    return target


def edited(folder: Path, edit: Callable[[h5py.File, Path], None], instance_id=BASE_ID) -> Path:
    """A copy of a shipped file changed in place by `edit(f, folder)` (h5py, mode r+)."""
    path = base_file(folder, instance_id)
    with h5py.File(path, "r+") as f:
        edit(f, folder)
    return path


def rewritten(folder: Path, instance, instance_id=BASE_ID) -> Path:
    """`instance` written by the package's own writer under the file name of `instance_id`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{instance_id}.h5"
    write_instance(instance, path)
    return path


def pin(folder: Path, files: dict[str, Path] | None = None) -> Path:
    """Write `folder`/registry.json pinning the current bytes of `files` (id -> path)."""
    shipped = {e.id: e for e in read_registry(shipped_data_dir())}
    rows = []
    for instance_id, path in (files or {BASE_ID: folder / f"{BASE_ID}.h5"}).items():
        entry = shipped[instance_id]
        rows.append(
            {
                "id": instance_id,
                "file": path.name,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "format_version": 1,
                "family": entry.family,
                "p": entry.p,
                "variant": entry.variant,
                "tags": list(entry.tags),
            }
        )
    document = {"format": "qnntraps-registry", "version": 1, "instances": rows}
    (folder / "registry.json").write_text(json.dumps(document, indent=1))
    return folder


# ---------------------------------------------------------------- the attacks


def move_certificate_behind_external_link(f: h5py.File, folder: Path) -> None:
    """The certificate lives in a side file no hash covers, with hit_tolerance = 10."""
    side = folder / "side.h5"
    with h5py.File(side, "w") as g:
        f.copy(f["certificate"], g, "certificate")
        g["certificate"].attrs["hit_tolerance"] = 10.0
    del f["certificate"]
    f["certificate"] = h5py.ExternalLink("side.h5", "/certificate")


def labels_in_external_storage(f: h5py.File, folder: Path, source: Path | None = None) -> None:
    """dataset/labels read from raw bytes of another file (any local file)."""
    labels = f["dataset/labels"][()]
    if source is None:
        source = folder / "labels.bin"
        source.write_bytes(np.full(labels.shape, 7.0).tobytes())
    del f["dataset/labels"]
    f.create_dataset(
        "dataset/labels",
        shape=labels.shape,
        dtype="<f8",
        external=[(str(source), 0, h5py.h5f.UNLIMITED)],
    )


def labels_as_soft_link(f: h5py.File, folder: Path) -> None:
    del f["dataset/labels"]
    f["dataset/labels"] = h5py.SoftLink("/dataset/epsilon")


def labels_as_hard_alias(f: h5py.File, folder: Path) -> None:
    """One object under two names: labels is the epsilon dataset."""
    del f["dataset/labels"]
    f["dataset/labels"] = f["dataset/epsilon"]


def labels_as_virtual_dataset(f: h5py.File, folder: Path) -> None:
    labels = f["dataset/labels"][()]
    side = folder / "virtual-source.h5"
    with h5py.File(side, "w") as g:
        g["x"] = np.full(labels.shape, 3.0)
    layout = h5py.VirtualLayout(shape=labels.shape, dtype="<f8")
    layout[:] = h5py.VirtualSource(str(side), "x", shape=labels.shape)
    del f["dataset/labels"]
    f.create_virtual_dataset("dataset/labels", layout)


def labels_as_variable_length(f: h5py.File, folder: Path) -> None:
    labels = f["dataset/labels"][()]
    del f["dataset/labels"]
    data = f.create_dataset("dataset/labels", shape=labels.shape, dtype=h5py.vlen_dtype("<f8"))
    for k, value in enumerate(labels):
        data[k] = np.array([value])


def labels_gzip_compressed(f: h5py.File, folder: Path) -> None:
    labels = f["dataset/labels"][()]
    del f["dataset/labels"]
    f.create_dataset("dataset/labels", data=labels, compression="gzip", chunks=labels.shape)


def gzip_bomb_ladder(f: h5py.File, folder: Path) -> None:
    """A ladder of 10^8 zeros (800 MB) in a few hundred kilobytes of gzip."""
    del f["certificate/ladder_values"]
    del f["certificate/ladder_counts"]
    for name, dtype in (("ladder_values", "<f8"), ("ladder_counts", "<i8")):
        data = f.create_dataset(
            f"certificate/{name}", shape=(10**8,), dtype=dtype, compression="gzip", chunks=(2**20,)
        )
        data[: 2**20] = 0


def huge_declared_ladder(f: h5py.File, folder: Path) -> None:
    """Ladder datasets declaring 10^13 elements (80 TB), contiguous and never written."""
    del f["certificate/ladder_values"]
    del f["certificate/ladder_counts"]
    f.create_dataset("certificate/ladder_values", shape=(10**13,), dtype="<f8")
    f.create_dataset("certificate/ladder_counts", shape=(10**13,), dtype="<i8")


def huge_declared_chunked(f: h5py.File, folder: Path) -> None:
    del f["dataset/labels"]
    f.create_dataset("dataset/labels", shape=(10**13,), dtype="<f8", chunks=(1024,))


def set_attr(group: str, name: str, value) -> Callable[[h5py.File, Path], None]:
    def edit(f: h5py.File, folder: Path) -> None:
        f[group].attrs[name] = value

    return edit


def set_data(path: str, value, dtype=None) -> Callable[[h5py.File, Path], None]:
    """Replace a dataset by `value` (dtype kept unless given)."""

    def edit(f: h5py.File, folder: Path) -> None:
        old = f[path][()]
        new = np.array(value(old) if callable(value) else value, dtype=dtype or old.dtype)
        del f[path]
        f.create_dataset(path, data=new)

    return edit


def extra_dataset(f: h5py.File, folder: Path) -> None:
    f["dataset/extra"] = np.zeros(3)


# ---------------------------------------------------------------- raw HDF5 surgery


def global_heap_offset(data: bytes) -> int:
    return data.index(b"GCOL")


def spinning_global_heap(data: bytes) -> bytes:
    """Set the size of the global heap's free-space object to 0: libhdf5 (2.0) then loops
    forever in its heap parser the first time a string attribute is read."""
    at = global_heap_offset(data)
    (size,) = struct.unpack_from("<Q", data, at + 8)
    position = at + 16
    while True:
        index = struct.unpack_from("<H", data, position)[0]
        (object_size,) = struct.unpack_from("<Q", data, position + 8)
        if index == 0:
            break
        position += 16 + ((object_size + 7) & ~7)
    out = bytearray(data)
    out[position + 8 : position + 16] = struct.pack("<Q", 0)
    return bytes(out)


def file_at_every_limit(path: Path) -> Path:
    """A valid file at every limit of the reader at once: n = p = 64 (the qubit limit; the
    parameter limit, 4096, needs a deeper circuit: tests/test_barren_plateau.py), m = 4096
    samples and a ladder of 2^20 rungs (17 MB). Its certificate is right: L >= 0 and L(0) = 0."""
    from qnntraps.hdf5_reader import LIMITS
    from qnntraps.instance import (
        Ansatz,
        Certificate,
        Dataset,
        Instance,
        PauliMixtureStates,
        ProductObservable,
        Provenance,
    )

    n = p = LIMITS.max_qubits
    m = LIMITS.max_samples
    rungs = LIMITS.max_ladder
    codes = np.random.default_rng(1).integers(0, 3, size=(m, n)).astype(np.int8)
    codes[:, 0] = 1
    instance = Instance(
        f"construction-p{p}-v1",
        Ansatz(n, p, np.diag(np.full(p, 3)).astype(np.int8), np.arange(p), np.zeros(p)),
        ProductObservable(np.tile([1.0, 0.0, 1.0, 0.0], (n, 1))),
        Dataset(PauliMixtureStates(codes, np.full(m, 0.5)), np.ones(m)),
        Certificate(
            "analytic",
            0.0,
            np.zeros(p),
            1e-7,
            "test",
            "test",
            num_local_minima=2**62,
            ladder_values=np.arange(rungs) * 1e-6,
            ladder_counts=np.full(rungs, 2**62 // rungs),
        ),
        Provenance("construction", 1, 5, (("p", p),)),
    )
    write_instance(instance, path)
    return path
