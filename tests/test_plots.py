"""Figures of a scored run: each writes a valid PNG atomically and leaves nothing else behind."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from qnntraps.harness.metrics import hit_rate_interval
from qnntraps.harness.plots import (
    gap_ecdf_figure,
    ladder_tally,
    loss_histograms_figure,
    plot_gap_ecdf,
    plot_hit_rate_vs_p,
    plot_loss_histograms,
    targets_ecdf_figure,
    tts_figure,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_only_png(directory, name):
    path = directory / name
    data = path.read_bytes()
    assert len(data) > 1000
    assert data[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in directory.iterdir()) == [name]  # no temporary files left


def test_hit_rate_vs_p_with_and_without_zero_hits(tmp_path):
    series = {
        "gradient descent": [(2, 260, 1000), (4, 70, 1000), (6, 15, 1000), (8, 0, 1000)],
        "random search": [(2, 1000, 1000), (4, 0, 50), (6, 0, 50)],  # all hits, then no hits
        "adam": [(6, 3, 200), (2, 100, 200), (4, 20, 200)],  # unsorted p
    }
    out = plot_hit_rate_vs_p(series, tmp_path / "with_zero.png", title="construction family")
    assert out == tmp_path / "with_zero.png"
    assert_only_png(tmp_path, "with_zero.png")

    nonzero = {"gd": [(2, 26, 100), (4, 6, 100), (6, 2, 100)]}
    sub = tmp_path / "nonzero"
    out = plot_hit_rate_vs_p(nonzero, sub / "hr.png")
    assert_only_png(sub, "hr.png")


def test_hit_rate_vs_p_rejects_empty_and_bad_counts(tmp_path):
    with pytest.raises(ValueError):
        plot_hit_rate_vs_p({}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_hit_rate_vs_p({"a": []}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_hit_rate_vs_p({"a": [(2, 5, 3)]}, tmp_path / "x.png")
    with pytest.raises(TypeError):
        plot_hit_rate_vs_p({"a": [(2, 2.5, 3)]}, tmp_path / "x.png")  # no silent truncation
    assert list(tmp_path.iterdir()) == []


def test_loss_histograms(tmp_path):
    rng = np.random.default_rng(0)
    start = rng.uniform(0.0, 2.0, 500)
    ladder = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    final = rng.choice(ladder, 500, p=[0.1, 0.3, 0.3, 0.2, 0.1]) + rng.normal(0, 1e-4, 500)
    plot_loss_histograms(start, final, tmp_path / "hist.png", ladder, global_min=0.0, title="t")
    assert_only_png(tmp_path, "hist.png")


def test_loss_histograms_minimal_inputs(tmp_path):
    # all converged values identical, no ladder, no L*
    plot_loss_histograms([1.0, 2.0], [0.5, 0.5], tmp_path / "h.png")
    assert_only_png(tmp_path, "h.png")
    with pytest.raises(ValueError):
        plot_loss_histograms([1.0], [np.nan], tmp_path / "bad.png")


def test_loss_histograms_tight_cluster_and_outlier(tmp_path):
    # interquartile range ~1e-13 against a span of 1: a naive Freedman-Diaconis rule would ask
    # for ~1e12 bins
    rng = np.random.default_rng(2)
    final = np.concatenate([rng.normal(0.0, 1e-13, 300), [1.0]])
    plot_loss_histograms(final + 0.5, final, tmp_path / "h.png", ladder_values=[0.0, 1.0])
    assert_only_png(tmp_path, "h.png")


def test_gap_ecdf_with_zero_and_tiny_gaps(tmp_path):
    rng = np.random.default_rng(1)
    series = {
        "gd": np.concatenate([np.zeros(30), rng.uniform(0, 1e-14, 10), rng.uniform(0.1, 1, 60)]),
        "adam": np.concatenate([[-1e-15], rng.lognormal(-3, 2, 99)]),
        "nothing": np.array([]),
    }
    out = plot_gap_ecdf(series, tmp_path / "ecdf.png", title="gaps", hit_tolerance=1e-6)
    assert out.name == "ecdf.png"
    assert_only_png(tmp_path, "ecdf.png")


def test_gap_ecdf_all_zero_and_bad_floor(tmp_path):
    plot_gap_ecdf({"exact": [0.0, 0.0, 0.0]}, tmp_path / "e.png")
    assert_only_png(tmp_path, "e.png")
    with pytest.raises(ValueError):
        plot_gap_ecdf({"a": [0.1]}, tmp_path / "x.png", floor=0.0)
    with pytest.raises(ValueError):
        plot_gap_ecdf({}, tmp_path / "x.png")


def test_overwrite_is_atomic_and_replaces(tmp_path):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    plot_gap_ecdf({"a": [0.0, 1.0]}, target)
    assert_only_png(tmp_path, "fig.png")


def test_failed_save_leaves_no_temporary(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def boom(self, *args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        plot_gap_ecdf({"a": [0.0, 1.0]}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
    assert target.read_bytes() == b"old"


def test_plots_do_not_import_pyplot(tmp_path):
    # no global pyplot state (or GUI backend) is created as a side effect; checked in a fresh
    # interpreter since other tests may import pyplot themselves
    code = (
        "import sys; from qnntraps.harness.plots import plot_gap_ecdf; "
        f"plot_gap_ecdf({{'a': [0.0, 1.0]}}, {str(tmp_path / 'p.png')!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert_only_png(tmp_path, "p.png")


def test_a_file_system_refusal_is_a_write_error_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from matplotlib.figure import Figure

    from qnntraps.atomic import WriteError

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", no_space)
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(WriteError, match="disk is full"):
        plot_hit_rate_vs_p({"a": [(2, 1, 4)]}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]
    assert target.read_bytes() == b"old"


def test_figures_are_readable_by_everyone(tmp_path):
    import stat

    plot_gap_ecdf({"a": [0.0, 1.0]}, tmp_path / "p.png")
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o644


def test_hit_rate_figure_draws_the_rates_bounds_and_references():
    from qnntraps.harness.metrics import hit_rate_interval
    from qnntraps.harness.plots import hit_rate_figure

    series = {"adam": [(4, 20, 200), (2, 100, 200), (6, 0, 200)]}
    references = {"2^-p": lambda p: 2.0**-p, "q^p": lambda p: 0.55**p}
    ax = hit_rate_figure(series, "t", references).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    # the hits: markers at hits/n with the 95% interval as error bars (one series: no dodge)
    (markers,) = [c.lines[0] for c in ax.containers]  # the errorbar's data line
    assert list(markers.get_xdata()) == [2.0, 4.0]
    assert list(markers.get_ydata()) == [0.5, 0.1]
    (caps,) = [c for c in ax.collections if len(c.get_segments()) == 2]
    for segment, (hits, n) in zip(caps.get_segments(), [(100, 200), (20, 200)], strict=True):
        interval = hit_rate_interval(hits, n)
        assert np.allclose(segment[:, 1], [interval.low, interval.high])
    # 0 hits: a hollow down triangle at the 95% upper bound
    (triangle,) = [ln for ln in ax.get_lines() if ln.get_marker() == "v" and len(ln.get_xdata())]
    assert list(triangle.get_xdata()) == [6.0]
    assert triangle.get_ydata()[0] == hit_rate_interval(0, 200).high
    assert triangle.get_markerfacecolor() == "none"
    # the reference curves, over the measured range of p, and the legend entries
    for label, curve in references.items():
        x, y = lines[label].get_xdata(), lines[label].get_ydata()
        assert x[0] == 2 and x[-1] == 6 and np.allclose(y, curve(x))
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert set(legend) == {"adam", "2^-p", "q^p", "0 hits: 95% upper bound"}
    assert ax.get_yscale() == "log" and ax.get_ylim()[0] <= 0.55**6 / 2
    assert ax.get_title() == "t"


def test_hit_rate_figure_defaults_to_the_random_vertex_line():
    from qnntraps.harness.plots import hit_rate_figure

    ax = hit_rate_figure({"a": [(2, 1, 4), (8, 1, 4)]}).axes[0]
    (reference,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert reference.get_label().startswith("$2^{-p}$")
    assert np.allclose(reference.get_ydata(), 2.0 ** -reference.get_xdata())


def test_reference_curves_read_q_back_from_the_rates():
    from qnntraps.harness.plots import reference_curves

    assert list(reference_curves({})) == ["$2^{-p}$ (random vertex)"]
    curves = reference_curves({8: 0.5456**8, 4: 0.5456**4}, "flow")
    assert list(curves)[1] == "$q^p$ (flow, q = 0.5456)"
    p = np.array([2.0, 6.0, 10.0])
    assert np.allclose(curves["$q^p$ (flow, q = 0.5456)"](p), 0.5456**p, rtol=1e-12)


def test_gradient_variance_figure_draws_the_points_the_fit_and_the_depth_curves(tmp_path):
    from qnntraps.harness.plots import gradient_variance_figure, plot_gradient_variance

    qubits = [2, 4, 6, 8]
    values = [0.25, 2.0**-4, 2.0**-6, 2.1**-8]
    intervals = [None, None, None, (0.8 * values[3], 1.2 * values[3])]
    curves = {2: [0.5, 0.3, 0.25], 4: [0.2, 0.1, 0.07, 2.0**-4]}
    figure = gradient_variance_figure(qubits, values, intervals, curves, {2: 3, 4: 2})
    left, right = figure.axes
    assert left.get_yscale() == "log" and right.get_yscale() == "log"
    lines = {line.get_label(): line for line in left.get_lines()}
    exact = lines["exact (second moments)"]
    assert list(exact.get_xdata()) == [2, 4, 6] and list(exact.get_ydata()) == values[:3]
    fit = next(line for label, line in lines.items() if label.startswith("fit: 2^(-1.000 n"))
    np.testing.assert_allclose(fit.get_ydata(), 2.0 ** -fit.get_xdata(), rtol=1e-12)
    np.testing.assert_allclose(lines["2^-n"].get_ydata(), 2.0 ** -lines["2^-n"].get_xdata())
    sampled = [c for c in left.containers if c.get_label() == "sampled, 95% interval"][0]
    assert list(sampled.lines[0].get_xdata()) == [8]
    right_lines = right.get_lines()
    assert list(right_lines[0].get_ydata()) == curves[2]
    assert list(right_lines[1].get_xdata()) == [3] and list(right_lines[1].get_ydata()) == [0.25]
    assert list(right_lines[3].get_xdata()) == [2] and list(right_lines[3].get_ydata()) == [0.1]
    plot_gradient_variance(tmp_path / "v.png", qubits, values, intervals)
    assert_only_png(tmp_path, "v.png")
    with pytest.raises(ValueError, match="one positive variance"):
        gradient_variance_figure([2, 4], [0.1, -1.0], [None, None])


def test_hit_rate_by_qubits_figure_draws_rates_intervals_and_pairs_exact_lines(tmp_path):
    from qnntraps.harness.metrics import hit_rate_interval
    from qnntraps.harness.plots import hit_rate_by_qubits_figure, plot_hit_rate_by_qubits

    series = {"adam": ([2, 4, 6], [12, 6, 0], 12), "adam (exact)": ([2, 4, 6], [12, 12, 9], 12)}
    figure = hit_rate_by_qubits_figure(series, title="S = 100")
    (axes,) = figure.axes
    assert axes.get_title() == "S = 100"
    containers = {c.get_label(): c for c in axes.containers}
    shots, exact = containers["adam"], containers["adam (exact)"]
    np.testing.assert_allclose(shots.lines[0].get_xdata(), [2, 4, 6], atol=0.1)  # shifted a bit
    assert shots.lines[0].get_xdata()[0] != exact.lines[0].get_xdata()[0]
    np.testing.assert_array_equal(shots.lines[0].get_ydata(), [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(exact.lines[0].get_ydata(), [1.0, 1.0, 0.75])
    assert shots.lines[0].get_linestyle() == "-" and exact.lines[0].get_linestyle() == "--"
    assert shots.lines[0].get_color() == exact.lines[0].get_color()
    # the error bar of the middle point spans the 95% interval of 6 hits in 12
    segments = shots.lines[2][0].get_segments()
    bound = hit_rate_interval(6, 12)
    np.testing.assert_allclose([segments[1][0][1], segments[1][1][1]], [bound.low, bound.high])
    plot_hit_rate_by_qubits(tmp_path / "h.png", series)
    assert_only_png(tmp_path, "h.png")
    with pytest.raises(ValueError, match="lie in 0..12"):
        hit_rate_by_qubits_figure({"spsa": ([2], [13], 12)})
    with pytest.raises(ValueError, match="at least one series"):
        hit_rate_by_qubits_figure({})


def test_transition_figure_draws_one_panel_per_n_with_the_critical_line(tmp_path):
    from qnntraps.harness.plots import plot_transition, transition_figure

    panels = {
        4: {"adam": ([8, 16, 32], [3, 8, 8], 8), "lbfgs": ([8, 16, 32], [2, 7, 8], 8)},
        6: {"lbfgs": ([48, 96, 144], [1, 0, 16], 16)},
    }
    figure = transition_figure(panels, {4: 30, 6: 126}, title="teacher-student")
    left, right = figure.axes
    assert (left.get_title(), right.get_title()) == ("n = 4", "n = 6")
    assert left.get_xlabel() == "parameters p"
    containers = {c.get_label(): c for c in left.containers}
    np.testing.assert_allclose(containers["adam"].lines[0].get_ydata(), [3 / 8, 1, 1])
    np.testing.assert_allclose(containers["lbfgs"].lines[0].get_xdata(), [8, 16, 32], atol=0.5)
    (line,) = [x for x in right.lines if x.get_linestyle() == "--" and len(x.get_xdata()) == 2]
    assert list(line.get_xdata()) == [126, 126]
    assert any("p_c = 126" in t.get_text() for t in right.texts)
    (legend,) = figure.legends  # one for both panels
    assert [t.get_text() for t in legend.get_texts()] == ["adam", "lbfgs"]
    # lbfgs alone in the right panel keeps the color it has in the left one
    (right_lbfgs,) = right.containers
    assert right_lbfgs.lines[0].get_color() == containers["lbfgs"].lines[0].get_color()
    plot_transition(tmp_path / "t.png", panels, {4: 30, 6: 126})
    assert_only_png(tmp_path, "t.png")
    with pytest.raises(ValueError, match="at least one series"):
        transition_figure({4: {}}, {4: 30})


def test_converged_ladders_figure_draws_the_ladder_and_the_planted_value(tmp_path):
    from qnntraps.harness.plots import (
        PLANTED_POSITION,
        converged_ladders_figure,
        plot_converged_ladders,
    )

    panels = [
        ("n6 L8", [4.9e-6, 1.7e-5, 2e-3], [5, 2, 1], 8, 2.45e-6),
        ("n6 L12", [0.0], [16], 0, 1e-4),
        ("n8 L4", [0.02], [3], 1, 1e-4),
    ]
    figure = converged_ladders_figure(panels)
    first, second, third, hidden = figure.axes
    assert not hidden.get_visible()
    # 4.9e-6 and 1.7e-5 share no quarter-decade bin; 2e-3 has its own
    heights = sorted(r.get_height() for r in first.patches)
    assert heights == [1, 2, 5]
    crowded = converged_ladders_figure([("many", [2e-6, 2.1e-6, 2.2e-6, 0.0], [1, 1, 3, 2], 0,
                                         1e-6)]).axes[0]  # fmt: skip
    assert sorted(r.get_height() for r in crowded.patches) == [2, 5]  # one bin, counts summed
    assert crowded.get_ylim()[1] > 5  # the tallest bar fits
    assert [r.get_height() for r in second.patches] == [16]
    (bar,) = second.patches
    assert bar.get_x() < PLANTED_POSITION < bar.get_x() + bar.get_width()
    assert first.get_title() == "n6 L8\n8 of 16 starts converged, 8 did not"
    assert sorted(t.get_text() for t in first.texts) == ["1", "2", "5"]
    labels = [t.get_text() for t in second.get_legend().get_texts()]
    assert sorted(labels) == ["hit tolerance", "planted value (L = 0)"]  # no empty entry
    tolerance = [x for x in first.lines if list(x.get_xdata()) == [2.45e-6, 2.45e-6]]
    assert tolerance and first.get_xscale() == "log"
    plot_converged_ladders(tmp_path / "c.png", panels)
    assert_only_png(tmp_path, "c.png")
    with pytest.raises(ValueError, match="one positive count"):
        converged_ladders_figure([("bad", [0.1], [0], 0, 1e-4)])


def _bars(ax):
    """(x centres, heights) of every bar container on the axes, in drawing order."""
    out = []
    for container in ax.containers:
        patches = list(container)
        out.append(
            (
                np.array([p.get_x() + p.get_width() / 2 for p in patches]),
                np.array([p.get_height() for p in patches]),
            )
        )
    return out


def test_converged_losses_are_counted_per_rung_with_the_certificate_beside():
    # 233 restarts at exactly 0.125 must be one bar of 233, not two bars either side of a bin
    # edge; 100 more sit on 0.25 up to round-off; 5 are on no rung
    rng = np.random.default_rng(4)
    final = np.concatenate(
        [np.full(233, 0.125), 0.25 + rng.normal(0, 1e-12, 100), [0.3, 0.31, 0.37, 0.41, 0.45]]
    )
    ladder, certified = np.array([0.0, 0.125, 0.25, 0.5]), np.array([1, 4, 6, 4])
    figure = loss_histograms_figure(
        rng.uniform(0, 1, 338), final, ladder, global_min=0.0, ladder_counts=certified
    )
    right = figure.axes[1]
    converged, certificate = _bars(right)[:2]
    np.testing.assert_array_equal(converged[1], [233, 100])
    assert converged[0][0] < 0.125 < certificate[0][1]  # side by side around the rung
    np.testing.assert_allclose(certificate[1], certified / certified.sum() * final.size)
    texts = {t.get_text() for t in right.texts}
    assert {"233", "100"} <= texts
    off = [
        p.get_height() for p in right.patches if p.get_facecolor()[:3] == pytest.approx((0.35,) * 3)
    ]
    assert sum(off) == 5
    labels = right.get_legend_handles_labels()[1]
    assert any("328 of 338" not in label and "333 of 338" in label for label in labels)
    assert any("L*" in label for label in labels) and right.get_yscale() == "linear"


def test_loss_counts_on_a_log_axis_and_without_a_ladder():
    final = np.concatenate([np.full(997, 0.5), [0.75, 0.75, 1.0]])
    figure = loss_histograms_figure(final + 0.1, final, log_counts=True)
    right = figure.axes[1]
    assert right.get_yscale() == "log" and figure.axes[0].get_yscale() == "log"
    ((x, heights),) = _bars(right)
    np.testing.assert_array_equal(heights, [997, 2, 1])
    np.testing.assert_array_equal(x, [0.5, 0.75, 1.0])


def test_ladder_tally_assigns_round_off_to_its_rung():
    counts, off = ladder_tally(np.array([0.1 + 1e-9, 0.1 - 1e-9, 0.2, 0.15, 0.2 + 1e-3]),
                               np.array([0.2, 0.1, 0.1]))  # fmt: skip
    np.testing.assert_array_equal(counts, [2, 1])
    np.testing.assert_array_equal(off, [0.15, 0.2 + 1e-3])


def test_gap_ecdf_panels_show_a_small_hit_rate_and_the_tolerance():
    # 6 of 1000 within 1e-6 (0.6%), the rest far above: on a linear fraction axis that step is
    # a line on the axis; here both axes are logarithmic and the legend reads the count
    rng = np.random.default_rng(5)
    gaps = np.concatenate([rng.uniform(0, 1e-9, 6), rng.uniform(0.01, 0.5, 994)])
    panels = {
        "construction-p8-v1": ({"adam": gaps, "lbfgs": gaps[::-1]}, 1e-6),
        "separable-p4-v1": ({"adam": np.array([0.2, 0.3])}, 1e-3),
    }
    figure = gap_ecdf_figure(panels)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == list(panels)
    first = visible[0]
    assert first.get_xscale() == "log" and first.get_yscale() == "log"
    labels = first.get_legend_handles_labels()[1]
    assert "adam: 6 of 1000 within tolerance (0.60%)" in labels
    assert any(label.startswith("hit tolerance") for label in labels)
    tolerance_line = [line for line in first.get_lines() if line.get_label().startswith("hit")]
    assert tolerance_line[0].get_xdata()[0] == 1e-6
    step = first.get_lines()[0]
    x, y = np.asarray(step.get_xdata()), np.asarray(step.get_ydata())
    assert y[np.searchsorted(x, 1e-6) - 1] == pytest.approx(0.006)
    assert first.get_ylim()[0] < 0.001  # 1/1000 is inside the axis
    assert "0 of 2 within tolerance" in visible[1].get_legend_handles_labels()[1][0]


def test_tts_figure_places_runs_by_rate_and_cost_with_iso_tts_lines():
    runs = {"adam": [("p4", 90, 1000, 2700.0), ("p16", 0, 5000, 9000.0)],
            "lbfgs": [("p4", 95, 1000, 85.0)]}  # fmt: skip
    figure = tts_figure(runs)
    ax = figure.axes[0]
    points = [line for line in ax.get_lines() if line.get_linestyle() == "None"]
    placed = [(float(p.get_xdata()[0]), float(p.get_ydata()[0]), p.get_marker()) for p in points]
    zero_bound = hit_rate_interval(0, 5000).high
    assert placed == [(0.09, 2700.0, "o"), (zero_bound, 9000.0, "v"), (0.095, 85.0, "o")]
    assert points[1].get_markerfacecolor() == "none"  # 0 hits: hollow, at the upper bound
    iso = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(iso) >= 3
    for line in iso:  # cost x ln(0.01) / ln(1 - rate) is one constant along each line
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        tts = y * np.log(0.01) / np.log1p(-x)
        np.testing.assert_allclose(tts, tts[0], rtol=1e-12)
        assert np.log10(tts[0]) == pytest.approx(round(np.log10(tts[0])))
    assert {t.get_text() for t in ax.texts} >= {"p4", "p16"}
    assert ax.get_xscale() == ax.get_yscale() == "log"
    with pytest.raises(ValueError):
        tts_figure({"a": [("p4", 1, 10, 0.0)]})


def test_targets_ecdf_counts_restart_target_pairs_by_budget():
    # three restarts, two targets (1 and 1e-3): gap 1e-9 reaches both, 0.5 only the first,
    # None (a flagged restart) neither; costs 100, 10 and 1000
    panels = {"construction-p4-v1": {"adam": ([100.0, 10.0, 1000.0], [1e-9, 0.5, None])}}
    figure = targets_ecdf_figure(panels, targets=(1.0, 1e-3))
    ax = figure.axes[0]
    (line,) = [line for line in ax.get_lines() if line.get_label().startswith("adam")]
    x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
    # pairs reached: restart 0 at 100 (both targets), restart 1 at 10 (target 1.0 only): 3 of 6
    np.testing.assert_array_equal(x, [10.0, 10.0, 100.0, 100.0])
    np.testing.assert_allclose(y, [0.0, 1 / 6, 2 / 6, 3 / 6])
    assert "3 of 6 pairs" in line.get_label() and ax.get_xscale() == "log"
    with pytest.raises(ValueError):
        targets_ecdf_figure({"x": {"a": ([1.0], [0.1, 0.2])}})


def test_hit_rate_figure_with_one_p_has_whole_ticks_and_draws_what_its_legend_names():
    from qnntraps.harness.plots import hit_rate_figure

    ax = hit_rate_figure({"adam": [(8, 30, 1000)]}).axes[0]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks) and 8 in ticks
    (reference,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    x = np.asarray(reference.get_xdata())
    low, high = ax.get_ylim()
    assert x.min() < 8 < x.max()  # the 2^-p line is drawn across the single p, inside the axes
    assert low < 2.0**-8 < high
    labels = ax.get_legend_handles_labels()[1]
    drawn = {ln.get_label() for ln in ax.get_lines()} | {"adam"}
    assert set(labels) <= drawn
