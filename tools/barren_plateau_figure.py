"""The barren-plateau figure of docs/barren_plateau.md: gradient variance against n and depth.

Reads the shipped barren-plateau files (their stored exact or sampled variances), recomputes the
exact variance against depth up to the reference depth 20 n for n <= 10 (seconds; n = 12 uses the
curve stored in its file, up to its depth), fits log2 Var = a n + b through the exact points,
prints the table and writes docs/figures/barren_plateau_variance.png.

    python tools/barren_plateau_figure.py [--out docs/figures/barren_plateau_variance.png]
"""

from __future__ import annotations

import argparse

import numpy as np

import qnntraps
from qnntraps.certificates.gradient_variance import gradient_variance_by_depth
from qnntraps.families import barren_plateau as bp
from qnntraps.families.catalogue import BARREN_PLATEAU_LAYERS
from qnntraps.harness.plots import plot_gradient_variance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures/barren_plateau_variance.png")
    args = parser.parse_args()
    qubits, values, intervals, curves, depths = [], [], [], {}, {}
    print("| n | L | p | Var[dL/dθ₀] | method | 2^-n |")
    print("|---:|---:|---:|---:|---|---:|")
    for n, (layers, redraw) in sorted(BARREN_PLATEAU_LAYERS.items()):
        instance = qnntraps.load(bp.instance_id(n, layers))
        variance = instance.certificate.gradient_variance
        qubits.append(n)
        values.append(variance.value)
        if variance.method == "exact":
            intervals.append(None)
            if n <= 10:
                reference = bp.REFERENCE_LAYERS_PER_QUBIT * n
                axes = bp.draw_axes(n, reference, bp.axes_key(n, 1, redraw))
                curves[n] = gradient_variance_by_depth(axes)
            else:
                curves[n] = variance.by_depth
            depths[n] = layers
            shown = f"{variance.value:.4e}"
        else:
            intervals.append((variance.low, variance.high))
            shown = f"{variance.value:.3e} [{variance.low:.3e}, {variance.high:.3e}]"
        print(f"| {n} | {layers} | {n * layers} | {shown} | {variance.method} | {2.0**-n:.4e} |")
    exact = [i is None for i in intervals]
    slope, intercept = np.polyfit(np.array(qubits)[exact], np.log2(np.array(values)[exact]), 1)
    print(f"fit over exact points: log2 Var = {slope:.4f} n {intercept:+.3f}")
    print("wrote", plot_gradient_variance(args.out, qubits, values, intervals, curves, depths))


if __name__ == "__main__":
    main()
