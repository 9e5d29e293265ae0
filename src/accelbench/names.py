"""The names every layer shares: precisions, operator modes, and how a case reads as text.

A leaf (no torch, no pydantic), so configs, workloads, the device layer, analyses and the report
agree on one spelling of each without importing one another. The torch dtype behind each
precision is the device layer's business (:data:`accelbench.devices.base.DTYPES`).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Precision = Literal["float32", "tfloat32", "float16", "bfloat16", "float64"]
"""Precisions accelbench measures; ``tfloat32`` is float32 storage with TF32 tensor-core math."""
PRECISIONS: tuple[str, ...] = get_args(Precision)

PeakPrecision = Literal["float64", "float32", "tfloat32", "float16", "bfloat16", "float8", "int8"]
"""Precisions a datasheet peak can be given for: the measured ones plus the integer and 8-bit
float formats of datasheets. A typo such as ``fp32`` is rejected instead of never matching."""

Mode = Literal["forward", "forward+backward"]
"""What an operator case runs: the forward pass, or forward and backward."""
MODES: tuple[str, ...] = get_args(Mode)


def describe_case(case: dict[str, Any]) -> str:
    """A case as ``key=value`` words: what a record from another version, or of a kind this
    installation does not know, reads as. Known kinds describe themselves more briefly
    (``Workload.describe``), and every result stores its description."""
    return " ".join(f"{k}={v}" for k, v in case.items())
