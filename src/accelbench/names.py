"""The names every layer shares: precisions, operator modes, and how a case reads as text.

A leaf (no torch, no pydantic), so configs, workloads, the device layer, analyses and the report
agree on one spelling of each without importing one another. The torch dtype behind each
precision is the device layer's business (:data:`accelbench.devices.base.DTYPES`).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Precision = Literal["float32", "tfloat32", "float16", "bfloat16", "float64"]
"""The floating-point precisions every operator workload measures; ``tfloat32`` is float32
storage with TF32 tensor-core math."""

LowPrecision = Literal["int8", "float8_e4m3fn", "float8_e5m2"]
"""8-bit GEMM formats, measured by ``gemm`` and ``peak-gemm`` only. ``int8``: int8 x int8 with
int32 accumulation and output (``torch._int_mm``). ``float8_e4m3fn``: both operands e4m3;
``float8_e5m2``: A in e5m2 (the gradient format), B in e4m3, the pairing of FP8 training's
backward pass, because cuBLASLt (CUDA 12.1 on) has no e5m2 x e5m2 matmul and torch's
``_scaled_mm`` rejects it on NVIDIA; both with
float32 accumulation, unit tensor-wise scales and a bfloat16 result (``torch._scaled_mm``)."""
LOW_PRECISIONS: tuple[str, ...] = get_args(LowPrecision)

GemmPrecision = Literal[
    "float32", "tfloat32", "float16", "bfloat16", "float64", "int8", "float8_e4m3fn", "float8_e5m2"
]
"""What a GEMM can be measured in: the float precisions and the 8-bit formats."""
PRECISIONS: tuple[str, ...] = get_args(GemmPrecision)
"""Every precision the device layer maps to a torch dtype and says it supports or not."""

PeakPrecision = Literal["float64", "float32", "tfloat32", "float16", "bfloat16", "float8", "int8"]
"""Precisions a datasheet peak can be given for: the measured ones plus the integer and 8-bit
float formats of datasheets. A typo such as ``fp32`` is rejected instead of never matching."""

INTEGER_PRECISIONS: tuple[str, ...] = ("int8",)

OPS_CONVENTION = (
    "one multiply-accumulate = 2 operations; integer work is counted in OPs and its rate in "
    "OP/s (TOPS on datasheets), floating-point work in FLOPs and FLOP/s"
)


def is_integer(precision: str) -> bool:
    """Whether work in ``precision`` is integer arithmetic (counted in OPs, not FLOPs)."""
    return precision in INTEGER_PRECISIONS


def work_unit(precision: str) -> str:
    """``OP`` for integer work, ``FLOP`` otherwise (the convention of :data:`OPS_CONVENTION`)."""
    return "OP" if is_integer(precision) else "FLOP"


def rate_unit(precision: str) -> str:
    """The unit of a giga-rate in ``precision``: ``GOP/s`` for integers, ``GFLOP/s`` else."""
    return f"G{work_unit(precision)}/s"


def datasheet_precision(precision: str) -> str:
    """The key a datasheet peak is given under: datasheets give one FP8 figure for both
    formats (NVIDIA's H100/H200 sheets: "FP8 Tensor Core"), so both FP8 formats read
    ``float8``; every other precision is its own key."""
    return "float8" if precision.startswith("float8") else precision


Mode = Literal["forward", "forward+backward"]
"""What an operator case runs: the forward pass, or forward and backward."""
MODES: tuple[str, ...] = get_args(Mode)


def describe_case(case: dict[str, Any]) -> str:
    """A case as ``key=value`` words: what a record from another version, or of a kind this
    installation does not know, reads as. Known kinds describe themselves more briefly
    (``Workload.describe``), and every result stores its description."""
    return " ".join(f"{k}={v}" for k, v in case.items())
