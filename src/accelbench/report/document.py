"""Build the report: run every registered section over the selected run groups.

`build_report` decides which sections exist (each appears only when its data does) and where
the comparisons go; the HTML and Markdown writers only lay the result out.
"""

from __future__ import annotations

from datetime import datetime, timezone

from accelbench.analysis import compare
from accelbench.analysis.compare import Comparison
from accelbench.analysis.groups import RunGroup
from accelbench.report.model import FigureItem, ReportDoc, Section, Table, fmt
from accelbench.report.sections import ordered
from accelbench.report.sections.comparison import comparison_section

__all__ = ["FigureItem", "ReportDoc", "Section", "Table", "build_report", "fmt"]


def build_report(
    groups: list[RunGroup],
    comparisons: list[Comparison] | None = None,
    title: str = "accelbench report",
) -> ReportDoc:
    """Every analysis over ``groups``; ``comparisons`` default to each group against the
    first group with which it shares configurations."""
    if comparisons is None:
        comparisons = auto_comparisons(groups)
    doc = ReportDoc(
        title=title,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sections=[],
        notes=[n for g in groups for n in g.notes],
    )
    after = 0  # comparisons follow the outcomes section (order 20), in the given order
    for b in ordered():
        built = b.build(groups)
        if built is not None:
            doc.sections.append(built)
            if b.order <= 20:
                after = len(doc.sections)
    for i, cmp in enumerate(comparisons):
        doc.sections.insert(after + i, comparison_section(cmp, i))
    return doc


def auto_comparisons(groups: list[RunGroup]) -> list[Comparison]:
    out = []
    for g in groups[1:]:
        base = next((b for b in groups if b is not g and _overlap(b, g)), None)
        if base is not None and groups.index(base) < groups.index(g):
            out.append(compare(base.results, g.results, base.label, g.label))
    return out


def _overlap(a: RunGroup, b: RunGroup) -> bool:
    keys = {(r.kind, r.case_key) for r in a.results}
    return any((r.kind, r.case_key) in keys for r in b.results)
