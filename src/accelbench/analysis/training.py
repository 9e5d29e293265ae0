"""Training to quality: the validation curve against wall time and epoch, time to threshold,
first-epoch against steady-state throughput, and repeated runs summarised MLPerf-style.

Reads each training result's typed per-epoch ``trace`` (:class:`EpochRecord`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from accelbench.names import describe_case
from accelbench.results.schema import Result, Status


@dataclass
class TrainingRun:
    result: Result
    label: str
    epochs: list[int] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    metric: list[float | None] = field(default_factory=list)
    samples_per_s: list[float | None] = field(default_factory=list)
    threshold: float | None = None
    metric_name: str = "top1"
    metric_unit: str = "%"

    @property
    def time_to_threshold_s(self) -> float | None:
        return self.result.metric("time_to_threshold_s")

    @property
    def first_epoch_samples_per_s(self) -> float | None:
        v = self.result.metric("first_epoch_samples_per_s")
        if v is None and self.samples_per_s:
            v = self.samples_per_s[0]
        return v

    @property
    def steady_samples_per_s(self) -> float | None:
        v = self.result.metric("steady_samples_per_s")
        if v is None:
            rest = [x for x in self.samples_per_s[1:] if x is not None]
            v = sum(rest) / len(rest) if rest else None
        return v


def training_runs(results: list[Result]) -> list[TrainingRun]:
    """Every result that carries a per-epoch trace."""
    runs = []
    for r in results:
        if not r.trace:
            continue
        described = r.description or describe_case(r.case)
        t = TrainingRun(result=r, label=f"{r.workload} {described}".strip())
        for row in r.trace:
            t.epochs.append(row.epoch)
            t.wall_s.append(row.wall_s)
            t.metric.append(row.metric)
            t.samples_per_s.append(row.samples_per_s)
            if row.metric_name:
                t.metric_name = row.metric_name
        qm = r.config.get("quality_metric") or {}
        t.metric_unit = str(qm.get("unit", "%"))
        th = r.config.get("threshold", r.config.get("params", {}).get("threshold"))
        t.threshold = float(th) if isinstance(th, int | float) else None
        runs.append(t)
    return runs


@dataclass(frozen=True)
class RepeatGroup:
    """The repeated runs of one training configuration (same recipe and case, seeds differ).

    Times to threshold: ``mean`` and ``median`` of the runs that reached it, with ``stdev``,
    ``min`` and ``max``; ``mlperf_mean`` is MLPerf's rule (drop the fastest and the slowest
    run, mean of the rest; needs at least 3 runs that reached the threshold).
    """

    workload: str
    case: dict[str, object]
    runs: int
    reached: int
    missed: list[str]
    """Result ids of the runs that ended without reaching the threshold (or failed)."""
    times_s: list[float]
    mean_s: float | None
    median_s: float | None
    stdev_s: float | None
    min_s: float | None
    max_s: float | None
    mlperf_mean_s: float | None


def _base_case(case: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in case.items() if k != "run"}


def repeat_groups(results: list[Result]) -> list[RepeatGroup]:
    """Group training results that differ only in their repeat index and summarise each
    group's time to threshold."""
    groups: dict[tuple[str, str, str], list[Result]] = {}
    for r in results:
        if not r.trace and "time_to_threshold_s" not in r.metrics:
            continue  # not a training run
        key = (r.run_id, r.workload, str(sorted(_base_case(r.case).items())))
        groups.setdefault(key, []).append(r)
    out = []
    for (_, workload, _), rs in groups.items():
        times = sorted(
            t for r in rs if r.status is Status.OK and (t := r.metric("time_to_threshold_s"))
        )
        missed = [
            r.result_id
            for r in rs
            if r.status is not Status.OK or r.metric("time_to_threshold_s") is None
        ]
        n = len(times)
        out.append(
            RepeatGroup(
                workload=workload,
                case=_base_case(rs[0].case),
                runs=len(rs),
                reached=n,
                missed=missed,
                times_s=times,
                mean_s=statistics.fmean(times) if n else None,
                median_s=statistics.median(times) if n else None,
                stdev_s=statistics.stdev(times) if n > 1 else None,
                min_s=times[0] if n else None,
                max_s=times[-1] if n else None,
                mlperf_mean_s=statistics.fmean(times[1:-1]) if n >= 3 else None,
            )
        )
    return out
