"""The roofline: each configuration at (arithmetic intensity, achieved FLOP/s) under the
compute ceiling of its precision and the memory-bandwidth ceiling.

Ceilings come from what the results themselves were compared with (their ``references``: the
measured peak GEMM and bandwidth of the same device and stack, and the datasheet entry when one
matched) and from any peak-gemm / peak-bandwidth results in the same set, so
the figure shows exactly the references the utilisation numbers used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.analysis.derived import roofline_bound
from accelbench.results.schema import Result, Status


@dataclass(frozen=True)
class RooflinePoint:
    intensity: float
    """FLOP per byte of minimum memory traffic."""
    gflops: float
    dtype: str
    kind: str
    workload: str
    result_id: str
    bound: str | None
    """'memory' or 'compute' against the measured roofline, when it was known."""


@dataclass(frozen=True)
class Ceiling:
    source: str
    """'measured' or 'datasheet'."""
    value: float
    """GFLOP/s for compute ceilings, GB/s for bandwidth ceilings."""
    dtype: str | None = None


@dataclass
class Roofline:
    points: list[RooflinePoint] = field(default_factory=list)
    compute: list[Ceiling] = field(default_factory=list)
    bandwidth: list[Ceiling] = field(default_factory=list)

    def ridge(self, compute: Ceiling, bandwidth: Ceiling) -> float:
        """Intensity (FLOP/B) where the two ceilings meet."""
        return compute.value / bandwidth.value


def _keep_max(ceilings: dict[tuple[str, str | None], float], key: tuple, value: float) -> None:
    ceilings[key] = max(value, ceilings.get(key, 0.0))


def roofline(results: list[Result]) -> Roofline:
    """Points and ceilings of one platform's results (mixing platforms mixes ceilings: the
    caller groups by platform first)."""
    compute: dict[tuple[str, str | None], float] = {}
    bandwidth: dict[tuple[str, str | None], float] = {}
    out = Roofline()
    for r in results:
        if r.status is not Status.OK:
            continue
        if r.kind == "peak-gemm" and r.metric("peak_gflops"):
            _keep_max(compute, ("measured", r.case.get("dtype")), r.metric("peak_gflops"))
        if r.kind == "peak-bandwidth" and r.metric("peak_gbs"):
            _keep_max(bandwidth, ("measured", None), r.metric("peak_gbs"))
        ai, gf = r.metric("arithmetic_intensity"), r.metric("achieved_gflops")
        if ai is None or gf is None:
            continue
        dtype = str(r.case.get("dtype", "?"))
        refs = r.references
        if refs.measured_peak is not None:
            _keep_max(compute, ("measured", dtype), refs.measured_peak.value / 1e9)
        if refs.measured_bandwidth is not None:
            _keep_max(bandwidth, ("measured", None), refs.measured_bandwidth.value / 1e9)
        if (ds := refs.datasheet) is not None and ds.flops:
            compute[("datasheet", dtype)] = ds.flops / 1e9
            if ds.memory_bandwidth_gbs:
                bandwidth[("datasheet", None)] = float(ds.memory_bandwidth_gbs)
        out.points.append(
            RooflinePoint(
                intensity=ai,
                gflops=gf,
                dtype=dtype,
                kind=r.kind,
                workload=r.workload,
                result_id=r.result_id,
                bound=roofline_bound(r),
            )
        )
    out.compute = [Ceiling(src, v, dt) for (src, dt), v in sorted(compute.items(), key=str)]
    out.bandwidth = [Ceiling(src, v) for (src, _), v in sorted(bandwidth.items(), key=str)]
    return out
