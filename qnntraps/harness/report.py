"""`qnntraps report`: a table and PNG figures from one run folder or a folder of run folders.

Every number is recomputed from a run's config.json and restarts.jsonl (the source of truth),
never read from summary.json, which a killed run may have left stale. Nothing is written into a
run folder but its figure (losses.png). Runs are in one of three states:

* ``finished`` — every restart has its record; it gets a full row and its figures;
* ``unfinished`` — some records are missing and no run holds the folder (a run that was
  interrupted: the same command resumes it); listed with done/restarts only;
* ``in progress`` — a run holds the folder's lock right now; listed with done/restarts only.

Figures go through `qnntraps.atomic.atomic_path`, so a killed report leaves at most hidden
``.NAME.*.tmp`` files, which the next report removes before it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnntraps.atomic import remove_stale_temporaries
from qnntraps.errors import QnnTrapsError
from qnntraps.harness import results
from qnntraps.harness.metrics import expected_running_time
from qnntraps.harness.plots import (
    plot_gap_ecdf_panels,
    plot_hit_rate_vs_p,
    plot_loss_histograms,
    plot_targets_ecdf,
    plot_tts,
)
from qnntraps.harness.summary import clean_gaps, is_clean, run_summary
from qnntraps.ids import parse_instance_id

FINISHED = "finished"
UNFINISHED = "unfinished"
IN_PROGRESS = "in progress"

HIT_RATE_FIGURE = "hit_rate_vs_p.png"
GAP_FIGURE = "gap_ecdf.png"
TTS_FIGURE = "tts.png"
TARGETS_FIGURE = "ecdf_targets.png"
LOSSES_FIGURE = "losses.png"
GAP_PANELS = 12  # instances drawn in gap_ecdf.png (one panel each), in table order


@dataclass(frozen=True)
class RunView:
    """One run folder, read back: its config, its records (restarts 0 .. restarts-1, in order,
    without final points) and the summary recomputed from them."""

    folder: Path
    config: dict
    summary: dict
    records: list[dict]
    state: str = FINISHED

    @property
    def label(self) -> str:
        return f"{self.config['optimizer']} on {self.config['instance']}"

    @property
    def finished(self) -> bool:
        return self.state == FINISHED


def read_run(run: Path) -> RunView:
    """One run folder; a partial last line (a run writing now, or a killed one) is left alone."""
    config = results.read_config(run)
    loaded = results.load_records(run / results.RECORDS, keep_final_points=False)
    restarts = config["restarts"]
    records = [loaded.records[r] for r in range(restarts) if r in loaded.records]
    summary = run_summary(config, loaded.records)
    if results.lock_holder(run) is not None:
        state = IN_PROGRESS
    else:
        state = FINISHED if summary["complete"] else UNFINISHED
    return RunView(run, config, summary, records, state)


def find_runs(folder: Path) -> list[RunView]:
    """Every run under folder (the folder itself, or any sub-folder holding a run's config.json)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise results.RunFolderError(f"{folder} is not a folder: give the --out folder of a run")
    runs = [path.parent for path in sorted(folder.rglob(results.CONFIG)) if _is_run(path)]
    if not runs:
        raise results.RunFolderError(
            f"no run under {folder} (no {results.CONFIG} of a qnntraps run found)"
        )
    return sorted((read_run(run) for run in runs), key=_order)


def _order(view: RunView) -> tuple:
    """Instances by family, then p (p4 before p10), then variant; then optimizer and folder."""
    config = view.config
    instance = config["instance"]
    try:
        parsed = parse_instance_id(instance)
        family, p = parsed.family, parsed.p
    except QnnTrapsError:  # a config naming no valid ID (damaged): after the others, by name
        family, p = "~", 0
    return (family, p, instance, config["optimizer"], str(view.folder))


def _is_run(path: Path) -> bool:
    """A config.json that says it is a run's (others, of other tools, are skipped)."""
    try:
        data = results.read_json(path)
    except results.RunFolderError:
        return True  # a damaged run config: read_run names it
    return not isinstance(data, dict) or data.get("format") in results.READABLE_FORMATS


def table(views: list[RunView]) -> str:
    """One row per run; unfinished and in-progress runs show done/restarts and their state."""
    header = (
        f"{'instance':<30} {'optimizer':<14} {'p':>3} {'done':>11} {'hits':>6} "
        f"{'rate':>8} {'95% interval':>19} {'TTS99 (eq. evals)':>18} {'median gap':>11} "
        f"{'flagged':>7} {'ERT (eq. evals) [10%, 90%]':>30}"
    )
    lines = [header, "-" * len(header)]
    for view in views:
        s, m = view.summary, view.summary.get("metrics")
        start = (
            f"{s['instance']:<30} {s['optimizer']:<14} {view.config.get('num_parameters', ''):>3} "
            f"{str(s['done']) + '/' + str(s['restarts']):>11}"
        )
        if not view.finished or m is None:
            lines.append(f"{start} {view.state}")
            continue
        interval = m["hit_rate_interval"]
        tts = m["tts99"]["value"]
        quantiles = m["gap_quantiles"]["values"]
        median = None if quantiles is None else quantiles[2]
        flagged = sum(bool(r["flags"]) for r in view.records)
        ert = expected_running_time(
            [r["equivalent_evals"] for r in view.records], [r["hit"] for r in view.records]
        )
        ert_text = (
            "inf" if ert.successes == 0 else f"{ert.value:.4g} [{ert.low:.3g}, {ert.high:.3g}]"
        )
        lines.append(
            f"{start} {m['hits']:>6} {m['hit_rate']:>8.4f} "
            f"{'[' + format(interval['low'], '.4f') + ', ' + format(interval['high'], '.4f') + ']':>19} "
            f"{'inf' if tts is None else format(tts, '.4g'):>18} "
            f"{'-' if median is None else format(median, '.3g'):>11} {flagged:>7} {ert_text:>30}"
        )
    return "\n".join(lines)


def write_figures(views: list[RunView], out: Path, log_counts: bool = False) -> list[Path]:
    """hit_rate_vs_p.png (per optimizer and family), gap_ecdf.png and ecdf_targets.png (a panel
    per instance) and tts.png (cost against hit rate) in `out`, and losses.png in
    each run folder: finished runs only. Stale temporaries of a killed report go first."""
    out = Path(out)
    finished = [view for view in views if view.finished and "metrics" in view.summary]
    for name in (HIT_RATE_FIGURE, GAP_FIGURE, TTS_FIGURE, TARGETS_FIGURE):
        remove_stale_temporaries(out, name)
    for view in finished:
        remove_stale_temporaries(view.folder, LOSSES_FIGURE)
    written = []
    series: dict[str, list[tuple[int, int, int]]] = {}
    costs: dict[str, list[tuple[str, int, int, float]]] = {}
    for view in finished:
        m = view.summary["metrics"]
        name, p = _optimizer_and_family(view), view.config["num_parameters"]
        series.setdefault(name, []).append((p, m["hits"], m["n"]))
        cost = m["equivalent_evals"]["mean"]
        if cost and cost > 0:
            costs.setdefault(name, []).append((f"p{p}", m["hits"], m["n"], cost))
    if series:
        for points in series.values():
            points.sort()
        written.append(plot_hit_rate_vs_p(series, out / HIT_RATE_FIGURE, "Hit rate vs p"))
    gaps = _by_instance(finished, lambda v: np.array(clean_gaps(v.config, v.records)))
    if gaps:
        tolerance: dict[str, float] = {}  # the first run's of each instance, as its panel
        for view in finished:
            tolerance.setdefault(view.config["instance"], view.config["hit_tolerance"])
        panels = {instance: (runs, tolerance[instance]) for instance, runs in gaps.items()}
        written.append(plot_gap_ecdf_panels(panels, out / GAP_FIGURE))
    if costs:
        written.append(plot_tts(costs, out / TTS_FIGURE, "Cost against hit rate (TTS99)"))
    runtimes = _by_instance(
        finished,
        lambda v: (
            [r["equivalent_evals"] for r in v.records],
            [r["gap"] if is_clean(r) else None for r in v.records],
        ),
    )
    if runtimes:
        written.append(plot_targets_ecdf(runtimes, out / TARGETS_FIGURE))
    for view in finished:
        finals = [r["fun"] for r in view.records if is_clean(r)]
        if not finals:
            continue
        values, counts, unit = _certified_ladder(view.config)
        written.append(
            plot_loss_histograms(
                [r["start_fun"] for r in view.records],
                finals,
                view.folder / LOSSES_FIGURE,
                ladder_values=values,
                global_min=view.config["global_min_value"],
                title=view.label,
                ladder_counts=counts,
                counts_unit=unit,
                log_counts=log_counts,
            )
        )
    return written


def _optimizer_and_family(view: RunView) -> str:
    """A series of hit_rate_vs_p.png and tts.png: one optimizer on one family (and variant)."""
    parsed = parse_instance_id(view.config["instance"])
    variant = f" ({parsed.variant})" if parsed.variant else ""
    return f"{view.config['optimizer']} · {parsed.family}{variant}"


def _by_instance(views: list[RunView], value) -> dict[str, dict]:
    """{instance: {optimizer: value(view)}} for the first GAP_PANELS instances, in the views'
    order: a panel per instance, its runs as lines (two runs of one optimizer on one instance
    are told apart by their folders)."""
    panels: dict[str, dict] = {}
    for view in views:
        instance = view.config["instance"]
        if instance not in panels and len(panels) == GAP_PANELS:
            continue
        runs = panels.setdefault(instance, {})
        name = view.config["optimizer"]
        if name in runs:
            name = f"{name} ({view.folder.name})"
        runs[name] = value(view)
    return panels


LADDER_RUNGS = 256  # the lowest rungs drawn under a run's converged losses


def _certified_ladder(config: dict):
    """(values, counts, what the counts count) of the instance's certified ladder, its lowest
    LADDER_RUNGS rungs, or (None, None, "") when the registry does not hold the file this run
    used (another version, or another registry) or the certificate has no ladder."""
    from qnntraps.registry import find_entry, load

    try:
        if find_entry(config["instance"]).sha256 != config.get("sha256"):
            return None, None, ""
        certificate = load(config["instance"]).certificate
    except QnnTrapsError:
        return None, None, ""
    if certificate.ladder_values is None:
        return None, None, ""
    unit = "local minima" if certificate.ladder_counts_unit == "minima" else "multistart starts"
    return (
        certificate.ladder_values[:LADDER_RUNGS],
        certificate.ladder_counts[:LADDER_RUNGS],
        unit,
    )
