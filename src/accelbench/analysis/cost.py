"""Performance per price: samples per dollar, and one machine against another.

The CPU study compares an Arm instance with an x86 one by throughput *and* by throughput per
unit of price (ResNet-50: 1.43x the throughput, 2.05x per price, the Arm instance costing
about 30% less). Prices are the user's (cloud prices change and differ by region), given in
USD per instance-hour either in the workload params (``price_per_hour``, stored with each
result) or when comparing. Everything here is a pure function of stored results.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from accelbench.analysis.compare import newest_per_configuration
from accelbench.results.schema import Result, Status


@dataclass(frozen=True)
class CostComparison:
    """One case on two machines: candidate / base throughput, and the same per unit of price."""

    kind: str
    case: dict[str, Any]
    base_samples_per_s: float | None
    candidate_samples_per_s: float | None
    base_price_per_hour: float | None
    candidate_price_per_hour: float | None
    perf_ratio: float | None
    perf_per_price_ratio: float | None
    reason: str | None = None
    """Why a ratio is missing (a failed case on one side, no price)."""
    base_result_id: str | None = None
    candidate_result_id: str | None = None


def _price(r: Result, override: float | None) -> float | None:
    if override is not None:
        return override
    value = r.config.get("price_per_hour_usd")
    if value is None:
        value = (r.config.get("params") or {}).get("price_per_hour")
    return float(value) if value is not None else None


def _describe(r: Result) -> str:
    return f"{r.status.value}" + (f": {r.message}" if r.message else "")


def compare_cost(
    base_results: Iterable[Result],
    candidate_results: Iterable[Result],
    *,
    base_price_per_hour: float | None = None,
    candidate_price_per_hour: float | None = None,
    metric: str = "samples_per_s",
) -> list[CostComparison]:
    """Pair the two machines' results case by case (same kind and identical case: model,
    options, scenario, batch, runtime, dtype, quantisation) and give, per pair,

    - ``perf_ratio`` = candidate / base ``metric`` (samples per second), and
    - ``perf_per_price_ratio`` = perf_ratio x base price / candidate price.

    Prices given here win over the ones stored with the results. When several results share a
    case on one side, the newest is used. Cases present on one side only are left out; a pair
    where either side did not run ok, or a price is missing, keeps its row with ``reason``.
    """
    for name, value in (
        ("base_price_per_hour", base_price_per_hour),
        ("candidate_price_per_hour", candidate_price_per_hour),
    ):
        if value is not None and not value > 0:
            raise ValueError(f"{name}: expected a positive price, got {value}")
    base = newest_per_configuration(base_results)
    cand = newest_per_configuration(candidate_results)
    rows: list[CostComparison] = []
    for key in [k for k in base if k in cand]:
        b, c = base[key], cand[key]
        bp, cp = _price(b, base_price_per_hour), _price(c, candidate_price_per_hour)
        bv = b.metric(metric) if b.status is Status.OK else None
        cv = c.metric(metric) if c.status is Status.OK else None
        reason = None
        perf = per_price = None
        if b.status is not Status.OK or c.status is not Status.OK:
            reason = f"base {_describe(b)}; candidate {_describe(c)}"
        elif bv is None or cv is None or bv <= 0:
            reason = f"{metric} missing on the {'base' if not bv else 'candidate'} result"
        else:
            perf = cv / bv
            if bp is None or cp is None:
                reason = f"no price for the {'base' if bp is None else 'candidate'} machine"
            else:
                per_price = perf * bp / cp
        rows.append(
            CostComparison(
                kind=b.kind,
                case=dict(b.case),
                base_samples_per_s=bv,
                candidate_samples_per_s=cv,
                base_price_per_hour=bp,
                candidate_price_per_hour=cp,
                perf_ratio=perf,
                perf_per_price_ratio=per_price,
                reason=reason,
                base_result_id=b.result_id,
                candidate_result_id=c.result_id,
            )
        )
    return rows
