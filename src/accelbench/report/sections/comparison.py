"""One comparison of two run groups: the ratio per configuration and per kind.

Not registered: build_report adds one per comparison, after the outcomes section."""

from __future__ import annotations

from accelbench.analysis.compare import Comparison
from accelbench.names import describe_case
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt
from accelbench.report.sections.inference import _cost_table


def comparison_section(cmp: Comparison, i: int) -> Section:
    s = Section(
        f"comparison-{i + 1}", f"Comparison: {cmp.candidate_label} against {cmp.base_label}"
    )
    s.text.append(
        "Configurations present in both, matched by workload kind and parameters. The ratio is "
        "the candidate's speed-up over the base on each kind's primary metric (GFLOP/s for "
        "operators and GEMM, GB/s for bandwidth; for time-like metrics base time over "
        "candidate time), so above 1 means the candidate is faster. The geometric mean is the "
        "summary that treats 2x and 0.5x symmetrically."
    )
    s.text.append(
        f"{len(cmp.pairs)} configurations compared; {len(cmp.one_sided)} ran on one side only; "
        f"{cmp.both_failed} were measured on neither side (unsupported or failed); "
        f"{cmp.only_in_base} only in the base and "
        f"{cmp.only_in_candidate} only in the candidate."
    )
    if cmp.pairs:
        s.figures.append(
            FigureItem(
                f"ratio-scatter-{i + 1}",
                "Speed-up per configuration against its size, coloured by batch",
                lambda: plots.ratio_scatter(cmp),
            )
        )
    s.tables.append(
        Table(
            ["kind", "metric", "n", "min", "median", "max", "geometric mean"],
            [
                [
                    x.kind,
                    f"{x.metric.name} ({x.metric.unit})",
                    x.n,
                    fmt(x.min),
                    fmt(x.median),
                    fmt(x.max),
                    fmt(x.geomean),
                ]
                for x in cmp.summaries
            ],
            caption="Speed-up of the candidate over the base, per kind",
        )
    )
    if (cost := _cost_table(cmp)) is not None:
        s.tables.append(cost)
    if cmp.one_sided:
        s.tables.append(
            Table(
                ["kind", "configuration", "ran on", "failed on the other side as", "message"],
                [
                    [
                        o.kind,
                        describe_case(o.case),
                        o.ok_side,
                        o.failed_status,
                        (o.failed_message or "")[:160],
                    ]
                    for o in cmp.one_sided
                ],
                caption="Configurations that ran on one side only",
            )
        )
    return s
