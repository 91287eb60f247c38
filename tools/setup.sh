#!/usr/bin/env bash
# Set up .venv with everything qnntraps needs. torch is pinned to the 2.13.0 CPU wheel: an
# unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
.venv/bin/python -m pip install -q --disable-pip-version-check "hatchling>=1.25" -e ".[dev,qiskit,cirq,hardware,dask]"
# The fused product-form kernel (qnntraps/simulators/fused_product.c), compiled with gcc; without
# a compiler qnntraps runs its torch mirror, which gives the same numbers more slowly.
.venv/bin/python -c "from qnntraps.simulators.native import main; main()" || true
