"""The one measurement protocol every workload uses.

warm up -> synchronise -> time each iteration (device events where the platform has them,
``perf_counter`` on the CPU) -> synchronise -> keep every sample. Input preparation happens
before :func:`measure` is called, so it is never inside the timed region. Defaults follow the
source study: 10 warm-up and 100 timed iterations.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from accelbench.devices.base import BaseDevice
from accelbench.power.session import PowerMonitor, PowerReading
from accelbench.timing.settings import MeasureSettings
from accelbench.timing.stats import Summary, ci95_half_width, summarize


class Measurement(BaseModel):
    """Raw samples of one case plus how they were taken."""

    samples_s: list[float]
    summary: Summary
    warmup: int
    mode: str
    timer: str
    graph: bool
    wall_s: float = Field(description="host wall time of the whole timed region, synchronised")
    converged: bool | None = Field(
        default=None, description="adaptive mode: whether the CI target was reached"
    )
    stop_reason: str
    power: PowerReading | None = Field(
        default=None,
        description="energy over the timed iterations (topped up with untimed ones when the "
        "timed region is shorter than the meters' minimum window)",
    )


def _timed(fn: Callable[[], Any], device: BaseDevice, n: int) -> tuple[list[float], float]:
    timers = [device.new_timer() for _ in range(n)]
    device.synchronize()
    t0 = time.perf_counter()
    for t in timers:
        t.start()
        fn()
        t.stop()
    device.synchronize()
    wall = time.perf_counter() - t0
    return [t.seconds() for t in timers], wall


def measure(
    fn: Callable[[], Any],
    device: BaseDevice,
    settings: MeasureSettings | None = None,
    *,
    power: PowerMonitor | None = None,
) -> Measurement:
    """Time ``fn`` on ``device`` under ``settings``; returns every sample and their summary.

    With ``power`` (the run's monitor), a power window is opened around the timed iterations
    and the reading is attached to the measurement.
    """
    s = settings or MeasureSettings()
    if s.cuda_graph:
        fn = device.graph_callable(fn)  # raises Unsupported where there are no graphs
    for _ in range(s.warmup):
        fn()
    device.synchronize()
    monitor = power
    if monitor is not None and monitor.meters:
        monitor.start()
        try:
            m = _measure_timed(fn, device, s)
        except BaseException:
            monitor.stop()
            raise
        m.power = _finish_power(monitor, fn, device, len(m.samples_s))
        return m
    return _measure_timed(fn, device, s)


def _finish_power(monitor: PowerMonitor, fn: Callable[[], Any], device: BaseDevice, n: int) -> Any:
    """Top the window up with untimed iterations until the meters can attribute its energy.

    Short cases (a 1 ms GEMM x 100) end long before a 1 s-averaged NVML reading means
    anything; running the same work a little longer gives an honest energy per iteration
    without touching the timed samples.
    """
    try:
        while monitor.elapsed() < monitor.min_window_s:
            fn()
            n += 1
            if n % 8 == 0:
                device.synchronize()
        device.synchronize()
    finally:
        reading = monitor.stop(iterations=n)
    return reading


def _measure_timed(fn: Callable[[], Any], device: BaseDevice, s: MeasureSettings) -> Measurement:
    if s.mode == "fixed":
        samples, wall = _timed(fn, device, s.iterations)
        return Measurement(
            samples_s=samples,
            summary=summarize(samples),
            warmup=s.warmup,
            mode="fixed",
            timer=device.timer_kind,
            graph=s.cuda_graph,
            wall_s=wall,
            stop_reason=f"fixed count of {s.iterations} iterations",
        )

    samples, wall = _timed(fn, device, min(s.iterations, s.max_iterations))
    while True:
        mean = sum(samples) / len(samples)
        rel = ci95_half_width(samples) / mean if mean > 0 else math.inf
        if rel <= s.target_rel_ci:
            converged, reason = True, f"CI95 half-width {rel:.2%} <= target {s.target_rel_ci:.2%}"
            break
        if wall >= s.time_budget_s:
            converged = False
            reason = f"time budget {s.time_budget_s:g}s spent (CI95 half-width {rel:.2%})"
            break
        if len(samples) >= s.max_iterations:
            converged = False
            reason = f"max_iterations {s.max_iterations} reached (CI95 half-width {rel:.2%})"
            break
        # Next chunk: about a quarter of the remaining budget, at least one iteration.
        per_iter = max(wall / len(samples), 1e-9)
        room = int((s.time_budget_s - wall) / per_iter)
        chunk = max(1, min(s.max_iterations - len(samples), max(room // 4, 1), len(samples)))
        more, more_wall = _timed(fn, device, chunk)
        samples += more
        wall += more_wall
    return Measurement(
        samples_s=samples,
        summary=summarize(samples),
        warmup=s.warmup,
        mode="adaptive",
        timer=device.timer_kind,
        graph=s.cuda_graph,
        wall_s=wall,
        converged=converged,
        stop_reason=reason,
    )
