"""Summary statistics of timing samples, as pure functions.

Every number a report shows is derived from the stored raw samples by these functions, so a
result can always be re-summarised later. The spread warning follows ``torch.utils.benchmark``:
a measurement whose IQR exceeds 10% of its median is flagged as noisy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as _sps

HIGH_SPREAD_THRESHOLD = 0.10  # IQR / median above this flags a measurement as noisy


class Summary(BaseModel):
    """Statistics of one set of samples, all in the samples' unit (seconds for timings).

    Finite numbers only: :func:`summarize` never makes others, and a stored record holding one
    would read back as ``null``."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    n: int
    mean: float
    median: float
    std: float
    min: float
    max: float
    q1: float
    q3: float
    iqr: float
    cv: float
    """Coefficient of variation: sample standard deviation / mean."""
    ci95_low: float
    ci95_high: float
    """Two-sided 95% confidence interval of the mean (Student t; equal to the mean when n = 1)."""
    iqr_over_median: float
    high_spread: bool
    """True when IQR / median > 10%: the timing is noisy and should be repeated or investigated."""


def ci95_half_width(values: Sequence[float]) -> float:
    """Half-width of the Student-t 95% confidence interval of the mean (inf when n < 2)."""
    n = len(values)
    if n < 2:
        return math.inf
    s = float(np.std(values, ddof=1))
    return float(_sps.t.ppf(0.975, n - 1)) * s / math.sqrt(n)


def summarize(values: Sequence[float]) -> Summary:
    """Summarise samples; raises ``ValueError`` for an empty sequence or non-finite values."""
    if len(values) == 0:
        raise ValueError("cannot summarise zero samples")
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("samples contain NaN or infinity")
    n = int(arr.size)
    mean = float(arr.mean())
    median = float(np.median(arr))
    std = float(arr.std(ddof=1)) if n > 1 else 0.0
    q1, q3 = (float(q) for q in np.percentile(arr, [25, 75]))
    iqr = q3 - q1
    half = ci95_half_width(arr) if n > 1 else 0.0
    iqr_rel = iqr / median if median > 0 else 0.0
    return Summary(
        n=n,
        mean=mean,
        median=median,
        std=std,
        min=float(arr.min()),
        max=float(arr.max()),
        q1=q1,
        q3=q3,
        iqr=iqr,
        cv=std / mean if mean > 0 else 0.0,
        ci95_low=mean - half,
        ci95_high=mean + half,
        iqr_over_median=iqr_rel,
        high_spread=iqr_rel > HIGH_SPREAD_THRESHOLD,
    )
