"""Data-parallel scaling: speed-up and efficiency against world size with the ideal line, and
time to threshold per world size."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from accelbench.analysis.groups import RunGroup
from accelbench.analysis.scaling import ScalingSeries, scaling_series
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section


def scaling_figure(series: Sequence[ScalingSeries], title: str) -> Figure:
    """Speed-up (left, with the ideal n/b line) and efficiency (right, ideal 100%)."""
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    sizes: set[int] = set()
    for i, s in enumerate(series):
        pts = [p for p in s.points if p.speedup is not None]
        if not pts:
            continue
        xs = [p.world_size for p in pts]
        sizes.update(xs)
        a1.plot(xs, [p.speedup for p in pts], marker="o", ms=4, color=f"C{i}", label=s.label)
        a2.plot(xs, [100 * p.efficiency for p in pts], marker="o", ms=4, color=f"C{i}")  # type: ignore[operator]
    base = min((s.base_world_size for s in series if s.base_world_size), default=1)
    ideal = sorted(sizes | {base})
    a1.plot(ideal, [n / base for n in ideal], ls="--", color="0.4", label="ideal")
    a2.axhline(100, ls="--", color="0.4")
    for ax in (a1, a2):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ideal, [str(n) for n in ideal])
        ax.set_xlabel("world size (ranks)")
    a1.set_ylabel(f"speed-up over {base} rank{'s' if base > 1 else ''}")
    a2.set_ylabel("scaling efficiency (%)")
    a2.set_ylim(bottom=0)
    a1.set_title(title, fontsize=9)
    a1.legend(fontsize=7)
    return fig


@section("scaling", order=75)
def _scaling(groups: list[RunGroup]) -> Section | None:
    s = Section("scaling", "Data-parallel scaling")
    s.text.append(
        "Each world size is its own torchrun launch of the same case, one process per device. "
        "Throughput is the world's (a training run's steady samples/s over all ranks, the "
        "slowest rank's epoch time; an operator's samples/s summed over the ranks). Speed-up = "
        "throughput(n) / throughput(1) and scaling efficiency = throughput(n) / (n x "
        "throughput(1)); the dashed lines are ideal. Time to threshold is given per world size: "
        "strong scaling keeps the recipe's global batch, weak scaling multiplies it (and the "
        "learning rate by the recipe's rule), which can change how many epochs it takes."
    )
    for g in groups:
        series = scaling_series(g.results)
        if not series:
            continue
        s.figures.append(
            FigureItem(
                f"scaling-{slug(g.key)}",
                f"Speed-up and efficiency: {g.label}",
                lambda series=series, g=g: scaling_figure(series, g.label),
            )
        )
        s.tables.append(
            Table(
                [
                    "case",
                    "world size",
                    "status",
                    "throughput",
                    "speed-up",
                    "efficiency (%)",
                    "time to threshold (s)",
                    "note",
                ],
                [
                    [
                        x.label,
                        p.world_size,
                        p.status,
                        f"{fmt(p.throughput)} {x.unit}" if p.throughput is not None else "—",
                        fmt(p.speedup),
                        fmt(100 * p.efficiency) if p.efficiency is not None else "—",
                        fmt(p.time_to_threshold_s),
                        p.note[:160],
                    ]
                    for x in series
                    for p in x.points
                ],
                caption=g.label,
            )
        )
    return s if s.tables else None
