"""How many configurations ran, per operator and platform: the study's success table."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.names import describe_case
from accelbench.results.schema import Result, Status

FAILED = frozenset({Status.OOM.value, Status.ERROR.value, Status.DIVERGED.value})
"""Statuses that count against a platform: it supports the configuration but did not finish."""


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
    def unsupported(self) -> int:
        """What the platform cannot run (a precision or kernel it lacks): not a failure."""
        return self.counts.get(Status.UNSUPPORTED.value, 0)

    @property
    def failed(self) -> int:
        """What the platform should have run and did not: oom, error, diverged."""
        return sum(v for k, v in self.counts.items() if k in FAILED)

    @property
    def attempted(self) -> int:
        """Configurations the platform supports (neither unsupported nor skipped)."""
        return self.ok + self.failed

    @property
    def success_rate(self) -> float | None:
        """ok over what the platform supports; None when it supports none of them. Float16
        on a CPU without it is a fact about the CPU, not a failed run, so it is left out."""
        return self.ok / self.attempted if self.attempted else None


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


@dataclass(frozen=True)
class FailureReason:
    group: str
    kind: str
    status: str
    message: str
    count: int
    example: str
    """One configuration that failed this way, as its workload described it."""


def failure_reasons(groups: dict[str, list[Result]]) -> list[FailureReason]:
    """Every stored reason a configuration did not run (failed or unsupported), grouped by
    run, kind, status and message, with how many configurations share it; failures first,
    then the most frequent."""
    seen: dict[tuple[str, str, str, str], list[Result]] = {}
    for label, results in groups.items():
        for r in results:
            if r.status in (Status.OK, Status.SKIPPED):
                continue
            key = (label, r.kind, r.status.value, r.message or "(no message stored)")
            seen.setdefault(key, []).append(r)
    out = [
        FailureReason(g, k, st, msg, len(rs), rs[0].description or describe_case(rs[0].case))
        for (g, k, st, msg), rs in seen.items()
    ]
    return sorted(out, key=lambda f: (f.status == Status.UNSUPPORTED.value, -f.count))
