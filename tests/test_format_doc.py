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
    ["construction-p4-v1", "construction-coupled-p6-v1", "construction-p4-noise0.05-v1"],
)
def test_doc_example_computes_the_loss(load, rng, instance_id):
    file_loss = example_namespace()["file_loss"]
    path = instance_path(find_entry(instance_id))
    instance = load(instance_id)
    for theta in rng.uniform(0, 2 * np.pi, size=(5, instance.num_parameters)):
        assert_allclose(file_loss(path, theta), instance.loss(theta), 1e-12, "doc example loss")
    cert = instance.certificate
    assert_allclose(file_loss(path, cert.global_minimizer), cert.global_min_value, 1e-13, "L*")
