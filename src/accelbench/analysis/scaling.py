"""Data-parallel scaling from stored ``scaling`` results: speed-up and efficiency against world
size, and time to threshold per world size.

Speed-up is ``throughput(n) / throughput(b)`` and efficiency ``throughput(n) x b /
(n x throughput(b))``, where b is the smallest world size measured with a throughput (1 in a
full sweep, so efficiency is ``throughput(n) / (n x throughput(1))``); the ideal is speed-up
n/b and efficiency 100%. Throughput is the world's, as the ``scaling`` workload stored it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.results.schema import Result, Status, case_key


@dataclass
class ScalingPoint:
    world_size: int
    status: str
    throughput: float | None
    speedup: float | None = None
    efficiency: float | None = None
    time_to_threshold_s: float | None = None
    note: str = ""
    """Why a number is missing (the result's message or the metric's reason)."""


@dataclass
class ScalingSeries:
    workload: str
    label: str
    unit: str
    metric: str
    """The inner metric the throughput came from (steady_samples_per_s, busbw_gbs, ...)."""
    base_world_size: int | None = None
    points: list[ScalingPoint] = field(default_factory=list)


def scaling_series(results: list[Result]) -> list[ScalingSeries]:
    """One series per scaling workload and inner case, points sorted by world size (the newest
    result of each world size)."""
    newest: dict[tuple[str, str], dict[int, Result]] = {}
    for r in results:
        if r.kind != "scaling" or not isinstance(r.case.get("case"), dict):
            continue
        key = (r.workload, f"{r.case.get('kind')}|{case_key(r.case['case'])}")
        n = int(r.case.get("world_size", 0))
        by_size = newest.setdefault(key, {})
        if n not in by_size or r.finished_at > by_size[n].finished_at:
            by_size[n] = r
    out: list[ScalingSeries] = []
    for (workload, _), by_size in newest.items():
        rows = [by_size[n] for n in sorted(by_size)]
        first = rows[0]
        tp = [r.metrics.get("throughput") for r in rows]
        unit = next((m.unit for m in tp if m is not None and m.value is not None), "samples/s")
        label = str(first.config.get("inner_description") or first.description.rsplit(" x", 1)[0])
        series = ScalingSeries(
            workload=workload,
            label=f"{workload}: {label}",
            unit=unit,
            metric=str(first.config.get("throughput_metric") or ""),
        )
        for r, m in zip(rows, tp, strict=True):
            value = m.value if m is not None and r.status is Status.OK else None
            ttt = r.metrics.get("time_to_threshold_s")
            note = ""
            if r.status is not Status.OK:
                note = r.message or r.status.value
            elif value is None and m is not None:
                note = m.unavailable or ""
            series.points.append(
                ScalingPoint(
                    world_size=int(r.case["world_size"]),
                    status=r.status.value,
                    throughput=value,
                    time_to_threshold_s=ttt.value if ttt is not None else None,
                    note=note,
                )
            )
        base = next((p for p in series.points if p.throughput), None)
        if base is not None and base.throughput:
            series.base_world_size = base.world_size
            for p in series.points:
                if p.throughput is not None:
                    p.speedup = p.throughput / base.throughput
                    p.efficiency = p.speedup * base.world_size / p.world_size
        out.append(series)
    return out
