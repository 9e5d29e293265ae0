"""Confidence intervals from raw samples, by the bootstrap (``scipy.stats.bootstrap``).

Why the bootstrap: timing samples are skewed (a right tail of interrupts and cache misses) and
often few, and the numbers we report are medians and ratios of medians, for which no simple
exact interval exists between two independent samples. The bootstrap needs no normality
assumption and no formula per statistic; seeded, it gives the same interval on every machine.

Method: the *percentile* bootstrap (Efron & Tibshirani, "An Introduction to the Bootstrap",
1993, ch. 13). scipy's default, BCa, needs a jackknife that costs O(n^2) in the number of
samples, and an adaptive measurement can hold thousands; a median is transformation-respecting,
which is the case where percentile intervals are sound, and our coverage test (a known ratio,
100 seeded trials) checks that the stated 95% holds.

Every interval says how it was made (:class:`BootstrapSettings.describe`), so a reader can
reproduce it from the stored samples.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _sps

CONFIDENCE = 0.95
RESAMPLES = 2000
"""Efron & Tibshirani (1993, sec. 19.3) suggest 1000 or more for percentile intervals."""
SEED = 0
METHOD = "percentile"
MIN_SAMPLES = 2
"""Fewer samples on a side give no interval: one value has no spread to resample."""
_BATCH_ELEMENTS = 4_000_000
"""Resampled values held at once (32 MB of float64), so thousands of samples never exhaust
memory; the batch size changes nothing in the result."""


@dataclass(frozen=True)
class BootstrapSettings:
    """How an interval was computed; stored and printed with every interval."""

    confidence: float = CONFIDENCE
    resamples: int = RESAMPLES
    seed: int = SEED
    method: str = METHOD

    def describe(self) -> str:
        return (
            f"{self.confidence:.0%} {self.method} bootstrap, {self.resamples} resamples, "
            f"seed {self.seed}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "confidence": self.confidence,
            "method": f"{self.method} bootstrap (scipy.stats.bootstrap)",
            "resamples": self.resamples,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def scaled(self, factor: float) -> Interval:
        return Interval(self.low * factor, self.high * factor)


@dataclass(frozen=True)
class RatioEstimate:
    """A ratio's point value, its interval and the bootstrap replicates behind it (kept so a
    summary over many ratios can resample them: see :func:`summary_intervals`)."""

    ratio: float
    interval: Interval | None
    replicates: np.ndarray | None
    """Bootstrap replicates of the ratio (``resamples`` values); None without an interval."""
    reason: str | None = None
    """Why there is no interval."""


def _clean(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr) & (arr > 0)]


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    settings: BootstrapSettings,
) -> tuple[Interval, np.ndarray]:
    largest = max(len(d) for d in data)
    batch = max(1, min(settings.resamples, _BATCH_ELEMENTS // max(largest, 1)))
    with warnings.catch_warnings():
        # Identical samples (a scripted fake timer) give a zero-width interval, which is the
        # honest answer; scipy warns about the degenerate distribution.
        warnings.simplefilter("ignore")
        res = _sps.bootstrap(
            data,
            statistic,
            n_resamples=settings.resamples,
            batch=batch,
            vectorized=True,
            paired=False,
            confidence_level=settings.confidence,
            method=settings.method,
            rng=np.random.default_rng(settings.seed),
        )
    ci = res.confidence_interval
    return Interval(float(ci.low), float(ci.high)), np.asarray(res.bootstrap_distribution)


def _median_ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(num, axis=axis) / np.median(den, axis=axis)


def _mean_ratio(num: np.ndarray, den: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(num, axis=axis) / np.mean(den, axis=axis)


STATISTICS: dict[str, Callable[..., np.ndarray]] = {"median": _median_ratio, "mean": _mean_ratio}


def ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    statistic: str = "median",
    point: float | None = None,
    settings: BootstrapSettings | None = None,
) -> RatioEstimate:
    """Interval of ``stat(numerator) / stat(denominator)`` for two independent samples.

    For a speed-up from times, pass the base's times as ``numerator`` and the candidate's as
    ``denominator``. ``point`` is the ratio the caller reports (e.g. of two stored rates); it
    differs from the ratio of medians only by a constant factor when each rate is its work per
    iteration over the median time, so the interval and replicates are scaled by that factor:
    the work per iteration is the same constant in every resample.
    """
    s = settings or BootstrapSettings()
    num, den = _clean(numerator), _clean(denominator)
    stat = STATISTICS[statistic]
    raw = float(stat(num, den)) if len(num) and len(den) else math.nan
    value = point if point is not None else raw
    fewest = min(len(num), len(den))
    if fewest < MIN_SAMPLES:
        return RatioEstimate(
            value,
            None,
            None,
            f"{fewest} usable sample(s) on one side: an interval needs {MIN_SAMPLES} or more",
        )
    interval, reps = _bootstrap((num, den), stat, s)
    factor = value / raw if raw > 0 and math.isfinite(raw) else 1.0
    return RatioEstimate(value, interval.scaled(factor), reps * factor)


def rate_interval(
    rate: float, times: Sequence[float], settings: BootstrapSettings | None = None
) -> Interval | None:
    """Interval of a rate computed as (work per iteration) / median(``times``): the bootstrap
    interval of the median time, inverted. None with fewer than ``MIN_SAMPLES`` times."""
    s = settings or BootstrapSettings()
    t = _clean(times)
    if len(t) < MIN_SAMPLES or not rate > 0:
        return None
    median = float(np.median(t))
    ci, _ = _bootstrap((t,), lambda x, axis=-1: np.median(x, axis=axis), s)
    work = rate * median
    return Interval(work / ci.high, work / ci.low) if ci.low > 0 else None


@dataclass(frozen=True)
class SummaryIntervals:
    geomean: Interval
    median: Interval


def summary_intervals(
    estimates: Sequence[RatioEstimate], settings: BootstrapSettings | None = None
) -> SummaryIntervals | None:
    """Intervals of the geometric mean and the median of many ratios, resampling at two
    levels: the configurations (which ones happened to be in the sweep) and, within each
    drawn configuration, one of its own bootstrap replicates (the noise of its samples).

    A ratio without replicates (too few samples) contributes its point value at the second
    level. The configuration level is a plain percentile bootstrap over the same seed; the
    sample level reuses the replicates ``scipy.stats.bootstrap`` made for each ratio. None with
    fewer than two ratios.
    """
    s = settings or BootstrapSettings()
    n = len(estimates)
    if n < 2:
        return None
    b = s.resamples
    table = np.empty((n, b), dtype=np.float64)
    for i, e in enumerate(estimates):
        reps = e.replicates
        if reps is None or len(reps) != b:
            table[i, :] = e.ratio
        else:
            table[i, :] = reps
    logs = np.log(table)
    rng = np.random.default_rng(s.seed)
    picks = rng.integers(0, n, size=(b, n))  # configurations, with replacement
    draws = rng.integers(0, b, size=(b, n))  # one replicate of each drawn configuration
    sampled = logs[picks, draws]
    tail = 100 * (1 - s.confidence) / 2
    geo = np.exp(np.percentile(sampled.mean(axis=1), [tail, 100 - tail]))
    med = np.exp(np.percentile(np.median(sampled, axis=1), [tail, 100 - tail]))
    return SummaryIntervals(
        geomean=Interval(float(geo[0]), float(geo[1])),
        median=Interval(float(med[0]), float(med[1])),
    )
