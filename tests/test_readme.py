"""The README's quick start runs as written and its stated figures are true."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block(marker: str) -> str:
    """The README's one Python block that contains marker."""
    text = README.read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if marker in b]
    return block


def test_quick_start_runs():
    block = python_block("qnntraps.list_instances")
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own documentation
    instance, cert = namespace["instance"], namespace["cert"]
    assert (instance.num_parameters, instance.num_samples) == (12, 36)
    assert cert.kind == "analytic" and cert.global_min_value == 0.0
    assert f"{cert.hit_tolerance:.4f}" == "0.0015"
    assert namespace["loss"].shape == (1000,) and namespace["grad"].shape == (1000, 12)


def test_export_example_runs():
    pytest.importorskip("qiskit")
    pytest.importorskip("cirq")
    namespace: dict = {}
    exec(compile(python_block("to_qiskit"), str(README), "exec"), namespace)  # noqa: S102
    q, c, instance, theta = (namespace[k] for k in ("q", "c", "instance", "theta"))
    assert abs(q.loss(theta) - instance.loss(theta)) < 1e-10
    assert abs(c.loss(theta) - instance.loss(theta)) < 1e-10


def test_readme_states_the_two_commands_that_ci_runs():
    text = README.read_text(encoding="utf-8")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    test_command = "bash tools/setup.sh && .venv/bin/python -m pytest"
    assert test_command in text and test_command in ci
    main = "bash tools/setup.sh && .venv/bin/qnntraps bench adam --suite quick-v1"
    assert main in text.split("## Quick start")[0]
