"""Best and median achieved rate per operator, precision and mode."""

from __future__ import annotations

import statistics

from accelbench.analysis.cache import cache_mode, warm_cold_pairs
from accelbench.analysis.derived import unreliable_peaks
from accelbench.analysis.groups import RunGroup
from accelbench.names import describe_case
from accelbench.report.model import OPERATOR_KINDS, Section, Table, fmt
from accelbench.report.sections import section
from accelbench.results.schema import Result, Status


@section("operators", order=30)
def _best(groups: list[RunGroup]) -> Section | None:
    s = Section("operators", "Best and median throughput per operator")
    s.text.append(
        "For each operator kind, precision and mode: the best configuration's achieved GFLOP/s "
        "(analytic FLOPs over the median time of the timed iterations), the median over all "
        "ok configurations, and utilisation of the measured peak GEMM of the same precision "
        "on the same device and software stack. Where any configuration beat a measured "
        "peak's 95% upper bound, that peak is no ceiling (measured on a busy host or below "
        'the plateau): its utilisation reads "peak unreliable" instead of a number above '
        "100%, and the peak should be measured again on an idle host."
    )
    rows = []
    cold = any(cache_mode(r) == "cold" for g in groups for r in g.results)
    unreliable: dict[str, str] = {}
    for g in groups:
        bad = unreliable_peaks(g.results)
        unreliable.update(bad)
        by: dict[tuple[str, str, str, str], list[Result]] = {}
        for r in g.results:
            if r.status is Status.OK and r.kind in OPERATOR_KINDS and r.metric("achieved_gflops"):
                key = (
                    r.kind,
                    str(r.case.get("dtype")),
                    str(r.case.get("mode", "forward")),
                    cache_mode(r),
                )
                by.setdefault(key, []).append(r)
        for (kind, dtype, mode, cache), rs in sorted(by.items()):
            best = max(rs, key=lambda r: r.metric("achieved_gflops"))
            rows.append(
                [
                    g.label,
                    kind,
                    dtype,
                    mode,
                    *([cache] if cold else []),
                    len(rs),
                    fmt(best.metric("achieved_gflops")),
                    fmt(statistics.median(r.metric("achieved_gflops") for r in rs)),
                    _utilisation(best, bad),
                    fmt(best.summary.cv * 100 if best.summary else None, 2),
                    describe_case(
                        {k: v for k, v in best.case.items() if k not in ("dtype", "mode")}
                    ),
                ]
            )
    if not rows:
        return None
    for reason in dict.fromkeys(unreliable.values()):
        s.text.append(f"Measured peak unreliable: {reason}.")
    s.tables.append(
        Table(
            [
                "run",
                "kind",
                "dtype",
                "mode",
                *(["cache"] if cold else []),
                "ok configs",
                "best GFLOP/s",
                "median GFLOP/s",
                "best: % of measured peak",
                "best: CV %",
                "best configuration",
            ],
            rows,
        )
    )
    pairs = [(g, p) for g in groups for p in warm_cold_pairs(g.results)]
    if pairs:
        s.text.append(
            "Cases measured both warm (the same inputs every iteration, left in cache by the "
            "last one) and cold (the last-level cache evicted before every timed iteration, "
            "outside the timed region): the ratio is how much a warm cache flattered the case."
        )
        s.tables.append(
            Table(
                [
                    "run",
                    "case",
                    "warm median s",
                    "cold median s",
                    "cold / warm time",
                    "warm rate",
                    "cold rate",
                    "unit",
                ],
                [
                    [
                        g.label,
                        p.description.removesuffix(" cold cache"),
                        fmt(p.warm.summary.median if p.warm.summary else None),
                        fmt(p.cold.summary.median if p.cold.summary else None),
                        fmt(p.slowdown),
                        fmt(p.warm.metric("achieved_gflops")),
                        fmt(p.cold.metric("achieved_gflops")),
                        _unit(p.warm),
                    ]
                    for g, p in pairs
                ],
                caption="warm against cold cache, same case",
            )
        )
    return s


def _unit(r: Result) -> str:
    m = r.metrics.get("achieved_gflops")
    return m.unit if m is not None else "—"


def _utilisation(r: Result, unreliable: dict[str, str]) -> str:
    mp = r.references.measured_peak
    if mp is not None and (mp.unreliable or mp.result_id in unreliable):
        return "peak unreliable"
    return fmt(r.metric("utilisation_measured"))
