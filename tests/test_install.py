"""The wheel carries the instance files; an installed copy loads them from any folder, offline."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from qnntraps.registry import read_registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (path,) = out.glob("qnntraps-*.whl")
    return path


def test_wheel_contains_every_registered_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "qnntraps/_instances/registry.json" in names
    for entry in read_registry(ROOT / "instances"):
        assert f"qnntraps/_instances/{entry.file}" in names


def test_installed_package_loads_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    script = (
        "import qnntraps, pathlib; i = qnntraps.load('construction-coupled-p8-v1'); "
        "import qnntraps.registry as r; print(r.data_dir().relative_to(pathlib.Path(qnntraps.__file__).parent)); "
        "print(i.loss(i.certificate.global_minimizer) <= i.certificate.hit_tolerance)"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["_instances", "True"]
