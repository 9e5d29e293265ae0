"""Achieved bandwidth against transfer size, one curve per direction and host-memory kind."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.results.schema import Result, Status


@dataclass
class BandwidthSeries:
    direction: str
    host_memory: str | None
    """'pinned' or 'pageable' for host transfers; None for device-memory traffic."""
    points: list[tuple[int, float]] = field(default_factory=list)
    """(bytes per transfer, GB/s), sorted by size."""

    @property
    def label(self) -> str:
        return self.direction + (f" ({self.host_memory})" if self.host_memory else "")


def bandwidth_curves(results: list[Result]) -> list[BandwidthSeries]:
    series: dict[tuple[str, str | None], BandwidthSeries] = {}
    for r in results:
        if r.kind != "bandwidth" or r.status is not Status.OK or r.metric("gbs") is None:
            continue
        key = (str(r.case.get("direction")), r.case.get("host_memory"))
        s = series.setdefault(key, BandwidthSeries(key[0], key[1]))
        s.points.append((int(r.case.get("bytes", 0)), float(r.metric("gbs"))))
    for s in series.values():
        s.points.sort()
    return list(series.values())
