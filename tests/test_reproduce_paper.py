"""tools/reproduce_paper.py on a small grid: the table says what its times mean and shows the
reference rates; gradient flow's hits on the same starts are recomputed here from the closed-form
basin (sigma sin 2 theta > -eps^2 / (1 - eps^2)), not from the package."""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qnntraps
from qnntraps.harness.records import reproducible_part
from qnntraps.harness.results import RECORDS, read_records
from qnntraps.harness.starts import start_points
from qnntraps.registry import find_entry

TOOL = Path(__file__).resolve().parent.parent / "tools" / "reproduce_paper.py"


def load_tool(monkeypatch):
    spec = importlib.util.spec_from_file_location("reproduce_paper", TOOL)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def table_rows(text: str) -> dict[tuple[str, int, str], list[str]]:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| construction"):
            rows[(cells[0], int(cells[1]), cells[2])] = cells
    return rows


@pytest.mark.slow
def test_small_reproduction(tmp_path, monkeypatch):
    tool = load_tool(monkeypatch)
    restarts = 40
    argv = ["--restarts", str(restarts), "--max-p", "4", "--out", str(tmp_path), "--jobs", "1"]
    assert tool.main(argv) == 0
    text = (tmp_path / "table.md").read_text()
    assert "fresh, uninterrupted run of the whole script" in text and "RESUMED" not in text
    assert "CPU cores" in text and "load average" in text
    rows = table_rows(text)
    assert len(rows) == 2 * 3 + 1 * 3
    q = 0.5 + math.asin(1.0 / 7.0) / math.pi
    for p in (2, 4):
        instance = qnntraps.load(f"construction-p{p}-v1")
        starts = start_points(find_entry(instance.id).sha256, range(restarts), p)
        sigma = instance.certificate.planted_signs.astype(float)
        basin = np.all(sigma * np.sin(2 * starts) > -1.0 / 7.0, axis=1)
        for name in ("adam", "rmsprop", "lbfgs"):
            cells = rows[("construction", p, name)]
            assert cells[6] == f"{2.0**-p:.4g}" and cells[7] == f"{q**p:.4g}"
            assert cells[8] == str(int(basin.sum()))
    for name in ("adam", "rmsprop", "lbfgs"):
        assert rows[("construction-coupled", 4, name)][7:10] == ["—", "—", "—"]
    assert (tmp_path / "hit_rate_vs_p_construction.png").stat().st_size > 10_000
    # A second invocation only resumes: the table must not pass its time off as the experiment's.
    tool.main(argv)
    assert "RESUMED" in (tmp_path / "table.md").read_text()


@pytest.mark.slow
def test_rows_in_two_processes_write_the_same_records(tmp_path, monkeypatch):
    # the script itself (spawned workers import it as a file), against the serial rows above
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    common = ["--restarts", "24", "--max-p", "4"]
    tool = load_tool(monkeypatch)
    assert tool.main([*common, "--out", str(serial), "--jobs", "1"]) == 0
    done = subprocess.run(
        [sys.executable, str(TOOL), *common, "--out", str(parallel), "--jobs", "2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    folders = sorted(p.parent.relative_to(serial) for p in serial.rglob(RECORDS))
    assert len(folders) == 9
    for folder in folders:
        ours = read_records(serial / folder / RECORDS)
        theirs = read_records(parallel / folder / RECORDS)
        assert sorted(ours) == sorted(theirs) == list(range(24))
        for r in ours:
            assert reproducible_part(ours[r]) == reproducible_part(theirs[r])
    # the table's rows are the same runs, in the same order
    assert (
        table_rows((serial / "table.md").read_text()).keys()
        == table_rows((parallel / "table.md").read_text()).keys()
    )
