"""Refuse a case that cannot fit in the device's memory before it allocates anything.

A CPU GEMM larger than RAM was killed by the kernel (exit 137) with the whole sweep, and the
rerun died on the same case: an out-of-memory that kills the process is never stored as
``oom``. Operator workloads know their analytic memory need (the bytes of inputs, weights,
outputs and, for backward, gradients that must exist at once: a lower bound, since kernels
add workspace), so each checks it against the device's free memory first and returns an
``oom`` result that carries both numbers when the case cannot fit.
"""

from __future__ import annotations

from accelbench.results.schema import Status
from accelbench.workloads.base import CaseOutput, RunContext


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def check_fits(ctx: RunContext, need_bytes: float, what: str) -> CaseOutput | None:
    """None when ``need_bytes`` fits in the device's free memory (or free memory is not
    reported: the case then tries, as it always did); otherwise the ``oom`` output."""
    free, _ = ctx.device.memory_free()
    if free is None or need_bytes <= free:
        return None
    total, _ = ctx.device.memory_total()
    return CaseOutput(
        metrics={},
        status=Status.OOM,
        message=(
            f"out of memory (checked before allocating): {what} needs at least "
            f"{_mib(need_bytes)} but {_mib(free)} of {ctx.device.spec}'s memory is free"
        ),
        config={
            "memory_check": {
                "need_bytes": int(need_bytes),
                "free_bytes": int(free),
                "total_bytes": total,
                "what": what,
            }
        },
    )
