"""Measure a device's peak compute per dtype and peak memory bandwidth (``accelbench peaks``).

Utilisation and the roofline need a ceiling. The datasheet gives one (when the table knows the
chip), but what a real GEMM and a real copy reach on this machine, with this driver and torch,
is the ceiling a user can act on. The peaks are ordinary stored results (``peak-gemm`` and
``peak-bandwidth`` in a suite named ``peaks``), so they carry their samples and spread, and
every later sweep on the same device, host, thread count and software stack finds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelbench.api.plan import resolve, validate_suite
from accelbench.api.references import peak_ref, same_stack
from accelbench.api.runner import Reporter, run_suite, set_threads
from accelbench.config import PeakSpec, Suite
from accelbench.devices import make_device
from accelbench.devices.base import DTYPES, BaseDevice, DeviceInfo
from accelbench.environment import collect_environment
from accelbench.errors import UserError
from accelbench.names import rate_unit
from accelbench.results.schema import Environment, Result, Status, case_key
from accelbench.results.store import Store
from accelbench.workloads.bandwidth import parse_size

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
    search: bool = True,
) -> Suite:
    """The suite ``accelbench peaks`` runs on ``device``.

    Adaptive protocol: at least 10 timed iterations per shape, until the 95% CI is within 1%
    of the mean or ``time_budget_s`` of timed work per shape, because a peak is the reference
    every utilisation is divided by and deserves more samples than a sweep case. Each GEMM
    shape is first warmed up for a tenth of that budget (at most 1 s) so clocks settle, and
    with ``search`` the shapes around the best square are tried too (see ``peak-gemm``).
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
                "params": {
                    "sizes": gemm_sizes,
                    "dtypes": dtypes or PEAK_DTYPES,
                    "search": search,
                    "warmup_s": min(1.0, time_budget_s / 10),
                },
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
            what, unit = f"compute {dtype}", rate_unit(dtype)
        elif r.kind == "peak-bandwidth":
            measured = r.metric("peak_gbs") if r.status is Status.OK else None
            sheet = spec.memory_bandwidth_gbs if spec else None
            what, unit = "memory bandwidth", "GB/s"
        else:
            continue
        ref = peak_ref(r) if measured is not None else None
        rows.append(
            {
                "peak": what,
                "status": r.status.value,
                "measured": measured,
                "low": ref.low / 1e9 if ref is not None and ref.low is not None else None,
                "high": ref.high / 1e9 if ref is not None and ref.high is not None else None,
                "host_busy": r.host_busy,
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
    for name, _, case, _ in resolve(suite).items():
        if (r := newest.get((name, case_key(case)))) is not None:
            ordered.append(r)
    return ordered, stale


def quality_note(r: Result) -> str:
    """Why a measured peak deserves care: a noisy or unconverged peak inflates or deflates
    every utilisation divided by it."""
    if r.status is not Status.OK:
        return r.message or r.status.value
    notes = []
    if r.host_busy and r.host is not None:
        notes.append("host busy: " + "; ".join(r.host.reasons))
    if r.summary is not None and r.summary.high_spread:
        notes.append(f"noisy (CV {r.summary.cv:.0%})")
    if r.config.get("protocol", {}).get("converged") is False:
        notes.append("CI target not reached")
    if notes:
        notes.append("re-measure on an idle host with --remeasure")
    return "; ".join(notes)


@dataclass
class PeaksReport:
    device: str
    info: DeviceInfo
    rows: list[dict[str, Any]]
    """One row per peak (see :func:`peak_rows`)."""
    remeasured_stale: bool
    """Stored peaks came from another software stack, so they were measured again."""
    interrupted: bool


def parse_bandwidth_sizes(texts: list[str]) -> list[int]:
    """``--bandwidth-size`` values (``256MiB``, ``1GiB`` or bytes) as byte counts."""
    sizes = []
    for text in texts:
        try:
            sizes.append(parse_size(int(text) if text.isdigit() else text))
        except ValueError as exc:
            raise UserError(f"--bandwidth-size: {exc}") from None
    return sizes


def measure_peaks(
    device: str,
    db: Path,
    *,
    threads: int | None = None,
    sizes: list[int] | None = None,
    dtypes: list[str] | None = None,
    bandwidth_sizes: list[int] | None = None,
    time_budget_s: float = 10.0,
    search: bool = True,
    remeasure: bool = False,
    peaks_override: list[PeakSpec] | None = None,
    reporter: Reporter | None = None,
    note: Callable[[str], None] | None = None,
) -> PeaksReport:
    """Measure (or reuse) a device's peak compute per dtype and peak memory bandwidth.

    Stored peaks of this device, host, thread count and software stack are reused unless
    ``remeasure``; stored ones from another stack are never shown or reused, so they are
    measured again.
    """
    for d in dtypes or []:
        if d not in DTYPES:
            raise UserError(f"--dtype {d!r}: expected one of {', '.join(DTYPES)}")
    for n in sizes or []:
        if not 0 < n <= 2**31 - 1:
            raise UserError(f"--size {n}: expected a positive matrix size")
    if not 0 < time_budget_s <= 86_400:
        raise UserError(f"--time-budget {time_budget_s:g}: expected seconds between 0 and 86400")
    dev = make_device(device, peaks_override)
    suite = peaks_suite(
        dev,
        sizes=sizes,
        dtypes=dtypes,
        bandwidth_sizes=bandwidth_sizes or None,
        time_budget_s=time_budget_s,
        search=search,
    )
    info = dev.info()
    env = collect_environment(info, seed=suite.seed, threads=set_threads(threads))
    resume, stale_remeasured = not remeasure, False
    if resume and db.exists():
        with Store(db, readonly=True) as st:
            stored, stale = latest_results(st, suite, dev.spec, env, [])
        if stale and len(stored) < resolve(suite).n_cases:
            # Peaks from another torch, driver or chip would be skipped as "stored" yet never
            # used by a sweep: measure them again for this software stack.
            resume, stale_remeasured = False, True
            if note is not None:
                note("stored peaks come from another software stack: measuring again")
    report = run_suite(suite, device=dev, db=db, threads=threads, resume=resume, reporter=reporter)
    # The newest result of each case in this suite: just measured, or stored earlier and skipped.
    with Store(db, readonly=True) as st:
        results, _ = latest_results(st, suite, report.device, env, report.results)
    return PeaksReport(
        dev.spec, info, peak_rows(results, info), stale_remeasured, report.interrupted
    )
