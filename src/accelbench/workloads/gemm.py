"""GEMM: C = A @ B over square sizes and explicit shapes, in every precision the device has.

Includes the 1000x1000 case of the CPU study. ``peak-gemm`` measures the device's peak compute
per dtype as the best achieved rate over a few large GEMMs; other workloads report utilisation
against it (and against the datasheet where the table has the device).

Beside the float precisions, both measure the 8-bit formats (:data:`accelbench.names.
LowPrecision`): ``int8`` through ``torch._int_mm`` (int8 x int8, int32 accumulation and
result), counted in OPs, and ``float8_e4m3fn`` / ``float8_e5m2`` through ``torch._scaled_mm``
(float32 accumulation, unit tensor-wise scales, bfloat16 result, B column-major as cuBLASLt's
FP8 GEMM requires), counted in FLOPs. Both run forward only; where the device has no kernel
or the shape breaks the kernel's rules, the case is ``unsupported`` with the reason.
``gemm`` runs through any framework (``frameworks``, ``executions``): PyTorch eager or
``torch.compile``, MindSpore PyNative or Graph; the FLOPs and bytes are the same for all.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from accelbench import flops as fl
from accelbench.devices.base import torch_dtype
from accelbench.errors import Unsupported
from accelbench.frameworks import (
    FrameworkChoice,
    Prepared,
    framework_keys,
    framework_label,
    open_framework,
    run_prepared,
)
from accelbench.names import LOW_PRECISIONS, OPS_CONVENTION, GemmPrecision, Mode, rate_unit
from accelbench.results.schema import Metric, Status
from accelbench.timing.intervals import BootstrapSettings, rate_interval
from accelbench.timing.protocol import Measurement, measure
from accelbench.workloads.base import (
    WORKLOADS,
    CaseOutput,
    Dim,
    RunContext,
    Workload,
    throughput_metrics,
)
from accelbench.workloads.memory import check_fits


def gemm_flops(m: int, n: int, k: int) -> float:
    """FLOPs of an (m x k) @ (k x n) product: m*n*k multiply-accumulates, 2 FLOPs each."""
    return 2.0 * m * n * k


def gemm_min_bytes(m: int, n: int, k: int, elem: int) -> float:
    """Compulsory traffic: read A and B once, write C once."""
    return float(elem * (m * k + k * n + m * n))


# The 8-bit formats' element sizes: (A and B, C). int8 writes int32; FP8 writes bfloat16.
_LOW_BYTES = {"int8": (1, 4), "float8_e4m3fn": (1, 2), "float8_e5m2": (1, 2)}


def low_precision_config(dtype: str) -> dict[str, Any]:
    """What an 8-bit GEMM result stores about how it was computed."""
    if dtype == "int8":
        return {
            "kernel": "torch._int_mm",
            "operands": "int8 x int8",
            "accumulate": "int32",
            "out_dtype": "int32",
            "ops_convention": OPS_CONVENTION,
        }
    return {
        "kernel": "torch._scaled_mm",
        "operands": f"A {dtype} x B float8_e4m3fn (column-major)",
        "scales": "tensor-wise, 1.0",
        "accumulate": "float32",
        "use_fast_accum": False,
        "out_dtype": "bfloat16",
    }


def _low_precision_callable(m: int, n: int, k: int, dtype: str, ctx: RunContext) -> Any:
    """An 8-bit (m x k) @ (k x n), inputs made on the device outside the timed region."""
    dev = ctx.device.torch_device
    if dtype == "int8":
        # The full int8 range: random signs and magnitudes, no zero fast paths.
        a = torch.randint(-128, 128, (m, k), device=dev, dtype=torch.int8)
        b = torch.randint(-128, 128, (k, n), device=dev, dtype=torch.int8)
        c = torch.empty(m, n, device=dev, dtype=torch.int32)
        return lambda: torch._int_mm(a, b, out=c)
    a8 = torch.randn(m, k, device=dev).to(torch_dtype(dtype))
    b8 = torch.randn(n, k, device=dev).to(torch.float8_e4m3fn).t()  # column-major (k x n)
    one = torch.ones((), device=dev)  # float32 scalar scales: unit tensor-wise scaling
    out = torch.empty(m, n, device=dev, dtype=torch.bfloat16)
    return lambda: torch._scaled_mm(
        a8, b8, scale_a=one, scale_b=one, out_dtype=torch.bfloat16, out=out
    )


def _check_low_precision(m: int, n: int, k: int, dtype: str, mode: str, ctx: RunContext) -> None:
    if dtype not in LOW_PRECISIONS:
        return
    if mode != "forward":
        raise Unsupported(
            f"{dtype} GEMM is measured forward only (no gradient GEMMs are defined for it here)"
        )
    why = ctx.device.matmul_shape_rule(dtype, m, n, k)
    if why:
        raise Unsupported(why)


def gemm_cost(m: int, n: int, k: int, dtype: str, mode: str = "forward") -> fl.Cost:
    """Work and compulsory traffic of one GEMM case in ``dtype`` (OPs for int8)."""
    if dtype in LOW_PRECISIONS:
        eb, ob = _LOW_BYTES[dtype]
        return fl.matmul(m=m, n=n, k=k, elem_bytes=eb, out_elem_bytes=ob).total(mode)
    return fl.matmul(m=m, n=n, k=k, elem_bytes=torch_dtype(dtype).itemsize).total(mode)


def gemm_memory_bytes(m: int, n: int, k: int, elem: int, mode: str = "forward") -> float:
    """Bytes that exist at once: A, B and C; forward+backward adds dC, dA and dB."""
    return float(elem * (m * k + k * n + m * n) * (2 if mode == "forward+backward" else 1))


def _gemm_callable(
    m: int, n: int, k: int, dtype: str, ctx: RunContext, mode: str = "forward"
) -> Any:
    if dtype in LOW_PRECISIONS:
        _check_low_precision(m, n, k, dtype, mode, ctx)
        return _low_precision_callable(m, n, k, dtype, ctx)
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
    dtypes: list[GemmPrecision] = Field(
        default=["float32", "bfloat16", "float16"],
        min_length=1,
        description="float precisions, int8 (OPs) and float8_e4m3fn / float8_e5m2",
    )
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
        need = gemm_memory_bytes(m, n, k, torch_dtype(dtype).itemsize, mode)
        if (oom := check_fits(ctx, need, f"gemm {m}x{n}x{k} {mode} {dtype}")) is not None:
            return oom
        fw, execution = open_framework(case, ctx)
        with ctx.device.precision(dtype), fw.errors():
            if fw.name == "pytorch":
                fn = _gemm_callable(m, n, k, dtype, ctx, mode)
                compiled = execution == "compile"
                prepared = Prepared(torch.compile(fn) if compiled else fn, ctx.device, compiled)
            else:
                prepared = fw.gemm(m, n, k, dtype, mode, execution, ctx)
            meas, first, mctx = run_prepared(prepared, ctx)
        cost = gemm_cost(m, n, k, dtype, mode)
        metrics, basis = throughput_metrics(
            flops=cost.flops,
            min_bytes=cost.min_bytes,
            m=meas,
            ctx=mctx,
            dtype=dtype,
        )
        metrics.update(first)
        config: dict[str, Any] = {"framework": prepared.info} if prepared.info else {}
        if dtype in LOW_PRECISIONS:
            config["gemm"] = low_precision_config(dtype)
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
    dtypes: list[GemmPrecision] = Field(default=["float32", "bfloat16", "float16"], min_length=1)
    shapes: list[tuple[Dim, Dim, Dim]] = Field(
        default_factory=list, description="more (m, n, k) shapes to try"
    )
    search: bool = Field(
        default=True,
        description="after the squares, try shapes around the best one: the squares a quarter "
        "smaller and larger, and a tall and a wide shape of the same work",
    )
    warmup_s: float = Field(
        default=1.0,
        ge=0,
        le=600,
        allow_inf_nan=False,
        description="seconds of untimed work on each shape before it is timed, so boost "
        "clocks, turbo and caches settle",
    )


def search_shapes(size: int) -> list[tuple[int, int, int]]:
    """Shapes around the best square ``size``, as mamf-finder searches around the plateau
    (github.com/stas00/ml-engineering, compute/accelerator/benchmarks/mamf-finder.py): the
    peak of a real kernel is not at one square size, because tiles and waves quantise
    differently at each shape. Squares a quarter smaller and larger, then a tall (2s x s/2)
    and a wide (s/2 x 2s) output with the same work as the square."""
    q = max(64, round(size / 4 / 64) * 64)  # a quarter of the size, in multiples of 64
    half = max(64, size // 2)
    out = [(size - q, size - q, size - q), (size + q, size + q, size + q)]
    out += [(2 * size, half, size), (half, 2 * size, size)]
    return [t for t in out if min(t) > 0]


@WORKLOADS.register("peak-gemm")
class PeakGemm(Workload):
    """Measured peak compute per dtype: the best median-time GEMM rate over the given square
    sizes, the shapes around the best of them (``search``) and any extra ``shapes``, stored
    with its 95% interval (the bootstrap interval of that shape's median time, inverted)."""

    kind = "peak-gemm"
    Params = PeakGemmParams
    params: PeakGemmParams

    def cases(self) -> list[dict[str, Any]]:
        sizes = list(dict.fromkeys(self.params.sizes))
        extra = (
            {"shapes": [list(t) for t in dict.fromkeys(self.params.shapes)]}
            if self.params.shapes
            else {}
        )
        return [{"dtype": dt, "sizes": sizes, **extra} for dt in dict.fromkeys(self.params.dtypes)]

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        more = f" + {len(case['shapes'])} shapes" if case.get("shapes") else ""
        return f"peak compute {case['dtype']} (gemm {'/'.join(map(str, case['sizes']))}{more})"

    def _warm(self, fn: Any, ctx: RunContext) -> None:
        """Run ``fn`` untimed for ``warmup_s`` (synchronising as it goes)."""
        if self.params.warmup_s <= 0:
            return
        end = time.perf_counter() + self.params.warmup_s
        while True:
            fn()
            ctx.device.synchronize()
            if time.perf_counter() >= end:
                return

    def _try(
        self, shape: tuple[int, int, int], dtype: str, ctx: RunContext
    ) -> tuple[float, Measurement] | str:
        """(FLOP/s, measurement) of one shape, or why it could not run (out of memory, or a
        shape an 8-bit kernel's rules refuse: then the text starts with 'unsupported: ')."""
        m, n, k = shape
        need = gemm_memory_bytes(m, n, k, torch_dtype(dtype).itemsize)
        if (oom := check_fits(ctx, need, f"gemm {m}x{n}x{k} {dtype}")) is not None:
            return oom.message or "out of memory (checked before allocating)"
        fn: Any = None
        try:
            try:
                fn = _gemm_callable(m, n, k, dtype, ctx)
            except Unsupported as exc:
                return f"unsupported: {exc}"
            self._warm(fn, ctx)
            meas = measure(fn, ctx.device, ctx.measure, power=ctx.power)
        except Exception as exc:
            if not ctx.device.is_oom(exc):
                raise
            return f"out of memory: {str(exc).strip().splitlines()[0][:200]}"
        finally:
            del fn
            ctx.device.empty_cache()
        return gemm_flops(m, n, k) / meas.summary.median, meas

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        dtype = case["dtype"]
        tried: dict[tuple[int, int, int], tuple[float, Measurement] | str] = {}
        with ctx.device.precision(dtype):
            for s in case["sizes"]:
                tried[(s, s, s)] = self._try((s, s, s), dtype, ctx)
            squares = [(v[0], t) for t, v in tried.items() if not isinstance(v, str)]
            if self.params.search and squares:
                best_square = max(squares)[1][0]
                for t in search_shapes(best_square):
                    if t not in tried:
                        tried[t] = self._try(t, dtype, ctx)
            for t in map(tuple, case.get("shapes", [])):
                if t not in tried:
                    tried[t] = self._try(t, dtype, ctx)  # type: ignore[arg-type]
        ok = {t: v for t, v in tried.items() if not isinstance(v, str)}
        if not ok:
            whys = list(dict.fromkeys(str(v) for v in tried.values()))
            if all(w.startswith("unsupported: ") for w in whys):
                raise Unsupported("; ".join(w.removeprefix("unsupported: ") for w in whys))
            if all(w.startswith("out of memory (checked before allocating)") for w in whys):
                # nothing fits: an oom result that says so, without allocating (the sweep goes on)
                return CaseOutput(
                    metrics={}, status=Status.OOM, message=f"no shape fits: {whys[0]}"
                )
            raise MemoryError(f"every shape ran out of memory: {whys[0]}")
        unit = rate_unit(dtype)
        shape, (rate, meas) = max(ok.items(), key=lambda kv: kv[1][0])
        settings = BootstrapSettings()
        iv = rate_interval(rate, meas.samples_s, settings)
        metrics = {"peak_gflops": Metric(value=rate / 1e9, unit=unit)}
        why = "fewer than 2 timed samples at the best shape: no interval"
        metrics["peak_gflops_low"] = (
            Metric(value=iv.low / 1e9, unit=unit) if iv else Metric.missing(unit, why)
        )
        metrics["peak_gflops_high"] = (
            Metric(value=iv.high / 1e9, unit=unit) if iv else Metric.missing(unit, why)
        )
        for (m, n, k), v in tried.items():
            name = f"gflops_at_{m}" if m == n == k else f"gflops_at_{m}x{n}x{k}"
            metrics[name] = (
                Metric.missing(unit, v.removeprefix("unsupported: "))
                if isinstance(v, str)
                else Metric(value=v[0] / 1e9, unit=unit)
            )
        config: dict[str, Any] = {
            "best_size": shape[0] if shape[0] == shape[1] == shape[2] else None,
            "best_shape": list(shape),
            "shapes_tried": [
                (
                    {"shape": list(t), "unsupported": v.removeprefix("unsupported: ")}
                    if v.startswith("unsupported: ")
                    else {"shape": list(t), "oom": v}
                )
                if isinstance(v, str)
                else {
                    "shape": list(t),
                    "gflops": v[0] / 1e9,
                    "cv": v[1].summary.cv,
                    "samples": len(v[1].samples_s),
                    "converged": v[1].converged,
                }
                for t, v in tried.items()
            ],
            "warmup_s": self.params.warmup_s,
            "peak_interval": {
                **settings.as_dict(),
                "of": "the best shape's median time, inverted to a rate",
            },
        }
        if dtype in LOW_PRECISIONS:
            config["gemm"] = low_precision_config(dtype)
        return CaseOutput(metrics=metrics, measurement=meas, config=config)
