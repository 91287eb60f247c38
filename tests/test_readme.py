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


def readme_commands() -> list[str]:
    """Every `qnntraps ...` command of the README's bash blocks, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("qnntraps "):
                commands.append(" ".join(line.split()))
    return commands


SLOW = "--track hardware"  # 2.5 minutes of simulated shots; docs/hardware.md's test covers it


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path):
    """From a folder holding the repository's examples/, as the README's reader runs them."""
    import shlex
    import subprocess
    import sys

    (tmp_path / "examples").symlink_to(README.parent / "examples")
    commands = readme_commands()
    assert len(commands) >= 10 and any("examples.my_optimizer:minimize" in c for c in commands)
    for command in commands:
        if SLOW in command:
            continue
        done = subprocess.run(
            [sys.executable, "-m", "qnntraps", *shlex.split(command)[1:]],
            cwd=tmp_path, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
    assert (tmp_path / "runs" / "mine" / "construction-p4-v1" / "config.json").exists()
    assert (tmp_path / "runs" / "hit_rate_vs_p.png").exists()
    assert (tmp_path / "out" / "qasm3" / "mapping.json").exists()


def test_python_run_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(python_block("qnntraps.run("), str(README), "exec"), namespace)  # noqa: S102
    run = namespace["run"]
    assert (run.hits, run.n, run.hit_rate) == (30, 5000, 0.006)  # as the comment says
    assert f"{run.interval[0]:.4f}, {run.interval[1]:.4f}" == "0.0042, 0.0086"
    assert (tmp_path / "runs" / "construction-p4-v1" / "summary.json").exists()
