"""The workload interface and the metrics every operator workload derives from a timing.

A workload expands its validated params into cases (plain dicts, the identity used for resume)
and runs one case at a time. It measures through :func:`accelbench.timing.protocol.measure`
and turns FLOPs and bytes into the same metrics everywhere, so GEMM, FC, convolution and RNN
sweeps are comparable column for column.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field, Strict

from accelbench.devices.base import BaseDevice, DeviceInfo
from accelbench.names import describe_case, rate_unit, work_unit
from accelbench.parallel.world import World
from accelbench.power.session import PowerMonitor
from accelbench.registry import Registry
from accelbench.results.schema import (
    Basis,
    Distributed,
    FrameworkEnv,
    Metric,
    Result,
    Status,
)
from accelbench.timing.protocol import Measurement
from accelbench.timing.settings import MeasureSettings

# Param types every workload shares. Strict: YAML `true` or "256" is a mistake to report, not
# a size to guess.
Dim = Annotated[int, Strict(), Field(gt=0, le=2**31 - 1)]


@dataclass
class RunContext:
    """What a case may use: the device, the settings to time it by, the run's power monitor
    (None when power measurement is off), and where real datasets live."""

    device: BaseDevice
    info: DeviceInfo
    measure: MeasureSettings
    power: PowerMonitor | None = None
    data_dir: Path | None = None
    """Where real datasets live (``--data-dir``); None: ``$ACCELBENCH_DATA_DIR`` or absent."""
    offline: bool = False
    """Never download a missing dataset (``--offline``); ``$ACCELBENCH_OFFLINE`` also forbids."""
    world: World | None = None
    """The data-parallel run this case is one rank of (started by torchrun); None: a single
    process. Inside a case, ``world.compute`` is the case's collective group."""


@dataclass
class CaseOutput:
    metrics: dict[str, Metric]
    measurement: Measurement | None = None
    config: dict[str, Any] = field(default_factory=dict)
    status: Status = Status.OK
    message: str | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    """Per-step records of a long case (per-epoch curve of a training run); stored as is."""
    basis: Basis | None = None
    """What the case's rate is judged against (a compute peak, the memory bandwidth); the
    runner looks the references up and derives utilisation and the roofline from them."""
    distributed: Distributed | None = None
    """A case that ran a data-parallel job of its own (a ``scaling`` case): that job's world
    and per-rank records, stored with the result."""
    framework: FrameworkEnv | None = None
    """The framework the case ran through, as it ran (version, backend, mode, settings);
    None: the runner records what the case names (PyTorch unless it says otherwise)."""


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
        return describe_case(case)

    @abstractmethod
    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput: ...


WORKLOADS: Registry[type[Workload]] = Registry("workload kind", package="accelbench.workloads")


def describe(result: Result) -> str:
    """How a stored result reads as text: the description stored with it, else its kind's own
    (records from before descriptions were stored), else ``key=value`` words (a kind this
    installation does not know, or a case from another version)."""
    if result.description:
        return result.description
    if result.kind in WORKLOADS:
        try:
            return WORKLOADS.get(result.kind).describe(result.case)
        except (KeyError, TypeError, ValueError):
            pass
    return describe_case(result.case)


def throughput_metrics(
    *,
    flops: float,
    min_bytes: float | None,
    m: Measurement,
    ctx: RunContext,
    dtype: str,
    samples_per_iter: int | None = None,
    macs: float | None = None,
) -> tuple[dict[str, Metric], Basis]:
    """Achieved FLOPS, arithmetic intensity, samples/s and peak memory of a timed case, and the
    basis (its precision's compute peak) that utilisation and the roofline are derived from.

    Convention: one multiply-accumulate is 2 FLOPs; ``macs`` defaults to ``flops / 2`` (pure
    MAC work such as a GEMM) and is given explicitly where bias adds or activations add non-MAC
    FLOPs. Integer work (int8) is counted the same way in OPs, so its units read ``OP`` and
    ``GOP/s`` (:data:`accelbench.names.OPS_CONVENTION`); the metric names stay the same so
    every analysis finds them. Achieved FLOPS use the median time, so one slow outlier does
    not move them; ``best_gflops`` uses the fastest sample.
    """
    s = m.summary
    achieved = flops / s.median
    work, rate = work_unit(dtype), rate_unit(dtype)
    metrics: dict[str, Metric] = {
        "time_median": Metric(value=s.median, unit="s"),
        "time_min": Metric(value=s.min, unit="s"),
        "flops": Metric(value=flops, unit=work),
        "macs": Metric(value=flops / 2 if macs is None else macs, unit="MAC"),
        "achieved_gflops": Metric(value=achieved / 1e9, unit=rate),
        "best_gflops": Metric(value=flops / s.min / 1e9, unit=rate),
    }
    if min_bytes:
        metrics["min_bytes"] = Metric(value=min_bytes, unit="B")
        metrics["arithmetic_intensity"] = Metric(value=flops / min_bytes, unit=f"{work}/B")
    if samples_per_iter:
        metrics["samples_per_s"] = Metric(value=samples_per_iter / s.median, unit="samples/s")
    metrics["peak_memory"] = peak_memory_metric(ctx)
    return metrics, Basis(compute_dtype=dtype)


def peak_memory_metric(ctx: RunContext) -> Metric:
    """The device's peak allocated memory during the case, or why it is not reported."""
    peak = ctx.device.peak_memory_bytes()
    if peak is None:
        return Metric.missing("B", ctx.device.peak_memory_unavailable_reason())
    return Metric(value=float(peak), unit="B")
