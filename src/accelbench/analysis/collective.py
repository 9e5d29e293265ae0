"""Collective bandwidth against size: one curve per operation, world size and backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.results.schema import Result, Status


@dataclass
class CollectivePoint:
    bytes: int
    time_s: float
    algbw_gbs: float
    busbw_gbs: float


@dataclass
class CollectiveSeries:
    op: str
    world_size: int
    backend: str
    dtype: str
    points: list[CollectivePoint] = field(default_factory=list)
    """Sorted by size."""

    @property
    def label(self) -> str:
        return f"{self.op} ({self.world_size} ranks, {self.backend}, {self.dtype})"

    @property
    def peak(self) -> CollectivePoint | None:
        return max(self.points, key=lambda p: p.busbw_gbs, default=None)


def collective_curves(results: list[Result]) -> list[CollectiveSeries]:
    series: dict[tuple[str, int, str, str], CollectiveSeries] = {}
    for r in results:
        if r.kind != "collective" or r.status is not Status.OK:
            continue
        busbw, algbw, t = r.metric("busbw_gbs"), r.metric("algbw_gbs"), r.metric("time_median")
        nbytes, n = r.metric("bytes"), r.metric("world_size")
        if None in (busbw, algbw, t, nbytes, n):
            continue
        key = (
            str(r.case.get("op")),
            int(n),  # type: ignore[arg-type]
            str(r.config.get("backend", "?")),
            str(r.case.get("dtype", "?")),
        )
        s = series.setdefault(key, CollectiveSeries(*key))
        s.points.append(CollectivePoint(int(nbytes), t, algbw, busbw))  # type: ignore[arg-type]
    for s in series.values():
        s.points.sort(key=lambda p: p.bytes)
    return sorted(series.values(), key=lambda s: (s.world_size, s.op))
