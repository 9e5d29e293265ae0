"""How many configurations ran, per operator and platform: the study's success table."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.results.schema import Result, Status


@dataclass
class SuccessRow:
    group: str
    """The run (or platform) label the counts belong to."""
    kind: str
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    """Results per status value (ok, oom, unsupported, error, diverged, skipped)."""

    @property
    def ok(self) -> int:
        return self.counts.get(Status.OK.value, 0)

    @property
    def success_rate(self) -> float:
        return self.ok / self.total if self.total else 0.0


def success_table(groups: dict[str, list[Result]]) -> list[SuccessRow]:
    """Counts per status for each (group, workload kind), in the order groups and kinds
    first appear."""
    rows: dict[tuple[str, str], SuccessRow] = {}
    for label, results in groups.items():
        for r in results:
            row = rows.setdefault((label, r.kind), SuccessRow(group=label, kind=r.kind))
            row.total += 1
            row.counts[r.status.value] = row.counts.get(r.status.value, 0) + 1
    return list(rows.values())
