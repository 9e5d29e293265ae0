"""GEMM: C = A @ B over square sizes and explicit shapes, in every precision the device has.

Includes the 1000x1000 case of the CPU study. ``peak-gemm`` measures the device's peak compute
per dtype as the best achieved rate over a few large GEMMs; other workloads report utilisation
against it (and against the datasheet where the table has the device).

``gemm`` runs through any framework (``frameworks``, ``executions``): PyTorch eager or
``torch.compile``, MindSpore PyNative or Graph; the FLOPs and bytes are the same for all.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from accelbench import flops as fl
from accelbench.devices.base import torch_dtype
from accelbench.frameworks import (
    FrameworkChoice,
    Prepared,
    framework_keys,
    framework_label,
    open_framework,
    run_prepared,
)
from accelbench.names import Mode, Precision
from accelbench.results.schema import Metric
from accelbench.timing.protocol import measure
from accelbench.workloads.base import (
    WORKLOADS,
    CaseOutput,
    Dim,
    RunContext,
    Workload,
    throughput_metrics,
)


def gemm_flops(m: int, n: int, k: int) -> float:
    """FLOPs of an (m x k) @ (k x n) product: m*n*k multiply-accumulates, 2 FLOPs each."""
    return 2.0 * m * n * k


def gemm_min_bytes(m: int, n: int, k: int, elem: int) -> float:
    """Compulsory traffic: read A and B once, write C once."""
    return float(elem * (m * k + k * n + m * n))


def _gemm_callable(
    m: int, n: int, k: int, dtype: str, ctx: RunContext, mode: str = "forward"
) -> Any:
    dev, dt = ctx.device.torch_device, torch_dtype(dtype)
    # Random normal inputs made on the device, outside the timed region: zeros or constants
    # can take fast paths and distort both timing and power.
    a = torch.randn(m, k, device=dev, dtype=dt)
    b = torch.randn(k, n, device=dev, dtype=dt)
    c = torch.empty(m, n, device=dev, dtype=dt)
    if mode == "forward":
        return lambda: torch.matmul(a, b, out=c)
    # forward+backward: the three products autograd runs for C = A B, written out so no
    # autograd bookkeeping is timed: dA = dC B^T and dB = A^T dC, with a random upstream dC.
    g = torch.randn(m, n, device=dev, dtype=dt)
    da = torch.empty(m, k, device=dev, dtype=dt)
    db = torch.empty(k, n, device=dev, dtype=dt)

    def forward_backward() -> Any:
        return (
            torch.matmul(a, b, out=c),
            torch.matmul(g, b.t(), out=da),
            torch.matmul(a.t(), g, out=db),
        )

    return forward_backward


class GemmParams(FrameworkChoice):
    model_config = ConfigDict(extra="forbid")

    sizes: list[Dim] = Field(default_factory=list, description="square m = n = k")
    shapes: list[tuple[Dim, Dim, Dim]] = Field(default_factory=list, description="(m, n, k)")
    dtypes: list[Precision] = Field(default=["float32", "bfloat16", "float16"], min_length=1)
    modes: list[Mode] = Field(
        default=["forward"],
        min_length=1,
        description="forward+backward adds dA = dC B^T and dB = A^T dC (3x the FLOPs)",
    )

    @model_validator(mode="after")
    def _check(self) -> GemmParams:
        if not self.sizes and not self.shapes:
            raise ValueError("give at least one of 'sizes' or 'shapes'")
        return self


@WORKLOADS.register("gemm")
class Gemm(Workload):
    kind = "gemm"
    Params = GemmParams
    params: GemmParams

    def cases(self) -> list[dict[str, Any]]:
        shapes = [(s, s, s) for s in self.params.sizes] + list(self.params.shapes)
        shapes = list(dict.fromkeys(shapes))  # a shape given twice is measured once
        dtypes = list(dict.fromkeys(self.params.dtypes))
        # A forward case has no "mode" key and a PyTorch eager one no framework keys, so their
        # identity (and resume) is what it always was.
        modes = [{} if md == "forward" else {"mode": md} for md in dict.fromkeys(self.params.modes)]
        frameworks = [framework_keys(fw, ex) for fw, ex in self.params.framework_executions()]
        return [
            {"m": m, "n": n, "k": k, "dtype": dt, **md, **fk}
            for fk in frameworks
            for dt in dtypes
            for md in modes
            for m, n, k in shapes
        ]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        mode = f" {case['mode']}" if "mode" in case else ""
        shape = f"{case['m']}x{case['n']}x{case['k']}"
        return f"gemm {shape}{mode} {case['dtype']}{framework_label(case)}"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        m, n, k, dtype = case["m"], case["n"], case["k"], case["dtype"]
        mode = case.get("mode", "forward")
        fw, execution = open_framework(case, ctx)
        with ctx.device.precision(dtype), fw.errors():
            if fw.name == "pytorch":
                fn = _gemm_callable(m, n, k, dtype, ctx, mode)
                compiled = execution == "compile"
                prepared = Prepared(torch.compile(fn) if compiled else fn, ctx.device, compiled)
            else:
                prepared = fw.gemm(m, n, k, dtype, mode, execution, ctx)
            meas, first, mctx = run_prepared(prepared, ctx)
        cost = fl.matmul(m=m, n=n, k=k, elem_bytes=torch_dtype(dtype).itemsize).total(mode)
        metrics, basis = throughput_metrics(
            flops=cost.flops,
            min_bytes=cost.min_bytes,
            m=meas,
            ctx=mctx,
            dtype=dtype,
        )
        metrics.update(first)
        config = {"framework": prepared.info} if prepared.info else {}
        return CaseOutput(
            metrics=metrics,
            measurement=meas,
            basis=basis,
            config=config,
            framework=fw.environment(execution),
        )


class PeakGemmParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sizes: list[Dim] = Field(default=[2048, 4096], min_length=1)
    dtypes: list[Precision] = Field(default=["float32", "bfloat16", "float16"], min_length=1)


@WORKLOADS.register("peak-gemm")
class PeakGemm(Workload):
    """Measured peak compute: the best median-time GEMM rate over ``sizes``, per dtype."""

    kind = "peak-gemm"
    Params = PeakGemmParams
    params: PeakGemmParams

    def cases(self) -> list[dict[str, Any]]:
        sizes = list(dict.fromkeys(self.params.sizes))
        return [{"dtype": dt, "sizes": sizes} for dt in dict.fromkeys(self.params.dtypes)]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        return f"peak compute {case['dtype']} (gemm {'/'.join(map(str, case['sizes']))})"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        dtype = case["dtype"]
        best = None
        per_size: dict[str, Metric] = {}
        with ctx.device.precision(dtype):
            for s in case["sizes"]:
                fn = _gemm_callable(s, s, s, dtype, ctx)
                meas = measure(fn, ctx.device, ctx.measure, power=ctx.power)
                rate = gemm_flops(s, s, s) / meas.summary.median
                per_size[f"gflops_at_{s}"] = Metric(value=rate / 1e9, unit="GFLOP/s")
                if best is None or rate > best[0]:
                    best = (rate, s, meas)
                del fn
                ctx.device.empty_cache()
        assert best is not None
        rate, size, meas = best
        metrics = {"peak_gflops": Metric(value=rate / 1e9, unit="GFLOP/s"), **per_size}
        return CaseOutput(metrics=metrics, measurement=meas, config={"best_size": size})
