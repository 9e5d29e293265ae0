"""RAPL (a fake powercap tree), npu-smi (a fake executable) and the fake meter; no hardware."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.devices.npu import NpuDevice
from accelbench.power import METERS, npu_smi, rapl
from accelbench.power.base import MeterError, MeterUnavailable
from accelbench.power.fake import FakeMeter, fake_meters
from accelbench.power.npu_smi import NpuSmiMeter, npu_smi_meters, parse_power
from accelbench.power.rapl import RaplMeter, rapl_domains, rapl_meters
from accelbench.power.session import PowerMonitor, open_meters


def test_all_backends_are_registered() -> None:
    assert {"rapl", "npu-smi", "fake"} <= set(METERS.names())


# --------------------------------------------------------------------------------------------
# RAPL
# --------------------------------------------------------------------------------------------

MAX_RANGE = 262143328850


def _zone(root: Path, dirname: str, name: str, energy: int, max_range: int = MAX_RANGE) -> Path:
    z = root / dirname
    z.mkdir(parents=True)
    (z / "name").write_text(name + "\n")
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{max_range}\n")
    return z


@pytest.fixture
def powercap(tmp_path: Path) -> Path:
    """Package 0 with core and dram subzones, package 1 with dram, an MMIO duplicate, psys."""
    root = tmp_path / "powercap"
    (root / "intel-rapl").mkdir(parents=True)  # the control type: no zone of its own
    _zone(root, "intel-rapl:0", "package-0", 1_000_000)
    _zone(root, "intel-rapl:0:0", "core", 500_000)
    _zone(root, "intel-rapl:0:1", "dram", 2_000_000)
    _zone(root, "intel-rapl:1", "package-1", 3_000_000)
    _zone(root, "intel-rapl:1:0", "dram", 4_000_000)
    _zone(root, "intel-rapl:2", "psys", 9_000_000)
    _zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    return root


def test_rapl_meters_one_per_package_and_dram(powercap: Path) -> None:
    meters = rapl_meters(CpuDevice(), powercap)
    assert [m.domain for m in meters] == ["CPU package 0", "DRAM 0", "CPU package 1", "DRAM 1"]
    assert all(m.mode == "energy" and m.averaging_window_s == 0 for m in meters)
    assert meters[0].read_energy_j() == pytest.approx(1.0)
    assert meters[3].read_energy_j() == pytest.approx(4.0)
    info = meters[0].describe()
    assert info["path"] == str(powercap / "intel-rapl:0")
    skipped = {d["name"]: d["why"] for d in info["other_domains"]}  # type: ignore[union-attr]
    assert set(skipped) == {"core", "psys"}  # listed, not metered: they would double count
    domains = rapl_domains(powercap)
    assert all(d["readable"] for d in domains)
    assert not any("mmio" in str(d["path"]) for d in domains)


def test_rapl_applies_only_to_the_cpu(powercap: Path) -> None:
    assert rapl_meters(FakeDevice(), powercap) == []
    assert rapl_meters(NpuDevice(0), powercap) == []


def test_rapl_corrects_wrap_around(tmp_path: Path) -> None:
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 900, max_range=1000)
    (m,) = rapl_meters(CpuDevice(), tmp_path)
    assert isinstance(m, RaplMeter)
    assert m.read_energy_j() == pytest.approx(900e-6)
    (z / "energy_uj").write_text("950\n")
    assert m.read_energy_j() == pytest.approx(950e-6)
    (z / "energy_uj").write_text("50\n")  # wrapped: 50 + one range of 1000
    assert m.read_energy_j() == pytest.approx(1050e-6)
    (z / "energy_uj").write_text("10\n")  # and again
    assert m.read_energy_j() == pytest.approx(2010e-6)


def test_rapl_in_a_session_gives_the_counter_difference(tmp_path: Path) -> None:
    z = _zone(tmp_path, "intel-rapl:0", "package-0", 5_000_000)
    mon = PowerMonitor(rapl_meters(CpuDevice(), tmp_path), rate_hz=100)
    mon.start()
    (z / "energy_uj").write_text("7000000\n")
    time.sleep(0.05)
    r = mon.stop()
    assert r.unavailable is None and r.energy_j == pytest.approx(2.0)


def test_rapl_no_powercap_dir(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable, match=r"no RAPL powercap interface: .* absent"):
        rapl_meters(CpuDevice(), tmp_path / "nope")


def test_rapl_default_root_is_the_module_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rapl, "POWERCAP_ROOT", tmp_path / "absent")
    meters, reasons = open_meters(CpuDevice())
    assert meters == [] and "absent" in reasons["rapl"]


def test_rapl_no_zones_or_no_usable_zone(tmp_path: Path) -> None:
    (tmp_path / "intel-rapl").mkdir()
    with pytest.raises(MeterUnavailable, match="no RAPL zones under"):
        rapl_meters(CpuDevice(), tmp_path)
    _zone(tmp_path, "intel-rapl:0", "psys", 1)
    with pytest.raises(MeterUnavailable, match=r"no package or DRAM domain .*\(psys\)"):
        rapl_meters(CpuDevice(), tmp_path)


def test_amd_rapl_prefix_is_accepted(tmp_path: Path) -> None:
    _zone(tmp_path, "amd-rapl:0", "package-0", 1_000_000)
    (m,) = rapl_meters(CpuDevice(), tmp_path)
    assert m.domain == "CPU package 0"


def _permission_message(zone: Path) -> str:
    return (
        f"{zone / 'energy_uj'} is readable only by root since Linux 5.10 (CVE-2020-8694); "
        "run as root or `sudo chmod o+r` it"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_rapl_root_only_counter_by_file_mode(powercap: Path) -> None:
    counter = powercap / "intel-rapl:0" / "energy_uj"
    counter.chmod(0)
    try:
        with pytest.raises(MeterUnavailable) as exc:
            rapl_meters(CpuDevice(), powercap)
        assert str(exc.value) == _permission_message(powercap / "intel-rapl:0")
        assert not rapl_domains(powercap)[0]["readable"]
    finally:
        counter.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_rapl_root_only_counter(powercap: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same through a patched read, so it runs as root too."""
    real = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    with pytest.raises(MeterUnavailable) as exc:
        rapl_meters(CpuDevice(), powercap)
    assert str(exc.value) == _permission_message(powercap / "intel-rapl:0")


def test_rapl_counter_lost_mid_run_is_a_meter_error(powercap: Path) -> None:
    m = rapl_meters(CpuDevice(), powercap)[0]
    (powercap / "intel-rapl:0" / "energy_uj").unlink()
    with pytest.raises(MeterError, match="energy_uj"):
        m.read_energy_j()


# --------------------------------------------------------------------------------------------
# npu-smi
# --------------------------------------------------------------------------------------------

# Huawei's documented output (npu-smi reference for Atlas 200I A2, "查询所有芯片功率" and
# "查询指定芯片功率": https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/re/npu/
# npusmi_023.html and npusmi_024.html). ``Power Dissipation(W)`` is the whole card's power;
# Atlas 910 training cards print only that line (Huawei's ais_bench parses it).
ALL_CHIPS = """\
        NPU ID                         : 0
        Chip Count                     : 1

        Chip ID                        : 0
        NPU Real-time Power(W)         : 9.1

        Power Dissipation(W)           : 16.9
        Chip Name                      : MCU
"""
ONE_CHIP = "NPU Real-time Power(W)         : 9.1\n"
TRAINING_CARD = """\
        NPU ID                         : 0
        Chip Count                     : 1

        Chip ID                        : 0
        Power Dissipation(W)           : 67.5
"""


def test_parse_documented_formats() -> None:
    assert parse_power(ALL_CHIPS) == (16.9, "Power Dissipation(W)")  # the card, like NVML
    assert parse_power(ALL_CHIPS, chip=0) == (9.1, "NPU Real-time Power(W)")
    assert parse_power(ONE_CHIP, chip=0) == (9.1, "NPU Real-time Power(W)")
    assert parse_power(ONE_CHIP) == (9.1, "NPU Real-time Power(W)")  # single chip: unambiguous
    assert parse_power(TRAINING_CARD) == (67.5, "Power Dissipation(W)")
    assert parse_power(TRAINING_CARD, chip=0) == (67.5, "Power Dissipation(W)")


def test_parse_rejects_what_is_not_a_reading() -> None:
    bad = ("", "garbage\n", "Power Dissipation(W) : NA\n", "Rated Power Dissipation(W) : 4\n")
    for text in bad:
        with pytest.raises(ValueError):
            parse_power(text)
    two_chips = (
        "Chip Count : 2\nChip ID : 0\nNPU Real-time Power(W) : 9.1\n"
        "Chip ID : 1\nNPU Real-time Power(W) : 8.0\n"
    )
    with pytest.raises(ValueError):  # which chip is ours? not guessed
        parse_power(two_chips)
    assert parse_power(two_chips, chip=1) == (8.0, "NPU Real-time Power(W)")


@pytest.fixture
def fake_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``npu-smi`` that logs its arguments and prints ``out.txt``, exiting with ``rc.txt``."""
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "npu-smi"
    exe.write_text(
        "#!/bin/sh\n"
        'here="$(dirname "$0")"\n'
        'echo "$@" >> "$here/args.log"\n'
        'cat "$here/out.txt"\n'
        'exit "$(cat "$here/rc.txt")"\n'
    )
    exe.chmod(0o755)
    (d / "out.txt").write_text(TRAINING_CARD)
    (d / "rc.txt").write_text("0")
    monkeypatch.setenv("ACCELBENCH_NPU_SMI", str(exe))
    monkeypatch.delenv("ACCELBENCH_NPU_CARD", raising=False)
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
    return exe


def _args(exe: Path) -> list[str]:
    return (exe.parent / "args.log").read_text().splitlines()


def test_npu_smi_meter_reads_the_card(fake_smi: Path) -> None:
    (m,) = npu_smi_meters(NpuDevice(0))
    assert isinstance(m, NpuSmiMeter) and m.mode == "power" and m.domain == "NPU card 0"
    assert m.read_power_w() == 67.5
    assert _args(fake_smi) == ["info -t power -i 0"] * 2  # the open checks it once
    info = m.describe()
    assert info["field"] == "Power Dissipation(W)" and "device index" in str(info["card_by"])
    assert m.calls == 2 and m.last_call_s is not None and m.mean_call_s is not None
    assert m.update_interval_s >= 1.0 and m.min_window_s >= 10.0


def test_npu_smi_applies_only_to_npus(fake_smi: Path) -> None:
    assert npu_smi_meters(CpuDevice()) == []
    assert npu_smi_meters(FakeDevice()) == []


@pytest.mark.parametrize(
    ("env", "index", "args", "domain"),
    [
        ({"ACCELBENCH_NPU_CARD": "3:1"}, 0, "info -t power -i 3 -c 1", "NPU card 3 chip 1"),
        ({"ACCELBENCH_NPU_CARD": "5"}, 0, "info -t power -i 5", "NPU card 5"),
        ({"ACCELBENCH_NPU_CARD": "0:0,0:1"}, 1, "info -t power -i 0 -c 1", "NPU card 0 chip 1"),
        ({"ASCEND_RT_VISIBLE_DEVICES": "4,6"}, 1, "info -t power -i 6", "NPU card 6"),
        ({}, 2, "info -t power -i 2", "NPU card 2"),
    ],
)
def test_npu_smi_card_mapping(
    fake_smi: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    index: int,
    args: str,
    domain: str,
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    (m,) = npu_smi_meters(NpuDevice(index))
    assert _args(fake_smi) == [args] and m.domain == domain


@pytest.mark.parametrize("value", ["x", "1:", "1:y", "0,1"])
def test_npu_smi_bad_card_setting(
    fake_smi: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ACCELBENCH_NPU_CARD", value)
    with pytest.raises(MeterUnavailable, match="ACCELBENCH_NPU_CARD"):
        npu_smi_meters(NpuDevice(2))


def test_npu_smi_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ACCELBENCH_NPU_SMI", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MeterUnavailable, match="npu-smi not found on PATH"):
        npu_smi_meters(NpuDevice(0))
    monkeypatch.setattr(npu_smi, "NPU_SMI", str(tmp_path / "nowhere"))
    with pytest.raises(MeterUnavailable, match="not an executable file"):
        npu_smi_meters(NpuDevice(0))


def test_npu_smi_failing_at_open_is_unavailable(fake_smi: Path) -> None:
    (fake_smi.parent / "out.txt").write_text("Error: the device does not exist.\nmore\n")
    (fake_smi.parent / "rc.txt").write_text("255")
    with pytest.raises(MeterUnavailable, match="exited with 255: Error: the device does not"):
        npu_smi_meters(NpuDevice(0))


def test_npu_smi_failures_mid_run_are_meter_errors(fake_smi: Path) -> None:
    (m,) = npu_smi_meters(NpuDevice(0))
    (fake_smi.parent / "out.txt").write_text("\ndcmi module initialize failed. ret is -8005\n")
    (fake_smi.parent / "rc.txt").write_text("1")
    with pytest.raises(MeterError, match=r"exited with 1: dcmi module initialize failed"):
        m.read_power_w()
    (fake_smi.parent / "rc.txt").write_text("0")
    (fake_smi.parent / "out.txt").write_text("Usage: npu-smi info ...\nPower Dissipation(W) : NA\n")
    with pytest.raises(MeterError, match="no power reading in its output: Usage: npu-smi"):
        m.read_power_w()


def test_npu_smi_in_a_session(fake_smi: Path) -> None:
    mon = PowerMonitor(npu_smi_meters(NpuDevice(0)), rate_hz=50)
    mon.start()
    time.sleep(0.2)
    r = mon.stop()
    assert r.unavailable is None and r.avg_power_w == pytest.approx(67.5)


# --------------------------------------------------------------------------------------------
# the fake meter
# --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_fake_energy_counter_integrates_the_power() -> None:
    clock = Clock()
    m = FakeMeter(lambda t: 100.0 + 10.0 * t, clock=clock)  # linear: trapezoid is exact
    assert m.mode == "energy" and m.read_energy_j() == 0.0
    clock.t = 2.0
    assert m.read_energy_j() == pytest.approx(100 * 2 + 5 * 4)
    clock.t = 3.0
    assert m.read_energy_j() == pytest.approx(100 * 3 + 5 * 9)


def test_fake_power_mode_and_settings() -> None:
    clock = Clock()
    m = FakeMeter(40.0, "power", averaging_window_s=1.0, update_interval_s=0.5, clock=clock)
    assert m.read_power_w() == 40.0
    assert m.min_window_s == 5.0
    with pytest.raises(MeterError):
        m.read_energy_j()
    with pytest.raises(ValueError):
        FakeMeter(mode="joules")  # type: ignore[arg-type]


def test_fake_fails_after_n_reads() -> None:
    m = FakeMeter(fail_after=2)
    m.read_energy_j()
    m.read_energy_j()
    with pytest.raises(MeterError, match="after 2 reads"):
        m.read_energy_j()


def test_fake_device_default_meter_is_100_w_of_host_time() -> None:
    (m,) = fake_meters(FakeDevice())
    assert isinstance(m, FakeMeter) and m.mode == "energy"
    mon = PowerMonitor([m], rate_hz=100)
    mon.start()
    time.sleep(0.1)
    r = mon.stop()
    assert r.avg_power_w == pytest.approx(100.0, rel=0.01)
    assert fake_meters(CpuDevice()) == []


def test_fake_device_chooses_its_meter() -> None:
    mine = FakeMeter(25.0, "power", fail_after=3)
    assert fake_meters(FakeDevice(power_meter=mine)) == [mine]
    meters, reasons = open_meters(FakeDevice(power_meter="no meter in this test"))
    assert meters == [] and reasons == {"fake": "no meter in this test"}


def test_fake_failure_mid_run_is_recorded_by_the_session() -> None:
    mon = PowerMonitor([FakeMeter(fail_after=3)], rate_hz=200)
    mon.start()
    time.sleep(0.1)
    r = mon.stop()
    assert "failed mid-run: fake meter failed after 3 reads" in (r.unavailable or "")
    assert r.energy_j is None
