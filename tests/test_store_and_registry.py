"""HDF5 format v1 round trips, byte reproducibility, and every error path of the loader."""

import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import qnntraps
from qnntraps.errors import (
    ChecksumMismatchError,
    CorruptFileError,
    InvalidInstanceIdError,
    MissingFileError,
    QnnTrapsError,
    RegistryError,
    UnknownInstanceError,
    UnsupportedFormatError,
)
from qnntraps.freeze import regenerated_sha256
from qnntraps.ids import InstanceId, format_instance_id, parse_instance_id
from qnntraps.registry import data_dir, file_sha256, find_entry, read_registry
from qnntraps.store import instance_bytes, read_instance, write_instance
from tests.assertions import assert_allclose


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of the registry and a few files, used through QNNTRAPS_DATA_DIR."""
    folder = tmp_path / "data"
    folder.mkdir()
    entries = read_registry()
    keep = [e for e in entries if e.id in ("construction-p4-v1", "construction-coupled-p6-v1")]
    for entry in keep:
        shutil.copy(data_dir() / entry.file, folder / entry.file)
    document = json.loads((data_dir() / "registry.json").read_text())
    document["instances"] = [
        row for row in document["instances"] if row["id"] in {e.id for e in keep}
    ]
    (folder / "registry.json").write_text(json.dumps(document))
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    return folder


def test_ids_round_trip():
    for text in [
        "construction-p8-v1",
        "construction-coupled-p12-v1",
        "construction-p8-noise0.05-v1",
        "construction-coupled-p16-noise0.1-v3",
    ]:
        assert format_instance_id(parse_instance_id(text)) == text
    assert parse_instance_id("construction-coupled-p12-v1") == InstanceId(
        "construction-coupled", 12, None, 1
    )
    assert parse_instance_id("construction-p8-noise0.05-v1").variant == "noise0.05"


@pytest.mark.parametrize(
    "bad",
    [
        "construction-p8",
        "construction-p8-v",
        "construction-p0-v1",
        "construction-8-v1",
        "Construction-p8-v1",
        "",
        "p8-v1",
        "construction-p8-v01",
    ],
)
def test_malformed_ids_are_rejected(bad):
    with pytest.raises(InvalidInstanceIdError, match="version is required"):
        parse_instance_id(bad)


def test_round_trip_preserves_every_field(tmp_path, load):
    original = load("construction-coupled-p4-noise0.05-v1")
    path = tmp_path / "copy.h5"
    write_instance(original, path)
    copy = read_instance(path)
    assert copy.id == original.id and copy.provenance == original.provenance
    for name in ("generators", "parameter_index", "fixed_angles"):
        assert np.array_equal(getattr(copy.ansatz, name), getattr(original.ansatz, name))
    assert np.array_equal(copy.observable.factors, original.observable.factors)
    assert np.array_equal(copy.dataset.labels, original.dataset.labels)
    assert np.array_equal(copy.dataset.noiseless_labels, original.dataset.noiseless_labels)
    assert np.array_equal(copy.dataset.inputs.pauli_codes, original.dataset.inputs.pauli_codes)
    for name in ("global_minimizer", "ladder_values", "ladder_counts", "planted_signs"):
        assert np.array_equal(getattr(copy.certificate, name), getattr(original.certificate, name))
    for name in (
        "kind",
        "global_min_value",
        "hit_tolerance",
        "method",
        "effort",
        "num_local_minima",
    ):
        assert getattr(copy.certificate, name) == getattr(original.certificate, name)
    assert path.read_bytes() == instance_bytes(original), "writing is not byte-reproducible"


def test_files_hold_no_python_names_or_timestamps(load):
    raw = instance_bytes(load("construction-p4-noise0.1-v1"))
    for marker in (b"qnntraps.", b"numpy", b"builtins", b"pickle", b"Instance"):
        assert marker not in raw


@pytest.mark.parametrize(
    "instance_id",
    [
        "construction-p6-v1",
        "construction-coupled-p10-v1",
        "construction-p4-noise0.01-v1",
        "construction-coupled-p8-noise0.1-v1",
        "separable-p2-v1",
        "teacher-student-n4-l1-v1",  # its multistart too: 64 starts of L-BFGS
        "teacher-student-n4-l2-v1",
    ],
)
def test_regeneration_reproduces_registered_bytes(instance_id):
    assert regenerated_sha256(instance_id) == find_entry(instance_id).sha256


def test_registry_lists_the_suite_and_hashes_match():
    entries = qnntraps.list_instances()
    ids = {e.id for e in entries}
    assert {f"construction-p{p}-v1" for p in range(2, 21, 2)} <= ids
    assert {f"construction-coupled-p{p}-v1" for p in range(4, 33, 2)} <= ids
    for family in ("construction", "construction-coupled"):
        for p in (4, 8, 12, 16):
            for noise in ("0.01", "0.05", "0.1"):
                assert f"{family}-p{p}-noise{noise}-v1" in ids
    for entry in entries:
        assert file_sha256(data_dir() / entry.file) == entry.sha256, entry.id
        expected_version = 2 if entry.family in ("barren-plateau", "teacher-student") else 1
        assert entry.format_version == expected_version, entry.id
        assert entry.p == parse_instance_id(entry.id).p


def test_list_filters():
    assert {e.p for e in qnntraps.list_instances(family="construction", noisy=False)} == set(
        range(2, 21, 2)
    )
    assert all("label-noise" in e.tags for e in qnntraps.list_instances(tag="label-noise"))
    assert [
        e.id for e in qnntraps.list_instances(family="construction-coupled", p=12, noisy=False)
    ] == ["construction-coupled-p12-v1"]
    assert [e.id for e in qnntraps.list_instances(min_p=30, max_p=32)] == [
        "construction-coupled-p30-v1",
        "construction-coupled-p32-v1",
        "teacher-student-n4-l4-v1",
    ]
    over = qnntraps.list_instances(family="teacher-student", tag="over-parameterized")
    assert over and all(e.p >= 2 ** (parse_instance_id(e.id).qubits + 1) - 2 for e in over)
    assert [e.p for e in qnntraps.list_instances(tag="gpu-scale")] == [40, 48, 56, 62]
    with pytest.raises(UnknownInstanceError, match="families are"):
        qnntraps.list_instances(family="constructoin")


def test_unknown_ids_suggest_close_matches():
    with pytest.raises(UnknownInstanceError, match="did you mean construction-p8-v1"):
        qnntraps.load("construction-p8-v7")
    with pytest.raises(UnknownInstanceError, match="construction-p8-v1"):
        qnntraps.load("constructoin-p8-v1")
    with pytest.raises(InvalidInstanceIdError):
        qnntraps.load("construction-p8")
    with pytest.raises(QnnTrapsError):  # every user error shares one base class
        qnntraps.load("nope-p1-v1")


def test_tampered_file_is_detected(data_copy):
    path = data_copy / "construction-p4-v1.h5"
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatchError, match="modified, truncated or replaced"):
        qnntraps.load("construction-p4-v1")
    assert qnntraps.load("construction-coupled-p6-v1").num_parameters == 6  # others still load


def test_truncated_file_is_detected(data_copy):
    path = data_copy / "construction-p4-v1.h5"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ChecksumMismatchError):
        qnntraps.load("construction-p4-v1")
    with pytest.raises(CorruptFileError, match="damaged or truncated"):
        read_instance(path)


def test_non_hdf5_file_is_detected(tmp_path):
    path = tmp_path / "x.h5"
    path.write_text("not an instance")
    with pytest.raises(CorruptFileError, match="not an HDF5 file"):
        read_instance(path)


def _rewrite_with(tmp_path, load, edit) -> Path:
    path = tmp_path / "edited.h5"
    write_instance(load("construction-p4-v1"), path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return path


def test_unsupported_format_version_is_detected(tmp_path, load):
    path = _rewrite_with(
        tmp_path, load, lambda f: f.attrs.__setitem__("format_version", np.int64(3))
    )
    with pytest.raises(UnsupportedFormatError, match="format version 3"):
        read_instance(path)


def test_foreign_hdf5_and_missing_parts_are_detected(tmp_path, load):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    with pytest.raises(CorruptFileError, match="not a qnntraps instance"):
        read_instance(foreign)
    path = _rewrite_with(tmp_path, load, lambda f: f.__delitem__("dataset/labels"))
    with pytest.raises(CorruptFileError, match="malformed"):
        read_instance(path)
    bad_codes = _rewrite_with(
        tmp_path, load, lambda f: f["ansatz/generators"].__setitem__((0, 0), 7)
    )
    with pytest.raises(CorruptFileError, match="Pauli codes"):
        read_instance(bad_codes)


def test_missing_file_and_broken_registry(data_copy):
    (data_copy / "construction-p4-v1.h5").unlink()
    with pytest.raises(MissingFileError):
        qnntraps.load("construction-p4-v1")
    (data_copy / "registry.json").write_text("{broken")
    with pytest.raises(RegistryError, match="not valid JSON"):
        qnntraps.load("construction-coupled-p6-v1")
    (data_copy / "registry.json").unlink()
    with pytest.raises(RegistryError, match="QNNTRAPS_DATA_DIR"):
        qnntraps.list_instances()


def test_file_swapped_under_another_id_is_detected(data_copy):
    """A file renamed to another ID, with the registry hash updated, still fails on its own id."""
    source = data_copy / "construction-coupled-p6-v1.h5"
    target = data_copy / "construction-p4-v1.h5"
    shutil.copy(source, target)
    document = json.loads((data_copy / "registry.json").read_text())
    for row in document["instances"]:
        if row["id"] == "construction-p4-v1":
            row["sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
    (data_copy / "registry.json").write_text(json.dumps(document))
    with pytest.raises(CorruptFileError, match="holds 'construction-coupled-p6-v1'"):
        qnntraps.load("construction-p4-v1")


def test_write_is_atomic_on_failure(tmp_path, load, monkeypatch):
    """A failure mid-write leaves an existing file untouched and no temporary behind."""
    from qnntraps import store

    path = tmp_path / "kept.h5"
    write_instance(load("construction-p4-v1"), path)
    before = path.read_bytes()

    def explode(f, instance):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_write_contents", explode)
    with pytest.raises(RuntimeError):
        write_instance(load("construction-p6-v1"), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.h5"]


def test_loaded_instances_are_immutable(load):
    instance = load("construction-p4-v1")
    with pytest.raises(ValueError):
        instance.dataset.labels[0] = 5.0
    with pytest.raises(AttributeError):
        instance.id = "x"  # type: ignore[misc]
    assert_allclose(instance.dataset.labels[:4], np.ones(4), 0.0, "pinning labels")
