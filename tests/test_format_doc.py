"""The worked example in docs/format.md runs and agrees with the package."""

import re
from pathlib import Path

import numpy as np
import pytest

from qnntraps.registry import find_entry, instance_path
from tests.assertions import assert_allclose

DOC = Path(__file__).resolve().parent.parent / "docs" / "format.md"


def example_namespace() -> dict:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "docs/format.md should hold exactly one python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


@pytest.mark.parametrize(
    "instance_id",
    [
        "construction-p4-v1",
        "construction-coupled-p6-v1",
        "construction-p4-noise0.05-v1",
        "separable-p2-v1",
        "barren-plateau-n4-l35-v1",
        "teacher-student-n4-l3-v1",
    ],
)
def test_doc_example_computes_the_loss(load, rng, instance_id):
    file_loss = example_namespace()["file_loss"]
    path = instance_path(find_entry(instance_id))
    instance = load(instance_id)
    for theta in rng.uniform(0, 2 * np.pi, size=(5, instance.num_parameters)):
        assert_allclose(file_loss(path, theta), instance.loss(theta), 1e-12, "doc example loss")
    cert = instance.certificate
    assert_allclose(file_loss(path, cert.global_minimizer), cert.global_min_value, 1e-13, "L*")


def section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def test_doc_lists_every_provenance_parameter_the_files_carry():
    import h5py

    from qnntraps.registry import read_registry

    table = section("Provenance parameters")
    names = set()
    for entry in read_registry():
        with h5py.File(instance_path(entry), "r") as f:
            names |= set(f["provenance/parameters"].attrs)
    assert names == {
        "p",
        "epsilon",
        "num_constraints",
        "constraint_size",
        "max_constraints_per_qubit",
        "label_noise_std",
        "noise_seed",
        "num_samples",
        "class_balance",
        "label_flip_fraction",
        "num_flipped",
        "num_qubits",
        "layers",
        "axes_key",
        "redraw",
        "multistart_starts",
        "multistart_hits",
        "multistart_unconverged",
        "jacobian_rank",
    }
    for name in names:
        assert f"`{name}`" in table, name


def test_doc_says_what_each_certificate_kind_holds(load):
    from qnntraps.instance import CERTIFICATE_KINDS

    table = section("What each certificate kind holds")
    for kind in CERTIFICATE_KINDS:
        assert f"`{kind}`" in table
    assert "lower bound on the set of minima, not the set" in table
    assert "**starts**" in table and "**local minima**" in table
    assert "ladder_counts` counts minima" not in DOC.read_text(encoding="utf-8")
    separable = load("separable-p2-v1").certificate
    construction = load("construction-p4-v1").certificate
    noisy = load("construction-p4-noise0.1-v1").certificate
    assert (separable.ladder_counts_unit, separable.ladder_is_complete) == ("starts", False)
    assert (construction.ladder_counts_unit, construction.ladder_is_complete) == ("minima", True)
    assert (noisy.ladder_counts_unit, noisy.ladder_is_complete) == ("minima", True)
    assert "lower bound" in separable.ladder_description
    assert int(construction.ladder_counts.sum()) == construction.num_local_minima
    assert separable.num_local_minima is None
    gpu = load("construction-coupled-p40-v1").certificate
    assert gpu.ladder_counts_unit is None and not gpu.ladder_is_complete


def test_doc_states_the_reader_limits():
    from qnntraps.hdf5_reader import LIMITS

    text = section("What a reader must refuse")
    assert f"| file size | {LIMITS.max_file_bytes // 2**20} MiB |" in text
    assert f"| qubits n | {LIMITS.max_qubits} |" in text
    assert f"| parameters p | {LIMITS.max_parameters:,} |" in text
    assert f"| samples m | {LIMITS.max_samples:,} |" in text
    assert f"| string attribute | {LIMITS.max_string_bytes} bytes |" in text
    assert f"| members per group | {LIMITS.max_links} |" in text
    assert "10^6" in text and LIMITS.max_abs_float == 1e6
