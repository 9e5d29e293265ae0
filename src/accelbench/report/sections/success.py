"""Configuration outcomes: what ran, what the platform cannot run, what failed and why."""

from __future__ import annotations

from accelbench.analysis import failure_reasons, success_table
from accelbench.analysis.groups import RunGroup
from accelbench.analysis.success import FAILED
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table
from accelbench.report.sections import section
from accelbench.results.schema import Status


@section("success", order=20)
def _success(groups: list[RunGroup]) -> Section:
    by_label = {g.label: g.results for g in groups}
    rows = success_table(by_label)
    s = Section("success", "Which configurations ran")
    s.text.append(
        "Configurations per workload kind and run, by outcome. Unsupported means the platform "
        "lacks the precision or operation (a fact about the platform, with its reason stored); "
        "failed means it supports the configuration and did not finish it: oom (out of "
        "memory), error, or diverged. The success rate is ok over what the platform supports, "
        "so float16 on a CPU without it is not counted as a failure. A sweep never stops on a "
        "failure: failures are results too, and every reason is listed below."
    )
    s.figures.append(
        FigureItem("success-figure", "Outcome per workload kind", lambda: plots.success(rows))
    )
    failed = [
        st.value
        for st in Status
        if st.value in FAILED and any(r.counts.get(st.value) for r in rows)
    ]
    s.tables.append(
        Table(
            [
                "run",
                "kind",
                "configurations",
                "ok",
                "unsupported",
                *[f"failed: {st}" for st in failed],
                "success rate (of supported)",
            ],
            [
                [
                    r.group,
                    r.kind,
                    r.total,
                    r.ok,
                    r.unsupported,
                    *[r.counts.get(st, 0) for st in failed],
                    f"{100 * r.success_rate:.0f}%" if r.success_rate is not None else "—",
                ]
                for r in rows
            ],
        )
    )
    reasons = failure_reasons(by_label)
    if reasons:
        s.tables.append(
            Table(
                ["run", "kind", "outcome", "configurations", "reason", "for example"],
                [[f.group, f.kind, f.status, f.count, f.message, f.example] for f in reasons],
                caption="Every stored reason a configuration did not run, grouped, failures "
                "first (each reason in full)",
            )
        )
    return s
