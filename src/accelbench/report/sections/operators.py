"""Best and median achieved rate per operator, precision and mode."""

from __future__ import annotations

import statistics

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
        "on the same device and software stack (above 100% means that peak measurement came "
        "out low on a noisy machine; the result records it)."
    )
    rows = []
    for g in groups:
        by: dict[tuple[str, str, str], list[Result]] = {}
        for r in g.results:
            if r.status is Status.OK and r.kind in OPERATOR_KINDS and r.metric("achieved_gflops"):
                key = (r.kind, str(r.case.get("dtype")), str(r.case.get("mode", "forward")))
                by.setdefault(key, []).append(r)
        for (kind, dtype, mode), rs in sorted(by.items()):
            best = max(rs, key=lambda r: r.metric("achieved_gflops"))
            rows.append(
                [
                    g.label,
                    kind,
                    dtype,
                    mode,
                    len(rs),
                    fmt(best.metric("achieved_gflops")),
                    fmt(statistics.median(r.metric("achieved_gflops") for r in rs)),
                    fmt(best.metric("utilisation_measured")),
                    fmt(best.summary.cv * 100 if best.summary else None, 2),
                    describe_case(
                        {k: v for k, v in best.case.items() if k not in ("dtype", "mode")}
                    ),
                ]
            )
    if not rows:
        return None
    s.tables.append(
        Table(
            [
                "run",
                "kind",
                "dtype",
                "mode",
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
    return s
