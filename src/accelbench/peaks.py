"""``accelbench peaks``: measure a device's peak compute per dtype and peak memory bandwidth.

Utilisation and the roofline need a ceiling. The datasheet gives one (when the table knows the
chip), but what a real GEMM and a real copy reach on this machine, with this driver and torch,
is the ceiling a user can act on. The peaks are ordinary stored results (``peak-gemm`` and
``peak-bandwidth`` in a suite named ``peaks``), so they carry their samples and spread, and
every later sweep on the same device, host, thread count and software stack finds them.
"""

from __future__ import annotations

from typing import Any

from accelbench.api import same_stack
from accelbench.config import Suite, validate_suite
from accelbench.devices.base import BaseDevice
from accelbench.results.schema import Environment, Result, Status, case_key
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
                "note": quality_note(r),
                "result_id": r.result_id,
                "run_id": r.run_id,
            }
        )
    return rows


def latest_results(
    store: Store, suite: Suite, device: str, env: Environment, fresh: list[Result]
) -> tuple[list[Result], bool]:
    """The newest result of every case of ``suite`` that sweeps here would use, in suite order,
    and whether older results from another software stack or thread count were passed over.

    ``fresh`` (what this invocation measured) wins; a case skipped as already stored shows the
    stored result, so the table is complete whether or not anything was re-measured. Only
    results that :func:`accelbench.api.same_stack` accepts are shown, the same rule the
    utilisation lookup applies, so the table never shows a peak that sweeps would ignore.
    """
    newest: dict[tuple[str, str], Result] = {}
    stale = False
    for r in store.query(
        suite=suite.name, device=device, host=env.host, newest_first=True, measured_here=True
    ):
        if same_stack(r, env):
            newest.setdefault((r.workload, case_key(r.case)), r)
        elif r.environment.threads == env.threads:
            stale = True
    for r in fresh:
        newest[(r.workload, case_key(r.case))] = r
    ordered: list[Result] = []
    for spec in suite.workloads:
        for case in WORKLOADS.get(spec.kind).from_dict(spec.params).cases():
            if (r := newest.get((spec.name, case_key(case)))) is not None:
                ordered.append(r)
    return ordered, stale


def quality_note(r: Result) -> str:
    """Why a measured peak deserves care: a noisy or unconverged peak inflates or deflates
    every utilisation divided by it."""
    if r.status is not Status.OK:
        return r.message or r.status.value
    notes = []
    if r.summary is not None and r.summary.high_spread:
        notes.append(f"noisy (CV {r.summary.cv:.0%})")
    if r.config.get("protocol", {}).get("converged") is False:
        notes.append("CI target not reached")
    if notes:
        notes.append("re-measure on a quiet machine with --remeasure")
    return "; ".join(notes)
