"""Configuration outcomes: what ran, what the platform cannot run, what failed."""

from __future__ import annotations

from accelbench.analysis import (
    success_table,
)
from accelbench.analysis.groups import RunGroup
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table
from accelbench.report.sections import section
from accelbench.results.schema import Status


@section("success", order=20)
def _success(groups: list[RunGroup]) -> Section:
    rows = success_table({g.label: g.results for g in groups})
    s = Section("success", "Which configurations ran")
    s.text.append(
        "Configurations per workload kind and run, by outcome: ok (measured), oom (the device "
        "ran out of memory), unsupported (the device or a kernel lacks the precision or "
        "operation; the reason is stored), error or diverged. Failures are results too: a sweep "
        "never stops on one."
    )
    s.figures.append(
        FigureItem("success-figure", "Outcome per workload kind", lambda: plots.success(rows))
    )
    statuses = [st.value for st in Status if any(r.counts.get(st.value) for r in rows)]
    s.tables.append(
        Table(
            ["run", "kind", "configurations", *statuses, "success rate"],
            [
                [
                    r.group,
                    r.kind,
                    r.total,
                    *[r.counts.get(st, 0) for st in statuses],
                    f"{100 * r.success_rate:.0f}%",
                ]
                for r in rows
            ],
        )
    )
    return s
