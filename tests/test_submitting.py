"""docs/submitting.md's walk-through runs as written, from a fresh folder, to a verified entry."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "submitting.md"


def walkthrough() -> list[str]:
    """The `qnntraps ...` commands of the walk-through's bash block."""
    text = DOC.read_text(encoding="utf-8").split("## Walk-through", 1)[1]
    block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
    lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
    assert lines[0] == "bash tools/setup.sh && . .venv/bin/activate"
    return [line for line in lines if line.startswith("qnntraps ")]


@pytest.mark.slow
def test_the_walkthrough_gives_a_verified_entry(tmp_path):
    (tmp_path / "examples").symlink_to(DOC.parent.parent / "examples")
    commands = walkthrough()
    assert [shlex.split(c)[1:3] for c in commands] == [
        ["bench", "examples.amsgrad:AMSGrad"], ["leaderboard", "submit"],
        ["leaderboard", "verify"], ["leaderboard", "render"],
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "qnntraps", *shlex.split(command)[1:]],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
    board = tmp_path / "my-board"
    report = json.loads((board / "submissions" / "amsgrad.verification.json").read_text())
    assert report["verdict"] == "verified" and report["rerun"]["restarts"] == 6 * 20
    readme = (board / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if "| amsgrad |" in line]
    assert "examples.amsgrad:AMSGrad (torch)" in row and "| verified |" in row
    assert "public" in row  # quick-v1 has no held-out rule: listed, not ranked
    assert (board / "index.html").read_text().count('data-entry="amsgrad"') == 1
