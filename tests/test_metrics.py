"""Metrics of a scored run against independent references (docs/scoring.md)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import special
from scipy.stats import binomtest

from qnntraps.harness.metrics import (
    GAP_QUANTILE_LEVELS,
    MetricsInputError,
    beta_isf,
    beta_ppf,
    converged_ladder,
    ecdf,
    hit_rate_interval,
    match_ladder,
    summarize,
    time_to_solution,
    time_to_solution_interval,
)

Z95 = 1.959963984540054  # standard normal quantile at 0.975


def wilson_by_hand(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return center - half, center + half


# --- hit-rate interval ----------------------------------------------------------------------------
@pytest.mark.parametrize("k, n", [(1, 10), (3, 10), (5, 10), (9, 10), (17, 100), (1, 1000)])
def test_wilson_matches_hand_formula_and_scipy(k, n):
    interval = hit_rate_interval(k, n)
    assert interval.method == "wilson"
    assert interval.rate == k / n
    low, high = wilson_by_hand(k, n)
    assert interval.low == pytest.approx(low, rel=1e-12)
    assert interval.high == pytest.approx(high, rel=1e-12)
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert interval.low == pytest.approx(ref.low, rel=1e-10)
    assert interval.high == pytest.approx(ref.high, rel=1e-10)


def test_wilson_at_other_confidence_matches_scipy():
    interval = hit_rate_interval(7, 40, confidence=0.9)
    ref = binomtest(7, 40).proportion_ci(confidence_level=0.9, method="wilson")
    assert (interval.low, interval.high) == pytest.approx((ref.low, ref.high), rel=1e-10)
    assert interval.confidence == 0.9


@pytest.mark.parametrize("k, n", [(0, 1), (0, 10), (0, 1000), (1, 1), (10, 10), (1000, 1000)])
def test_clopper_pearson_at_the_edges_matches_scipy_exact(k, n):
    interval = hit_rate_interval(k, n)
    assert interval.method == "clopper-pearson"
    ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert interval.low == pytest.approx(ref.low, rel=1e-9, abs=1e-15)
    assert interval.high == pytest.approx(ref.high, rel=1e-9, abs=1e-15)
    if k == 0:
        assert interval.low == 0.0
        # closed form of the exact upper bound at 0 hits: 1 - (alpha / 2)^(1/n)
        assert interval.high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-12)
    else:
        assert interval.high == 1.0
        assert interval.low == pytest.approx(0.025 ** (1 / n), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_interval_contains_rate_and_lies_in_unit_interval(n):
    for k in range(n + 1):
        interval = hit_rate_interval(k, n)
        assert 0.0 <= interval.low <= interval.rate <= interval.high <= 1.0
        assert interval.contains(interval.rate)
        assert interval.low < interval.high


def test_interval_narrows_with_more_restarts():
    widths = [hit_rate_interval(n // 4, n) for n in (20, 200, 2000)]
    widths = [iv.high - iv.low for iv in widths]
    assert widths[0] > widths[1] > widths[2]


def test_interval_is_frozen():
    interval = hit_rate_interval(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        interval.rate = 0.3


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1, 10), "hits"),
        ((11, 10), "hits"),
        ((0, 0), "n must be at least 1"),
        ((1.5, 10), "integer"),
        ((True, 10), "integer"),
        ((1, 10, 0.0), "confidence"),
        ((1, 10, 1.0), "confidence"),
        ((1, 10, float("nan")), "confidence"),
    ],
)
def test_interval_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        hit_rate_interval(*args)


def test_interval_accepts_numpy_integers():
    assert hit_rate_interval(np.int64(3), np.int32(10)) == hit_rate_interval(3, 10)


# --- time to solution -----------------------------------------------------------------------------
def test_tts_closed_form():
    assert time_to_solution(0.5, 10.0) == pytest.approx(10 * math.log(0.01) / math.log(0.5))
    assert time_to_solution(0.1, 3.0, target=0.9) == pytest.approx(
        3 * math.log(0.1) / math.log(0.9)
    )


def test_tts_edges():
    assert time_to_solution(0.0, 10.0) == math.inf
    assert time_to_solution(1.0, 10.0) == 10.0
    # a rate so high that fewer than one restart would suffice still costs one restart
    assert time_to_solution(0.999, 10.0) == 10.0
    assert time_to_solution(0.5, 0.0) == 0.0


def test_tts_is_decreasing_in_rate_and_increasing_in_target():
    rates = np.linspace(0.001, 0.999, 50)
    values = [time_to_solution(r, 7.0) for r in rates]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert values[0] > values[-1]
    assert time_to_solution(0.2, 1.0, 0.5) < time_to_solution(0.2, 1.0, 0.99)


@pytest.mark.parametrize(
    "args",
    [(-0.1, 1.0), (1.1, 1.0), (0.5, -1.0), (0.5, math.inf), (0.5, 1.0, 1.0), (0.5, 1.0, 0.0)],
)
def test_tts_rejects_bad_input(args):
    with pytest.raises(MetricsInputError):
        time_to_solution(*args)


def test_tts_interval_maps_rate_bounds_in_reverse():
    tts = time_to_solution_interval(5, 100, 20.0)
    rate = hit_rate_interval(5, 100)
    assert tts.value == pytest.approx(time_to_solution(0.05, 20.0))
    assert tts.low == pytest.approx(time_to_solution(rate.high, 20.0))
    assert tts.high == pytest.approx(time_to_solution(rate.low, 20.0))
    assert tts.low < tts.value < tts.high
    assert tts.rate_interval == rate


def test_tts_interval_at_zero_and_all_hits():
    none = time_to_solution_interval(0, 100, 20.0)
    assert none.value == math.inf and none.high == math.inf
    assert math.isfinite(none.low) and none.low > 20.0
    every = time_to_solution_interval(100, 100, 20.0)
    assert every.value == 20.0 and every.low == 20.0
    assert 20.0 <= every.high < math.inf


# --- ECDF and ladder ------------------------------------------------------------------------------
def test_ecdf_steps():
    x, fraction = ecdf([0.3, 0.0, 0.1, 0.1])
    np.testing.assert_array_equal(x, [0.0, 0.1, 0.1, 0.3])
    np.testing.assert_array_equal(fraction, [0.25, 0.5, 0.75, 1.0])


def test_ecdf_empty_and_bad_input():
    x, fraction = ecdf([])
    assert x.shape == fraction.shape == (0,)
    with pytest.raises(MetricsInputError, match="non-finite"):
        ecdf([0.0, float("nan")])
    with pytest.raises(MetricsInputError, match="one-dimensional"):
        ecdf(np.zeros((2, 2)))


def test_converged_ladder_rounds_sorts_and_counts():
    values = [0.50004, 0.0, 1e-9, -1e-9, 0.49996, 1.25, 0.5]
    distinct, counts = converged_ladder(values, decimals=3)
    np.testing.assert_array_equal(distinct, [0.0, 0.5, 1.25])
    np.testing.assert_array_equal(counts, [3, 3, 1])
    assert not np.signbit(distinct[0])  # -0.0 reported as 0.0
    assert counts.sum() == len(values)
    empty_values, empty_counts = converged_ladder([], 3)
    assert empty_values.size == empty_counts.size == 0
    with pytest.raises(MetricsInputError):
        converged_ladder([0.1], 2.5)


def test_converged_ladder_keeps_values_too_large_to_round():
    # 1e308 * 10**9 overflows: such a value has nothing below 1e-9 to round, and stays itself
    huge = np.finfo(float).max
    distinct, counts = converged_ladder([huge, -huge, 1e300, 0.1234567891234], 9)
    np.testing.assert_array_equal(distinct, [-huge, 0.123456789, 1e300, huge])
    np.testing.assert_array_equal(counts, [1, 1, 1, 1])
    assert np.all(np.isfinite(distinct))


def test_match_ladder_nearest_within_tolerance():
    ladder = [1.0, 0.0, 0.5]  # unsorted on purpose: indices refer to this order
    values = [0.01, -0.02, 0.49, 0.26, 0.97, 1.3, 0.69]
    got = match_ladder(values, ladder, tolerance=0.2)
    np.testing.assert_array_equal(got, [1, 1, 2, -1, 0, -1, 2])
    # 0.25 is equidistant from 0.0 and 0.5: the lower rung wins; 0.75 likewise goes to 0.5
    np.testing.assert_array_equal(match_ladder([0.25, 0.75], ladder, tolerance=0.25), [1, 2])
    # brute force agrees away from ties
    rng = np.random.default_rng(5)
    values = rng.uniform(-0.5, 1.5, 500)
    got = match_ladder(values, ladder, tolerance=0.1)
    distance = np.abs(values[:, None] - np.array(ladder)[None, :])
    expected = np.where(distance.min(axis=1) <= 0.1, distance.argmin(axis=1), -1)
    np.testing.assert_array_equal(got, expected)


def test_match_ladder_edges():
    np.testing.assert_array_equal(match_ladder([0.1, 0.2], [], 1.0), [-1, -1])
    assert match_ladder([], [0.0], 1.0).shape == (0,)
    np.testing.assert_array_equal(match_ladder([0.0], [0.0], 0.0), [0])
    with pytest.raises(MetricsInputError, match="distinct"):
        match_ladder([0.0], [0.0, 0.0], 0.1)
    with pytest.raises(MetricsInputError):
        match_ladder([0.0], [0.0], -1.0)


# --- summary --------------------------------------------------------------------------------------
def test_summarize_hand_made_example():
    final = np.array([-1.0, -1.0 + 5e-7, -0.5, 0.0, -1.0 - 1e-12])
    hits = [True, True, False, False, True]
    summary = summarize(
        hits,
        final + 1.0,
        global_min=-1.0,
        hit_tolerance=1e-6,
        loss_evals=[10, 20, 30, 40, 50],
        grad_evals=[1, 2, 3, 4, 100],
        equivalent_evals=[14, 28, 42, 56, 450],
    )
    assert summary.n == 5 and summary.hits == 3
    assert summary.hit_rate == 0.6
    assert summary.interval == hit_rate_interval(3, 5)
    assert summary.loss_evals.mean == 30.0 and summary.loss_evals.median == 30.0
    assert summary.grad_evals.mean == 22.0 and summary.grad_evals.median == 3.0
    assert summary.equivalent_evals.mean == 118.0 and summary.equivalent_evals.total == 590.0
    assert summary.tts99 == pytest.approx(118.0 * math.log(0.01) / math.log(0.4))
    assert summary.tts99_interval.value == summary.tts99
    assert summary.tts99_interval.low < summary.tts99 < summary.tts99_interval.high
    gaps = final + 1.0
    np.testing.assert_allclose(summary.gap_quantiles, np.quantile(gaps, GAP_QUANTILE_LEVELS))
    assert summary.gap_quantiles[-1] == pytest.approx(1.0)
    assert summary.gap_restarts == 5 and summary.below_global_min == 0
    encoded = json.loads(json.dumps(summary.as_dict(), allow_nan=False))
    assert encoded["hits"] == 3 and encoded["n"] == 5
    assert encoded["tts99"]["value"] == pytest.approx(summary.tts99)
    assert encoded["hit_rate_interval"]["method"] == "wilson"
    assert encoded["gap_quantiles"]["restarts"] == 5


def test_summarize_takes_hits_as_given_and_never_recomputes_them():
    # restart 0 ended within the tolerance but was flagged by the harness: not a hit
    summary = summarize([False, True], [0.0, 0.0], 0.0, 1e-6, [1, 1], [1, 1], [3, 3])
    assert summary.hits == 1
    # a restart without a real final point has no gap; the hit count still covers all N
    summary = summarize([False, False, True], [0.0], 0.0, 1e-6, [1, 1, 1], [0, 0, 0], [1, 1, 1])
    assert summary.n == 3 and summary.hits == 1 and summary.gap_restarts == 1


def test_summarize_without_any_gap_is_strict_json():
    summary = summarize([False, False], [], 0.0, 1e-6, [4, 4], [0, 0], [4, 4])
    assert summary.gap_quantiles == () and summary.gap_restarts == 0
    encoded = json.loads(json.dumps(summary.as_dict(), allow_nan=False))
    assert encoded["gap_quantiles"]["values"] is None
    assert encoded["gap_quantiles"]["restarts"] == 0


def test_summarize_with_gaps_too_far_apart_to_interpolate_is_strict_json():
    big = np.finfo(float).max
    summary = summarize([False] * 3, [-big, 0.0, big], 0.0, 1e-6, [1] * 3, [1] * 3, [1] * 3)
    json.dumps(summary.as_dict(), allow_nan=False)  # an overflowing quantile is written null
    assert summary.below_global_min == 1


def test_summarize_zero_hits_is_strict_json():
    summary = summarize([False] * 3, [1.0, 2.0, 3.0], 0.0, 1e-6, [5, 5, 5], [0, 0, 0], [5, 5, 5])
    assert summary.hits == 0
    assert summary.tts99 == math.inf and summary.tts99_interval.high == math.inf
    assert summary.interval.method == "clopper-pearson"
    text = json.dumps(summary.as_dict(), allow_nan=False)
    encoded = json.loads(text)
    assert encoded["tts99"]["value"] is None and encoded["tts99"]["high"] is None
    assert isinstance(encoded["tts99"]["low"], float)
    assert type(summary.as_dict()["n"]) is int
    assert type(summary.as_dict()["gap_quantiles"]["values"][0]) is float


def test_summarize_all_hits_and_below_global_min():
    summary = summarize(
        np.array([True, True, True]), [0.0, -0.5, 0.0], 0.0, 1e-3, [1, 1, 1], [1, 1, 1], [3, 3, 3]
    )
    assert summary.hits == 3 and summary.interval.method == "clopper-pearson"
    assert summary.tts99 == 3.0
    assert summary.below_global_min == 1
    json.dumps(summary.as_dict(), allow_nan=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hits": []}, "at least one restart"),
        ({"hits": [1, 0]}, "booleans"),
        ({"hits": [[True, False]]}, "one-dimensional"),
        ({"gaps": [0.0, float("nan")]}, "non-finite"),
        ({"gaps": [0.0, 1.0, 2.0]}, "more than"),
        ({"loss_evals": [1]}, "one per restart"),
        ({"grad_evals": [1, -1]}, "non-negative"),
        ({"hit_tolerance": -1e-6}, "hit_tolerance"),
        ({"global_min": float("inf")}, "global_min"),
    ],
)
def test_summarize_rejects_bad_input(kwargs, message):
    arguments = {
        "hits": [True, False],
        "gaps": [0.0, 1.0],
        "global_min": 0.0,
        "hit_tolerance": 1e-6,
        "loss_evals": [1, 2],
        "grad_evals": [1, 2],
        "equivalent_evals": [1, 2],
    } | kwargs
    with pytest.raises(MetricsInputError, match=message):
        summarize(**arguments)


def test_interval_functions_are_scipy_stats_own_to_the_bit():
    """metrics avoids importing scipy.stats (0.6 s per command) but computes the same numbers."""
    from scipy import stats

    for n in (1, 2, 5, 64, 256, 4096, 10**6):
        for hits in sorted(h for h in {1, 2, n // 3, n // 2, n - 1, n} if 0 < h <= n):
            for alpha in (0.05, 0.01, 1e-6):
                q = alpha / 2
                assert beta_ppf(q, hits, n - hits + 1) == stats.beta.ppf(q, hits, n - hits + 1)
                if hits < n:
                    assert beta_isf(q, hits + 1, n - hits) == stats.beta.isf(q, hits + 1, n - hits)
    for q in (0.05, 0.025, 0.005, 0.5e-6):  # the Wilson interval's z = norm.isf(alpha / 2)
        assert -special.ndtri(q) == stats.norm.isf(q)


def test_without_scipy_s_private_quantile_the_interval_is_the_same(monkeypatch):
    from qnntraps.harness import metrics

    expected = [hit_rate_interval(h, 64) for h in (0, 1, 63, 64)]
    monkeypatch.setattr(metrics, "_boost_beta_ppf", None)  # the fallback: scipy.stats itself
    assert [hit_rate_interval(h, 64) for h in (0, 1, 63, 64)] == expected
