"""Which stored metric stands for "how fast" in each workload kind.

One table, used by the run summary, comparisons and the report, so a GEMM is compared on
GFLOP/s, a copy on GB/s and a training run on time to threshold (where lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.results.schema import Result


@dataclass(frozen=True)
class PrimaryMetric:
    name: str
    unit: str
    higher_is_better: bool = True


PRIMARY: dict[str, PrimaryMetric] = {
    "peak-gemm": PrimaryMetric("peak_gflops", "GFLOP/s"),
    "bandwidth": PrimaryMetric("gbs", "GB/s"),
    "peak-bandwidth": PrimaryMetric("peak_gbs", "GB/s"),
    "idle-power": PrimaryMetric("idle_power_w", "W", higher_is_better=False),
    # inference is judged as served: samples per second, whatever FLOPs it took
    "inference": PrimaryMetric("samples_per_s", "samples/s"),
    "input-pipeline": PrimaryMetric("images_per_s", "images/s"),
}
# Kinds not in the table are tried in this order: the first metric a result has is its rate.
FALLBACKS = (
    PrimaryMetric("achieved_gflops", "GFLOP/s"),
    PrimaryMetric("time_to_threshold_s", "s", higher_is_better=False),
    PrimaryMetric("samples_per_s", "samples/s"),
    # a training run that did not reach its threshold still has its throughput
    PrimaryMetric("steady_samples_per_s", "samples/s"),
)


def primary_metric(kind: str, results: list[Result] | None = None) -> PrimaryMetric:
    """The metric a kind is judged by; for kinds outside the table, the first fallback that
    any of ``results`` carries (so a new kind needs no edit here to be compared)."""
    if kind in PRIMARY:
        return PRIMARY[kind]
    for cand in FALLBACKS:
        if any(r.metric(cand.name) is not None for r in results or []):
            return cand
    return FALLBACKS[0]
