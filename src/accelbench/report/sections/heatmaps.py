"""Operator heatmaps: achieved rate over the two parameters of each sweep that vary most."""

from __future__ import annotations

from accelbench.analysis.groups import RunGroup
from accelbench.analysis.heatmap import Heatmap, operator_heatmaps
from accelbench.report import plots
from accelbench.report.model import OPERATOR_KINDS, FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section


@section("heatmaps", order=32)
def _heatmaps(groups: list[RunGroup]) -> Section | None:
    s = Section("heatmaps", "Operator heatmaps")
    s.text.append(
        "For each run, operator kind and setting (dtype, mode, and any other non-numeric "
        "parameter): achieved GFLOP/s (TFLOP/s where the best cell reaches 1000; analytic "
        "FLOPs over the median time) of every ok configuration, over the two numeric "
        "parameters with the most distinct values. Where another numeric parameter varies "
        "too, each cell shows the best (max) over it, and the panel's title says so. "
        "Parameters equal in every configuration (m = n = k) are one axis. Empty cells were "
        "not measured or did not run ok (see the outcomes section)."
    )
    any_data = False
    rows = []
    for g in groups:
        maps, skipped = operator_heatmaps(g.results, OPERATOR_KINDS)
        any_data = any_data or bool(maps or skipped)
        for n in skipped:
            s.text.append(f"No heatmap for {n.label} ({g.label}): {n.reason}.")
        by_kind: dict[str, list] = {}
        for m in maps:
            by_kind.setdefault(m.kind, []).append(m)
            rows.append(
                [
                    g.label,
                    m.label,
                    f"{m.y} x {m.x}",
                    ", ".join(m.aggregated) or "—",
                    m.configurations,
                    fmt(m.best),
                    _where_best(m),
                ]
            )
        for kind, ms in by_kind.items():
            aggregated = sorted({a for m in ms for a in m.aggregated})
            over = (
                f"; each cell is the best (max) over {', '.join(aggregated)}"
                if aggregated
                else "; no other numeric parameter varies"
            )
            s.figures.append(
                FigureItem(
                    f"heatmap-{slug(g.key)}-{slug(kind)}",
                    f"{kind} heatmap: {g.label}",
                    lambda ms=ms: plots.heatmaps(ms),
                    caption=f"achieved rate of {kind} over {ms[0].y} and {ms[0].x}" + over,
                )
            )
    if rows:
        s.tables.append(
            Table(
                [
                    "run",
                    "operator",
                    "rows x columns",
                    "best (max) over",
                    "ok configs",
                    "best GFLOP/s",
                    "best at",
                ],
                rows,
                caption="the grid behind each panel and its best cell",
            )
        )
    return s if any_data else None


def _where_best(m: Heatmap) -> str:
    best = m.best
    for i, row in enumerate(m.values):
        for j, v in enumerate(row):
            if v is not None and v == best:
                return f"{m.y}={m.ys[i]:g} {m.x}={m.xs[j]:g}"
    return "—"
