"""Power sampling windows, the top-up of short regions, failures mid-run, and result fields."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import tiny_suite

from accelbench.analysis.derived import derived_metrics
from accelbench.api import run_suite
from accelbench.devices.fake import FakeDevice
from accelbench.power.base import MeterError, PowerMeter
from accelbench.power.metrics import power_metrics
from accelbench.power.session import PowerMonitor
from accelbench.results.schema import IdleRef, References
from accelbench.timing.protocol import MeasureSettings, measure


class Watts(PowerMeter):
    """Constant power; optionally fails after ``fail_after`` reads."""

    name = "test"
    domain = "board"

    def __init__(self, watts: float, mode: str = "power", fail_after: int | None = None) -> None:
        self.watts = watts
        self.mode = mode  # type: ignore[assignment]
        self.update_interval_s = 0.001
        self.averaging_window_s = 0.0
        self.fail_after = fail_after
        self.reads = 0
        self.closed = False

    def _tick(self) -> None:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise MeterError("driver went away")

    def read_power_w(self) -> float:
        self._tick()
        return self.watts

    def read_energy_j(self) -> float:
        self._tick()
        return self.watts * time.perf_counter()

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("mode", ["power", "energy"])
def test_constant_power_gives_that_power_and_its_energy(mode: str) -> None:
    mon = PowerMonitor([Watts(80.0, mode)], rate_hz=100)
    mon.start()
    time.sleep(0.15)
    r = mon.stop(iterations=3)
    assert r.unavailable is None
    assert r.avg_power_w == pytest.approx(80.0, rel=0.05)
    assert r.energy_j == pytest.approx(80.0 * r.duration_s, rel=0.05)
    (m,) = r.meters
    assert m.method == ("sampled-power" if mode == "power" else "energy-counter")
    assert m.samples >= 2
    assert 0 <= r.sampler_busy_fraction < 1


def test_two_meters_sum_and_a_mid_run_failure_voids_the_total_and_sticks() -> None:
    good, bad = Watts(50.0), Watts(20.0, fail_after=3)
    mon = PowerMonitor([good, bad], rate_hz=200)
    mon.start()
    time.sleep(0.1)
    r = mon.stop(iterations=1)
    assert r.meters[0].unavailable is None and r.meters[0].avg_power_w == pytest.approx(50.0)
    assert "failed mid-run: driver went away" in (r.meters[1].unavailable or "")
    assert r.energy_j is None and "driver went away" in (r.unavailable or "")  # no partial sum
    mon.start()  # the next window: still unavailable, without reading the broken meter again
    reads = bad.reads
    time.sleep(0.05)
    r2 = mon.stop()
    assert bad.reads == reads and "driver went away" in (r2.unavailable or "")
    mon.close()
    assert good.closed and bad.closed


def test_short_regions_are_topped_up_to_the_meters_window() -> None:
    """100 timed iterations of a 10 us function end long before the 0.2 s window."""
    dev = FakeDevice(durations=[1e-5])
    meter = Watts(100.0)
    meter.update_interval_s = 0.02  # -> min window 0.2 s
    monitor = PowerMonitor([meter], rate_hz=50)
    calls = 0

    def fn() -> None:
        nonlocal calls
        calls += 1

    m = measure(fn, dev, MeasureSettings(warmup=2, iterations=100), power=monitor)
    assert m.samples_s == [1e-5] * 100  # the timed samples are untouched
    assert m.power is not None and m.power.duration_s >= 0.2
    assert m.power.iterations == calls - 2 > 100  # every call in the window, warm-up excluded


def test_power_metrics_per_iteration_per_sample_and_net_of_idle() -> None:
    mon = PowerMonitor([Watts(100.0)], rate_hz=100)
    mon.start()
    time.sleep(0.1)
    r = mon.stop(iterations=10)
    metrics, config = power_metrics(r, "n/a", samples_per_s=1000.0)
    idle = References(idle_power=IdleRef(watts=40.0, result_id="idle"))
    metrics.update(derived_metrics(metrics, idle, config["power"]))
    assert metrics["power_avg_w"].value == pytest.approx(100.0)
    assert metrics["energy_per_iter_j"].value == pytest.approx(r.energy_j / 10)
    assert metrics["energy_per_sample_j"].value == pytest.approx(100.0 / 1000.0)
    net = (100.0 - 40.0) * r.duration_s / 10
    assert metrics["net_energy_per_iter_j"].value == pytest.approx(net, rel=1e-6)

    metrics, config = power_metrics(r, "n/a", None)
    no_idle = References(unavailable={"idle_power": "run idle-power"})
    metrics.update(derived_metrics(metrics, no_idle, config["power"]))
    assert metrics["net_energy_per_iter_j"].unavailable == "run idle-power"
    assert metrics["energy_per_sample_j"].unavailable


def test_without_a_reading_every_field_says_why() -> None:
    metrics, config = power_metrics(None, "no RAPL here", 10.0)
    metrics.update(derived_metrics(metrics, References(idle_power=IdleRef(watts=50.0))))
    assert {m.unavailable for m in metrics.values()} == {"no RAPL here"}
    assert config == {}


def test_no_power_run_says_so_on_every_result(tmp_path: Path) -> None:
    report = run_suite(
        tiny_suite([8]), device=FakeDevice(durations=[1e-3]), db=tmp_path / "r.db", power=False
    )
    (r,) = report.results
    assert "--no-power" in (r.metrics["power_avg_w"].unavailable or "")
    assert r.metrics["power_avg_w"].value is None  # never 0, never a guess


def test_meter_failing_mid_run_leaves_the_run_complete(tmp_path: Path) -> None:
    """Power goes unavailable from the failing read on, with the reason; results keep coming."""
    from accelbench.power.fake import FakeMeter

    dev = FakeDevice(durations=[1e-3], power_meter=FakeMeter(100.0, fail_after=3))
    report = run_suite(tiny_suite([8, 16, 32]), device=dev, db=tmp_path / "r.db")
    assert [r.status.value for r in report.results] == ["ok", "ok", "ok"]
    last = report.results[-1].metrics["power_avg_w"]
    assert last.value is None and "failed mid-run" in (last.unavailable or "")


def test_idle_power_is_stored_and_later_results_report_net_energy(tmp_path: Path, capsys) -> None:
    from test_cli import cli

    db = tmp_path / "r.db"
    code, out, _ = cli(
        capsys,
        "idle-power",
        "--device",
        "fake",
        "--seconds",
        "0.2",
        "--settle",
        "0",
        "--db",
        str(db),
        "--json",
    )
    assert code == 0, out
    idle = json.loads(out)
    assert idle["status"] == "ok" and idle["idle_power_w"] == pytest.approx(100.0, rel=0.05)
    report = run_suite(tiny_suite([16]), device="fake", db=db)
    (r,) = report.results
    assert r.metrics["power_avg_w"].value == pytest.approx(100.0, rel=0.05)
    net = r.metrics["net_energy_per_iter_j"]
    assert net.value is not None and abs(net.value) < 0.05 * r.metrics["energy_per_iter_j"].value
    assert r.references.idle_power is not None
    assert r.references.idle_power.result_id == idle["result_id"]


def test_idle_power_without_a_meter_says_why_and_exits_non_zero(tmp_path: Path, capsys) -> None:
    from test_cli import cli

    code, out, _ = cli(
        capsys,
        "idle-power",
        "--device",
        "cpu",
        "--seconds",
        "0.1",
        "--settle",
        "0",
        "--db",
        str(tmp_path / "r.db"),
        "--json",
    )
    assert code == 1
    body = json.loads(out)
    assert body["status"] == "unsupported" and "no power meter on cpu" in body["message"]
