"""Samples per dollar: what one dollar of instance time buys, stored with every priced result.

Prices are the user's (cloud prices change and differ by region), given in USD per
instance-hour in the workload params (``price_per_hour``). Comparing two machines per price is
an analysis of stored results: :mod:`accelbench.analysis.cost`.
"""

from __future__ import annotations

from accelbench.results.schema import Metric

NO_PRICE = (
    "no price_per_hour in the workload params: give the instance's hourly price (USD) to get "
    "samples per dollar"
)


def samples_per_dollar(samples_per_s: float | None, price_per_hour: float | None) -> Metric:
    """Samples one dollar of instance time buys: samples/s x 3600 / (USD per hour)."""
    if price_per_hour is None:
        return Metric.missing("samples/USD", NO_PRICE)
    if samples_per_s is None:
        return Metric.missing("samples/USD", "no throughput was measured")
    if price_per_hour <= 0:
        raise ValueError(f"price_per_hour: expected a positive price, got {price_per_hour}")
    return Metric(value=samples_per_s * 3600.0 / price_per_hour, unit="samples/USD")
