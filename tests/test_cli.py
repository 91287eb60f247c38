"""The qnntraps command line: output, and one-line errors with non-zero exit codes."""

import json
import shutil
import subprocess
import sys

import pytest

from qnntraps.cli import main
from qnntraps.registry import data_dir, read_registry


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["qnntraps", *args])
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_list_table_and_json(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "list", "--family", "construction-coupled")
    assert code == 0 and "construction-coupled-p32-v1" in out and "construction-p8-v1 " not in out
    code, out, _ = run_cli(
        monkeypatch, capsys, "list", "--json", "--p", "8", "--family", "construction"
    )
    rows = json.loads(out)
    assert code == 0 and {r["p"] for r in rows} == {8} and len(rows) == 4
    assert all(len(r["sha256"]) == 64 for r in rows)


def test_show_reports_certificate_and_hash(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "show", "construction-coupled-p8-v1")
    assert code == 0
    for needle in ("num_samples        24", "analytic", "hit tolerance", "sha256", "ladder counts"):
        assert needle in out
    code, out, _ = run_cli(monkeypatch, capsys, "show", "construction-p4-noise0.1-v1", "--json")
    info = json.loads(out)
    assert info["certificate"]["kind"] == "enumerated" and info["label_noise"] is True
    assert info["provenance"]["label_noise_std"] == 0.1


def test_verify_rehashes_and_regenerates(monkeypatch, capsys):
    code, out, _ = run_cli(
        monkeypatch, capsys, "verify", "construction-p4-v1", "construction-coupled-p4-noise0.01-v1"
    )
    assert code == 0 and out.count("regenerated identical") == 2 and "2 of 2 verified" in out
    code, out, _ = run_cli(monkeypatch, capsys, "verify", "--no-regenerate")
    total = len(read_registry())
    assert code == 0 and f"{total} of {total} verified" in out


def test_verify_fails_on_a_tampered_file(monkeypatch, capsys, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(data_dir() / "construction-p4-v1.h5", folder)
    registry = json.loads((data_dir() / "registry.json").read_text())
    registry["instances"] = [r for r in registry["instances"] if r["id"] == "construction-p4-v1"]
    (folder / "registry.json").write_text(json.dumps(registry))
    raw = bytearray((folder / "construction-p4-v1.h5").read_bytes())
    raw[-50] ^= 1
    (folder / "construction-p4-v1.h5").write_bytes(bytes(raw))
    monkeypatch.setenv("QNNTRAPS_DATA_DIR", str(folder))
    code, out, _ = run_cli(monkeypatch, capsys, "verify", "--no-regenerate")
    assert code == 1 and "FAILED" in out and "0 of 1 verified" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["show", "construction-p8-v9"], "did you mean construction-p8-v1"),
        (["show", "construction-p8"], "version is required"),
        (["list", "--family", "nope"], "families are"),
    ],
)
def test_user_errors_print_one_line(monkeypatch, capsys, args, message):
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_console_script_errors_without_traceback():
    result = subprocess.run(
        [sys.executable, "-c", "from qnntraps.cli import main; main()", "show", "x-p1-v1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: no instance 'x-p1-v1'")
    result = subprocess.run(
        [sys.executable, "-c", "from qnntraps.cli import main; main()", "list", "--bogus"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "No such option" in result.stderr


def test_the_command_lines_worker_timeout_default_is_the_executors():
    from qnntraps.cli import bench_command, run_command
    from qnntraps.sealed.serve import DEFAULT_TIMEOUT

    for command in (run_command, bench_command):
        (option,) = [o for o in command.params if o.name == "worker_timeout"]
        assert option.default == DEFAULT_TIMEOUT


def test_threads_default_to_one_and_follow_the_option_or_the_environment(monkeypatch, capsys):
    import os

    import torch

    before = torch.get_num_threads()
    try:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            monkeypatch.delenv(name, raising=False)
        assert run_cli(monkeypatch, capsys, "list")[0] == 0
        assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
        assert run_cli(monkeypatch, capsys, "--threads", "2", "list")[0] == 0
        assert os.environ["MKL_NUM_THREADS"] == "2" and torch.get_num_threads() == 2
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        torch.set_num_threads(3)
        assert run_cli(monkeypatch, capsys, "list")[0] == 0  # the environment's choice stands
        assert torch.get_num_threads() == 3
        code, _, err = run_cli(monkeypatch, capsys, "--threads", "0", "list")
        assert code == 2 and "--threads" in err
    finally:
        torch.set_num_threads(before)
