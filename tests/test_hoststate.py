"""A busy host is detected and recorded: fake load and steal sources, never a loaded machine."""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_cli import cli, one_error_line

from accelbench.analysis.summary import host_summary, run_summary
from accelbench.api import HostBusy, check_host, require_idle, run_suite, validate_suite
from accelbench.devices.cuda import nvml_activity
from accelbench.devices.fake import FakeDevice
from accelbench.hoststate import HostMonitor, HostReaders
from accelbench.results.schema import SCHEMA_VERSION, DeviceActivity, Result, upgrade_record
from accelbench.results.store import Store


@dataclass
class FakeHost:
    """A machine whose CPU counters advance by what we script: per second of (fake) time,
    ``other`` CPUs of other processes, ``own`` CPUs of ours, ``steal`` CPUs stolen."""

    cpus: int = 2
    other: float = 0.0
    own: float = 0.0
    steal: float = 0.0
    t: float = 100.0
    busy_s: float = 0.0
    own_s: float = 0.0
    steal_s: float = 0.0
    idle_s: float = 0.0
    activity: DeviceActivity | None = None
    schedule: list[tuple[float, float]] = field(default_factory=list)
    """(until t, other CPUs): the load changes over time (for waiting tests)."""

    def advance(self, seconds: float) -> None:
        for until, other in self.schedule:
            if self.t < until:
                self.other = other
                break
        self.t += seconds
        used = (self.other + self.own) * seconds
        self.busy_s += used
        self.own_s += self.own * seconds
        self.steal_s += self.steal * seconds
        self.idle_s += max(self.cpus - self.other - self.own - self.steal, 0) * seconds

    def readers(self) -> HostReaders:
        def cpu_times() -> Any:
            return types.SimpleNamespace(
                user=self.busy_s,
                nice=0.0,
                system=0.0,
                idle=self.idle_s,
                iowait=0.0,
                irq=0.0,
                softirq=0.0,
                steal=self.steal_s,
            )

        return HostReaders(
            cpu_times=cpu_times,
            own_cpu_seconds=lambda: self.own_s,
            loadavg=lambda: (self.other + self.own, 0.0, 0.0),
            logical_cpus=lambda: self.cpus,
            clock=lambda: self.t,
            device=lambda: self.activity,
            sleep=self.advance,
        )


def window(host: FakeHost, seconds: float) -> Any:
    m = HostMonitor(host.readers())
    start = m.mark()
    host.advance(seconds)
    return m.state(start)


def test_an_idle_host_is_not_busy() -> None:
    h = FakeHost(own=1.0, other=0.02)
    s = window(h, 2.0)
    assert not s.busy and s.reasons == []
    assert s.other_cpus == pytest.approx(0.02) and s.own_cpus == pytest.approx(1.0)
    assert s.steal_pct == pytest.approx(0.0) and s.window_s == pytest.approx(2.0)


def test_other_processes_make_the_host_busy_with_the_numbers() -> None:
    s = window(FakeHost(own=1.0, other=0.8), 2.0)
    assert s.busy and s.other_cpus == pytest.approx(0.8)
    assert s.reasons == ["other processes used 0.80 CPUs of 2 (this run 1.00) over 2.0 s"]


def test_hypervisor_steal_makes_the_host_busy() -> None:
    s = window(FakeHost(own=1.0, steal=0.2), 2.0)
    assert s.busy and s.steal_pct == pytest.approx(10.0)
    assert s.reasons == ["hypervisor steal 10.0% of CPU time"]


def test_a_short_case_is_judged_over_the_last_second() -> None:
    h = FakeHost(own=1.0, other=1.0)
    m = HostMonitor(h.readers())
    m.mark()
    h.advance(2.0)  # the load ran before the case
    h.other = 0.0
    start = m.mark()
    h.advance(0.01)  # a 10 ms case: too short for CPU tick counters
    s = m.state(start)
    assert s.window_s == pytest.approx(2.01)
    assert s.busy  # the second before it shows the load the case ran under


def test_the_device_report_flags_other_processes_and_slowdown() -> None:
    act = DeviceActivity(other_processes=["pid 42 (512 MiB)"], slowdown=["hardware slowdown"])
    s = window(FakeHost(own=1.0, activity=act), 2.0)
    assert s.busy and s.device == act
    assert s.reasons == [
        "1 other process(es) on the device: pid 42 (512 MiB)",
        "device clocks slowed: hardware slowdown",
    ]


def test_unreadable_counters_are_unavailable_not_idle() -> None:
    def broken() -> Any:
        raise OSError("no /proc/stat")

    r = FakeHost().readers()
    r.cpu_times = broken
    m = HostMonitor(r)
    s = m.state(m.mark())
    assert not s.busy and s.other_cpus is None and "no /proc/stat" in s.unavailable["cpu"]


# -- the device's own report (NVML through the device layer) -----------------------------------


def fake_pynvml(procs: list[int], mask: int) -> Any:
    proc = [types.SimpleNamespace(pid=p, usedGpuMemory=2**30) for p in procs]
    return types.SimpleNamespace(
        nvmlDeviceGetComputeRunningProcesses=lambda h: proc,
        nvmlDeviceGetGraphicsRunningProcesses=lambda h: [],
        nvmlDeviceGetUtilizationRates=lambda h: types.SimpleNamespace(gpu=97),
        nvmlDeviceGetClockInfo=lambda h, kind: 1200,
        nvmlDeviceGetMaxClockInfo=lambda h, kind: 1980,
        nvmlDeviceGetCurrentClocksEventReasons=lambda h: mask,
    )


def test_nvml_activity_names_other_processes_and_slowdown_reasons() -> None:
    a = nvml_activity(fake_pynvml([10, 11], 0x4 | 0x40), object(), own_pid=10)
    assert a.other_processes == ["pid 11 (1024 MiB)"]
    assert a.throttle_reasons == ["software power cap", "hardware thermal slowdown"]
    assert a.slowdown == ["hardware thermal slowdown"]  # a power cap under load is normal
    assert (a.sm_clock_mhz, a.max_sm_clock_mhz, a.utilisation_pct) == (1200, 1980, 97)
    alone = nvml_activity(fake_pynvml([77], 0x1), object(), own_pid=10)  # another pid namespace
    assert alone.other_processes == [] and alone.slowdown == []


# -- the runner records it, the summary counts it, the store keeps it --------------------------


def tiny_suite() -> Any:
    return validate_suite(
        {
            "name": "busy",
            "measure": {"warmup": 1, "iterations": 3},
            "workloads": [
                {"name": "g", "kind": "gemm", "params": {"sizes": [16, 32], "dtypes": ["float32"]}}
            ],
        },
        "test",
    )


def test_a_simulated_busy_host_flags_cases_in_the_store_and_the_summary(tmp_path: Path) -> None:
    h = FakeHost(own=1.0, other=1.2, steal=0.1)
    r = h.readers()
    r.own_cpu_seconds = lambda: (h.advance(1.0), h.own_s)[1]  # each reading moves time on
    monitor = HostMonitor(r)
    db = tmp_path / "b.db"
    report = run_suite(tiny_suite(), device=FakeDevice(), db=db, host=monitor)
    assert all(x.host_busy for x in report.results)
    with Store(db) as st:
        stored = st.query()
    assert [x.host for x in stored] == [x.host for x in report.results]
    assert stored[0].host.other_cpus == pytest.approx(1.2)
    assert "other processes used 1.20 CPUs of 2" in stored[0].host.reasons[0]
    (row,) = run_summary(stored)
    assert row["host_busy"] == 2
    summary = host_summary(stored)
    assert summary["busy"] == 2 and summary["max_other_cpus"] == pytest.approx(1.2)


def test_an_idle_host_flags_nothing(tmp_path: Path) -> None:
    h = FakeHost(own=1.0, other=0.0)
    r = h.readers()
    r.own_cpu_seconds = lambda: (h.advance(1.0), h.own_s)[1]
    report = run_suite(tiny_suite(), device=FakeDevice(), db=tmp_path / "i.db", host=HostMonitor(r))
    assert not any(x.host_busy for x in report.results)
    assert all(x.host is not None and x.host.other_cpus == 0 for x in report.results)


def test_a_device_with_other_processes_flags_cases(tmp_path: Path) -> None:
    act = DeviceActivity(other_processes=["pid 99"])
    dev = FakeDevice(activity=lambda: act)
    report = run_suite(tiny_suite(), device=dev, db=tmp_path / "d.db")  # real host readers
    assert all(x.host is not None and x.host.device == act for x in report.results)
    assert all(x.host_busy for x in report.results)
    assert all(any("pid 99" in why for why in x.host.reasons) for x in report.results)


def test_records_from_before_host_states_upgrade_to_unknown(tmp_path: Path) -> None:
    report = run_suite(tiny_suite(), device=FakeDevice(), db=tmp_path / "u.db")
    data = json.loads(report.results[0].model_dump_json())
    data.pop("host")
    data["schema_version"] = 5
    up = upgrade_record(data)
    assert up["schema_version"] == SCHEMA_VERSION
    r = Result.model_validate(up)
    assert r.host is None and not r.host_busy


# -- before the run: warn, or wait and refuse --------------------------------------------------


def test_check_host_waits_for_the_load_to_go(tmp_path: Path) -> None:
    h = FakeHost(own=0.0, schedule=[(103.0, 1.5), (1e9, 0.0)])  # busy for 3 s, then idle
    seen: list[str] = []
    check = require_idle(
        FakeDevice(),
        window_s=1.0,
        wait_s=10.0,
        readers=h.readers(),
        on_busy=lambda c: seen.append(c.describe()),
    )
    assert check.idle and check.waited_s == pytest.approx(3.0)
    assert len(seen) == 3 and "other processes used 1.50 CPUs" in seen[0]


def test_require_idle_refuses_with_the_numbers() -> None:
    h = FakeHost(own=0.0, other=1.5, steal=0.2)
    with pytest.raises(HostBusy) as ei:
        require_idle(FakeDevice(), window_s=1.0, wait_s=3.0, readers=h.readers())
    msg = str(ei.value)
    assert msg.startswith("--require-idle: the host was still busy after waiting 2 s")
    assert "other processes used 1.50 CPUs of 2" in msg and "steal 10.0%" in msg
    assert "\n" not in msg
    assert not check_host(FakeDevice(), readers=FakeHost().readers()).state.busy


def test_run_require_idle_is_one_error_line(tmp_path: Path, capsys, monkeypatch) -> None:
    import accelbench.api.host as host_api

    loaded = FakeHost(other=1.9)
    monkeypatch.setattr(host_api, "HostReaders", loaded.readers)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nworkloads:\n  - name: g\n    kind: gemm\n    params: {sizes: [16]}\n"
    )
    db = tmp_path / "r.db"
    args = ("run", str(suite), "--device", "fake", "--db", str(db))
    code, _, err = cli(capsys, *args, "--require-idle", "--idle-wait", "2")
    assert code == 2
    line = one_error_line(err.splitlines()[-1])
    assert "--require-idle" in line and "1.90 CPUs" in line
    assert not db.exists() or Store(db).count() == 0
    code, _, err = cli(capsys, *args, "--idle-check", "1")
    assert code == 0 and "warning: the host is not idle" in err
