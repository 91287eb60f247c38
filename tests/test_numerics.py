"""qnntraps.numerics: the AVX2 kernels of numpy, OpenBLAS and torch on every AVX2 machine, so
that the exact track's records re-run to the bit on AVX-512 machines too."""

from __future__ import annotations

import json
import subprocess
import sys

from qnntraps import numerics

AVX2 = frozenset({"avx", "avx2", "fma", "sse4_2"})
AVX512 = AVX2 | {"avx512f", "avx512bw"}


def test_variables_by_processor_and_numpy():
    assert numerics.pinned_variables(frozenset({"sse2"}), "x86_64", (2, 4)) == {}
    assert numerics.pinned_variables(AVX512, "aarch64", (2, 4)) == {}
    on_avx2 = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2"}
    assert numerics.pinned_variables(AVX2, "x86_64", (2, 4)) == on_avx2
    assert numerics.pinned_variables(AVX512, "x86_64", (2, 3)) == on_avx2  # older names: left
    assert numerics.pinned_variables(AVX512, "x86_64", (2, 5)) == {
        **on_avx2,
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    }


def test_pin_keeps_what_the_user_set_and_obeys_the_switch(monkeypatch):
    monkeypatch.setattr(numerics, "cpu_flags", lambda: AVX512)
    monkeypatch.setattr(numerics.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(numerics, "_numpy_version", lambda: (2, 4))
    environ = {"OPENBLAS_CORETYPE": "Zen"}
    added = numerics.pin(environ)
    assert environ["OPENBLAS_CORETYPE"] == "Zen" and "OPENBLAS_CORETYPE" not in added
    assert environ["ATEN_CPU_CAPABILITY"] == "avx2" and added["NPY_DISABLE_CPU_FEATURES"]
    assert numerics.pin({numerics.SWITCH: "0"}) == {}


def test_a_fresh_process_loads_the_avx2_kernels():
    # what the kernels report after `import qnntraps`, in a process that imported nothing else
    probe = (
        "import json, os, qnntraps, numpy, torch\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
        "print(json.dumps({'v4': f.get('X86_V4'), 'torch': torch.backends.cpu.get_cpu_capability(),"
        " 'env': {k: os.environ.get(k) for k in ('OPENBLAS_CORETYPE', 'ATEN_CPU_CAPABILITY')}}))"
    )
    environment = {k: v for k, v in __import__("os").environ.items() if k not in (
        "OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "NPY_DISABLE_CPU_FEATURES", numerics.SWITCH
    )}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    wanted = numerics.pinned_variables(
        numerics.cpu_flags(), numerics.platform.machine(), numerics._numpy_version()
    )
    if not wanted:  # not an AVX2 x86-64 machine: nothing is pinned
        assert seen["env"] == {"OPENBLAS_CORETYPE": None, "ATEN_CPU_CAPABILITY": None}
        return
    assert seen["env"] == {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2"}
    assert seen["torch"] == "AVX2"
    if "NPY_DISABLE_CPU_FEATURES" in wanted:
        assert seen["v4"] is False
