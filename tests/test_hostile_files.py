"""Files and registries that try to lie: each attack ends in a typed, one-line, useful error.

Every hostile file is pinned by a registry in a private data folder (QNNTRAPS_DATA_DIR), so the
sha256 check passes and the reader itself is what refuses it, through `qnntraps.load` (which
parses unpinned bytes in the isolated child process) and in process (`isolate=False`).
"""

import json
import os
import sys

import h5py
import numpy as np
import pytest

import qnntraps
from qnntraps import sandbox
from qnntraps.cli import main
from qnntraps.errors import (
    CertificateError,
    CorruptFileError,
    ForbiddenObjectError,
    InvalidValueError,
    LimitExceededError,
    QnnTrapsError,
    ReaderCrashedError,
    ReadTimeoutError,
    RegistryError,
)
from qnntraps.store import read_instance
from tests import hdf5_craft as craft

BASE = craft.BASE_ID
RESTORE = "restore it from the qnntraps release"


def assert_useful(error: QnnTrapsError, needle: str, what_to_do: str = RESTORE) -> None:
    """One line, names the file or folder, says what is wrong and what to do."""
    text = str(error)
    assert "\n" not in text, text
    assert needle in text, text
    assert what_to_do in text, text
    assert "/" in text.split(":")[0] or text.startswith(BASE), text  # a path comes first


def refused(tmp_path, monkeypatch, edit, instance_id=BASE):
    """Craft a file with `edit`, pin it in a data folder, and return the load and in-process
    errors (the same type and message are expected from both)."""
    folder = tmp_path / "data"
    path = craft.edited(folder, edit, instance_id)
    craft.pin(folder, {instance_id: path})
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    with pytest.raises(QnnTrapsError) as isolated:
        qnntraps.load(instance_id)
    with pytest.raises(QnnTrapsError) as in_process:
        read_instance(path, isolate=False)
    assert type(isolated.value) is type(in_process.value)
    assert str(isolated.value) == str(in_process.value)
    return isolated.value


STRUCTURE_ATTACKS = [
    (
        "external link",
        craft.move_certificate_behind_external_link,
        ForbiddenObjectError,
        "external link",
    ),
    ("external storage", craft.labels_in_external_storage, ForbiddenObjectError, "external files"),
    ("soft link", craft.labels_as_soft_link, ForbiddenObjectError, "soft link"),
    (
        "one object under two names",
        craft.labels_as_hard_alias,
        ForbiddenObjectError,
        "linked 2 times",
    ),
    ("virtual dataset", craft.labels_as_virtual_dataset, ForbiddenObjectError, "virtual dataset"),
    (
        "variable-length type",
        craft.labels_as_variable_length,
        ForbiddenObjectError,
        "variable-length",
    ),
    ("gzip filter", craft.labels_gzip_compressed, ForbiddenObjectError, "filters"),
    ("gzip bomb", craft.gzip_bomb_ladder, ForbiddenObjectError, "filters"),
    ("10^13 elements declared", craft.huge_declared_ladder, LimitExceededError, "10000000000000"),
    ("chunked 10^13 elements", craft.huge_declared_chunked, ForbiddenObjectError, "chunked"),
    ("extra dataset", craft.extra_dataset, ForbiddenObjectError, "'extra'"),
    ("extra attribute", craft.set_attr("dataset", "note", "hi"), ForbiddenObjectError, "'note'"),
]


@pytest.mark.parametrize(
    "edit, error, needle", [a[1:] for a in STRUCTURE_ATTACKS], ids=[a[0] for a in STRUCTURE_ATTACKS]
)
def test_objects_the_format_does_not_define_are_refused(tmp_path, monkeypatch, edit, error, needle):
    caught = refused(tmp_path, monkeypatch, edit)
    assert type(caught) is error  # refused from the object walk: nothing was read or allocated
    assert_useful(caught, needle)


def test_external_link_does_not_reach_the_side_file(tmp_path, monkeypatch):
    """The attack of the issue: a certificate behind an external link with hit_tolerance = 10
    used to pass 'verify' and score every restart as a hit."""
    caught = refused(tmp_path, monkeypatch, craft.move_certificate_behind_external_link)
    assert "no hash covers" in str(caught)


def test_external_storage_cannot_read_local_files(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"password=hunter2\n" * 10)

    def edit(f, folder):
        craft.labels_in_external_storage(f, folder, source=secret)

    caught = refused(tmp_path, monkeypatch, edit)
    assert isinstance(caught, ForbiddenObjectError) and "hunter2" not in str(caught)


VALUE_ATTACKS = [
    (
        "tolerance inf",
        craft.set_attr("certificate", "hit_tolerance", np.inf),
        CertificateError,
        "finite",
    ),
    (
        "tolerance NaN",
        craft.set_attr("certificate", "hit_tolerance", np.nan),
        CertificateError,
        "finite",
    ),
    (
        "tolerance negative",
        craft.set_attr("certificate", "hit_tolerance", -0.1),
        CertificateError,
        "positive",
    ),
    (
        "tolerance zero",
        craft.set_attr("certificate", "hit_tolerance", 0.0),
        CertificateError,
        "positive",
    ),
    (
        "tolerance 10",
        craft.set_attr("certificate", "hit_tolerance", 10.0),
        CertificateError,
        "would count as a hit",
    ),
    (
        "L* NaN",
        craft.set_attr("certificate", "global_min_value", np.nan),
        CertificateError,
        "finite",
    ),
    (
        "L* moved",
        craft.set_attr("certificate", "global_min_value", 0.01),
        CertificateError,
        "not L*",
    ),
    (
        "theta* not a minimizer",
        craft.set_data("certificate/global_minimizer", lambda v: v + 0.3),
        CertificateError,
        "not L*",
    ),
    (
        "theta* NaN",
        craft.set_data("certificate/global_minimizer", lambda v: v * np.nan),
        InvalidValueError,
        "NaN",
    ),
    (
        "labels NaN",
        craft.set_data("dataset/labels", lambda v: np.where(v > 1.1, np.nan, v)),
        InvalidValueError,
        "NaN",
    ),
    (
        "labels inf",
        craft.set_data("dataset/labels", lambda v: np.where(v > 1.1, np.inf, v)),
        InvalidValueError,
        "infinity",
    ),
    (
        "epsilon 5",
        craft.set_data("dataset/epsilon", lambda v: np.where(v > 0.5, 5.0, v)),
        InvalidValueError,
        "epsilon",
    ),
    (
        "epsilon -1",
        craft.set_data("dataset/epsilon", lambda v: np.where(v > 0.5, -1.0, v)),
        InvalidValueError,
        "0 < epsilon <= 1",
    ),
    (
        "Pauli code 259 as int16",
        craft.set_data("ansatz/generators", lambda v: np.where(v == 3, 259, v), np.int16),
        InvalidValueError,
        "not stored as int8",
    ),
    (
        "Pauli code 1.7",
        craft.set_data("dataset/pauli_codes", lambda v: v + 0.7, np.float64),
        InvalidValueError,
        "not stored as int8",
    ),
    (
        "Pauli code -1",
        craft.set_data("dataset/pauli_codes", lambda v: np.where(v == 1, -1, v)),
        InvalidValueError,
        "outside 0..3",
    ),
    (
        "identity input state",
        craft.set_data("dataset/pauli_codes", lambda v: v * 0),
        InvalidValueError,
        "trace 1",
    ),
    (
        "num_parameters 10^6",
        craft.set_attr("/", "num_parameters", np.int64(10**6)),
        LimitExceededError,
        "limit of 4096",
    ),
    ("num_qubits as float", craft.set_attr("/", "num_qubits", 4.0), InvalidValueError, "int64"),
    (
        "num_samples 0",
        craft.set_attr("/", "num_samples", np.int64(0)),
        InvalidValueError,
        "at least 1",
    ),
    (
        "labels one too long",
        craft.set_data("dataset/labels", lambda v: np.append(v, 1.0)),
        CorruptFileError,
        "has shape (9,)",
    ),
    (
        "generators of another width",
        craft.set_data("ansatz/generators", lambda v: v[:, :3]),
        CorruptFileError,
        "has shape (4, 3)",
    ),
    (
        "parameter index past p",
        craft.set_data("ansatz/parameter_index", lambda v: v + 1),
        InvalidValueError,
        "outside -1..3",
    ),
    (
        "ladder counts negative",
        craft.set_data("certificate/ladder_counts", lambda v: -v),
        CertificateError,
        "below 1",
    ),
    (
        "ladder counts as floats",
        craft.set_data("certificate/ladder_counts", lambda v: v + 0.5, np.float64),
        InvalidValueError,
        "int64",
    ),
    (
        "ladder not ascending",
        craft.set_data("certificate/ladder_values", lambda v: v[::-1]),
        CertificateError,
        "ascending",
    ),
    (
        "ladder NaN",
        craft.set_data("certificate/ladder_values", lambda v: v * np.nan),
        InvalidValueError,
        "NaN",
    ),
    (
        "num_local_minima inconsistent",
        craft.set_attr("certificate", "num_local_minima", np.int64(17)),
        CertificateError,
        "add up to 16",
    ),
    (
        "unknown certificate kind",
        craft.set_attr("certificate", "kind", "trust-me"),
        InvalidValueError,
        "trust-me",
    ),
    (
        "id of another p",
        craft.set_attr("/", "id", "construction-p6-v1"),
        InvalidValueError,
        "p = 6",
    ),
    (
        "terminal escape in method",
        craft.set_attr("certificate", "method", "\x1b[2Jok"),
        InvalidValueError,
        "control characters",
    ),
    (
        "huge string attribute",
        craft.set_attr("certificate", "effort", "x" * 10_000),
        LimitExceededError,
        "10000 bytes",
    ),
    (
        "planted signs not +-1",
        craft.set_data("certificate/planted_signs", lambda v: v * 2),
        InvalidValueError,
        "+1 or -1",
    ),
]


@pytest.mark.parametrize(
    "edit, error, needle", [a[1:] for a in VALUE_ATTACKS], ids=[a[0] for a in VALUE_ATTACKS]
)
def test_invalid_values_are_refused(tmp_path, monkeypatch, edit, error, needle):
    caught = refused(tmp_path, monkeypatch, edit)
    assert type(caught) is error
    assert_useful(caught, needle)


def test_a_saddle_with_a_consistent_certificate_is_refused(tmp_path, monkeypatch, load):
    """theta* moved to a stationary point that is not a minimum, with L* rewritten to match."""
    instance = load(BASE)
    # per qubit, the loss in u = 2theta has its maxima at sin u = -sigma eps^2 / (1 - eps^2)
    eps2 = float(instance.dataset.inputs.epsilon.min()) ** 2  # the constraint samples
    signs = instance.certificate.planted_signs
    theta = np.arcsin(-signs * eps2 / (1 - eps2)) / 2
    value = float(instance.loss(theta))
    assert np.abs(instance.loss_and_grad(theta)[1]).max() < 1e-12  # stationary

    def edit(f, folder):
        f["certificate/global_minimizer"][...] = theta
        f["certificate"].attrs["global_min_value"] = value
        f["certificate"].attrs["hit_tolerance"] = 1e-9
        del f["certificate/ladder_values"], f["certificate/ladder_counts"]
        f["certificate/ladder_values"] = np.array([value])
        f["certificate/ladder_counts"] = np.array([16])

    caught = refused(tmp_path, monkeypatch, edit)
    assert type(caught) is CertificateError
    assert_useful(caught, "not a m")


def test_a_spinning_file_is_refused_before_libhdf5_sees_it(tmp_path, monkeypatch):
    """A 12 KB file on which libhdf5 loops forever inside attribute reading."""
    folder = tmp_path / "data"
    path = craft.base_file(folder, "construction-p2-v1")
    path.write_bytes(craft.spinning_global_heap(path.read_bytes()))
    craft.pin(folder, {"construction-p2-v1": path})
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    with pytest.raises(ForbiddenObjectError) as caught:  # not a ReadTimeoutError: refused
        qnntraps.load("construction-p2-v1")  # from the bytes, before libhdf5 reads the heap
    assert_useful(caught.value, "loop forever")


def _unguarded_child(tmp_path, script: str) -> list[str]:
    code = tmp_path / "child.py"
    code.write_text(script)
    return [sys.executable, str(code)]


UNGUARDED = f"""
import sys
sys.path.insert(0, {str(craft.__file__.rsplit("/tests/", 1)[0])!r})
import qnntraps.hdf5_reader as reader
reader.check_global_heaps = lambda data, name: None  # let libhdf5 meet the spinning heap
from qnntraps.sandbox import child_main
child_main()
"""


def test_libhdf5_spinning_forever_ends_in_a_timeout(tmp_path, monkeypatch):
    """With the heap check switched off in the child, libhdf5 really spins; the parent kills it
    after the time limit and the next file gets a fresh child."""
    monkeypatch.setattr(sandbox, "_child_command", lambda: _unguarded_child(tmp_path, UNGUARDED))
    reader = sandbox.IsolatedReader(timeout=2.0)
    path = craft.base_file(tmp_path / "data", "construction-p2-v1")
    good = path.read_bytes()
    try:
        with pytest.raises(ReadTimeoutError) as caught:
            reader.read_raw(craft.spinning_global_heap(good), str(path))
        assert_useful(caught.value, "did not finish within 2 s")
        assert reader.read_raw(good, str(path)).attrs["/id"].value == "construction-p2-v1"
    finally:
        reader.close()


CRASHING = f"""
import os, signal, sys
sys.path.insert(0, {str(craft.__file__.rsplit("/tests/", 1)[0])!r})
from qnntraps.sandbox import READY
sys.stdout.buffer.write(READY)
sys.stdout.buffer.flush()
sys.stdin.buffer.read(16)
os.kill(os.getpid(), signal.SIGSEGV)
"""


def test_a_reader_that_crashes_ends_in_a_typed_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "_child_command", lambda: _unguarded_child(tmp_path, CRASHING))
    reader = sandbox.IsolatedReader(timeout=10.0)
    try:
        with pytest.raises(ReaderCrashedError) as caught:
            reader.read_raw(b"\x89HDF\r\n\x1a\n", str(tmp_path / "x.h5"))
        assert_useful(caught.value, "signal 11")
    finally:
        reader.close()


def test_files_that_are_not_regular_do_not_block(tmp_path):
    fifo = tmp_path / "fifo.h5"
    os.mkfifo(fifo)
    with pytest.raises(CorruptFileError, match="not a regular file"):
        read_instance(fifo)
    with pytest.raises(CorruptFileError, match="not a regular file"):
        read_instance(tmp_path)


def test_oversized_files_are_refused_unread(tmp_path):
    big = tmp_path / "big.h5"
    with open(big, "wb") as stream:
        stream.truncate(65 * 2**20)  # sparse: no disk used
    with pytest.raises(LimitExceededError, match="limit of 67108864"):
        read_instance(big)


def test_shipped_files_and_their_copies_still_load_in_process(tmp_path, monkeypatch):
    """Bytes pinned by the shipped registry are trusted wherever they are (no child needed)."""
    folder = tmp_path / "data"
    path = craft.base_file(folder)
    craft.pin(folder, {BASE: path})
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    monkeypatch.setattr(sandbox, "shared_reader", lambda: pytest.fail("isolated a pinned file"))
    assert qnntraps.load(BASE).num_parameters == 4


# ---------------------------------------------------------------- registries


def entry(**changes):
    row = {
        "id": BASE,
        "file": f"{BASE}.h5",
        "sha256": "0" * 64,
        "format_version": 1,
        "family": "construction",
        "p": 4,
        "variant": None,
        "tags": ["analytic"],
    }
    row.update(changes)
    return row


def registry(*rows):
    return json.dumps({"format": "qnntraps-registry", "version": 1, "instances": list(rows)})


REGISTRY_ATTACKS = [
    ("empty list", "[]", "not a version-1 qnntraps registry"),
    ("null", "null", "not a version-1 qnntraps registry"),
    ("not UTF-8", b"\xff\xfe{}", "not UTF-8"),
    ("not JSON", "{broken", "not valid JSON"),
    ("NaN", registry(entry()).replace('"p": 4', '"p": NaN'), "not a JSON number"),
    ("deeply nested", "[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ("duplicate key", registry(entry()).replace('"p": 4', '"p": 4, "p": 5'), "duplicate key"),
    (
        "extra top-level key",
        json.dumps({"format": "qnntraps-registry", "version": 1, "instances": [], "x": 1}),
        "exactly",
    ),
    (
        "version as text",
        json.dumps({"format": "qnntraps-registry", "version": "1", "instances": []}),
        "version-1",
    ),
    (
        "instances not a list",
        json.dumps({"format": "qnntraps-registry", "version": 1, "instances": {}}),
        "not a list",
    ),
    ("entry not an object", registry([1]), "not a JSON object"),
    ("null sha256", registry(entry(sha256=None)), "sha256 must be a str"),
    ("short sha256", registry(entry(sha256="abc")), "64 lower-case hex"),
    ("integer id", registry(entry(id=7)), "id must be a str"),
    ("malformed id", registry(entry(id="construction-p4")), "not an instance ID"),
    ("id disagrees with p", registry(entry(p=5)), "do not match the id"),
    ("p as bool", registry(entry(p=True)), "p must be a int"),
    ("parent folder", registry(entry(file="../../etc/passwd")), "plain file name"),
    ("absolute path", registry(entry(file="/etc/passwd")), "plain file name"),
    ("sub-folder", registry(entry(file="sub/x.h5")), "plain file name"),
    ("not .h5", registry(entry(file="registry.json")), "plain file name"),
    ("missing key", registry({k: v for k, v in entry().items() if k != "tags"}), "missing tags"),
    ("unknown key", registry(entry(extra=1)), "unknown 'extra'"),
    ("tags not words", registry(entry(tags=["a b"])), "tags must be"),
    ("duplicate id", registry(entry(), entry(file="other.h5")), "lists id"),
    ("duplicate file", registry(entry(), entry(id="construction-p6-v1", p=6)), "lists file"),
]


@pytest.mark.parametrize(
    "text, needle", [a[1:] for a in REGISTRY_ATTACKS], ids=[a[0] for a in REGISTRY_ATTACKS]
)
def test_malformed_registries_are_refused_as_a_whole(tmp_path, monkeypatch, text, needle):
    folder = tmp_path / "data"
    folder.mkdir()
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    (folder / "registry.json").write_bytes(data)
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    for call in (qnntraps.list_instances, lambda: qnntraps.load(BASE)):
        with pytest.raises(RegistryError) as caught:
            call()
        assert_useful(caught.value, needle, "fix the registry or restore it")


def test_a_symbolic_link_out_of_the_data_folder_is_refused(tmp_path, monkeypatch):
    outside = craft.base_file(tmp_path / "elsewhere")
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / outside.name).symlink_to(outside)
    craft.pin(folder, {BASE: outside})
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    with pytest.raises(RegistryError, match="outside the data folder"):
        qnntraps.load(BASE)
    inside = folder / "real.h5"
    outside.rename(inside)
    (folder / outside.name).unlink()
    (folder / outside.name).symlink_to(inside.name)
    assert qnntraps.load(BASE).id == BASE  # a link that stays inside is fine


def test_a_registry_that_is_a_fifo_does_not_block(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    os.mkfifo(folder / "registry.json")
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    with pytest.raises(RegistryError, match="not a regular file"):
        qnntraps.list_instances()


# ---------------------------------------------------------------- the command line


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["qnntraps", *args])
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_refuses_hostile_files_in_one_line(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data"
    path = craft.edited(folder, craft.move_certificate_behind_external_link)
    craft.pin(folder, {BASE: path})
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    code, out, err = run_cli(monkeypatch, capsys, "show", BASE)
    assert code == 2 and out == "" and err.count("\n") == 1 and "external link" in err
    code, out, _ = run_cli(monkeypatch, capsys, "verify", "--no-regenerate")
    assert code == 1 and "FAILED" in out and "external link" in out and "0 of 1 verified" in out
    (folder / "registry.json").write_text("[]")
    code, out, err = run_cli(monkeypatch, capsys, "list")
    assert code == 2 and err.count("\n") == 1 and "not a version-1 qnntraps registry" in err


def test_writer_output_still_reads_and_a_writer_edit_is_caught(tmp_path):
    """h5py edits that keep the format (r+ on a written file) still read; the reader is not
    tied to byte identity with the shipped files."""
    path = craft.edited(tmp_path, lambda f, folder: None)
    assert read_instance(path, isolate=True).id == BASE
    with h5py.File(path, "r+") as f:
        f["dataset/labels"][0] = 1.0  # same value: still valid
    assert read_instance(path).id == BASE


def test_a_file_at_every_limit_is_read(tmp_path):
    """n = p = 64, m = 4096 samples, a ladder of 2^20 rungs (17 MB): the reader's worst case
    within its limits is read, isolated or not (here the certificate is even right: L >= 0 and
    L(0) = 0). How long it takes is a benchmark (tests/benchmarks, docs/performance.md)."""
    path = craft.file_at_every_limit(tmp_path / "big.h5")
    for isolate in (False, True):
        instance = read_instance(path, isolate=isolate)
        assert instance.num_samples == 4096 and instance.num_parameters == 64 == instance.num_qubits
        assert instance.certificate.ladder_values.size == 2**20
