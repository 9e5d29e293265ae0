"""Collective bandwidth (all-reduce, all-gather, reduce-scatter, broadcast) against size."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from accelbench.analysis.collective import CollectiveSeries, collective_curves
from accelbench.analysis.groups import RunGroup
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section

MARKERS = "os^Dv<>p"


def collective_figure(series: Sequence[CollectiveSeries], title: str) -> Figure:
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for i, s in enumerate(series):
        ax.plot(
            [p.bytes for p in s.points],
            [p.busbw_gbs for p in s.points],
            marker=MARKERS[i % len(MARKERS)],
            ms=3,
            label=s.label,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("size S (bytes, nccl-tests convention)")
    ax.set_ylabel("bus bandwidth (GB/s)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig


@section("collective", order=62)
def _collective(groups: list[RunGroup]) -> Section | None:
    s = Section("collective", "Collective bandwidth against size")
    s.text.append(
        "nccl-tests conventions: S is the data of the operation (the buffer of all-reduce and "
        "broadcast, the gathered output of all-gather, the scattered input of reduce-scatter); "
        "t is the slowest rank's time per operation (median over iterations); algorithm "
        "bandwidth algbw = S / t; bus bandwidth busbw = algbw x 2(n-1)/n for all-reduce, x "
        "(n-1)/n for all-gather and reduce-scatter, x 1 for broadcast, so it can be compared "
        "with the link's speed whatever the number of ranks n. GB = 1e9 B."
    )
    for g in groups:
        series = collective_curves(g.results)
        if not series:
            continue
        s.figures.append(
            FigureItem(
                f"collective-{slug(g.key)}",
                f"Collective bus bandwidth: {g.label}",
                lambda series=series, g=g: collective_figure(series, g.label),
            )
        )
        s.tables.append(
            Table(
                [
                    "operation",
                    "ranks",
                    "backend",
                    "sizes",
                    "best busbw (GB/s)",
                    "at bytes",
                    "time at 8 B or smallest (s)",
                ],
                [
                    [
                        x.op,
                        x.world_size,
                        x.backend,
                        len(x.points),
                        fmt(x.peak.busbw_gbs) if x.peak else "—",
                        x.peak.bytes if x.peak else "—",
                        fmt(x.points[0].time_s) if x.points else "—",
                    ]
                    for x in series
                ],
                caption=g.label,
            )
        )
    return s if s.tables else None
