"""Runs in the IOHprofiler v2 layout, the one IOHexperimenter's Analyzer logger writes and
IOHanalyzer reads (docs/scoring.md, "IOHprofiler export"):

    OUT/<optimizer>/IOHprofiler_f<F>_<instance>.json
    OUT/<optimizer>/data_f<F>_<instance>/IOHprofiler_f<F>_DIM<p>.dat

One algorithm folder per optimizer, one problem per instance (function id F numbered 1, 2, ...
over the sorted instance IDs of the export, the same in every algorithm folder), dimension p,
problem instance 1, and one IOH run per restart, in restart order. The objective is the gap
L(theta) - L* (minimized; 0 at the certified minimum), so IOHanalyzer's targets are precisions
as in COCO. A restart's .dat block holds its start (evaluation 1, the start's gap) and, when
it ended lower, its end (evaluation = its equivalent evaluations, the final gap): the harness
keeps no path in between. A flagged restart, or one without a final point, keeps its start as
its best. Columns: "function evaluation" "current f(x)" "best-so-far f(x)" "current af(x)+b"
"best af(x)+b" (the last two equal the first two: no transformation).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from qnntraps.atomic import write_text_atomic
from qnntraps.harness import results
from qnntraps.harness.report import RunView
from qnntraps.harness.summary import is_clean

HEADER = '"function evaluation" "current f(x)" "best-so-far f(x)" "current af(x)+b" "best af(x)+b"'
IOH_VERSION = "0.3.5"  # the IOHexperimenter version whose Analyzer (v2) layout this follows


def _folder_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text) or "optimizer"


def _row(evaluation: int, value: float, best: float) -> str:
    return f"{evaluation} {value!r} {best!r} {value!r} {best!r}"


def write_ioh(views: list[RunView], out: Path) -> list[Path]:
    """Write the finished runs of `views` under `out` in the IOHprofiler v2 layout; returns the
    JSON files written (each with its .dat beside). Runs of one optimizer on one instance in
    several folders become one problem's runs, in the order of `views`."""
    out = Path(out)
    finished = [view for view in views if view.finished]
    ids = sorted({view.config["instance"] for view in finished})
    function_id = {instance: number for number, instance in enumerate(ids, 1)}
    problems: dict[tuple[str, str], tuple[dict, list[str]]] = {}
    for view in finished:
        config = view.config
        instance, p = config["instance"], int(config["num_parameters"])
        fid, optimizer = function_id[instance], config["optimizer"]
        data = f"data_f{fid}_{instance}/IOHprofiler_f{fid}_DIM{p}.dat"
        key = (_folder_name(optimizer), instance)
        if key not in problems:
            problems[key] = (_document(config, fid, data), [])
        document, lines = problems[key]
        runs = document["scenarios"][0]["runs"]
        loaded = results.load_records(view.folder / results.RECORDS)  # with the final points
        offset = float(config["global_min_value"])
        for r in range(config["restarts"]):
            runs.append(_run(loaded.records[r], offset, lines))
    written = []
    for (folder, instance), (document, lines) in problems.items():
        fid = document["function_id"]
        write_text_atomic(out / folder / document["scenarios"][0]["path"], "\n".join(lines) + "\n")
        target = out / folder / f"IOHprofiler_f{fid}_{instance}.json"
        write_text_atomic(target, json.dumps(document, indent=1) + "\n")
        written.append(target)
    return written


def _document(config: dict, fid: int, data: str) -> dict:
    return {
        "version": IOH_VERSION,
        "suite": "qnntraps",
        "function_id": fid,
        "function_name": config["instance"],
        "maximization": False,
        "algorithm": {
            "name": config["optimizer"],
            "info": f"qnntraps run, budget {json.dumps(config.get('budget'), sort_keys=True)}",
        },
        "experiment_attributes": [
            {"instance_sha256": config.get("sha256", "")},
            {"global_min": str(config["global_min_value"])},
            {"hit_tolerance": str(config["hit_tolerance"])},
        ],
        "scenarios": [{"dimension": int(config["num_parameters"]), "path": data, "runs": []}],
    }


def _run(record: dict, offset: float, lines: list[str]) -> dict:
    """One restart as an IOH run: its .dat block appended to `lines`, its JSON entry returned."""
    start = float(record["start_fun"]) - offset
    evals = max(1, int(math.ceil(record["equivalent_evals"])))
    lines += [HEADER, _row(1, start, start)]
    best, best_evals, point = start, 1, []
    improved = is_clean(record) and record["gap"] is not None and record["gap"] < start
    if improved and evals > 1:
        best, best_evals, point = float(record["gap"]), evals, record.get("x") or []
        lines.append(_row(evals, best, best))
    return {"instance": 1, "evals": evals, "best": {"evals": best_evals, "y": best, "x": point}}
