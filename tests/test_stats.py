"""Summary statistics against hand-computed values (and scipy as an independent reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats as sps

from accelbench.timing.stats import HIGH_SPREAD_THRESHOLD, Summary, ci95_half_width, summarize

# The classic textbook sample, deliberately unsorted: sorted it is 2 4 4 4 5 5 7 9.
SAMPLE = [9.0, 2.0, 5.0, 4.0, 7.0, 4.0, 5.0, 4.0]
T_0975_DF7 = 2.364624251592784  # Student t quantile, 97.5%, 7 degrees of freedom (tables: 2.365)


def test_summary_matches_hand_computed_values() -> None:
    s = summarize(SAMPLE)
    assert s.n == 8
    assert s.mean == pytest.approx(5.0)
    assert s.median == pytest.approx(4.5)
    assert s.min == 2.0
    assert s.max == 9.0
    # Sum of squared deviations is 32, so the sample (n - 1) standard deviation is sqrt(32 / 7);
    # the population one would be exactly 2.0, which this must not return.
    assert s.std == pytest.approx(math.sqrt(32 / 7))
    assert s.std != pytest.approx(2.0)
    # numpy's default "linear" percentiles: q1 at position 0.25 * 7 = 1.75 -> 4 + 0.75 * (4 - 4),
    # q3 at position 5.25 -> 5 + 0.25 * (7 - 5).
    assert s.q1 == pytest.approx(4.0)
    assert s.q3 == pytest.approx(5.5)
    assert s.iqr == pytest.approx(1.5)
    assert s.iqr_over_median == pytest.approx(1.5 / 4.5)
    assert s.cv == pytest.approx(math.sqrt(32 / 7) / 5.0)
    half = T_0975_DF7 * math.sqrt(32 / 7) / math.sqrt(8)
    assert s.ci95_low == pytest.approx(5.0 - half, rel=1e-9)
    assert s.ci95_high == pytest.approx(5.0 + half, rel=1e-9)
    assert s.high_spread is True


def test_confidence_interval_agrees_with_scipy() -> None:
    rng = np.random.default_rng(1234)
    values = list(rng.lognormal(mean=-7.0, sigma=0.2, size=37))  # timing-like: ~1 ms, skewed
    s = summarize(values)
    lo, hi = sps.t.interval(0.95, df=len(values) - 1, loc=np.mean(values), scale=sps.sem(values))
    assert s.ci95_low == pytest.approx(lo, rel=1e-12)
    assert s.ci95_high == pytest.approx(hi, rel=1e-12)
    assert ci95_half_width(values) == pytest.approx((hi - lo) / 2, rel=1e-12)
    assert s.q1 == pytest.approx(np.percentile(values, 25))
    assert s.q3 == pytest.approx(np.percentile(values, 75))
    assert s.median == pytest.approx(np.median(values))
    assert s.std == pytest.approx(np.std(values, ddof=1))


def test_two_samples_use_t_with_one_degree_of_freedom() -> None:
    s = summarize([1.0, 3.0])
    # mean 2, sd sqrt(2), t(0.975, 1) = 12.706: a very wide interval, as it should be.
    half = 12.706204736174694 * math.sqrt(2) / math.sqrt(2)
    assert (s.ci95_low, s.ci95_high) == (pytest.approx(2 - half), pytest.approx(2 + half))


def test_constant_samples_have_zero_spread_and_a_point_interval() -> None:
    s = summarize([0.25] * 10)
    assert s.std == 0.0 and s.iqr == 0.0 and s.cv == 0.0
    assert s.ci95_low == s.ci95_high == 0.25
    assert s.high_spread is False


@pytest.mark.parametrize(
    ("q3", "flagged"),
    [(1.049, False), (1.051, True)],
    ids=["iqr-9.9%-of-median", "iqr-10.1%-of-median"],
)
def test_high_spread_flag_either_side_of_ten_percent(q3: float, flagged: bool) -> None:
    # Five values: linear percentiles land exactly on the 2nd and 4th sorted values.
    values = [0.9, 0.95, 1.0, q3, 1.2]
    s = summarize(values)
    assert s.q1 == pytest.approx(0.95) and s.q3 == pytest.approx(q3)
    assert s.iqr_over_median == pytest.approx(q3 - 0.95)
    assert HIGH_SPREAD_THRESHOLD == 0.10
    assert s.high_spread is flagged
    # Timings are seconds: the flag is relative, so microsecond-scale samples behave the same.
    assert summarize([v * 1e-6 for v in values]).high_spread is flagged


def test_single_sample() -> None:
    s = summarize([0.003])
    assert s.n == 1
    assert s.mean == s.median == s.min == s.max == s.q1 == s.q3 == 0.003
    assert s.std == 0.0 and s.iqr == 0.0 and s.cv == 0.0
    assert s.ci95_low == s.ci95_high == 0.003
    assert s.high_spread is False
    assert math.isinf(ci95_half_width([0.003]))


@pytest.mark.parametrize(
    "values",
    [[], [1.0, float("nan"), 2.0], [1.0, float("inf")], [float("-inf")]],
    ids=["empty", "nan", "inf", "-inf"],
)
def test_empty_or_non_finite_input_raises_value_error(values: list[float]) -> None:
    with pytest.raises(ValueError):
        summarize(values)


def test_accepts_any_sequence_and_does_not_mutate_it() -> None:
    values = [3.0, 1.0, 2.0]
    assert summarize(values) == summarize(tuple(values)) == summarize(np.array(values))
    assert values == [3.0, 1.0, 2.0]


def test_summary_is_immutable_and_round_trips() -> None:
    s = summarize(SAMPLE)
    with pytest.raises(ValidationError):
        s.mean = 0.0  # type: ignore[misc]
    assert Summary.model_validate_json(s.model_dump_json()) == s
