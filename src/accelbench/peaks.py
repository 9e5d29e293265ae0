"""``accelbench peaks``: measure a device's peak compute per dtype and peak memory bandwidth.

Utilisation and the roofline need a ceiling. The datasheet gives one (when the table knows the
chip), but what a real GEMM and a real copy reach on this machine, with this driver and torch,
is the ceiling a user can act on. The peaks are ordinary stored results (``peak-gemm`` and
``peak-bandwidth`` in a suite named ``peaks``), so they carry their samples and spread, and
every later sweep on the same device, host, thread count and software stack finds them.
"""

from __future__ import annotations

import socket
from typing import Any

from accelbench.config import Suite, validate_suite
from accelbench.devices.base import BaseDevice
from accelbench.results.schema import Result, Status, case_key
from accelbench.results.store import Store
from accelbench.workloads import WORKLOADS

PEAK_DTYPES = ["float32", "tfloat32", "bfloat16", "float16"]
# GEMM sizes that reach the plateau without taking minutes per iteration: a 2-core CPU peaks
# near 1-2k, an H100 needs 8k and more to fill its SMs.
CPU_SIZES = [1024, 2048]
ACCELERATOR_SIZES = [4096, 8192, 16384]


def peaks_suite(
    device: BaseDevice,
    *,
    sizes: list[int] | None = None,
    dtypes: list[str] | None = None,
    bandwidth_sizes: list[int] | None = None,
    time_budget_s: float = 10.0,
) -> Suite:
    """The suite ``accelbench peaks`` runs on ``device``.

    Adaptive protocol: at least 10 timed iterations per size, until the 95% CI is within 1%
    of the mean or ``time_budget_s`` of timed work per size, because a peak is the reference
    every utilisation is divided by and deserves more samples than a sweep case.
    """
    gemm_sizes = sizes or (CPU_SIZES if device.kind == "cpu" else ACCELERATOR_SIZES)
    bw: dict[str, Any] = {"sizes": bandwidth_sizes} if bandwidth_sizes else {}
    data = {
        "name": "peaks",
        "description": "measured peak compute per dtype (best GEMM) and peak memory bandwidth",
        "seed": 0,
        "measure": {
            "mode": "adaptive",
            "warmup": 5,
            "iterations": 10,
            "target_rel_ci": 0.01,
            "time_budget_s": time_budget_s,
        },
        "workloads": [
            {
                "name": "peak-compute",
                "kind": "peak-gemm",
                "params": {"sizes": gemm_sizes, "dtypes": dtypes or PEAK_DTYPES},
            },
            {"name": "peak-memory", "kind": "peak-bandwidth", "params": bw},
        ],
    }
    return validate_suite(data, "accelbench peaks")


def peak_rows(results: list[Result], device_info: Any) -> list[dict[str, Any]]:
    """One row per measured peak: measured value, datasheet value and their ratio."""
    spec = device_info.peak
    rows: list[dict[str, Any]] = []
    for r in results:
        if r.kind == "peak-gemm":
            dtype = r.case["dtype"]
            measured = r.metric("peak_gflops") if r.status is Status.OK else None
            sheet = spec.peak_flops(dtype) / 1e9 if spec and spec.peak_flops(dtype) else None
            what, unit = f"compute {dtype}", "GFLOP/s"
        elif r.kind == "peak-bandwidth":
            measured = r.metric("peak_gbs") if r.status is Status.OK else None
            sheet = spec.memory_bandwidth_gbs if spec else None
            what, unit = "memory bandwidth", "GB/s"
        else:
            continue
        rows.append(
            {
                "peak": what,
                "status": r.status.value,
                "measured": measured,
                "unit": unit,
                "cv": r.summary.cv if r.summary and measured is not None else None,
                "datasheet": sheet,
                "of_datasheet": (measured / sheet) if measured and sheet else None,
                "message": r.message,
                "result_id": r.result_id,
                "run_id": r.run_id,
            }
        )
    return rows


def latest_results(store: Store, suite: Suite, device: str, fresh: list[Result]) -> list[Result]:
    """The newest stored result of every case of ``suite`` on ``device``, in suite order.

    ``fresh`` (what this invocation measured) wins; a case skipped as already stored shows the
    stored result, so the table is complete whether or not anything was re-measured.
    """
    newest: dict[tuple[str, str], Result] = {}
    for r in store.query(
        suite=suite.name, device=device, host=socket.gethostname(), newest_first=True
    ):
        newest.setdefault((r.workload, case_key(r.case)), r)
    for r in fresh:
        newest[(r.workload, case_key(r.case))] = r
    ordered: list[Result] = []
    for spec in suite.workloads:
        for case in WORKLOADS.get(spec.kind).from_dict(spec.params).cases():
            if (r := newest.get((spec.name, case_key(case)))) is not None:
                ordered.append(r)
    return ordered
