"""The measurement protocol, driven by the fake device's scripted timings."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.errors import Unsupported
from accelbench.timing.protocol import MeasureSettings, measure
from accelbench.timing.stats import ci95_half_width, summarize


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


class RecordingFake(FakeDevice):
    """A fake device that logs synchronisations and timer use, in order, with the work."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.log: list[str] = []

    def synchronize(self) -> None:
        super().synchronize()
        self.log.append("sync")

    def new_timer(self) -> Any:
        inner, log = super().new_timer(), self.log

        class Timer:
            def start(self) -> None:
                log.append("start")
                inner.start()

            def stop(self) -> None:
                inner.stop()
                log.append("stop")

            def seconds(self) -> float:
                log.append("read")
                return inner.seconds()

        return Timer()


def test_defaults_follow_the_source_study() -> None:
    s = MeasureSettings()
    assert (s.warmup, s.iterations, s.mode, s.cuda_graph) == (10, 100, "fixed", False)


@pytest.mark.parametrize(
    "bad", [{"iterations": 0}, {"warmup": -1}, {"target_rel_ci": 0}, {"iterationz": 5}]
)
def test_settings_reject_bad_values_and_unknown_keys(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MeasureSettings(**bad)


def test_fixed_mode_keeps_exactly_the_scripted_samples() -> None:
    script = [1e-3, 2e-3, 4e-3]
    dev = FakeDevice(durations=script)
    m = measure(Counter(), dev, MeasureSettings(warmup=3, iterations=7))
    assert m.samples_s == [1e-3, 2e-3, 4e-3, 1e-3, 2e-3, 4e-3, 1e-3]
    assert m.summary == summarize(m.samples_s)
    assert m.summary.n == 7
    assert (m.mode, m.warmup, m.timer, m.graph) == ("fixed", 3, "device-events", False)
    assert m.converged is None
    assert "7" in m.stop_reason
    assert m.wall_s >= 0


def test_warmup_calls_fn_but_is_not_timed() -> None:
    calls = Counter()
    dev = FakeDevice(durations=[5e-3])
    measure(calls, dev, MeasureSettings(warmup=4, iterations=6))
    assert calls.calls == 10

    # With real host timers: the warm-up calls are slow (a cold start), the timed ones are not.
    slow_for = 3

    def cold_then_fast() -> None:
        nonlocal slow_for
        if slow_for:
            slow_for -= 1
            time.sleep(0.03)

    m = measure(cold_then_fast, CpuDevice(), MeasureSettings(warmup=3, iterations=5))
    assert slow_for == 0
    assert len(m.samples_s) == 5
    assert max(m.samples_s) < 0.02, m.samples_s
    assert m.timer == "perf_counter"


def test_device_is_synchronised_around_the_timed_region_only() -> None:
    dev = RecordingFake(durations=[1e-3])
    work = []
    n_warm, n_timed = 2, 3

    def fn() -> None:
        work.append(1)
        dev.log.append("fn")

    measure(fn, dev, MeasureSettings(warmup=n_warm, iterations=n_timed))
    log = dev.log
    assert dev.sync_count == log.count("sync") >= 2
    first_start = log.index("start")
    last_stop = len(log) - 1 - log[::-1].index("stop")
    first_read = log.index("read")
    # All warm-up work is done and synchronised before the first timed iteration starts.
    assert log[:first_start].count("fn") == n_warm
    assert log[first_start - 1] == "sync"
    # The timed region is start/fn/stop per iteration, with no per-iteration synchronisation.
    assert log[first_start : last_stop + 1] == ["start", "fn", "stop"] * n_timed
    # The device is synchronised after the last iteration and before any timer is read.
    assert "sync" in log[last_stop:first_read]
    assert log.count("read") == n_timed
    assert len(work) == n_warm + n_timed


def test_adaptive_constant_durations_converge_at_the_minimum() -> None:
    dev = FakeDevice(durations=[2e-3])
    m = measure(Counter(), dev, MeasureSettings(mode="adaptive", warmup=0, iterations=5))
    assert m.mode == "adaptive"
    assert m.converged is True
    assert m.summary.n == 5
    assert "CI95" in m.stop_reason and "target" in m.stop_reason


def test_adaptive_keeps_going_until_the_ci_target_is_met() -> None:
    target = 0.05
    dev = FakeDevice(durations=[1.0e-3, 1.1e-3])
    m = measure(
        Counter(),
        dev,
        MeasureSettings(mode="adaptive", warmup=0, iterations=2, target_rel_ci=target),
    )
    assert m.converged is True
    assert m.summary.n > 2  # two samples give a +-60% interval; it had to take more
    rel = ci95_half_width(m.samples_s) / m.summary.mean
    assert rel <= target
    # ... and it stopped soon after: one chunk earlier the target was not met yet.
    assert m.summary.n <= 8


def test_adaptive_stops_at_max_iterations() -> None:
    calls = Counter()
    dev = FakeDevice(durations=[1e-3, 3e-3])  # +-50% noise: a 0.01% CI is out of reach
    s = MeasureSettings(
        mode="adaptive", warmup=1, iterations=10, max_iterations=50, target_rel_ci=1e-4
    )
    m = measure(calls, dev, s)
    assert m.converged is False
    assert m.summary.n == 50
    assert calls.calls == 1 + 50
    assert "max_iterations" in m.stop_reason


def test_adaptive_minimum_above_maximum_is_rejected() -> None:
    """A maximum below the adaptive minimum is a contradiction to report, not to resolve."""
    with pytest.raises(ValidationError, match=r"max_iterations \(20\) is below iterations"):
        MeasureSettings(mode="adaptive", warmup=0, iterations=100, max_iterations=20)
    # In fixed mode max_iterations plays no part, so the same numbers are fine.
    assert MeasureSettings(mode="fixed", iterations=100, max_iterations=20).iterations == 100


@pytest.mark.parametrize(
    "bad",
    [
        {"time_budget_s": float("inf")},
        {"time_budget_s": float("nan")},
        {"iterations": 0},
        {"warmup": -1},
        {"target_rel_ci": 0},
    ],
)
def test_impossible_settings_are_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        MeasureSettings(**bad)


def test_adaptive_stops_when_the_time_budget_is_spent() -> None:
    budget = 0.06
    dev = FakeDevice(durations=[1e-3, 3e-3])  # never converges

    def fn() -> None:
        time.sleep(0.002)

    s = MeasureSettings(
        mode="adaptive", warmup=0, iterations=4, time_budget_s=budget, target_rel_ci=1e-4
    )
    m = measure(fn, dev, s)
    assert m.converged is False
    assert "time budget" in m.stop_reason
    assert m.wall_s >= budget
    assert 4 < m.summary.n < s.max_iterations  # went past the minimum, stopped on time
    assert m.wall_s < budget * 4  # chunks are sized to the remaining budget, not unbounded


def test_cuda_graph_is_unsupported_on_cpu() -> None:
    calls = Counter()
    with pytest.raises(Unsupported, match="graph"):
        measure(calls, CpuDevice(), MeasureSettings(cuda_graph=True, warmup=1, iterations=2))
    assert calls.calls == 0  # refused before any work was run


def test_cuda_graph_on_fake_device() -> None:
    calls = Counter()
    dev = FakeDevice(durations=[1e-6])
    m = measure(calls, dev, MeasureSettings(cuda_graph=True, warmup=2, iterations=3))
    assert m.graph is True
    assert m.samples_s == [1e-6] * 3
    assert calls.calls == 1 + 2 + 3  # one capture, then warm-up and timed replays


def test_real_cpu_measurement_has_positive_samples() -> None:
    m = measure(lambda: sum(range(200)), CpuDevice(), MeasureSettings(warmup=1, iterations=4))
    assert len(m.samples_s) == 4
    assert all(x > 0 for x in m.samples_s)
    assert m.wall_s >= sum(m.samples_s)
