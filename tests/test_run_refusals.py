"""`qnntraps run` tried as a hostile or careless user would: every bad input ends in one line and
exit status 2 before anything is written; plug-ins resolve from the working directory and get the
documented default budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qnntraps.harness import results
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ["--instance", "construction-p4-v1"]


def _refused(monkeypatch, capsys, tmp_path, *args, message: str, restarts: str = "2"):
    out = tmp_path / "out"
    code, _, err = run_cli(
        monkeypatch, capsys, "run", *args, "--restarts", restarts, "--out", str(out)
    )
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists(), "nothing may be written for a refused command"
    return err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "adam", "--param", "lr=-1"], "lr must be a finite number >= 0"),
        (["--optimizer", "adam", "--param", "lr=nan"], "not a finite number"),
        (["--optimizer", "adam", "--param", "lr=abc"], 'lr="abc" must be a number'),
        (["--optimizer", "adam", "--param", "betas=[2,3]"], "betas must be two numbers in [0, 1)"),
        (["--optimizer", "adam", "--param", "gtol=-1"], "gtol"),
        (["--optimizer", "lbfgs", "--param", "memory=0"], "memory >= 1"),
        (["--optimizer", "lbfgs", "--param", "memory=1.5"], "must be an integer"),
        (["--optimizer", "cma-es", "--param", "sigma0=[1]"], "must be a number"),
        (["--optimizer", "adam", "--budget", "grad=1e30"], "from 0 to 1e+09"),
        (["--optimizer", "adam", "--budget", "grad=2.5"], "not a whole number"),
        (["--optimizer", "adam", "--budget", "wall=inf"], "not a finite number"),
        (["--optimizer", "adam", "--chunk", "0"], "--chunk"),
        (["--optimizer", "adam", "--worker-timeout", "-1"], "--worker-timeout"),
        (["--optimizer", "math:sqrt"], "cannot be called as a scipy-kind optimizer"),
        (["--optimizer", "math:sqrt", "--in-process"], "cannot be called as a scipy-kind"),
        (["--optimizer", "torch.optim:LBFGS"], "use the built-in 'lbfgs'"),
        (["--optimizer", "no_such_module_here:f"], "no module named 'no_such_module_here'"),
        (["--optimizer", "json:no_such_attribute"], "has no attribute"),
        (["--optimizer", ":f"], "give module:callable"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_written(
    monkeypatch, capsys, tmp_path, args, message
):
    _refused(monkeypatch, capsys, tmp_path, *INSTANCE, *args, message=message)


def test_absurd_restart_counts_are_refused_at_once(monkeypatch, capsys, tmp_path):
    _refused(
        monkeypatch, capsys, tmp_path, *INSTANCE, "--optimizer", "adam",
        message="split the work", restarts="1000000000000",
    )  # fmt: skip


def test_files_that_are_not_utf8_are_refused(monkeypatch, capsys, tmp_path):
    latin = tmp_path / "params.json"
    latin.write_bytes(b'{"lr": 0.1, "name": "caf\xe9"}')
    _refused(
        monkeypatch, capsys, tmp_path, *INSTANCE, "--optimizer", "adam", "--params-file",
        str(latin), message="not UTF-8",
    )  # fmt: skip
    _refused(
        monkeypatch, capsys, tmp_path, *INSTANCE, "--optimizer", "spsa", "--track", "hardware",
        "--budget", "shots=1000", "--hardware-config", str(latin), message="not UTF-8",
    )  # fmt: skip


def test_an_instance_larger_than_the_device_is_refused(monkeypatch, capsys, tmp_path):
    pytest.importorskip("qiskit_ibm_runtime")
    config = tmp_path / "manila.json"
    config.write_text(
        json.dumps(
            {
                "provider": "qiskit", "backend": "fake_manila", "shots": 100, "seed": 1,
                "optimization_level": 1, "account": None,
                "mitigation": {"resilience_level": 0, "dynamical_decoupling": False,
                               "twirling_gates": False, "twirling_measure": False},
            }
        )
    )  # fmt: skip
    _refused(
        monkeypatch, capsys, tmp_path, "--instance", "construction-p8-v1", "--optimizer", "spsa",
        "--track", "hardware", "--budget", "shots=100000", "--hardware-config", str(config),
        message="has 5",
    )  # fmt: skip


def test_a_second_run_on_a_locked_folder_is_refused(monkeypatch, capsys, tmp_path):
    folder = tmp_path / "out" / "construction-p4-v1"
    with results.RunLock(folder):
        code, _, err = run_cli(
            monkeypatch, capsys, "run", *INSTANCE, "--optimizer", "lbfgs", "--restarts", "3",
            "--out", str(tmp_path / "out"),
        )  # fmt: skip
    assert code == 2 and "another qnntraps run" in err and "Traceback" not in err
    assert not (folder / results.RECORDS).exists()


def test_an_output_folder_under_a_file_is_one_line(monkeypatch, capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(
        monkeypatch, capsys, "run", *INSTANCE, "--optimizer", "lbfgs", "--restarts", "2",
        "--out", str(tmp_path / "file" / "runs"),
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_plug_ins_resolve_from_the_working_directory_and_get_the_default_budget(tmp_path):
    (tmp_path / "my_search.py").write_text(
        "import numpy as np\n\n"
        "def minimize(fun, x0, jac=None, rng=None):\n"
        "    best = np.array(x0)\n"
        "    while True:  # a random search that never stops by itself\n"
        "        x = best + 0.1 * rng.standard_normal(best.size)\n"
        "        if fun(x) < fun(best):\n"
        "            best = x\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    command = [sys.executable, "-m", "qnntraps", "run", *INSTANCE, "--optimizer",
               "my_search:minimize", "--restarts", "2", "--out", "runs"]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "runs" / "construction-p4-v1"
    config = json.loads((folder / "config.json").read_text())
    assert config["budget"] == {"loss_evals": 4000, "grad_evals": 2000, "wall_seconds": None}
    assert config["execution"] == "sealed" and config["kind"] == "scipy"
    records = [
        json.loads(line) for line in (folder / "restarts.jsonl").read_text().split("\n")[:-1]
    ]
    assert all(r["nfev"] == 4000 for r in records)  # stopped by the budget, not by itself
