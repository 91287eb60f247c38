"""summary.json of a run: its settings, the metrics of every restart done, the converged ladder."""

from __future__ import annotations

import numpy as np

from qnntraps.harness.metrics import converged_ladder, summarize

LADDER_DECIMALS = 9
LADDER_RUNGS = 100  # the summary lists the lowest rungs; restarts.jsonl has every value


def run_summary(config: dict, records: dict[int, dict]) -> dict:
    """Metrics over the records of restarts 0 .. restarts-1 that are done."""
    wanted = [records[r] for r in range(config["restarts"]) if r in records]
    summary = {
        key: config[key]
        for key in (
            "instance", "sha256", "optimizer", "kind", "hyperparameters", "budget", "track",
            "global_min_value", "hit_tolerance", "certificate_kind",
        )
    }  # fmt: skip
    summary.update(restarts=config["restarts"], done=len(wanted))
    summary["complete"] = len(wanted) == config["restarts"]
    if not wanted:
        return summary
    # A non-finite final point is a miss; it enters the gap statistics at the largest float.
    losses = np.array(
        [r["final_loss"] if r["final_loss"] is not None else np.finfo(float).max for r in wanted]
    )
    metrics = summarize(
        losses,
        config["global_min_value"],
        config["hit_tolerance"],
        [r["loss_evals"] for r in wanted],
        [r["grad_evals"] for r in wanted],
        [r["equivalent_evals"] for r in wanted],
    )
    summary["metrics"] = metrics.as_dict()
    summary["non_finite_final_points"] = sum(r["final_loss"] is None for r in wanted)
    summary["stopped_by_wall"] = sum(r["stopped_by_wall"] for r in wanted)
    values, counts = converged_ladder(losses[np.isfinite(losses)], LADDER_DECIMALS)
    summary["converged_ladder"] = {
        "decimals": LADDER_DECIMALS,
        "distinct": int(values.size),
        "values": [float(v) for v in values[:LADDER_RUNGS]],
        "counts": [int(c) for c in counts[:LADDER_RUNGS]],
    }
    return summary
