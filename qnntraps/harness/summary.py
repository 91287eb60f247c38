"""summary.json of a run: its settings, the metrics of every restart done, the converged ladder.

A pure function of config.json and the records, so `qnntraps report` recomputes it rather than
trusting a summary.json that may be stale. Its rules (docs/scoring.md):

* hits are the records' ``hit`` fields, set by the harness when it scored the restart; a flagged
  restart or one without a real final point (``fun`` null) is never a hit;
* ``flagged`` counts the restarts that carry each flag; ``non_finite_final_points`` counts those
  without a real final point; ``stopped_by_wall`` those stopped by the wall budget;
* the gap statistics and the converged ladder are over the *clean* restarts: those with a real
  final loss and no flag (``metrics.gap_quantiles.restarts`` says how many);
* every value is a finite number or null, so the summary can always be written as strict JSON.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from qnntraps.harness.metrics import converged_ladder, summarize

LADDER_DECIMALS = 9
LADDER_RUNGS = 100  # the summary lists the lowest rungs; restarts.jsonl has every value

SETTINGS = (
    "instance", "sha256", "optimizer", "kind", "hyperparameters", "budget", "track",
    "global_min_value", "hit_tolerance", "certificate_kind",
)  # fmt: skip


def is_clean(record: dict) -> bool:
    """A restart that ended at a real point with no flag: it enters the gaps and the ladder."""
    return record["fun"] is not None and not record.get("flags")


def run_summary(config: dict, records: dict[int, dict]) -> dict:
    """Metrics over the records of restarts 0 .. restarts-1 that are done."""
    wanted = [records[r] for r in range(config["restarts"]) if r in records]
    summary = {key: config[key] for key in SETTINGS if key in config}
    summary.update(restarts=config["restarts"], done=len(wanted))
    summary["complete"] = len(wanted) == config["restarts"]
    flagged = Counter(flag for r in wanted for flag in dict.fromkeys(r.get("flags") or ()))
    summary["flagged"] = dict(sorted(flagged.items()))
    summary["non_finite_final_points"] = sum(r["fun"] is None for r in wanted)
    summary["stopped_by_wall"] = sum(bool(r["stopped_by_wall"]) for r in wanted)
    if not wanted:
        return summary
    global_min = config["global_min_value"]
    finals = np.array([r["fun"] for r in wanted if is_clean(r)], dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        gaps = finals - global_min
    metrics = summarize(
        [r["hit"] is True and not r.get("flags") for r in wanted],
        gaps[np.isfinite(gaps)],
        global_min,
        config["hit_tolerance"],
        [r["nfev"] for r in wanted],
        [r["njev"] for r in wanted],
        [r["equivalent_evals"] for r in wanted],
    )
    summary["metrics"] = metrics.as_dict()
    values, counts = converged_ladder(finals[np.isfinite(finals)], LADDER_DECIMALS)
    summary["converged_ladder"] = {
        "decimals": LADDER_DECIMALS,
        "distinct": int(values.size),
        "values": [float(v) for v in values[:LADDER_RUNGS]],
        "counts": [int(c) for c in counts[:LADDER_RUNGS]],
    }
    return summary


def clean_gaps(config: dict, records) -> list[float]:
    """Final gaps of the clean restarts among `records` (for figures), finite only."""
    global_min = config["global_min_value"]
    gaps = (r["fun"] - global_min for r in records if is_clean(r))
    return [gap for gap in gaps if math.isfinite(gap)]
