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


class Tally:
    """What the summary needs of each restart 0 .. restarts-1 that is done, in arrays.

    A run adds its records chunk by chunk; at 10^6 restarts the tally holds about 35 MB where
    the records themselves, kept as dicts, would hold over 1 GB. `r in tally` says whether
    restart r is done (what resuming asks).
    """

    def __init__(self, restarts: int, records: dict[int, dict] | None = None):
        self.restarts = restarts
        self.done = np.zeros(restarts, dtype=bool)
        self.has_fun = np.zeros(restarts, dtype=bool)  # a real final point (fun not null)
        self.clean = np.zeros(restarts, dtype=bool)  # is_clean(record)
        self.fun = np.zeros(restarts, dtype=np.float64)
        self.hit = np.zeros(restarts, dtype=bool)
        self.wall = np.zeros(restarts, dtype=bool)
        self.nfev = np.zeros(restarts, dtype=np.int64)
        self.njev = np.zeros(restarts, dtype=np.int64)
        self.equivalent = np.zeros(restarts, dtype=np.int64)
        self.flags: dict[int, tuple[str, ...]] = {}  # only restarts that carry flags
        self.add((records or {}).values())

    def __contains__(self, restart) -> bool:
        return 0 <= restart < self.restarts and bool(self.done[restart])

    def add(self, records) -> None:
        for record in records:
            r = record["restart"]
            if not 0 <= r < self.restarts:
                continue
            flags = tuple(dict.fromkeys(record.get("flags") or ()))
            if flags:
                self.flags[r] = flags
            else:
                self.flags.pop(r, None)
            self.done[r] = True
            self.has_fun[r] = record["fun"] is not None
            self.clean[r] = is_clean(record)
            self.fun[r] = record["fun"] if record["fun"] is not None else 0.0
            self.hit[r] = record["hit"] is True and not flags
            self.wall[r] = bool(record["stopped_by_wall"])
            self.nfev[r] = record["nfev"]
            self.njev[r] = record["njev"]
            self.equivalent[r] = record["equivalent_evals"]

    @property
    def count(self) -> int:
        return int(self.done.sum())


def run_summary(config: dict, records: dict[int, dict] | Tally) -> dict:
    """Metrics over the records of restarts 0 .. restarts-1 that are done (records by restart
    index, or a run's Tally of them)."""
    tally = records if isinstance(records, Tally) else Tally(config["restarts"], records)
    done = tally.done
    summary = {key: config[key] for key in SETTINGS if key in config}
    summary.update(restarts=config["restarts"], done=tally.count)
    summary["complete"] = tally.count == config["restarts"]
    flagged = Counter(flag for flags in tally.flags.values() for flag in flags)
    summary["flagged"] = dict(sorted(flagged.items()))
    summary["non_finite_final_points"] = int((done & ~tally.has_fun).sum())
    summary["stopped_by_wall"] = int((done & tally.wall).sum())
    if not tally.count:
        return summary
    global_min = config["global_min_value"]
    finals = tally.fun[done & tally.clean]
    with np.errstate(over="ignore", invalid="ignore"):
        gaps = finals - global_min
    metrics = summarize(
        tally.hit[done],
        gaps[np.isfinite(gaps)],
        global_min,
        config["hit_tolerance"],
        tally.nfev[done],
        tally.njev[done],
        tally.equivalent[done],
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
