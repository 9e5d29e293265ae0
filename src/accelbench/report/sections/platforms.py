"""The platforms and environments table: one column per run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accelbench.analysis.groups import RunGroup
from accelbench.report.model import Section, Table, fmt
from accelbench.report.sections import section
from accelbench.results.schema import Result, Status


def _version(r: Result) -> str:
    e = r.environment
    dirty = ", uncommitted changes" if e.git_dirty else ""
    return f"{e.accelbench_version} ({(e.git_revision or 'no git')[:10]}{dirty})"


@section("platforms", order=10)
def _platforms(groups: list[RunGroup]) -> Section:
    s = Section("platforms", "Platforms and environments")
    s.text.append(
        "Each column is one run (or database) in this report: the hardware, software stack and "
        "settings its results were measured with. Numbers from different columns are only "
        "comparable when the rows that matter to you agree."
    )
    rows: list[tuple[str, Callable[[RunGroup, Result], Any]]] = [
        ("run", lambda g, r: g.key),
        ("suite", lambda g, r: g.suite),
        ("state", lambda g, r: g.state),
        ("started", lambda g, r: (g.started_at or r.started_at.isoformat())[:19]),
        ("device", lambda g, r: f"{r.device}: {r.environment.device_name}"),
        ("host", lambda g, r: r.environment.host),
        ("CPU", lambda g, r: r.environment.cpu_model),
        (
            "cores (physical / logical)",
            lambda g, r: f"{r.environment.cpu_cores_physical} / {r.environment.cpu_cores_logical}",
        ),
        ("threads", lambda g, r: r.environment.threads),
        ("memory", lambda g, r: fmt((r.environment.memory_total_bytes or 0) / 2**30) + " GiB"),
        ("OS", lambda g, r: r.environment.os),
        ("Python / torch", lambda g, r: f"{r.environment.python} / {r.environment.torch}"),
        (
            "accelerator runtime",
            lambda g, r: (
                ", ".join(f"{k} {v}" for k, v in r.environment.accelerator_runtime.items()) or "—"
            ),
        ),
        ("driver", lambda g, r: r.environment.driver_version or "—"),
        ("accelbench", lambda g, r: _version(r)),
        ("seed", lambda g, r: r.environment.seed),
        (
            "results (ok)",
            lambda g, r: f"{len(g.results)} ({sum(x.status is Status.OK for x in g.results)})",
        ),
        ("source", lambda g, r: g.source),
    ]
    table = Table(columns=["", *[g.label for g in groups]], rows=[])
    for name, get in rows:
        table.rows.append([name, *[get(g, g.results[0]) for g in groups]])
    s.tables.append(table)
    return s
