"""tile-gemm: the tile-size study on a hand-written Triton matrix multiply.

The study swept the n/k tile sizes of a hand-written half-precision matmul for A[16,256] x
B[256,1024] on the Ascend NPU (its Figure 14): tiles too small multiply data movement, tiles
beyond k > 64, n > 256 gain nothing. On GPUs the analogue is a Triton kernel's block sizes.
Each case runs :mod:`accelbench.kernels.triton_matmul` with one configuration (BLOCK_M,
BLOCK_N, BLOCK_K, warps, pipeline stages) on one shape and dtype:

1. compile and launch it once; a configuration that does not fit the device's shared memory,
   registers or threads per block is ``unsupported`` with the compiler's own words;
2. verify C against ``torch.matmul`` in float32 from the same inputs, elementwise within the
   dtype's tolerance (:data:`accelbench.kernels.tiles.TOLERANCES`); a wrong result is an
   ``error`` and is not timed;
3. time it with the measurement protocol, and report the rate with the tiling's analytic
   global-memory traffic (:func:`accelbench.kernels.tiles.tile_traffic`).

With ``reference: true`` each shape and dtype also gets a ``torch.matmul`` case (cuBLAS or
hipBLASLt on GPUs), so the report can say where the best tile sits against the library.
Triton compiles for NVIDIA and AMD GPUs and, with triton-ascend, Ascend NPUs; on a CPU the
Triton cases are ``unsupported`` (Triton's interpreter runs programs in numpy and would time
the interpreter), while the fake device runs them through the interpreter so tests exercise
the kernel. Tiny kernels (the study's shape is 8 MFLOP) finish before Python can launch the
next one; the ``paper-tiles`` suite therefore times CUDA graphs (``cuda_graph: true``).
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

import torch
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from accelbench.devices.base import torch_dtype
from accelbench.errors import Unsupported
from accelbench.kernels.tiles import TOLERANCES, TileConfig, misfit_reason, tile_traffic
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


class WrongResult(RuntimeError):
    """The kernel's C differs from torch.matmul's beyond the dtype's tolerance."""


def _power_of_two(v: int) -> int:
    if v & (v - 1):
        raise ValueError(f"{v} is not a power of two (tl.arange needs one)")
    return v


# tl.dot needs every block dimension >= 16 on NVIDIA and AMD; tl.arange needs powers of two.
Block = Annotated[int, Strict(), Field(ge=16, le=1024), AfterValidator(_power_of_two)]
Warps = Annotated[int, Strict(), Field(ge=1, le=32), AfterValidator(_power_of_two)]
Stages = Annotated[int, Strict(), Field(ge=1, le=8)]
TileDtype = Literal["float32", "tfloat32", "float16", "bfloat16"]

REFERENCE = "torch.matmul (the platform's BLAS: cuBLAS or hipBLASLt on GPUs)"
INTERPRETER_BF16 = (
    "Triton's interpreter has no bfloat16 arithmetic (its debugging guide: cast to float32 "
    "first); its tl.dot multiplies the raw bfloat16 bit patterns"
)


class TileGemmParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    shapes: list[tuple[Dim, Dim, Dim]] = Field(min_length=1, description="(m, n, k)")
    dtypes: list[TileDtype] = Field(default=["float16"], min_length=1)
    block_m: list[Block] = Field(default=[16, 32, 64, 128], min_length=1)
    block_n: list[Block] = Field(default=[32, 64, 128, 256], min_length=1)
    block_k: list[Block] = Field(default=[16, 32, 64, 128], min_length=1)
    num_warps: list[Warps] = Field(default=[4], min_length=1)
    num_stages: list[Stages] = Field(default=[3], min_length=1)
    reference: bool = Field(
        default=True, description="also time torch.matmul on each shape and dtype"
    )


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def config_of(case: dict[str, Any]) -> TileConfig:
    return TileConfig(
        case["block_m"], case["block_n"], case["block_k"], case["num_warps"], case["num_stages"]
    )


@WORKLOADS.register("tile-gemm")
class TileGemm(Workload):
    kind = "tile-gemm"
    Params = TileGemmParams
    params: TileGemmParams

    def cases(self) -> list[dict[str, Any]]:
        p = self.params
        tiles = list(
            itertools.product(
                _unique(p.block_m),
                _unique(p.block_n),
                _unique(p.block_k),
                _unique(p.num_warps),
                _unique(p.num_stages),
            )
        )
        out: list[dict[str, Any]] = []
        for dtype in _unique(p.dtypes):
            for m, n, k in _unique(p.shapes):
                shape = {"m": m, "n": n, "k": k, "dtype": dtype}
                if p.reference:
                    out.append({**shape, "impl": "torch"})
                out.extend(
                    {
                        **shape,
                        "impl": "triton",
                        "block_m": bm,
                        "block_n": bn,
                        "block_k": bk,
                        "num_warps": w,
                        "num_stages": st,
                    }
                    for bm, bn, bk, w, st in tiles
                )
        return out

    @classmethod
    def describe(cls, case: dict[str, Any]) -> str:
        shape = f"tile-gemm {case['m']}x{case['n']}x{case['k']} {case['dtype']}"
        if case.get("impl") == "torch":
            return f"{shape} torch.matmul"
        return f"{shape} triton {config_of(case).describe()}"

    def run_case(self, case: dict[str, Any], ctx: RunContext) -> CaseOutput:
        m, n, k, dtype = case["m"], case["n"], case["k"], case["dtype"]
        dev = ctx.device
        a = torch.randn(m, k, device=dev.torch_device, dtype=torch_dtype(dtype))
        b = torch.randn(k, n, device=dev.torch_device, dtype=torch_dtype(dtype))
        c = torch.empty(m, n, device=dev.torch_device, dtype=torch_dtype(dtype))
        if case.get("impl") == "torch":
            with dev.precision(dtype):
                meas = measure(lambda: torch.matmul(a, b, out=c), dev, ctx.measure, power=ctx.power)
            metrics, basis = self._rates(case, meas, ctx)
            return CaseOutput(
                metrics=metrics, measurement=meas, basis=basis, config={"impl": REFERENCE}
            )
        return self._run_triton(case, ctx, a, b, c)

    def _run_triton(
        self,
        case: dict[str, Any],
        ctx: RunContext,
        a: torch.Tensor,
        b: torch.Tensor,
        c: torch.Tensor,
    ) -> CaseOutput:
        dev, dtype, cfg = ctx.device, case["dtype"], config_of(case)
        backend, why = dev.triton_backend()
        if backend is None:
            raise Unsupported(why or f"Triton cannot run on {dev.kind}")
        if backend == "interpreted" and dtype == "bfloat16":
            raise Unsupported(INTERPRETER_BF16)
        from accelbench.kernels import triton_matmul  # imports Triton: only where it runs

        fn = triton_matmul.launcher(a, b, c, cfg, dtype=dtype, interpret=backend == "interpreted")
        with dev.precision(dtype):
            try:
                compiled = fn()  # the first launch compiles
                dev.synchronize()
            except Exception as exc:
                misfit = misfit_reason(exc)
                if misfit is not None:
                    raise Unsupported(
                        f"{cfg.describe()} does not fit {dev.spec}: {misfit}"
                    ) from None
                raise
            errors = self._verify(a, b, c, dtype, ctx)
            meas = measure(fn, dev, ctx.measure, power=ctx.power)
        metrics, basis = self._rates(case, meas, ctx)
        metrics.update(self._tile_metrics(case, cfg, metrics))
        metrics.update(errors)
        resources = triton_matmul.compiled_resources(compiled)
        metrics.update(
            {
                name: Metric(value=float(v), unit="B" if name.endswith("bytes") else "count")
                for name, v in resources.items()
            }
        )
        rtol, atol = TOLERANCES[dtype]
        config = {
            "impl": "accelbench.kernels.triton_matmul",
            "tile": cfg.describe(),
            "backend": backend,
            "tolerance": {"rtol": rtol, "atol": atol * math.sqrt(case["k"])},
        }
        return CaseOutput(metrics=metrics, measurement=meas, basis=basis, config=config)

    @staticmethod
    def _verify(
        a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, dtype: str, ctx: RunContext
    ) -> dict[str, Metric]:
        """C against torch.matmul in strict float32 from the same inputs; WrongResult when an
        element is outside the dtype's tolerance."""
        with ctx.device.precision("float32"):
            ref = torch.matmul(a.float(), b.float())
        got = c.float()
        rtol, atol = TOLERANCES[dtype]
        atol *= math.sqrt(a.shape[1])
        diff = (got - ref).abs()
        bad = diff > atol + rtol * ref.abs()
        if not torch.isfinite(got).all() or bool(bad.any()):
            worst = float(diff.nan_to_num(float("inf")).max())
            raise WrongResult(
                f"the kernel's C differs from torch.matmul: {int(bad.sum())} of {bad.numel()} "
                f"elements outside rtol {rtol:g} / atol {atol:.3g}, worst |error| {worst:.3g}"
            )
        scale = float(ref.abs().max()) or 1.0
        worst = float(diff.max())
        return {
            "max_abs_error": Metric(value=worst, unit="abs"),
            "max_rel_error": Metric(value=worst / scale, unit="of max |C|"),
        }

    @staticmethod
    def _rates(case: dict[str, Any], meas: Any, ctx: RunContext) -> tuple[dict[str, Metric], Any]:
        m, n, k, dtype = case["m"], case["n"], case["k"], case["dtype"]
        size = torch_dtype(dtype).itemsize
        flops = 2.0 * m * n * k
        metrics, basis = throughput_metrics(
            flops=flops,
            min_bytes=float(size * (m * k + k * n + m * n)),
            m=meas,
            ctx=ctx,
            dtype=dtype,
        )
        metrics["achieved_tflops"] = Metric(
            value=flops / meas.summary.median / 1e12, unit="TFLOP/s"
        )
        return metrics, basis

    @staticmethod
    def _tile_metrics(
        case: dict[str, Any], cfg: TileConfig, metrics: dict[str, Metric]
    ) -> dict[str, Metric]:
        m, n, k, dtype = case["m"], case["n"], case["k"], case["dtype"]
        size = torch_dtype(dtype).itemsize
        t = tile_traffic(m, n, k, cfg, size, size)
        flops = 2.0 * m * n * k
        out = {
            "tile_bytes_moved": Metric(value=t.bytes_moved, unit="B"),
            "tile_bytes_read": Metric(value=t.bytes_read, unit="B"),
            "tile_loads": Metric(value=float(t.tile_loads), unit="count"),
            "programs": Metric(value=float(t.programs), unit="count"),
            "tile_padding": Metric(value=100 * t.padded_fraction, unit="%"),
            "tile_intensity": Metric(value=flops / t.bytes_moved, unit="FLOP/B"),
        }
        median = metrics["time_median"].value
        if median:
            out["tile_gbs"] = Metric(value=t.bytes_moved / median / 1e9, unit="GB/s")
        return out
