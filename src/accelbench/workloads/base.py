"""The workload interface and the metrics every operator workload derives from a timing.

A workload expands its validated params into cases (plain dicts, the identity used for resume)
and runs one case at a time. It measures through :func:`accelbench.timing.protocol.measure`
and turns FLOPs and bytes into the same metrics everywhere, so GEMM, FC, convolution and RNN
sweeps are comparable column for column.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, Strict

from accelbench.devices.base import BaseDevice, DeviceInfo
from accelbench.power.metrics import IdlePower
from accelbench.registry import Registry
from accelbench.results.schema import Metric, Status
from accelbench.timing.protocol import Measurement, MeasureSettings

# Param types every workload shares. Strict: YAML `true` or "256" is a mistake to report, not
# a size to guess.
Dim = Annotated[int, Strict(), Field(gt=0, le=2**31 - 1)]
Precision = Literal["float32", "tfloat32", "float16", "bfloat16", "float64"]
Mode = Literal["forward", "forward+backward"]


@dataclass(frozen=True)
class MeasuredPeak:
    """A stored peak measurement for one dtype, or the reason there is none."""

    flops: float | None
    result_id: str | None = None
    reason: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    """How trustworthy the peak is (CV, noisy flag, whether it converged), copied into every
    result that reports utilisation against it."""


@dataclass(frozen=True)
class MeasuredBandwidth:
    """A stored peak memory-bandwidth measurement (``peak-bandwidth``), or why there is none."""

    bytes_per_s: float | None
    result_id: str | None = None
    reason: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunContext:
    device: BaseDevice
    info: DeviceInfo
    measure: MeasureSettings
    measured_peak: Callable[[str], MeasuredPeak] = lambda dtype: MeasuredPeak(
        None, reason="no store to look up measured peaks"
    )
    measured_bandwidth: Callable[[], MeasuredBandwidth] = lambda: MeasuredBandwidth(
        None, reason="no store to look up measured bandwidth"
    )
    idle_power: Callable[[], IdlePower] = lambda: IdlePower(
        None, reason="no store to look up idle power"
    )
    data_dir: Path | None = None
    """Where real datasets live (``--data-dir``); None: ``$ACCELBENCH_DATA_DIR`` or absent."""


@dataclass
class CaseOutput:
    metrics: dict[str, Metric]
    measurement: Measurement | None = None
    config: dict[str, Any] = field(default_factory=dict)
    status: Status = Status.OK
    message: str | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    """Per-step records of a long case (per-epoch curve of a training run); stored as is."""


class Workload(ABC):
    kind: ClassVar[str]
    Params: ClassVar[type[BaseModel]]
    timed: ClassVar[bool] = True
    """False for workloads that measure something other than iteration time (idle power)."""

    def __init__(self, params: BaseModel) -> None:
        self.params = params

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> Workload:
        return cls(cls.Params.model_validate(params))

    @abstractmethod
    def cases(self) -> list[dict[str, Any]]:
        """Every case of the sweep, in run order. A case with a ``dtype`` key is checked
        against the device's supported dtypes before it runs."""

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return " ".join(f"{k}={v}" for k, v in case.items())

    @abstractmethod
    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput: ...


WORKLOADS: Registry[type[Workload]] = Registry("workload kind")


def throughput_metrics(
    *,
    flops: float,
    min_bytes: float | None,
    m: Measurement,
    ctx: RunContext,
    dtype: str,
    samples_per_iter: int | None = None,
    macs: float | None = None,
) -> tuple[dict[str, Metric], dict[str, Any]]:
    """Achieved FLOPS, utilisation of datasheet and measured peaks, intensity, roofline, memory.

    Convention: one multiply-accumulate is 2 FLOPs; ``macs`` defaults to ``flops / 2`` (pure
    MAC work such as a GEMM) and is given explicitly where bias adds or activations add non-MAC
    FLOPs. Achieved FLOPS use the median time, so one slow outlier does not move them;
    ``best_gflops`` uses the fastest sample.
    """
    s = m.summary
    achieved = flops / s.median
    metrics: dict[str, Metric] = {
        "time_median": Metric(value=s.median, unit="s"),
        "time_min": Metric(value=s.min, unit="s"),
        "flops": Metric(value=flops, unit="FLOP"),
        "macs": Metric(value=flops / 2 if macs is None else macs, unit="MAC"),
        "achieved_gflops": Metric(value=achieved / 1e9, unit="GFLOP/s"),
        "best_gflops": Metric(value=flops / s.min / 1e9, unit="GFLOP/s"),
    }
    if min_bytes:
        metrics["min_bytes"] = Metric(value=min_bytes, unit="B")
        metrics["arithmetic_intensity"] = Metric(value=flops / min_bytes, unit="FLOP/B")
    if samples_per_iter:
        metrics["samples_per_s"] = Metric(value=samples_per_iter / s.median, unit="samples/s")

    used: dict[str, Any] = {}
    peak = ctx.info.peak.peak_flops(dtype) if ctx.info.peak else None
    if peak:
        metrics["utilisation_datasheet"] = Metric(value=100 * achieved / peak, unit="%")
        used["datasheet_peak"] = {
            "name": ctx.info.peak.name,
            "flops": peak,  # type: ignore[union-attr]
            "source": ctx.info.peak.source,
            # the datasheet memory roof, so a roofline can draw both datasheet ceilings
            "memory_bandwidth_gbs": ctx.info.peak.memory_bandwidth_gbs,
        }  # type: ignore[union-attr]
    else:
        why = ctx.info.peak_unavailable_reason or f"the datasheet entry has no {dtype} figure"
        metrics["utilisation_datasheet"] = Metric.missing("%", why)
    mp = ctx.measured_peak(dtype)
    if mp.flops:
        metrics["utilisation_measured"] = Metric(value=100 * achieved / mp.flops, unit="%")
        used["measured_peak"] = {"flops": mp.flops, "result_id": mp.result_id, **mp.quality}
        if achieved > mp.flops:
            # Possible (the peak is an achieved rate, maybe taken on a noisy machine or at a
            # size below the plateau) and worth saying: the reference is too low.
            used["measured_peak"]["exceeded"] = True
    else:
        metrics["utilisation_measured"] = Metric.missing("%", mp.reason or "no measured peak")
    if min_bytes:
        metrics.update(_roofline(flops / min_bytes, achieved, mp, ctx.measured_bandwidth(), used))
    peak_mem = ctx.device.peak_memory_bytes()
    metrics["peak_memory"] = (
        Metric(value=float(peak_mem), unit="B")
        if peak_mem is not None
        else Metric.missing("B", ctx.device.peak_memory_unavailable_reason())
    )
    return metrics, used


def _roofline(
    intensity: float,
    achieved: float,
    peak: MeasuredPeak,
    bw: MeasuredBandwidth,
    used: dict[str, Any],
) -> dict[str, Metric]:
    """Where the case sits on the measured roofline: min(peak compute, intensity x bandwidth).

    ``roofline_efficiency`` is achieved / attainable: how close the case gets to what its
    arithmetic intensity allows, which separates "slow kernel" from "memory-bound shape".
    Built only from measured peaks, so both axes come from this machine.
    """
    if bw.bytes_per_s:
        used["measured_bandwidth"] = {
            "bytes_per_s": bw.bytes_per_s,
            "result_id": bw.result_id,
            **bw.quality,
        }
    if not (peak.flops and bw.bytes_per_s):
        why = (
            peak.reason
            if not peak.flops
            else (bw.reason or "no measured memory bandwidth (run accelbench peaks)")
        )
        return {
            "roofline_attainable_gflops": Metric.missing("GFLOP/s", why or "no measured peak"),
            "roofline_efficiency": Metric.missing("%", why or "no measured peak"),
        }
    memory_roof = intensity * bw.bytes_per_s
    attainable = min(peak.flops, memory_roof)
    used["roofline_bound"] = "memory" if memory_roof < peak.flops else "compute"
    used["ridge_point_flop_per_byte"] = peak.flops / bw.bytes_per_s
    return {
        "roofline_attainable_gflops": Metric(value=attainable / 1e9, unit="GFLOP/s"),
        "roofline_efficiency": Metric(value=100 * achieved / attainable, unit="%"),
    }
