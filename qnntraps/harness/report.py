"""`qnntraps report`: a table and PNG figures from one run folder or a folder of run folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qnntraps.harness import results
from qnntraps.harness.plots import plot_gap_ecdf, plot_hit_rate_vs_p, plot_loss_histograms
from qnntraps.ids import parse_instance_id


@dataclass(frozen=True)
class RunView:
    """One run folder, read back."""

    folder: Path
    config: dict
    summary: dict
    records: list[dict]

    @property
    def label(self) -> str:
        return f"{self.config['optimizer']} on {self.config['instance']}"


def find_runs(folder: Path) -> list[RunView]:
    """Every run under folder (the folder itself, or any sub-folder holding a config.json)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise results.RunFolderError(f"{folder} is not a folder: give the --out folder of a run")
    configs = sorted(folder.rglob(results.CONFIG))
    if not configs:
        raise results.RunFolderError(f"no run under {folder} (no {results.CONFIG} found)")
    views = []
    for path in configs:
        run = path.parent
        config = results.read_json(path)
        if not (run / results.SUMMARY).exists():
            raise results.RunFolderError(f"{run} has no {results.SUMMARY}: resume that run first")
        records = list(results.read_records(run / results.RECORDS).values())
        views.append(RunView(run, config, results.read_json(run / results.SUMMARY), records))
    return views


def table(views: list[RunView]) -> str:
    header = (
        f"{'instance':<30} {'optimizer':<14} {'p':>3} {'done':>11} {'hits':>6} "
        f"{'rate':>8} {'95% interval':>19} {'TTS99 (eq. evals)':>18} {'median gap':>11}"
    )
    lines = [header, "-" * len(header)]
    for view in views:
        s, m = view.summary, view.summary.get("metrics")
        done = f"{s['done']}/{s['restarts']}"
        if m is None:
            lines.append(f"{s['instance']:<30} {s['optimizer']:<14} {'':>3} {done:>11}")
            continue
        interval = m["hit_rate_interval"]
        tts = m["tts99"]["value"]
        lines.append(
            f"{s['instance']:<30} {s['optimizer']:<14} {view.config['num_parameters']:>3} "
            f"{done:>11} {m['hits']:>6} {m['hit_rate']:>8.4f} "
            f"{'[' + format(interval['low'], '.4f') + ', ' + format(interval['high'], '.4f') + ']':>19} "
            f"{'inf' if tts is None else format(tts, '.4g'):>18} "
            f"{m['gap_quantiles']['values'][2]:>11.3g}"
        )
    return "\n".join(lines)


def write_figures(views: list[RunView], out: Path) -> list[Path]:
    """hit_rate_vs_p.png (per optimizer and family), gap_ecdf.png, and losses.png per run."""
    out = Path(out)
    written = []
    series: dict[str, list[tuple[int, int, int]]] = {}
    for view in views:
        m = view.summary.get("metrics")
        if m is None:
            continue
        family = parse_instance_id(view.config["instance"]).family
        variant = parse_instance_id(view.config["instance"]).variant
        name = f"{view.config['optimizer']} · {family}" + (f" ({variant})" if variant else "")
        series.setdefault(name, []).append((view.config["num_parameters"], m["hits"], m["n"]))
    if series:
        for points in series.values():
            points.sort()
        written.append(plot_hit_rate_vs_p(series, out / "hit_rate_vs_p.png", "Hit rate vs p"))
    gaps = {
        view.label: np.array([r["gap"] for r in view.records if r["gap"] is not None])
        for view in views[:12]
    }
    if gaps:
        written.append(plot_gap_ecdf(gaps, out / "gap_ecdf.png", "Final gap L(θ) − L*"))
    for view in views:
        starts = [r["start_loss"] for r in view.records]
        finals = [r["final_loss"] for r in view.records if r["final_loss"] is not None]
        if not finals:
            continue
        written.append(
            plot_loss_histograms(
                starts,
                finals,
                view.folder / "losses.png",
                ladder_values=_certified_ladder(view.config["instance"]),
                global_min=view.config["global_min_value"],
                title=view.label,
            )
        )
    return written


def _certified_ladder(instance_id: str):
    from qnntraps.registry import load

    ladder = load(instance_id).certificate.ladder_values
    return None if ladder is None else ladder[:50]
