"""Two platforms or runs on the same configurations: per-configuration speedups.

Configurations are matched by workload kind and case parameters (not by workload name, so
the same shapes from two suites still pair up). The ratio is always "candidate over base" in
the direction where larger is better: throughput_candidate / throughput_base, or
time_base / time_candidate for metrics where lower is better. Summaries per operator give
min, median, max and the geometric mean (the right mean for ratios: a 2x and a 0.5x cancel).
Configurations that ran on one side and failed on the other are listed, not dropped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from accelbench.analysis.metrics import PrimaryMetric, primary_metric
from accelbench.results.schema import Result, Status


@dataclass(frozen=True)
class Pair:
    kind: str
    workload: str
    case: dict[str, Any]
    base: Result
    candidate: Result
    metric: PrimaryMetric
    base_value: float
    candidate_value: float

    @property
    def ratio(self) -> float:
        if self.metric.higher_is_better:
            return self.candidate_value / self.base_value
        return self.base_value / self.candidate_value

    @property
    def params(self) -> float | None:
        """Parameter count of the configuration (the x axis of the ratio scatter)."""
        return self.base.metric("params") or self.candidate.metric("params")

    @property
    def batch(self) -> Any:
        return self.case.get("batch")


@dataclass(frozen=True)
class OneSided:
    kind: str
    workload: str
    case: dict[str, Any]
    ok_side: str
    """'base' or 'candidate': the side where the configuration ran."""
    failed_status: str
    failed_message: str | None


@dataclass(frozen=True)
class RatioSummary:
    kind: str
    metric: PrimaryMetric
    n: int
    min: float
    median: float
    max: float
    geomean: float


@dataclass
class Comparison:
    base_label: str
    candidate_label: str
    pairs: list[Pair] = field(default_factory=list)
    summaries: list[RatioSummary] = field(default_factory=list)
    one_sided: list[OneSided] = field(default_factory=list)
    both_failed: int = 0
    only_in_base: int = 0
    only_in_candidate: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The comparison as plain data (``accelbench compare --json``)."""
        return {
            "base": self.base_label,
            "candidate": self.candidate_label,
            "summaries": [
                {
                    "kind": x.kind,
                    "metric": x.metric.name,
                    "n": x.n,
                    "min": x.min,
                    "median": x.median,
                    "max": x.max,
                    "geomean": x.geomean,
                }
                for x in self.summaries
            ],
            "pairs": [
                {
                    "kind": p.kind,
                    "case": p.case,
                    "base": p.base_value,
                    "candidate": p.candidate_value,
                    "ratio": p.ratio,
                }
                for p in self.pairs
            ],
            "one_sided": [o.__dict__ for o in self.one_sided],
        }


def newest_per_configuration(results: Iterable[Result]) -> dict[tuple[str, str], Result]:
    """The newest result of each configuration (kind and case), for sides that hold re-runs."""
    out: dict[tuple[str, str], Result] = {}
    for r in sorted(results, key=lambda r: r.started_at):
        out[(r.kind, r.case_key)] = r
    return out


def compare(
    base: list[Result],
    candidate: list[Result],
    base_label: str = "base",
    candidate_label: str = "candidate",
) -> Comparison:
    b, c = newest_per_configuration(base), newest_per_configuration(candidate)
    cmp = Comparison(base_label, candidate_label)
    cmp.only_in_base = sum(k not in c for k in b)
    cmp.only_in_candidate = sum(k not in b for k in c)
    by_kind: dict[str, list[Pair]] = {}
    for key in (k for k in b if k in c):
        rb, rc = b[key], c[key]
        ok_b, ok_c = rb.status is Status.OK, rc.status is Status.OK
        if not ok_b and not ok_c:
            cmp.both_failed += 1
            continue
        if ok_b != ok_c:
            bad = rc if ok_b else rb
            cmp.one_sided.append(
                OneSided(
                    kind=rb.kind,
                    workload=rb.workload,
                    case=rb.case,
                    ok_side="base" if ok_b else "candidate",
                    failed_status=bad.status.value,
                    failed_message=bad.message,
                )
            )
            continue
        metric = primary_metric(rb.kind, [rb, rc])
        vb, vc = rb.metric(metric.name), rc.metric(metric.name)
        if not vb or not vc or not (vb > 0 and vc > 0):
            continue  # ok on both sides but without the rate (e.g. idle power with no meter)
        pair = Pair(rb.kind, rb.workload, rb.case, rb, rc, metric, vb, vc)
        cmp.pairs.append(pair)
        by_kind.setdefault(rb.kind, []).append(pair)
    for kind, pairs in by_kind.items():
        ratios = [p.ratio for p in pairs]
        cmp.summaries.append(
            RatioSummary(
                kind=kind,
                metric=pairs[0].metric,
                n=len(ratios),
                min=min(ratios),
                median=statistics.median(ratios),
                max=max(ratios),
                geomean=math.exp(statistics.fmean(math.log(x) for x in ratios)),
            )
        )
    return cmp
