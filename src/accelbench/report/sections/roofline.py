"""The roofline per platform: every configuration under its measured and datasheet roofs."""

from __future__ import annotations

from accelbench.analysis import (
    roofline,
)
from accelbench.analysis.groups import RunGroup
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section


@section("roofline", order=40)
def _roofline(groups: list[RunGroup]) -> Section | None:
    s = Section("roofline", "Roofline")
    s.text.append(
        "Each ok operator configuration at its arithmetic intensity (analytic FLOPs over the "
        "minimum bytes it must move: inputs, weights and outputs once) and achieved GFLOP/s. "
        "Solid ceilings are this machine's measured peaks (best GEMM per precision; best copy "
        "or STREAM triad for memory), dashed ones the datasheet where the device is in the "
        "table. A point far below the roof at its intensity is a slow kernel, not a "
        "memory-bound shape."
    )
    for g in groups:
        roof = roofline(g.results)
        if not roof.points:
            continue
        s.figures.append(
            FigureItem(
                f"roofline-{slug(g.key)}",
                f"Roofline: {g.label}",
                lambda roof=roof, g=g: plots.roofline(roof, g.label),
            )
        )
        rows = [[c.source, "compute", c.dtype, fmt(c.value), "GFLOP/s"] for c in roof.compute]
        rows += [[c.source, "memory", "—", fmt(c.value), "GB/s"] for c in roof.bandwidth]
        bound: dict[str, int] = {}
        for p in roof.points:
            bound[p.bound or "unknown"] = bound.get(p.bound or "unknown", 0) + 1
        s.tables.append(
            Table(
                ["source", "ceiling", "dtype", "value", "unit"],
                rows,
                caption=f"{g.label}: ceilings; configurations by bound: "
                + ", ".join(f"{k} {v}" for k, v in sorted(bound.items())),
            )
        )
    return s if s.figures else None
