"""Power and energy per workload, and idle power."""

from __future__ import annotations

import statistics
from typing import Any

from accelbench.analysis import (
    idle_power_rows,
    power_rows,
)
from accelbench.analysis.groups import RunGroup
from accelbench.analysis.power import power_unavailable_reasons
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section


def _power_table(rows: list[Any], caption: str) -> Table:
    """One row per workload: how many configurations were metered and the spread of their
    average power and energy (the per-configuration values are in the store)."""
    by: dict[str, list[Any]] = {}
    for p in rows:
        by.setdefault(p.workload, []).append(p)

    def med(vals: list[float | None]) -> float | None:
        v = [x for x in vals if x is not None]
        return statistics.median(v) if v else None

    return Table(
        [
            "workload",
            "configurations",
            "W min",
            "W median",
            "W max",
            "J/iter median",
            "J/sample median",
            "net J/iter median",
        ],
        [
            [
                w,
                len(ps),
                fmt(min(p.power_avg_w for p in ps)),
                fmt(med([p.power_avg_w for p in ps])),
                fmt(max(p.power_avg_w for p in ps)),
                fmt(med([p.energy_per_iter_j for p in ps])),
                fmt(med([p.energy_per_sample_j for p in ps])),
                fmt(med([p.net_energy_per_iter_j for p in ps])),
            ]
            for w, ps in by.items()
        ],
        caption=caption,
    )


@section("power", order=90)
def _power(groups: list[RunGroup]) -> Section | None:
    rows = [(g, power_rows(g.results)) for g in groups]
    idle = [(g, r) for g in groups for r in idle_power_rows(g.results)]
    reasons: dict[str, int] = {}
    for g in groups:
        for k, v in power_unavailable_reasons(g.results).items():
            reasons[k] = reasons.get(k, 0) + v
    if not any(r for _, r in rows) and not idle and not reasons:
        return None
    s = Section("power", "Power and energy")
    s.text.append(
        "Average power over each configuration's timed window (a meter's energy counter read at "
        "both ends, or its power samples integrated), energy per iteration and per sample, and "
        "idle power from `accelbench idle-power`; net energy is above idle."
    )
    for g, pr in rows:
        if pr:
            s.figures.append(
                FigureItem(
                    f"power-{slug(g.key)}",
                    f"Power and energy: {g.label}",
                    lambda pr=pr: plots.power_bars(pr),
                )
            )
            s.tables.append(_power_table(pr, g.label))
    if idle:
        s.tables.append(
            Table(
                ["run", "idle W", "window s"],
                [
                    [g.label, fmt(r.metric("idle_power_w")), fmt(r.metric("window_s"))]
                    for g, r in idle
                ],
                caption="Idle power",
            )
        )
    if reasons and not any(r for _, r in rows):
        s.text.append("No power was measured in these runs. Why, with how many results say so:")
        s.tables.append(Table(["reason", "results"], [[k, v] for k, v in reasons.items()]))
    return s
