"""Constructed result sets with known answers, for the analysis and report tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from accelbench.results.schema import (
    Basis,
    Environment,
    Metric,
    PeakRef,
    References,
    Result,
    Status,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)

# The sections a report of two `full_run`s has, in order.
FULL_REPORT_SECTIONS = [
    "summary",
    "platforms",
    "success",
    "comparison-1",
    "operators",
    "heatmaps",
    "roofline",
    "regression",
    "bandwidth",
    "training",
    "inference",
    "power",
]


def env(host: str = "box-a", threads: int = 2, device_name: str = "Test CPU") -> Environment:
    return Environment(
        host=host,
        os="Linux",
        cpu_model="Test CPU",
        cpu_arch="x86_64",
        cpu_cores_physical=2,
        cpu_cores_logical=2,
        memory_total_bytes=2**34,
        python="3.11",
        torch="2.13.0+cpu",
        device_kind="cpu",
        device_spec="cpu",
        device_name=device_name,
        accelbench_version="0.1.0",
        seed=0,
        threads=threads,
    )


def result(
    kind: str,
    case: dict[str, Any],
    metrics: dict[str, float] | None = None,
    *,
    status: Status = Status.OK,
    run_id: str = "run-a",
    host: str = "box-a",
    threads: int = 2,
    workload: str | None = None,
    config: dict[str, Any] | None = None,
    trace: list[dict[str, Any]] | None = None,
    message: str | None = None,
    offset_s: int = 0,
    units: dict[str, str] | None = None,
    references: References | None = None,
) -> Result:
    return Result(
        references=references or References(),
        run_id=run_id,
        suite="s",
        workload=workload or f"w-{kind}",
        kind=kind,
        case=case,
        config=config or {},
        device="cpu",
        status=status,
        message=message or (None if status is Status.OK else f"{status.value} here"),
        metrics={
            k: Metric(value=v, unit=(units or {}).get(k, "GFLOP/s"))
            for k, v in (metrics or {}).items()
        },
        trace=trace or [],
        environment=env(host, threads),
        started_at=T0 + timedelta(seconds=offset_s),
        finished_at=T0 + timedelta(seconds=offset_s + 1),
    )


KNOWN_WEIGHTS = {"batch": 30.0, "width": 12.0, "seq": -20.0}
KNOWN_INTERCEPT = 200.0


def linear_sweep(
    noise: float = 0.5, seed: int = 0, run_id: str = "run-a", start_s: int = 0
) -> list[Result]:
    """A 'linear' sweep whose GFLOP/s is an exact linear function of the standardised
    parameters plus small noise: the regression must recover KNOWN_WEIGHTS."""
    rng = np.random.default_rng(seed)
    grid = {"batch": [16, 32, 64, 128], "width": [256, 512, 1024], "seq": [8, 16, 32]}
    cases = [dict(zip(grid, v, strict=True)) for v in itertools.product(*grid.values())]
    mean = {k: np.mean([c[k] for c in cases]) for k in grid}
    std = {k: np.std([c[k] for c in cases]) for k in grid}
    out = []
    for i, c in enumerate(cases):
        y = KNOWN_INTERCEPT + sum(w * (c[k] - mean[k]) / std[k] for k, w in KNOWN_WEIGHTS.items())
        y += rng.normal(0, noise)
        out.append(
            result(
                "linear",
                {**c, "mode": "forward", "dtype": "float32"},
                {"achieved_gflops": y, "params": float(c["width"] ** 2)},
                run_id=run_id,
                offset_s=start_s + i,
            )
        )
    return out


def full_run(
    run_id: str,
    host: str,
    scale: float = 1.0,
    threads: int = 2,
    start_s: int = 0,
    price_per_hour: float = 1.0,
) -> list[Result]:
    """One run with data for every report section: operators with roofline config, a peak,
    a failure, bandwidth, a training trace and power."""
    used = References(
        basis=Basis(compute_dtype="float32"),
        measured_peak=PeakRef(value=4e11),
        measured_bandwidth=PeakRef(value=5e10),
    )
    rs = []
    for i, r in enumerate(linear_sweep(run_id=run_id, start_s=start_s)):
        m = {k: v.value * (scale if k == "achieved_gflops" else 1.0) for k, v in r.metrics.items()}
        m |= {"arithmetic_intensity": 10.0 + i, "power_avg_w": 100.0 + i, "energy_per_iter_j": 1.0}
        rs.append(
            result(
                "linear",
                r.case,
                m,
                run_id=run_id,
                host=host,
                threads=threads,
                references=used,
                offset_s=start_s + i,
            )
        )
    rs.append(
        result(
            "linear",
            {"batch": 4096, "width": 65536, "seq": 1, "mode": "forward", "dtype": "float32"},
            status=Status.OOM,
            run_id=run_id,
            host=host,
            threads=threads,
            offset_s=start_s + 100,
        )
    )
    rs.append(
        result(
            "peak-gemm",
            {"dtype": "float32", "sizes": [1024]},
            {"peak_gflops": 400.0 * scale},
            run_id=run_id,
            host=host,
            threads=threads,
            offset_s=start_s + 101,
        )
    )
    for j, size in enumerate([4096, 65536, 1 << 20]):
        rs.append(
            result(
                "bandwidth",
                {"direction": "d2d", "bytes": size},
                {"gbs": scale * (j + 1) * 5.0},
                run_id=run_id,
                host=host,
                threads=threads,
                offset_s=start_s + 102 + j,
                units={"gbs": "GB/s"},
            )
        )
    trace = [
        {
            "epoch": e,
            "wall_s": 10.0 * e,
            "metric": 40.0 + 20 * e,
            "train_s": 9.0,
            "samples_per_s": 100.0 * e,
        }
        for e in (1, 2, 3)
    ]
    rs.append(
        result(
            "train-demo",
            {"model": "tiny"},
            {"time_to_threshold_s": 30.0 / scale, "steady_samples_per_s": 250.0},
            trace=trace,
            config={"threshold": 95.0},
            run_id=run_id,
            host=host,
            threads=threads,
            offset_s=start_s + 110,
            units={"time_to_threshold_s": "s"},
        )
    )
    for runtime, sps in (("eager", 100.0), ("onnxruntime", 150.0)):
        rs.append(
            result(
                "inference",
                {
                    "model": "resnet50",
                    "options": {"image_size": 224},
                    "scenario": "offline",
                    "batch": 32,
                    "runtime": runtime,
                    "dtype": "float32",
                },
                {"samples_per_s": sps * scale},
                run_id=run_id,
                host=host,
                threads=threads,
                offset_s=start_s + 120,
                config={"params": {"price_per_hour": price_per_hour}},
                units={"samples_per_s": "samples/s"},
            )
        )
    rs.append(
        result(
            "inference",
            {
                "model": "resnet50",
                "options": {"image_size": 224},
                "scenario": "offline",
                "batch": 32,
                "runtime": "onnxruntime",
                "dtype": "bfloat16",
            },
            status=Status.UNSUPPORTED,
            message="no bf16 kernel in the CPU execution provider",
            run_id=run_id,
            host=host,
            threads=threads,
            offset_s=start_s + 121,
        )
    )
    return rs
