"""Copy and triad bandwidth against transfer size."""

from __future__ import annotations

from accelbench.analysis import (
    bandwidth_curves,
)
from accelbench.analysis.groups import RunGroup
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section


@section("bandwidth", order=60)
def _bandwidth(groups: list[RunGroup]) -> Section | None:
    s = Section("bandwidth", "Bandwidth against transfer size")
    s.text.append(
        "Achieved GB/s (bytes moved over the median time) per transfer size, for each "
        "direction (h2d / d2h: host to device and back, with pinned or pageable host memory; "
        "d2d: a copy within device memory, counted as read plus write; triad: the STREAM "
        "triad, 2 reads and 1 write). Small transfers measure latency, large ones bandwidth."
    )
    for g in groups:
        series = bandwidth_curves(g.results)
        if not series:
            continue
        s.figures.append(
            FigureItem(
                f"bandwidth-{slug(g.key)}",
                f"Bandwidth: {g.label}",
                lambda series=series, g=g: plots.bandwidth(series, g.label),
            )
        )
        s.tables.append(
            Table(
                ["series", "sizes", "best GB/s", "at bytes"],
                [
                    [
                        x.label,
                        len(x.points),
                        fmt(max(p[1] for p in x.points)),
                        max(x.points, key=lambda p: p[1])[0],
                    ]
                    for x in series
                ],
                caption=g.label,
            )
        )
    return s if s.figures else None
