"""Derive the depth of every barren-plateau instance: where the exact gradient variance plateaus.

For each n (exact second moments, n <= 12): draw axes for D = 20 n layers from the documented key,
compute Var[dL/dtheta_0] of the circuit cut after every layer, and take the smallest depth L from
which the variance stays within 5% of its value at depth D; redraw (key + "/redraw-k") when the
certified minimizer's construction does not apply to the first L layers. Beyond n = 12 the depth
is the least-squares line through the exact ones, rounded up. Prints the table that
qnntraps/families/catalogue.py freezes (BARREN_PLATEAU_LAYERS) and writes it as JSON.

    python tools/barren_plateau_depths.py [--out docs/figures/barren_plateau_depths.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from qnntraps.atomic import write_json_atomic
from qnntraps.certificates.gradient_variance import gradient_variance_by_depth
from qnntraps.families import barren_plateau as bp

EXACT_QUBITS = (2, 4, 6, 8, 10, 12)
EXTRAPOLATED_QUBITS = (14, 16)


def exact_row(n: int) -> dict:
    began = time.perf_counter()
    for redraw in range(100):
        reference = bp.REFERENCE_LAYERS_PER_QUBIT * n
        axes = bp.draw_axes(n, reference, bp.axes_key(n, 1, redraw))
        by_depth = gradient_variance_by_depth(axes)
        layers = bp.plateau_depth(by_depth)
        if bp.constructed_minimizer(axes[:layers]) is not None:
            return {
                "n": n,
                "redraw": redraw,
                "layers": layers,
                "variance": float(by_depth[layers - 1]),
                "reference_layers": reference,
                "reference_variance": float(by_depth[-1]),
                "two_to_minus_n": 2.0**-n,
                "seconds": round(time.perf_counter() - began, 1),
            }
    raise RuntimeError(f"no draw for n = {n} in 100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures/barren_plateau_depths.json")
    args = parser.parse_args()
    rows = []
    for n in EXACT_QUBITS:
        rows.append(exact_row(n))
        print(json.dumps(rows[-1]), flush=True)
    slope, intercept = np.polyfit([r["n"] for r in rows], [r["layers"] for r in rows], 1)
    for n in EXTRAPOLATED_QUBITS:
        layers = math.ceil(slope * n + intercept)
        redraw = next(
            k
            for k in range(100)
            if bp.constructed_minimizer(bp.draw_axes(n, layers, bp.axes_key(n, 1, k))) is not None
        )
        rows.append({"n": n, "redraw": redraw, "layers": layers, "extrapolated": True})
        print(json.dumps(rows[-1]), flush=True)
    table = {"fit": {"slope": slope, "intercept": intercept}, "rows": rows}
    write_json_atomic(args.out, table)
    print("BARREN_PLATEAU_LAYERS =", {r["n"]: (r["layers"], r["redraw"]) for r in rows})


if __name__ == "__main__":
    main()
