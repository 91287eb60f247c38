"""Figures of a scored run: hit rate vs p, loss histograms with the ladder, ECDF of final gaps.

The layouts follow You & Wu, "Exponentially Many Local Minima in Quantum Neural Networks"
(ICML 2021): Fig. 4 (success rate vs number of parameters) and Figs. 2/3 (losses at start and at
convergence). Figures are built with :class:`matplotlib.figure.Figure` directly, never through
pyplot, so no global figure state is touched and no GUI backend is needed (PNG goes through Agg).

Every function writes its PNG atomically and durably through :func:`qnntraps.atomic.atomic_path`
(a hidden temporary file ``.NAME.*.tmp`` in the target directory, fsync'ed, then renamed), creates
missing parent directories, and returns the path written as a ``Path``. A failed write leaves the
old file and no temporary; file-system refusals raise :class:`qnntraps.atomic.WriteError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from operator import index as index_of
from pathlib import Path

import numpy as np
from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from qnntraps.atomic import atomic_path
from qnntraps.harness.metrics import ecdf, hit_rate_interval

__all__ = [
    "DEFAULT_GAP_FLOOR",
    "RANDOM_VERTEX",
    "hit_rate_figure",
    "plot_solve_profiles",
    "reference_curves",
    "solve_profiles_figure",
    "plot_gap_ecdf",
    "plot_gap_ecdf_panels",
    "tts_figure",
    "plot_tts",
    "targets_ecdf_figure",
    "plot_targets_ecdf",
    "gap_ecdf_figure",
    "plot_hit_rate_vs_p",
    "plot_loss_histograms",
    "loss_histograms_figure",
    "ladder_tally",
    "gradient_variance_figure",
    "plot_gradient_variance",
    "hit_rate_by_qubits_figure",
    "plot_hit_rate_by_qubits",
    "transition_figure",
    "plot_transition",
    "converged_ladders_figure",
    "plot_converged_ladders",
]

#: Gaps below this value (zero and negative round-off included) are drawn at it on the log axis.
DEFAULT_GAP_FLOOR = 1e-12

_DPI = 120
_MIN_BINS = 50
_MAX_BINS = 200


def _colors() -> list[str]:
    return list(rcParams["axes.prop_cycle"].by_key().get("color", ["C0"]))


def _finite_1d(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _panel_grid(count: int, columns: int, height: float) -> tuple[Figure, list]:
    """A figure of `count` panels 5.2 wide and `height` high, `columns` to a row; the axes of
    the panels, the spare cells of the last row hidden."""
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(5.2 * columns, height * rows))
    grid = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes in grid[count:]:
        axes.set_visible(False)
    return figure, list(grid[:count])


def _save_atomic(figure: Figure, path) -> Path:
    """Write ``figure`` as PNG to ``path`` through :func:`qnntraps.atomic.atomic_path`."""
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=_DPI)
    return path


# --- Fig. 4: hit rate vs p ------------------------------------------------------------------------
#: The reference every hit-rate figure shows unless told otherwise: the fraction of the 2^p
#: vertex minima of a construction instance that is global.
RANDOM_VERTEX = {r"$2^{-p}$ (random vertex)": lambda p: 2.0**-p}
_REFERENCE_STYLES = (("--", "0.4"), ("-.", "black"), (":", "0.2"))


def reference_curves(
    gradient_flow: Mapping[int, float], flow_label: str = "gradient flow"
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """2^-p (:data:`RANDOM_VERTEX`) and, when `gradient_flow` maps some p to the exact
    gradient-flow rate q^p of a `construction` instance, the line q^p (q is the same at every p
    of the family, so it is read back from the smallest p given)."""
    curves = dict(RANDOM_VERTEX)
    if gradient_flow:
        p0 = min(gradient_flow)
        q = gradient_flow[p0] ** (1.0 / p0)
        curves[rf"$q^p$ ({flow_label}, q = {q:.4f})"] = lambda p: q**p
    return curves


def hit_rate_figure(
    series: Mapping[str, Sequence[tuple[int, int, int]]],
    title: str | None = None,
    references: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
) -> Figure:
    """The figure of :func:`plot_hit_rate_vs_p`, not written anywhere (tests read what it draws)."""
    if not series:
        raise ValueError("plot_hit_rate_vs_p needs at least one series")
    references = RANDOM_VERTEX if references is None else references
    if len(references) > len(_REFERENCE_STYLES):
        raise ValueError(f"at most {len(_REFERENCE_STYLES)} reference curves")
    figure = Figure(figsize=(6.4, 4.8))
    ax = figure.add_subplot()
    colors = _colors()
    all_p: list[int] = []
    positive: list[float] = []
    any_zero = False
    for index, (name, points) in enumerate(series.items()):
        color = colors[index % len(colors)]
        rows = sorted((index_of(p), index_of(hits), index_of(n)) for p, hits, n in points)
        if not rows:
            continue
        # Series are spread sideways by a little, so that equal rates do not hide each other.
        dodge = 0.12 * (index - (len(series) - 1) / 2)
        p = np.array([row[0] for row in rows], dtype=np.float64) + dodge
        intervals = [hit_rate_interval(hits, n) for _, hits, n in rows]
        rate = np.array([iv.rate for iv in intervals])
        low = np.array([iv.low for iv in intervals])
        high = np.array([iv.high for iv in intervals])
        all_p.extend(int(row[0]) for row in rows)
        zero = rate == 0
        # The line joins observed rates and, for 0 hits, the upper bounds (drawn faintly).
        ax.plot(p, np.where(zero, high, rate), color=color, alpha=0.35, linewidth=1)
        if np.any(~zero):
            hit = ~zero
            ax.errorbar(
                p[hit],
                rate[hit],
                yerr=np.vstack([rate[hit] - low[hit], high[hit] - rate[hit]]),
                fmt="o",
                color=color,
                capsize=3,
                markersize=5,
                label=name,
            )
            positive.extend(low[hit][low[hit] > 0])
            positive.extend(rate[hit])
        if np.any(zero):
            any_zero = True
            ax.plot(
                p[zero],
                high[zero],
                linestyle="none",
                marker="v",
                markersize=8,
                markerfacecolor="none",
                markeredgecolor=color,
                label=None if np.any(~zero) else name,
            )
        positive.extend(high)
    if not all_p:
        raise ValueError("plot_hit_rate_vs_p needs at least one (p, hits, n) point")
    # One p alone still gets a stretch of the reference lines and whole-number ticks around it.
    spread = 0.0 if max(all_p) > min(all_p) else 0.5
    p_grid = np.linspace(min(all_p) - spread, max(all_p) + spread, 200)
    for (label, curve), (style, shade) in zip(references.items(), _REFERENCE_STYLES, strict=False):
        values = np.asarray(curve(p_grid), dtype=np.float64)
        ax.plot(p_grid, values, linestyle=style, color=shade, linewidth=1.2, label=label)
        positive.append(float(values[values > 0].min()))
    if any_zero:
        ax.plot(
            [],
            [],
            linestyle="none",
            marker="v",
            markerfacecolor="none",
            markeredgecolor="0.3",
            label="0 hits: 95% upper bound",
        )
    ax.set_yscale("log")
    ax.set_ylim(bottom=min(positive) / 2, top=1.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if spread:
        ax.set_xlim(min(all_p) - 1, max(all_p) + 1)
    ax.set_xlabel("p (number of parameters)")
    ax.set_ylabel("hit rate (hits / N), 95% interval")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return figure


def plot_hit_rate_vs_p(
    series: Mapping[str, Sequence[tuple[int, int, int]]],
    path,
    title: str | None = None,
    references: Mapping[str, Callable[[np.ndarray], np.ndarray]] | None = None,
) -> Path:
    """Hit rate against the number of parameters p, log y axis, one line per series.

    ``series`` maps a name (an optimizer, say) to ``(p, hits, n)`` triples. Error bars are the 95%
    intervals of :func:`~qnntraps.harness.metrics.hit_rate_interval` (Wilson, or Clopper-Pearson at
    0 or n hits). A point with 0 hits cannot sit on a log axis: it is drawn as a hollow down
    triangle at its 95% upper bound. ``references`` maps labels to curves r(p) drawn as lines
    (default: the dashed 2^-p of :data:`RANDOM_VERTEX`; at most three). Series are drawn slightly
    apart along p so that identical rates stay visible.
    """
    return _save_atomic(hit_rate_figure(series, title, references), path)


# --- the suite score's curves -----------------------------------------------------------------
def solve_profiles_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str | None = None
) -> Figure:
    """The figure of :func:`plot_solve_profiles`, not written anywhere."""
    if not curves:
        raise ValueError("plot_solve_profiles needs at least one curve")
    figure = Figure(figsize=(6.4, 4.8))
    ax = figure.add_subplot()
    colors = _colors()
    styles = ("-", "--", "-.", ":")
    for index, (name, (budgets, probability)) in enumerate(curves.items()):
        budgets = _finite_1d(f"budgets of {name!r}", budgets)
        probability = _finite_1d(f"probabilities of {name!r}", probability)
        if budgets.shape != probability.shape or np.any(budgets <= 0):
            raise ValueError(f"curve {name!r}: budgets must be positive and match probabilities")
        ax.plot(
            budgets,
            probability,
            color=colors[index % len(colors)],
            linestyle=styles[(index // len(colors)) % len(styles)],
            linewidth=1.4,
            label=name,
        )
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("total budget b (equivalent evaluations, independent restarts)")
    ax.set_ylabel("P(at least one hit within b)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left")
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return figure


def plot_solve_profiles(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path, title: str | None = None
) -> Path:
    """P(b) against the total budget b on a log axis, one line per instance: the probability
    that independent restarts hit at least once within b equivalent evaluations (the suite
    score is the mean area under these curves; qnntraps.suites.score)."""
    return _save_atomic(solve_profiles_figure(curves, title), path)


def _bins(values: np.ndarray) -> int:
    """NumPy's "auto" rule (the finer of Sturges and Freedman-Diaconis), computed here without
    building the edges so a tight cluster plus an outlier cannot ask for billions of bins, and kept
    between _MIN_BINS (converged values piled on ladder rungs show as separate spikes) and
    _MAX_BINS."""
    if values.size < 2:
        return _MIN_BINS
    span = float(np.ptp(values))
    count = math.ceil(math.log2(values.size)) + 1  # Sturges
    q75, q25 = np.percentile(values, [75, 25])
    if span > 0 and q75 > q25:
        width = 2.0 * float(q75 - q25) * values.size ** (-1.0 / 3.0)  # Freedman-Diaconis
        count = max(count, min(math.ceil(span / width), _MAX_BINS))
    return int(min(max(count, _MIN_BINS), _MAX_BINS))


# --- Figs. 2/3: losses at start and at convergence ------------------------------------------------
#: A converged loss within this distance of a certified ladder value is counted on that rung
#: (on the nearest one, so no value counts twice).
RUNG_TOLERANCE = 1e-6


def ladder_tally(final: np.ndarray, ladder: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts per rung of np.unique(ladder), the values on no rung): each converged loss goes
    to its nearest rung when within RUNG_TOLERANCE of it, whatever the round-off around it."""
    rungs = np.unique(ladder)
    tolerance = RUNG_TOLERANCE
    nearest = np.clip(np.searchsorted(rungs, final), 0, rungs.size - 1)
    below = np.clip(nearest - 1, 0, rungs.size - 1)
    pick = np.where(np.abs(final - rungs[below]) < np.abs(final - rungs[nearest]), below, nearest)
    on = np.abs(final - rungs[pick]) <= tolerance
    return np.bincount(pick[on], minlength=rungs.size), final[~on]


def loss_histograms_figure(
    start_losses,
    final_losses,
    ladder_values=None,
    global_min: float | None = None,
    title: str | None = None,
    ladder_counts=None,
    counts_unit: str = "local minima",
    log_counts: bool = False,
) -> Figure:
    """The figure of :func:`plot_loss_histograms`, not written anywhere (tests read what it draws)."""
    start = _finite_1d("start_losses", start_losses)
    final = _finite_1d("final_losses", final_losses)
    ladder = None if ladder_values is None else _finite_1d("ladder_values", ladder_values)
    certified = None
    if ladder_counts is not None:
        certified = np.asarray(ladder_counts, dtype=np.float64).reshape(-1)
        if ladder is None or certified.shape != ladder.shape or np.any(certified < 0):
            raise ValueError("ladder_counts needs one count >= 0 per ladder value")
    figure = Figure(figsize=(11.0, 4.2))
    left, right = figure.subplots(1, 2)
    left.hist(start, bins=_bins(start), color="C0", alpha=0.8,
              label=f"losses at start (N={start.size})")  # fmt: skip
    left.set_title("losses at start")
    right.set_title("losses at convergence")
    if ladder is not None and ladder.size:
        _draw_on_ladder(right, final, ladder, certified, counts_unit)
    else:
        _draw_distinct(right, final)
    if global_min is not None:
        right.axvline(float(global_min), color="tab:red", linestyle="--", linewidth=1.2,
                      label="L* (global min)")  # fmt: skip
    for ax in (left, right):
        ax.set_xlabel("loss L(θ)")
        ax.set_ylabel("restarts")
        entries = len(ax.get_legend_handles_labels()[1])  # headroom for the legend, by its lines
        if log_counts:
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.7, top=ax.get_ylim()[1] * 10 ** (0.5 + 0.4 * entries))
        else:
            ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * (1.1 + 0.15 * entries))
        ax.legend(fontsize="small", loc="upper right")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def _bar_width(positions: np.ndarray, span: float) -> float:
    """A third of the closest spacing, but never thinner than 0.4% of the span (ladders of
    label-noise variants hold values 1e-15 apart)."""
    gaps = np.diff(np.unique(positions))
    floor = 0.004 * max(span, 1e-12)
    return max(0.35 * float(gaps.min()), floor) if gaps.size else 5 * floor


#: Bars whose counts are written on them, at most (beyond, the numbers would overlap).
ANNOTATED_BARS = 20


def _annotate_counts(ax, xs, counts) -> None:
    if len(counts) > ANNOTATED_BARS:
        return
    for x, count in zip(xs, counts, strict=True):
        ax.annotate(str(int(count)), (x, count), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 1), textcoords="offset points")  # fmt: skip


def _draw_on_ladder(ax, final, ladder, certified, counts_unit: str) -> None:
    """Converged losses counted per certified rung (one bar per rung, its count written on it),
    the certificate's own count per rung beside it, scaled to the same total, and the values on
    no rung as a grey histogram."""
    rungs = np.unique(ladder)
    counts, off = ladder_tally(final, ladder)
    span = float(max(rungs.max(), final.max() if final.size else rungs.max()) - rungs.min())
    width = _bar_width(rungs, span)
    hit = counts > 0
    shift = width / 2 if certified is not None else 0.0
    ax.bar(rungs[hit] - shift, counts[hit], width=width, color="C1",
           label=f"converged, on a certified rung ({int(counts.sum())} of {final.size})")  # fmt: skip
    _annotate_counts(ax, rungs[hit] - shift, counts[hit])
    if certified is not None and certified.sum() > 0:
        # the certificate's count per value (summed where values repeat), scaled to the restarts
        per_rung = np.zeros(rungs.size)
        np.add.at(per_rung, np.searchsorted(rungs, ladder), certified)
        scaled = per_rung * (final.size / per_rung.sum())
        ax.bar(rungs + shift, scaled, width=width, color="0.6", alpha=0.8,
               label=f"certificate: share of {counts_unit} per value (scaled to N)")  # fmt: skip
    if off.size:
        ax.hist(off, bins=_bins(off), color="0.35", alpha=0.6,
                label=f"converged, on none of these rungs ({off.size})")  # fmt: skip
    if rungs.size <= 4 * ANNOTATED_BARS:  # beyond, the bars alone mark the rungs
        ax.vlines(rungs, 0, 1, transform=ax.get_xaxis_transform(), colors="0.35",
                  linestyles=":", linewidth=0.8, label="certified ladder")  # fmt: skip


def _draw_distinct(ax, final) -> None:
    """Without a ladder: one bar per distinct value when there are few, else a histogram."""
    values, counts = np.unique(final, return_counts=True)
    if values.size <= _MIN_BINS:
        span = float(values.max() - values.min())
        ax.bar(values, counts, width=_bar_width(values, span), color="C1",
               label=f"losses at convergence (N={final.size})")  # fmt: skip
        _annotate_counts(ax, values, counts)
    else:
        ax.hist(final, bins=_bins(final), color="C1", alpha=0.8,
                label=f"losses at convergence (N={final.size})")  # fmt: skip


def plot_loss_histograms(
    start_losses,
    final_losses,
    path,
    ladder_values=None,
    global_min: float | None = None,
    title: str | None = None,
    ladder_counts=None,
    counts_unit: str = "local minima",
    log_counts: bool = False,
) -> Path:
    """Two panels: the losses at the start points (a histogram) and the losses at convergence.

    With a certified ladder, converged losses are counted per rung (a loss within RUNG_TOLERANCE
    of a rung counts on it, so a rung is one bar whatever the round-off around it) and each
    bar's count is written on it; `ladder_counts` (the certificate's count per value, in
    `counts_unit`) is drawn beside, scaled to the same total; losses on no rung form a grey
    histogram. Without a ladder, few distinct values are one bar each. L* is the dashed red
    line; `log_counts` puts the counts on a log axis, so that small ones stay visible.
    """
    figure = loss_histograms_figure(
        start_losses, final_losses, ladder_values, global_min, title, ladder_counts,
        counts_unit, log_counts,
    )  # fmt: skip
    return _save_atomic(figure, path)


# --- ECDF of the final gap ------------------------------------------------------------------------
def gap_ecdf_figure(
    panels: Mapping[str, tuple[Mapping[str, Sequence[float] | np.ndarray], float | None]],
    floor: float = DEFAULT_GAP_FLOOR,
    columns: int = 3,
) -> Figure:
    """ECDFs of final gaps, one panel per entry of `panels` (an instance, say: its title maps to
    ({series name: gaps}, hit tolerance or None)). Both axes are logarithmic, so a hit rate of
    0.6% is a visible step, not a line on the axis; the tolerance is a dotted line and each
    series' legend says how many of its gaps lie within it."""
    if not panels:
        raise ValueError("plot_gap_ecdf needs at least one series")
    floor = float(floor)
    if not (np.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be a positive finite number, not {floor!r}")
    figure, grid = _panel_grid(len(panels), max(1, min(columns, len(panels))), 3.9)
    colors = _colors()
    for ax, (title, (series, tolerance)) in zip(grid, panels.items(), strict=True):
        if not series:
            raise ValueError(f"{title}: plot_gap_ecdf needs at least one series")
        largest, most = floor, 1
        for index, (name, gaps) in enumerate(series.items()):
            color = colors[index % len(colors)]
            x, fraction = ecdf(_finite_1d(f"gaps of {name!r}", gaps))
            if x.size == 0:
                ax.plot([], [], color=color, label=f"{name} (no gaps)")
                continue
            label = f"{name} (N={x.size})"
            if tolerance is not None:
                within = int(np.sum(x <= tolerance))
                label = f"{name}: {within} of {x.size} within tolerance ({within / x.size:.2%})"
            x = np.maximum(x, floor)
            largest, most = max(largest, float(x[-1])), max(most, x.size)
            ax.step(x, fraction, where="post", color=color, label=label)
        if tolerance is not None:
            ax.axvline(max(float(tolerance), floor), color="0.3", linestyle=":", linewidth=1.2,
                       label=f"hit tolerance {float(tolerance):.3g}")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(floor / 3, max(largest * 3, floor * 10))
        ax.set_ylim(0.5 / most, 1.6)
        ax.set_xlabel(f"final gap L(θ) − L*  (< {floor:.0e} drawn at {floor:.0e})")
        ax.set_ylabel("fraction with gap ≤ x")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="x-small", loc="lower right")
        ax.set_title(title, fontsize=9)
    figure.tight_layout()
    return figure


def plot_gap_ecdf(
    series: Mapping[str, Sequence[float] | np.ndarray],
    path,
    title: str | None = None,
    floor: float = DEFAULT_GAP_FLOOR,
    hit_tolerance: float | None = None,
) -> Path:
    """ECDF of the final gaps L(θ_final) − L* per series in one panel (:func:`gap_ecdf_figure`).

    Gaps below ``floor`` (exact hits, round-off below L*) are drawn at ``floor``, as the x label
    says. ``hit_tolerance``, when given, is marked by a vertical dotted line.
    """
    if not series:
        raise ValueError("plot_gap_ecdf needs at least one series")
    figure = gap_ecdf_figure({title or "": (series, hit_tolerance)}, floor)
    return _save_atomic(figure, path)


def plot_gap_ecdf_panels(panels, path, floor: float = DEFAULT_GAP_FLOOR) -> Path:
    """:func:`gap_ecdf_figure` written to `path`."""
    return _save_atomic(gap_ecdf_figure(panels, floor), path)


# --- runtime ECDF over targets (COCO) ------------------------------------------------------------
#: Precision targets of the runtime ECDF: gaps L - L* of 10^1 down to 10^-8.
ECDF_TARGETS = tuple(10.0**k for k in range(1, -9, -1))


def targets_ecdf_figure(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float | None]]]],
    targets: Sequence[float] = ECDF_TARGETS,
    columns: int = 3,
) -> Figure:
    """COCO's runtime ECDF, one panel per entry of `panels` (an instance: {series name: (cost
    of each restart, its final gap or None)}): the fraction of (restart, target) pairs whose
    restart ended within the target by a budget b, against b on a log axis. A restart reaches
    target t when its final gap is <= t, at its whole cost (an upper bound: no path is kept);
    a restart with no gap (flagged, or no final point) reaches none."""
    if not panels:
        raise ValueError("the targets ECDF needs at least one panel")
    targets = np.asarray(targets, dtype=np.float64)
    if targets.size == 0 or not np.all(np.isfinite(targets)) or np.any(targets < 0):
        raise ValueError("targets must be finite numbers >= 0")
    figure, grid = _panel_grid(len(panels), max(1, min(columns, len(panels))), 3.9)
    colors = _colors()
    for ax, (title, series) in zip(grid, panels.items(), strict=True):
        smallest, largest = math.inf, 1.0
        for index, (name, (costs, gaps)) in enumerate(series.items()):
            cost = _finite_1d(f"costs of {name!r}", costs)
            gap = np.array([np.inf if g is None else float(g) for g in gaps])
            if gap.size != cost.size:
                raise ValueError(f"{name}: one gap (or None) per cost")
            reached = gap[:, None] <= targets[None, :]  # (restarts, targets)
            times = np.sort(np.repeat(cost, targets.size)[reached.ravel()])
            total = cost.size * targets.size
            label = f"{name} ({int(reached.sum())} of {total} pairs)"
            if times.size == 0:
                ax.plot([], [], color=colors[index % len(colors)], label=label)
                continue
            times = np.maximum(times, 1.0)
            smallest, largest = min(smallest, times[0]), max(largest, times[-1])
            fraction = np.arange(1, times.size + 1) / total
            ax.step(np.concatenate([[times[0]], times]), np.concatenate([[0.0], fraction]),
                    where="post", color=colors[index % len(colors)], label=label)  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlim(min(smallest, largest) / 2 if math.isfinite(smallest) else 0.5, largest * 2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("budget b (equivalent evaluations per restart)")
        ax.set_ylabel("fraction of (restart, target) pairs")
        high, low = (int(round(math.log10(max(t, 1e-300)))) for t in (targets.max(), targets.min()))
        ax.set_title(f"{title}\n{targets.size} targets L − L* ≤ $10^{{{high}}}$ … $10^{{{low}}}$",
                     fontsize=9)  # fmt: skip
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize="x-small", loc="upper left")
    figure.tight_layout()
    return figure


def plot_targets_ecdf(panels, path, targets: Sequence[float] = ECDF_TARGETS) -> Path:
    """:func:`targets_ecdf_figure` written to `path`."""
    return _save_atomic(targets_ecdf_figure(panels, targets), path)


# --- cost against hit rate (time to solution) -------------------------------------------------
#: TTS99 = cost per restart x ln(1 - 0.99) / ln(1 - hit rate): restarts' cost until a hit with
#: probability 0.99, in equivalent evaluations (docs/scoring.md, "Metrics").
TTS_TARGET = 0.99


def tts_figure(
    runs: Mapping[str, Sequence[tuple[str, int, int, float]]], title: str | None = None
) -> Figure:
    """Mean cost per restart against hit rate, one colour per series (an optimizer) and one
    marker per run ``(label, hits, n, mean equivalent evaluations per restart)``, both axes
    logarithmic, with dashed lines of constant TTS99 (one per decade): a run further down and
    right is cheaper to solve with. A run with 0 hits has no rate on a log axis: it is a hollow
    triangle at its 95% upper bound (its TTS99 is infinite)."""
    if not runs:
        raise ValueError("the cost figure needs at least one run")
    figure = Figure(figsize=(8.6, 5.0))
    ax = figure.add_subplot()
    colors = _colors()
    rates, costs = [], []
    for index, (name, points) in enumerate(runs.items()):
        color = colors[index % len(colors)]
        for number, (label, hits, n, cost) in enumerate(points):
            interval = hit_rate_interval(index_of(hits), index_of(n))
            cost = float(cost)
            if not (math.isfinite(cost) and cost > 0):
                raise ValueError(f"{name}, {label}: the cost per restart must be > 0, not {cost}")
            rate = interval.rate if hits else interval.high
            ax.plot([rate], [cost], linestyle="none", color=color, markersize=7,
                    marker="o" if hits else "v", markerfacecolor=color if hits else "none",
                    label=name if number == 0 else None)  # fmt: skip
            ax.annotate(label, (rate, cost), fontsize=6, xytext=(4, 3), textcoords="offset points")
            rates.append(rate)
            costs.append(cost)
    low, high = min(rates) / 3, 1.0
    bottom, top = min(costs) / 5, max(costs) * 5
    grid = np.geomspace(low, 0.999, 200)
    factor = math.log(1 - TTS_TARGET) / np.log1p(-grid)  # TTS99 = cost x factor, falling in x
    smallest = math.floor(math.log10(bottom * factor[-1]))  # the decades crossing the axes
    largest = math.ceil(math.log10(top * factor[0]))
    for decade in range(smallest, largest + 1):
        curve = 10.0**decade / factor
        ax.plot(grid, curve, linestyle="--", color="0.75", linewidth=0.8,
                label="TTS99 = 10^k eq. evals" if decade == smallest else None)  # fmt: skip
        inside = np.flatnonzero((curve > bottom) & (curve < top))
        if inside.size:  # the decade written where its line leaves the top or right edge
            end = inside[-1]
            ax.annotate(f"$10^{{{decade}}}$", (grid[end], curve[end]), fontsize=6, color="0.5",
                        xytext=(-2, -8), textcoords="offset points", ha="right")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(bottom, top)
    ax.set_xlabel("hit rate (hits / N; 0 hits: 95% upper bound)")
    ax.set_ylabel("mean cost per restart (equivalent evaluations)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title)
    figure.tight_layout()
    return figure


def plot_tts(runs, path, title: str | None = None) -> Path:
    """:func:`tts_figure` written to `path`."""
    return _save_atomic(tts_figure(runs, title), path)


# --- the barren plateau: gradient variance against n and against depth -----------------------


def gradient_variance_figure(
    qubits: Sequence[int],
    variances: Sequence[float],
    intervals: Sequence[tuple[float, float] | None],
    by_depth: Mapping[int, Sequence[float]] | None = None,
    depths: Mapping[int, int] | None = None,
) -> Figure:
    """Left: Var[dL/dtheta_0] against n on a log axis, exact points as filled circles, sampled
    ones (where `intervals[i]` is their 95% interval) as open squares with error bars, the
    least-squares line through the exact points (label: its slope in powers of 2) and 2^-n.
    Right (with `by_depth`): the exact variance against depth for each n, the chosen depth
    (`depths[n]`) marked with a dot."""
    n = _finite_1d("qubits", qubits)
    v = _finite_1d("variances", variances)
    if n.size != v.size or n.size != len(intervals) or n.size == 0 or np.any(v <= 0):
        raise ValueError("one positive variance and one interval (or None) per qubit count")
    exact = np.array([i is None for i in intervals])
    figure = Figure(figsize=(11.0, 4.2) if by_depth else (6.4, 4.8))
    left = figure.add_subplot(1, 2 if by_depth else 1, 1)
    left.set_yscale("log")
    left.plot(n[exact], v[exact], "o", color="C0", label="exact (second moments)")
    if np.any(~exact):
        lows = np.array([i[0] for i in intervals if i is not None])
        highs = np.array([i[1] for i in intervals if i is not None])
        left.errorbar(
            n[~exact],
            v[~exact],
            yerr=[v[~exact] - lows, highs - v[~exact]],
            fmt="s",
            mfc="none",
            color="C0",
            capsize=3,
            label="sampled, 95% interval",
        )
    grid = np.linspace(n.min(), n.max(), 50)
    if exact.sum() >= 2:
        slope, intercept = np.polyfit(n[exact], np.log2(v[exact]), 1)
        left.plot(
            grid,
            2.0 ** (slope * grid + intercept),
            "-",
            color="C1",
            label=f"fit: 2^({slope:.3f} n {intercept:+.2f})",
        )
    left.plot(grid, 2.0**-grid, "--", color="0.4", label="2^-n")
    left.set_xlabel("qubits n")
    left.set_ylabel("Var[dL/dθ₀] over uniform θ")
    left.legend(fontsize=8)
    if by_depth:
        right = figure.add_subplot(1, 2, 2)
        right.set_yscale("log")
        for k, (qubit_count, curve) in enumerate(sorted(by_depth.items())):
            curve = _finite_1d(f"by_depth[{qubit_count}]", curve)
            layers = np.arange(1, curve.size + 1)
            color = f"C{k % 10}"
            shown = np.where(curve > 0, curve, np.nan)  # a zero variance has no place on a log axis
            right.plot(layers, shown, "-", color=color, label=f"n = {qubit_count}")
            if depths and qubit_count in depths:
                chosen = depths[qubit_count]
                right.plot([chosen], [curve[chosen - 1]], "o", color=color)
        right.set_xlabel("layers L")
        right.set_ylabel("exact Var[dL/dθ₀]")
        right.legend(fontsize=8, ncol=2)
    figure.tight_layout()
    return figure


def plot_gradient_variance(path, *args, **kwargs) -> Path:
    """`gradient_variance_figure(*args, **kwargs)` written to `path` (PNG, atomically)."""
    return _save_atomic(gradient_variance_figure(*args, **kwargs), path)


def _color_order(labels) -> list[str]:
    """The labels without their " (exact)" suffix, first appearance first: color k is C<k>."""
    return list(dict.fromkeys(label.removesuffix(" (exact)") for label in labels))


def _draw_hit_rates(
    axes,
    series: Mapping[str, tuple[Sequence[int], Sequence[int], int]],
    shift: float,
    bases: list[str] | None = None,
) -> None:
    """One line per entry of `series` (label -> (x values, hits per x, restarts per x)), each
    point with its 95% interval; a label ending in " (exact)" is drawn dashed with open markers
    in the color of the label without that suffix; series shifted sideways by `shift` each.
    `bases` fixes the color order (so that several panels agree); default: the series' order."""
    if bases is None:
        bases = _color_order(series)
    for k, (label, (xs, hits, restarts)) in enumerate(series.items()):
        x = _finite_1d(f"x values of {label}", xs)
        counts = [index_of(h) for h in hits]
        if x.size != len(counts) or x.size == 0 or restarts <= 0:
            raise ValueError(f"{label}: one hit count per x value, and restarts > 0")
        if any(not 0 <= h <= restarts for h in counts):
            raise ValueError(f"{label}: hit counts must lie in 0..{restarts}")
        rates = np.array(counts, dtype=np.float64) / restarts
        bounds = [hit_rate_interval(h, restarts) for h in counts]
        low = rates - np.array([b.low for b in bounds])
        high = np.array([b.high for b in bounds]) - rates
        base = label.removesuffix(" (exact)")
        style = "--" if base != label else "-"
        color = f"C{bases.index(base) % 10}"
        axes.errorbar(
            x + shift * (k - (len(series) - 1) / 2),
            rates,
            yerr=[low, high],
            fmt="o" + style,
            color=color,
            markerfacecolor="white" if base != label else color,
            capsize=3,
            label=label,
        )
    axes.set_ylim(-0.03, 1.03)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("hit rate (95% interval)")


def hit_rate_by_qubits_figure(
    series: Mapping[str, tuple[Sequence[int], Sequence[int], int]], title: str = ""
) -> Figure:
    """Hit rate against qubits n, one line per entry of `series`: label -> (qubit counts, hits
    per count, restarts per count). Each point carries its 95% interval
    (:func:`~qnntraps.harness.metrics.hit_rate_interval`); a label ending in " (exact)" is drawn
    dashed with open markers, in the color of the label without that suffix. Series are shifted
    sideways by a few hundredths of a qubit each so that equal rates stay visible."""
    if not series:
        raise ValueError("at least one series of hit counts is needed")
    figure = Figure(figsize=(6.4, 4.6))
    axes = figure.add_subplot(1, 1, 1)
    _draw_hit_rates(axes, series, 0.05)
    axes.set_xlabel("qubits n")
    if title:
        axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def transition_figure(
    panels: Mapping[int, Mapping[str, tuple[Sequence[int], Sequence[int], int]]],
    critical: Mapping[int, int],
    title: str = "",
) -> Figure:
    """Hit rate against the parameter count p, one panel per qubit count n (`panels`: n ->
    series as in :func:`hit_rate_by_qubits_figure`, with p for x), each with a vertical dashed
    line at the critical count `critical[n]` and the under-/over-parameterized sides named; a
    label has one color in every panel, and one legend below them serves all."""
    if not panels:
        raise ValueError("at least one panel of hit counts is needed")
    figure = Figure(figsize=(max(6.4, 4.2 * len(panels)), 4.8))
    grid = figure.subplots(1, len(panels), squeeze=False)[0]
    handles: dict[str, object] = {}
    bases = _color_order([label for series in panels.values() for label in series])
    for axes, (n, series) in zip(grid, panels.items(), strict=True):
        if not series:
            raise ValueError(f"n = {n}: at least one series of hit counts is needed")
        p_c = int(critical[n])
        largest = max(max(xs) for xs, _, _ in series.values())
        _draw_hit_rates(axes, series, 0.008 * max(largest, p_c), bases)
        axes.axvline(p_c, color="0.3", linestyle="--", linewidth=1.2)
        axes.annotate(f"p_c = {p_c}", (p_c, 0.1), xytext=(3, 0), textcoords="offset points",
                      fontsize=8, color="0.3")  # fmt: skip
        axes.text(0.02, 0.04, "under", transform=axes.transAxes, fontsize=8, color="0.4")
        axes.text(0.98, 0.04, "over", transform=axes.transAxes, fontsize=8, color="0.4", ha="right")
        axes.set_xlabel("parameters p")
        axes.set_title(f"n = {n}", fontsize=10)
        for handle, label in zip(*axes.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    figure.legend(list(handles.values()), list(handles), loc="lower center", fontsize=8,
                  ncol=min(4, len(handles)), frameon=False)  # fmt: skip
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return figure


def plot_transition(path, *args, **kwargs) -> Path:
    """`transition_figure(*args, **kwargs)` written to `path` (PNG, atomically)."""
    return _save_atomic(transition_figure(*args, **kwargs), path)


#: Where a converged value of exactly 0 (the planted minimum's, after rounding) is drawn on the
#: log axis of :func:`converged_ladders_figure`; spurious values go into LADDER_BINS (four per
#: decade from 1e-8 to 1).
PLANTED_POSITION = 1e-9
LADDER_BINS = 10.0 ** np.arange(-8.0, 0.01, 0.25)


def converged_ladders_figure(
    panels: Sequence[tuple[str, Sequence[float], Sequence[int], int, float]], columns: int = 2
) -> Figure:
    """Where a multistart's starts converged, one panel per entry (title, ladder values, counts
    per value, unconverged starts, hit tolerance): the value 0 (the planted minimum) as one bar at
    PLANTED_POSITION labelled "0", the spurious values as a histogram of their counts on
    LADDER_BINS (log axis), each bar's count written on it, the hit tolerance dotted, converged
    and unconverged starts in the title."""
    if not panels:
        raise ValueError("at least one ladder is needed")
    figure, grid = _panel_grid(len(panels), columns, 3.2)
    for axes, (title, values, counts, unconverged, tolerance) in zip(grid, panels, strict=True):
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        c = np.asarray(counts, dtype=np.int64).reshape(-1)
        if v.size != c.size or np.any(v < 0) or np.any(c <= 0) or not np.all(np.isfinite(v)):
            raise ValueError(f"{title}: one positive count per finite value >= 0")
        planted, top = int(c[v == 0].sum()), int(c[v == 0].sum())
        if planted:
            axes.bar([PLANTED_POSITION], [planted], width=PLANTED_POSITION * 0.6, color="C2",
                     label="planted value (L = 0)")  # fmt: skip
            axes.annotate(str(planted), (PLANTED_POSITION, planted), ha="center", va="bottom",
                          fontsize=7, xytext=(0, 1), textcoords="offset points")  # fmt: skip
        if np.any(v > 0):  # spurious values binned on the log axis, counts weighted
            binned, _ = np.histogram(v[v > 0], bins=LADDER_BINS, weights=c[v > 0])
            shown = binned > 0
            top = max(top, int(binned.max()))
            left, width = LADDER_BINS[:-1][shown], np.diff(LADDER_BINS)[shown]
            axes.bar(left, binned[shown], width=width, align="edge", color="C3",
                     edgecolor="white", linewidth=0.5, label="spurious minima found")  # fmt: skip
            for x0, w, count in zip(left, width, binned[shown], strict=True):
                axes.annotate(str(int(count)), (x0 + w / 2, count), ha="center", va="bottom",
                              fontsize=7, xytext=(0, 1), textcoords="offset points")  # fmt: skip
        axes.set_xscale("log")
        axes.set_xlim(PLANTED_POSITION / 5, 2.0)
        axes.set_ylim(0, max(1, top) * 1.18)
        axes.axvline(tolerance, color="0.3", linestyle=":", linewidth=1.2, label="hit tolerance")
        ticks = [PLANTED_POSITION, 1e-7, 1e-5, 1e-3, 1e-1]
        axes.set_xticks(ticks, ["0", "1e-7", "1e-5", "1e-3", "0.1"])
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        total = int(c.sum()) + int(unconverged)
        title = f"{title}\n{int(c.sum())} of {total} starts converged, {unconverged} did not"
        axes.set_xlabel("converged loss L = (1 − F)²")
        axes.set_ylabel("starts")
        axes.set_title(title, fontsize=9)
        axes.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return figure


def plot_converged_ladders(path, *args, **kwargs) -> Path:
    """`converged_ladders_figure(*args, **kwargs)` written to `path` (PNG, atomically)."""
    return _save_atomic(converged_ladders_figure(*args, **kwargs), path)


def plot_hit_rate_by_qubits(path, *args, **kwargs) -> Path:
    """`hit_rate_by_qubits_figure(*args, **kwargs)` written to `path` (PNG, atomically)."""
    return _save_atomic(hit_rate_by_qubits_figure(*args, **kwargs), path)
