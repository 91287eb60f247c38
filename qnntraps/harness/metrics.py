"""Metrics of a scored run: hit rate with its interval, time to solution, gap ECDF, ladder.

Everything here is a pure function of its arguments (NumPy / SciPy only, no global state); results
are frozen dataclasses. Whether a restart is a *hit* is decided by the harness when it scores the
restart (``fun - global_min <= hit_tolerance`` at the point its oracle decided, and no flag;
docs/scoring.md) and is an input here: nothing in this module recomputes it from losses.

Conventions
-----------
* Hit-rate interval: two-sided Wilson score interval when ``0 < hits < n``; exact Clopper-Pearson
  (equal tails, ``alpha/2`` on each side, the convention of
  ``scipy.stats.binomtest(...).proportion_ci(method="exact")``) when ``hits == 0`` or ``hits == n``,
  where Wilson is known to under-cover.
* Time to solution: ``TTS = mean_cost * R`` with ``R = max(1, log(1 - target) / log(1 - p))``
  independent restarts, so it never drops below the cost of one restart; ``R = 1`` at ``p == 1`` and
  ``TTS = inf`` at ``p == 0``. Its interval maps the hit-rate interval through TTS (decreasing in p),
  and reflects the uncertainty of the hit rate only, not that of the mean cost.
* Gap statistics (quantiles, ECDF) are over the gaps the caller passes: the harness passes the
  restarts that ended at a real (finite) point with no flag, which may be fewer than ``n``.
* JSON (``Summary.as_dict``): infinite values (TTS, or a gap quantile that overflows) are written as
  ``None`` (JSON ``null``), so ``json.dumps(..., allow_nan=False)`` always succeeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

try:  # SciPy's Boost-based beta quantile, the function scipy.stats.beta.ppf calls
    from scipy.special._ufuncs import _beta_ppf as _boost_beta_ppf
except ImportError:  # a SciPy without it: beta_ppf imports scipy.stats instead
    _boost_beta_ppf = None

from qnntraps.errors import QnnTrapsError

__all__ = [
    "ERT",
    "GAP_QUANTILE_LEVELS",
    "CostStats",
    "Interval",
    "MetricsInputError",
    "Summary",
    "TTSInterval",
    "converged_ladder",
    "ecdf",
    "expected_running_time",
    "hit_rate_interval",
    "match_ladder",
    "summarize",
    "time_to_solution",
    "time_to_solution_interval",
]

#: Quantile levels of the final gap reported by :func:`summarize`.
GAP_QUANTILE_LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

#: Default success probability of the time-to-solution metric ("TTS at 99%").
TTS_TARGET = 0.99


class MetricsInputError(QnnTrapsError, ValueError):
    """Arguments given to a metric are out of range, of the wrong shape, or not finite."""


# --- hit rate -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interval:
    """Observed hit rate ``hits / n`` and its confidence interval ``[low, high]``.

    ``method`` is ``"wilson"`` or ``"clopper-pearson"``; ``confidence`` is the two-sided level.
    """

    rate: float
    low: float
    high: float
    method: str
    confidence: float = 0.95

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self) -> dict:
        return {
            "rate": float(self.rate),
            "low": float(self.low),
            "high": float(self.high),
            "method": self.method,
            "confidence": float(self.confidence),
        }


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise MetricsInputError(f"{name} must be an integer, not {value!r}")
    return int(value)


def _check_counts(hits, n) -> tuple[int, int]:
    hits = _check_int("hits", hits)
    n = _check_int("n", n)
    if n < 1:
        raise MetricsInputError(f"n must be at least 1 restart, not {n}")
    if not 0 <= hits <= n:
        raise MetricsInputError(f"hits must satisfy 0 <= hits <= n = {n}, not {hits}")
    return hits, n


def _check_probability(name: str, value, *, open_interval: bool) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MetricsInputError(f"{name} must be a number, not {value!r}") from None
    ok = (0.0 < value < 1.0) if open_interval else (0.0 <= value <= 1.0)
    if not ok:
        bounds = "0 < {} < 1" if open_interval else "0 <= {} <= 1"
        raise MetricsInputError(f"{name} must satisfy {bounds.format(name)}, not {value!r}")
    return value


def beta_ppf(q: float, a: float, b: float) -> float:
    """scipy.stats.beta.ppf(q, a, b), the same function, without importing scipy.stats (0.6 s
    of every command's start): SciPy's own Boost-based ufunc where this SciPy has it."""
    if _boost_beta_ppf is None:
        from scipy import stats

        return float(stats.beta.ppf(q, a, b))
    return float(_boost_beta_ppf(q, a, b))


def beta_isf(q: float, a: float, b: float) -> float:
    """scipy.stats.beta.isf(q, a, b) (which is betainccinv(a, b, q))."""
    return float(special.betainccinv(a, b, q))


def hit_rate_interval(hits: int, n: int, confidence: float = 0.95) -> Interval:
    """Confidence interval of a binomial hit rate from ``hits`` successes in ``n`` restarts.

    Wilson score interval for ``0 < hits < n``; exact (Clopper-Pearson, equal-tailed) interval when
    ``hits`` is 0 or ``n``, whose bound at the observed edge is exactly 0 or 1.
    """
    hits, n = _check_counts(hits, n)
    confidence = _check_probability("confidence", confidence, open_interval=True)
    rate = hits / n
    alpha = 1.0 - confidence
    if hits == 0 or hits == n:
        low = 0.0 if hits == 0 else beta_ppf(alpha / 2, hits, n - hits + 1)
        high = 1.0 if hits == n else beta_isf(alpha / 2, hits + 1, n - hits)
        return Interval(rate, low, high, "clopper-pearson", confidence)
    z = float(-special.ndtri(alpha / 2))
    z2 = z * z
    denominator = 1.0 + z2 / n
    center = (rate + z2 / (2 * n)) / denominator
    half = (z / denominator) * math.sqrt(rate * (1.0 - rate) / n + z2 / (4.0 * n * n))
    return Interval(rate, max(0.0, center - half), min(1.0, center + half), "wilson", confidence)


# --- time to solution -----------------------------------------------------------------------------
def _check_cost(name: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise MetricsInputError(f"{name} must be a number, not {value!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise MetricsInputError(f"{name} must be finite and non-negative, not {value!r}")
    return value


def time_to_solution(hit_rate: float, mean_cost: float, target: float = TTS_TARGET) -> float:
    """Expected cost to see at least one hit with probability ``target`` by independent restarts.

    ``TTS = mean_cost * R`` where ``R = max(1, log(1 - target) / log(1 - hit_rate))`` is the number
    of restarts needed (not rounded up; never fewer than one, since a restart cannot be split).
    ``hit_rate == 1`` gives ``mean_cost`` and ``hit_rate == 0`` gives ``inf``. ``mean_cost`` is the
    mean cost of one restart over all restarts, hits and misses alike.
    """
    p = _check_probability("hit_rate", hit_rate, open_interval=False)
    mean_cost = _check_cost("mean_cost", mean_cost)
    target = _check_probability("target", target, open_interval=True)
    if p == 0.0:
        return math.inf
    if p == 1.0:
        return mean_cost
    restarts = max(1.0, math.log1p(-target) / math.log1p(-p))
    return mean_cost * restarts


@dataclass(frozen=True)
class TTSInterval:
    """Time to solution at the observed hit rate, with the interval implied by the rate's interval.

    ``low`` comes from the rate interval's upper bound and ``high`` from its lower bound (TTS
    decreases with the hit rate); ``high`` is ``inf`` when the rate's lower bound is 0.
    """

    value: float
    low: float
    high: float
    target: float
    rate_interval: Interval


def time_to_solution_interval(
    hits: int,
    n: int,
    mean_cost: float,
    target: float = TTS_TARGET,
    confidence: float = 0.95,
) -> TTSInterval:
    """TTS at ``hits / n`` with the interval mapped from :func:`hit_rate_interval`.

    Only the uncertainty of the hit rate is propagated; ``mean_cost`` is taken as exact.
    """
    interval = hit_rate_interval(hits, n, confidence)
    return TTSInterval(
        value=time_to_solution(interval.rate, mean_cost, target),
        low=time_to_solution(interval.high, mean_cost, target),
        high=time_to_solution(interval.low, mean_cost, target),
        target=float(target),
        rate_interval=interval,
    )


# --- distributions of final values ----------------------------------------------------------------
def _as_finite_1d(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise MetricsInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise MetricsInputError(f"{name} has {bad} non-finite entries (NaN or inf)")
    return array


def ecdf(values) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF of ``values`` (e.g. the final gaps ``L(theta_final) - L*``).

    Returns ``(x_sorted, fraction)`` with ``fraction[i] = (i + 1) / n``: the fraction of values
    ``<= x_sorted[i]``, a right-continuous step function (ties appear as repeated x). An empty input
    gives two empty float arrays.
    """
    x = np.sort(_as_finite_1d("values", values))
    n = x.size
    fraction = np.arange(1, n + 1, dtype=np.float64) / n if n else np.empty(0, dtype=np.float64)
    return x, fraction


def converged_ladder(values, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct converged values after rounding to ``decimals``, ascending, with their counts.

    Rounding is ``numpy.round`` (half to even); ``-0.0`` is reported as ``0.0``; a value too large
    to be rounded without overflow (beyond about ``1e308 / 10**decimals``) is kept as it is.
    """
    decimals = _check_int("decimals", decimals)
    array = _as_finite_1d("values", values)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.round(array, decimals)
    # Rounding scales by 10**decimals and can overflow for huge values; such a float has no digits
    # below 10**-decimals to round away, so it stands for itself.
    rounded = np.where(np.isfinite(rounded), rounded, array) + 0.0  # -0.0 -> 0.0
    distinct, counts = np.unique(rounded, return_counts=True)
    return distinct, counts.astype(np.int64)


def match_ladder(values, ladder_values, tolerance: float) -> np.ndarray:
    """Index of the nearest rung of ``ladder_values`` for each value, or -1 if none is within
    ``tolerance`` (``|value - rung| <= tolerance``).

    Indices refer to ``ladder_values`` as given (it need not be sorted, but its values must be
    distinct). When two rungs are equally near, the lower one wins. Runs in O(n log m).
    """
    values = _as_finite_1d("values", values)
    ladder = _as_finite_1d("ladder_values", ladder_values)
    tolerance = _check_cost("tolerance", tolerance)
    result = np.full(values.shape, -1, dtype=np.int64)
    if ladder.size == 0 or values.size == 0:
        return result
    order = np.argsort(ladder, kind="stable")
    rungs = ladder[order]
    if np.any(np.diff(rungs) == 0):
        raise MetricsInputError("ladder_values must be distinct")
    above = np.clip(np.searchsorted(rungs, values, side="left"), 0, rungs.size - 1)
    below = np.clip(above - 1, 0, rungs.size - 1)
    d_below = np.abs(values - rungs[below])
    d_above = np.abs(values - rungs[above])
    nearest = np.where(d_below <= d_above, below, above)
    distance = np.minimum(d_below, d_above)
    within = distance <= tolerance
    result[within] = order[nearest[within]]
    return result


# --- summary --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CostStats:
    """Mean, median and total of one per-restart cost counter."""

    mean: float
    median: float
    total: float

    @classmethod
    def of(cls, name: str, values, n: int) -> CostStats:
        array = _as_finite_1d(name, values)
        if array.size != n:
            raise MetricsInputError(
                f"{name} has {array.size} entries, expected one per restart ({n})"
            )
        if np.any(array < 0):
            raise MetricsInputError(f"{name} must be non-negative")
        return cls(float(np.mean(array)), float(np.median(array)), float(np.sum(array)))

    def as_dict(self) -> dict:
        return {"mean": self.mean, "median": self.median, "total": self.total}


def _json_float(value: float) -> float | None:
    """A finite float as itself, +-inf or NaN as None (JSON null)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _check_hits(values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise MetricsInputError(f"hits must be one-dimensional, got shape {array.shape}")
    if array.size and array.dtype != np.bool_:
        raise MetricsInputError("hits must be booleans (the records' hit field), one per restart")
    return array.astype(np.bool_)


@dataclass(frozen=True)
class Summary:
    """Scores of N restarts of one optimizer on one instance.

    ``hits`` counts the restarts the harness scored as hits. ``tts99`` is the time to solution at
    99% in *equivalent evaluations* (mean of ``equivalent_evals`` over all N restarts), with
    ``tts99_interval`` from the hit-rate interval. ``gap_quantiles`` are the final gaps
    ``L(theta_final) - L*`` at ``GAP_QUANTILE_LEVELS`` (NumPy's linear interpolation) over the
    ``gap_restarts`` restarts whose gaps were given (empty when none). ``below_global_min`` counts
    those that ended more than ``hit_tolerance`` below ``global_min``: nonzero only when the
    certified value is not a true minimum (a beaten best-known value, or a wrong certificate).
    """

    n: int
    hits: int
    interval: Interval
    global_min: float
    hit_tolerance: float
    loss_evals: CostStats
    grad_evals: CostStats
    equivalent_evals: CostStats
    tts99: float
    tts99_interval: TTSInterval
    gap_quantiles: tuple[float, ...]
    gap_restarts: int
    below_global_min: int

    @property
    def hit_rate(self) -> float:
        return self.interval.rate

    def as_dict(self) -> dict:
        """Plain JSON-ready types. Infinite values are ``None`` (null): "no finite TTS"; the gap
        quantiles are ``None`` when no restart has a gap."""
        tts = self.tts99_interval
        quantiles = [_json_float(value) for value in self.gap_quantiles]
        return {
            "n": int(self.n),
            "hits": int(self.hits),
            "hit_rate": float(self.interval.rate),
            "hit_rate_interval": self.interval.as_dict(),
            "global_min": float(self.global_min),
            "hit_tolerance": float(self.hit_tolerance),
            "loss_evals": self.loss_evals.as_dict(),
            "grad_evals": self.grad_evals.as_dict(),
            "equivalent_evals": self.equivalent_evals.as_dict(),
            "tts99": {
                "target": float(tts.target),
                "value": _json_float(self.tts99),
                "low": _json_float(tts.low),
                "high": _json_float(tts.high),
                "unit": "equivalent_evals",
            },
            "gap_quantiles": {
                "levels": [float(level) for level in GAP_QUANTILE_LEVELS],
                "values": quantiles if quantiles else None,
                "restarts": int(self.gap_restarts),
            },
            "below_global_min": int(self.below_global_min),
        }


def summarize(
    hits,
    gaps,
    global_min: float,
    hit_tolerance: float,
    loss_evals,
    grad_evals,
    equivalent_evals,
    confidence: float = 0.95,
) -> Summary:
    """Score N restarts: hits, their interval, costs, TTS at 99% and gap quantiles.

    ``hits`` holds one boolean per restart, as the harness scored it (the records' ``hit``
    field; a flagged restart is never a hit); the three cost arrays hold one non-negative count
    per restart, in the same order. ``gaps`` are the final gaps ``L(theta_final) - L*`` of the
    restarts that enter the gap statistics (the harness passes those with a real final point and
    no flag), at most N and possibly none. ``global_min`` and ``hit_tolerance`` are the
    certificate's; the tolerance only sorts gaps into ``below_global_min``.
    """
    hit = _check_hits(hits)
    n = hit.size
    if n == 0:
        raise MetricsInputError("summarize needs at least one restart")
    gaps = _as_finite_1d("gaps", gaps)
    if gaps.size > n:
        raise MetricsInputError(f"gaps has {gaps.size} entries, more than the {n} restarts")
    global_min = float(global_min)
    if not math.isfinite(global_min):
        raise MetricsInputError(f"global_min must be finite, not {global_min!r}")
    hit_tolerance = _check_cost("hit_tolerance", hit_tolerance)
    count = int(np.count_nonzero(hit))
    equivalent = CostStats.of("equivalent_evals", equivalent_evals, n)
    tts = time_to_solution_interval(count, n, equivalent.mean, TTS_TARGET, confidence)
    quantiles: tuple[float, ...] = ()
    if gaps.size:
        with np.errstate(over="ignore", invalid="ignore"):  # gaps spanning > 1.8e308 give inf
            quantiles = tuple(float(q) for q in np.quantile(gaps, GAP_QUANTILE_LEVELS))
    return Summary(
        n=n,
        hits=count,
        interval=tts.rate_interval,
        global_min=global_min,
        hit_tolerance=hit_tolerance,
        loss_evals=CostStats.of("loss_evals", loss_evals, n),
        grad_evals=CostStats.of("grad_evals", grad_evals, n),
        equivalent_evals=equivalent,
        tts99=tts.value,
        tts99_interval=tts,
        gap_quantiles=quantiles,
        gap_restarts=int(gaps.size),
        below_global_min=int(np.count_nonzero(gaps < -hit_tolerance)),
    )


# --- expected running time (COCO) -----------------------------------------------------------------
#: Simulated restarted runs drawn for ERT's dispersion, and the seed of their draws (fixed, so a
#: report is the same every time it is made).
ERT_SAMPLES = 1000
ERT_SEED = 0
ERT_PERCENTILES = (10.0, 90.0)


@dataclass(frozen=True)
class ERT:
    """Expected running time to a target: the evaluations of all runs over the successful ones
    (inf without a success), and the 10th and 90th percentiles of the lengths of simulated
    restarted runs (COCO's bootstrap: draw runs at random until a successful one, summing their
    costs)."""

    value: float
    low: float
    high: float
    successes: int
    runs: int

    def as_dict(self) -> dict:
        return {
            "value": _json_float(self.value),
            "low": _json_float(self.low),
            "high": _json_float(self.high),
            "successes": self.successes,
            "runs": self.runs,
            "percentiles": list(ERT_PERCENTILES),
        }


def expected_running_time(
    costs, successes, samples: int = ERT_SAMPLES, seed: int = ERT_SEED
) -> ERT:
    """ERT of runs with these costs (evaluations each spent, >= 0) and successes (booleans).

    A successful run's cost is what it spent in all, an upper bound on its evaluations to the
    target when the target was reached earlier. The percentiles come from `samples` simulated
    restarted runs (numpy.random.default_rng(seed)): the number of failed runs before a success
    is geometric in the success rate, each failed run's cost is drawn among the failed runs and
    the last among the successful ones.
    """
    cost = np.asarray(costs, dtype=np.float64).reshape(-1)
    hit = _check_hits(successes)
    if cost.size != hit.size or cost.size == 0:
        raise MetricsInputError("ERT needs one cost per run and at least one run")
    if not np.all(np.isfinite(cost)) or np.any(cost < 0):
        raise MetricsInputError("ERT's costs must be finite and >= 0")
    k, n = int(hit.sum()), int(hit.size)
    if k == 0:
        return ERT(math.inf, math.inf, math.inf, 0, n)
    value = float(cost.sum() / k)
    rng = np.random.default_rng(seed)
    failures = rng.geometric(k / n, size=samples) - 1  # failed runs before each success
    lengths = rng.choice(cost[hit], size=samples)
    failed = cost[~hit]
    if failed.size and failures.sum():
        draws = rng.choice(failed, size=int(failures.sum()))
        owner = np.repeat(np.arange(samples), failures)
        lengths = lengths + np.bincount(owner, weights=draws, minlength=samples)
    low, high = np.percentile(lengths, ERT_PERCENTILES)
    return ERT(value, float(low), float(high), k, n)
