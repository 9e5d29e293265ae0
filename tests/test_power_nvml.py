"""NVML and amdsmi meters against fake ``pynvml`` and ``amdsmi`` modules (no GPU needed)."""

from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from accelbench.devices.base import BaseDevice
from accelbench.devices.cuda import CudaDevice
from accelbench.power.amdsmi_meter import AmdSmiMeter, amdsmi_meters, parse_bdf
from accelbench.power.base import MeterError, MeterUnavailable
from accelbench.power.nvml import INSTALL_HINT, NvmlMeter, nvml_meters
from accelbench.power.session import PowerMonitor, open_meters


class StubGpu(BaseDevice):
    """A ``cuda`` device as the meters see it: kind, index, build flavour and PCI bus id."""

    kind = "cuda"

    def __init__(self, index: int = 0, bus: str | None = None, rocm: bool = False) -> None:
        super().__init__(index)
        self._bus = bus
        self.is_rocm = rocm

    def pci_bus_id(self) -> str | None:
        return self._bus

    def name(self) -> str:
        return "stub"


# --------------------------------------------------------------------------------------------
# a fake pynvml
# --------------------------------------------------------------------------------------------


class NVMLError(Exception):
    pass


class NVMLError_NotSupported(NVMLError):  # pynvml's spelling
    pass


@dataclass(eq=False)
class NvGpu:
    """One GPU as NVML sees it; the object itself is its handle."""

    name: str
    bus: str
    cc: tuple[int, int] = (9, 0)
    arch: int = 9
    energy: bool = True  # Volta and newer have the energy counter
    watts: float = 100.0
    mj: int = 0
    fail: str | None = None  # reads raise NVMLError(fail)
    cc_known: bool = True
    arch_known: bool = True


@dataclass
class FakeNvml:
    gpus: list[NvGpu]
    inits: int = 0
    shutdowns: int = 0
    init_error: str | None = None
    by_bus: list[str] = field(default_factory=list)

    def advance(self, seconds: float) -> None:
        """Every GPU draws its power for ``seconds``: the counters move by watts * seconds."""
        for g in self.gpus:
            g.mj += round(g.watts * seconds * 1000)

    def install(self, mp: pytest.MonkeyPatch) -> types.ModuleType:
        s = self
        nv = types.ModuleType("pynvml")

        def init() -> None:
            if s.init_error:
                raise NVMLError(s.init_error)
            s.inits += 1

        def shutdown() -> None:
            assert s.shutdowns < s.inits, "nvmlShutdown without a matching nvmlInit"
            s.shutdowns += 1

        def live() -> None:
            assert s.inits > s.shutdowns, "NVML used while not initialised"

        def by_bus(bus: str) -> NvGpu:
            live()
            assert isinstance(bus, str)
            s.by_bus.append(bus)
            for g in s.gpus:
                if g.bus.upper() == bus.upper():
                    return g
            raise NVMLError("Not Found")

        def by_index(i: int) -> NvGpu:
            live()
            return s.gpus[i]

        def energy(h: NvGpu) -> int:
            live()
            if not h.energy:
                raise NVMLError_NotSupported("Not Supported")
            if h.fail:
                raise NVMLError(h.fail)
            return h.mj

        def power(h: NvGpu) -> int:
            live()
            if h.fail:
                raise NVMLError(h.fail)
            return round(h.watts * 1000)

        def cc(h: NvGpu) -> tuple[int, int]:
            if not h.cc_known:
                raise NVMLError("Function Not Found")
            return h.cc

        def arch(h: NvGpu) -> int:
            if not h.arch_known:
                raise NVMLError("Function Not Found")
            return h.arch

        funcs: dict[str, Any] = {
            "NVMLError": NVMLError,
            "NVMLError_NotSupported": NVMLError_NotSupported,
            "nvmlInit": init,
            "nvmlShutdown": shutdown,
            "nvmlDeviceGetCount": lambda: len(s.gpus),
            "nvmlDeviceGetHandleByPciBusId": by_bus,
            "nvmlDeviceGetHandleByIndex": by_index,
            "nvmlDeviceGetName": lambda h: h.name,  # str in nvidia-ml-py >= 11.5
            "nvmlDeviceGetTotalEnergyConsumption": energy,
            "nvmlDeviceGetPowerUsage": power,
            "nvmlDeviceGetCudaComputeCapability": cc,
            "nvmlDeviceGetArchitecture": arch,
            "nvmlSystemGetDriverVersion": lambda: "550.54.15",
        }
        for k, v in funcs.items():
            setattr(nv, k, v)
        mp.setitem(sys.modules, "pynvml", nv)
        return nv


def h100(bus: str = "00000000:1B:00.0", **kw: Any) -> NvGpu:
    return NvGpu("NVIDIA H100 80GB HBM3", bus, (9, 0), 9, **kw)


def v100(bus: str = "00000000:3D:00.0", **kw: Any) -> NvGpu:
    return NvGpu("Tesla V100-SXM2-32GB", bus, (7, 0), 5, **kw)


def p100(bus: str = "00000000:5E:00.0", **kw: Any) -> NvGpu:
    return NvGpu("Tesla P100-PCIE-16GB", bus, (6, 0), 4, energy=False, **kw)


@pytest.fixture(autouse=True)
def _no_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def open_one(device: BaseDevice) -> NvmlMeter:
    (m,) = nvml_meters(device)
    assert isinstance(m, NvmlMeter)
    return m


def test_energy_counter_gpu_reads_joules_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([h100(mj=123_456_789, watts=250.0)])
    nv.install(monkeypatch)
    m = open_one(StubGpu(0, "00000000:1B:00.0"))
    assert m.mode == "energy"
    assert m.domain == "GPU 0 (NVIDIA H100 80GB HBM3) board"
    assert m.read_energy_j() == 123_456.789  # millijoules -> joules
    nv.advance(2.0)
    assert m.read_energy_j() == 123_956.789  # 250 W for 2 s = 500 J
    assert m.read_power_w() == 250.0  # also readable in energy mode
    assert m.update_interval_s == 0.1
    assert m.averaging_window_s == 0.0  # a counter is not an average
    assert m.power_averaging_window_s == 1.0  # Hopper averages its power reading over ~1 s
    assert m.min_window_s == pytest.approx(1.0)
    d = m.describe()
    assert d["meter"] == "nvml" and d["mode"] == "energy"
    assert d["handle_by"] == "PCI bus id 00000000:1B:00.0"
    m.close()


def test_power_only_gpu_falls_back_to_milliwatts(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([p100("00000000:5E:00.0", watts=187.5)])
    nv.install(monkeypatch)
    m = open_one(StubGpu(0, "00000000:5E:00.0"))
    assert m.mode == "power"
    assert m.read_power_w() == 187.5
    with pytest.raises(MeterError, match="Not Supported"):
        m.read_energy_j()
    assert m.averaging_window_s == 0.1  # Pascal: an instantaneous sensor sample
    m.close()


@pytest.mark.parametrize(
    ("cc", "arch", "window"),
    [
        ((6, 0), 4, 0.1),  # Pascal
        ((7, 0), 5, 0.1),  # Volta
        ((7, 5), 6, 0.1),  # Turing
        ((8, 0), 7, 0.1),  # GA100 (A100, A30): NVML documents instantaneous power
        ((8, 6), 7, 1.0),  # GA10x Ampere: averaged over 1 s
        ((8, 9), 8, 1.0),  # Ada
        ((9, 0), 9, 1.0),  # Hopper
        ((10, 0), 10, 1.0),  # Blackwell
    ],
)
def test_power_averaging_window_by_architecture(
    monkeypatch: pytest.MonkeyPatch, cc: tuple[int, int], arch: int, window: float
) -> None:
    gpu = NvGpu("Some GPU", "00000000:01:00.0", cc, arch, energy=False, watts=50.0)
    FakeNvml([gpu]).install(monkeypatch)
    m = open_one(StubGpu(0, "00000000:01:00.0"))
    assert m.mode == "power"
    assert m.averaging_window_s == window == m.power_averaging_window_s
    assert m.min_window_s == pytest.approx(max(2 * window, 1.0))
    m.close()


@pytest.mark.parametrize(
    ("arch", "arch_known", "window"),
    [(9, True, 1.0), (6, True, 0.1), (7, True, 1.0), (0, False, 1.0)],
)  # without a compute capability: by NVML architecture; Ampere and unknown assume 1 s
def test_power_window_from_architecture_alone(
    monkeypatch: pytest.MonkeyPatch, arch: int, arch_known: bool, window: float
) -> None:
    gpu = NvGpu("X", "00000000:01:00.0", (0, 0), arch, energy=False, cc_known=False)
    gpu.arch_known = arch_known
    FakeNvml([gpu]).install(monkeypatch)
    m = open_one(StubGpu(0, "00000000:01:00.0"))
    assert m.averaging_window_s == window
    m.close()


def test_pci_bus_id_picks_the_right_gpu_under_renumbering(monkeypatch: pytest.MonkeyPatch) -> None:
    # NVML: 0 = H100, 1 = V100, 2 = P100 (PCI order). CUDA_VISIBLE_DEVICES=2,1 makes the P100
    # cuda:0 and the V100 cuda:1; the index alone would read the H100.
    nv = FakeNvml([h100(watts=700.0), v100(watts=300.0), p100(watts=250.0)])
    nv.install(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,1")
    m0 = open_one(StubGpu(0, "00000000:5E:00.0"))
    m1 = open_one(StubGpu(1, "00000000:3D:00.0"))
    assert m0.domain == "GPU 0 (Tesla P100-PCIE-16GB) board" and m0.read_power_w() == 250.0
    assert m1.domain == "GPU 1 (Tesla V100-SXM2-32GB) board" and m1.read_power_w() == 300.0
    assert nv.by_bus == ["00000000:5E:00.0", "00000000:3D:00.0"]
    m0.close()
    m1.close()


def test_cuda_device_reports_its_pci_bus_id(monkeypatch: pytest.MonkeyPatch) -> None:
    props = types.SimpleNamespace(pci_domain_id=0, pci_bus_id=0x3D, pci_device_id=0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i=0: props)
    monkeypatch.setattr(torch.version, "hip", None)
    dev = CudaDevice(index=0)
    assert dev.pci_bus_id() == "00000000:3D:00.0"  # what nvmlDeviceGetHandleByPciBusId takes
    nv = FakeNvml([h100(watts=700.0), v100(watts=300.0)])
    nv.install(monkeypatch)
    m = open_one(dev)
    assert m.read_power_w() == 300.0 and "V100" in m.domain
    m.close()
    # an older torch without the PCI fields
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i=0: types.SimpleNamespace())
    assert dev.pci_bus_id() is None
    assert BaseDevice().pci_bus_id() is None


def test_index_fallback_only_where_it_is_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    # one GPU: index 0 whatever CUDA_VISIBLE_DEVICES says
    FakeNvml([h100()]).install(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    m = open_one(StubGpu(0, None))
    assert "only NVML device" in m.handle_by
    m.close()

    # identical GPUs, renumbered by CUDA_VISIBLE_DEVICES: follow it
    a, b = h100("00000000:1B:00.0", watts=111.0), h100("00000000:3D:00.0", watts=222.0)
    FakeNvml([a, b]).install(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    m = open_one(StubGpu(0, None))
    assert m.read_power_w() == 222.0
    assert m.handle_by.startswith("index 1") and "no PCI bus id" in m.handle_by
    m.close()

    # UUIDs in CUDA_VISIBLE_DEVICES: no guess
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f6d0c3e")
    with pytest.raises(MeterUnavailable, match="CUDA_VISIBLE_DEVICES"):
        nvml_meters(StubGpu(0, None))

    # different GPUs: CUDA's default order is fastest first, NVML's is PCI: no guess ...
    nv = FakeNvml([v100("00000000:1B:00.0"), h100("00000000:3D:00.0", watts=700.0)])
    nv.install(monkeypatch)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(MeterUnavailable, match="CUDA_DEVICE_ORDER=PCI_BUS_ID"):
        nvml_meters(StubGpu(0, None))
    assert nv.inits == nv.shutdowns == 1
    # ... unless CUDA is told to use PCI order too
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    m = open_one(StubGpu(1, None))
    assert m.read_power_w() == 700.0
    m.close()


def test_init_failure_and_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([h100()], init_error="Driver Not Loaded")
    nv.install(monkeypatch)
    with pytest.raises(MeterUnavailable, match="Driver Not Loaded"):
        nvml_meters(StubGpu(0, "00000000:1B:00.0"))
    meters, reasons = open_meters(StubGpu(0, "00000000:1B:00.0"))
    for m in meters:  # other backends (RAPL...) may apply on this machine
        m.close()
    assert not [m for m in meters if m.name == "nvml"]
    assert "Driver Not Loaded" in reasons["nvml"]

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    with pytest.raises(MeterUnavailable) as exc:
        nvml_meters(StubGpu(0, "00000000:1B:00.0"))
    assert str(exc.value) == INSTALL_HINT
    assert "nvidia-ml-py" in INSTALL_HINT and "accelbench[nvidia]" in INSTALL_HINT


def test_not_applicable_without_touching_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    cpu = StubGpu(0, None)
    cpu.kind = "cpu"  # type: ignore[misc]
    assert nvml_meters(cpu) == []
    assert nvml_meters(StubGpu(0, "0000:c1:00.0", rocm=True)) == []  # amdsmi's job


def test_unknown_bus_id_and_unreadable_gpu_are_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nv = FakeNvml([h100(), v100(energy=False, fail="Unknown Error")])
    nv.install(monkeypatch)
    with pytest.raises(MeterUnavailable, match=r"no device at PCI bus id 00000000:99:00\.0"):
        nvml_meters(StubGpu(0, "00000000:99:00.0"))
    with pytest.raises(MeterUnavailable, match=r"no energy counter.*no power reading"):
        nvml_meters(StubGpu(1, "00000000:3D:00.0"))
    assert nv.inits == nv.shutdowns == 2  # a meter that failed to open gives NVML back


def test_read_failure_mid_run_is_a_meter_error(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([h100(watts=400.0), p100("00000000:5E:00.0", watts=90.0)])
    nv.install(monkeypatch)
    e = open_one(StubGpu(0, "00000000:1B:00.0"))
    p = open_one(StubGpu(1, "00000000:5E:00.0"))
    e.read_energy_j()
    nv.gpus[0].fail = "GPU is lost"
    nv.gpus[1].fail = "GPU is lost"
    with pytest.raises(MeterError, match="GPU is lost"):
        e.read_energy_j()
    with pytest.raises(MeterError, match="GPU is lost"):
        p.read_power_w()

    # the session records it and carries on
    nv.gpus[0].fail = None
    mon = PowerMonitor([e], rate_hz=200)
    mon.start()
    nv.gpus[0].fail = "GPU has fallen off the bus"
    time.sleep(0.02)
    r = mon.stop()
    assert r.energy_j is None
    assert r.meters[0].unavailable and "fallen off the bus" in r.meters[0].unavailable
    e.close()
    p.close()


def test_counter_going_backwards_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([h100(mj=5_000)])
    nv.install(monkeypatch)
    m = open_one(StubGpu(0, "00000000:1B:00.0"))
    assert m.read_energy_j() == 5.0
    nv.gpus[0].mj = 10  # driver reloaded
    with pytest.raises(MeterError, match="backwards"):
        m.read_energy_j()
    m.close()


def test_monitor_energy_over_a_window(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([h100(watts=300.0)])
    nv.install(monkeypatch)
    m = open_one(StubGpu(0, "00000000:1B:00.0"))
    mon = PowerMonitor([m], rate_hz=200)
    mon.start()
    nv.advance(1.5)  # the fake counter moves by 450 J during the window
    r = mon.stop()
    assert r.meters[0].method == "energy-counter"
    assert r.energy_j == pytest.approx(450.0)
    mon.close()
    assert nv.shutdowns == 1


def test_close_shuts_nvml_down_once(monkeypatch: pytest.MonkeyPatch) -> None:
    nv = FakeNvml([h100(), v100()])
    nv.install(monkeypatch)
    a = open_one(StubGpu(0, "00000000:1B:00.0"))
    b = open_one(StubGpu(1, "00000000:3D:00.0"))
    assert (nv.inits, nv.shutdowns) == (2, 0)  # NVML counts inits; one per meter
    a.close()
    a.close()  # idempotent: never releases someone else's reference
    assert (nv.inits, nv.shutdowns) == (2, 1)
    assert b.read_energy_j() == 0.0  # still initialised for b
    b.close()
    assert (nv.inits, nv.shutdowns) == (2, 2)


# --------------------------------------------------------------------------------------------
# a fake amdsmi
# --------------------------------------------------------------------------------------------


class AmdSmiException(Exception):
    pass


class AmdSmiLibraryException(AmdSmiException):
    pass


@dataclass(eq=False)
class AmdGpu:
    market_name: str
    bdf: str
    acc: int = 0
    resolution_uj: float = 15.625
    energy: bool = True
    legacy_key: bool = False  # amdsmi before 6.x named the accumulator "power"
    power: dict[str, Any] = field(
        default_factory=lambda: {"current_socket_power": 550, "average_socket_power": "N/A"}
    )
    fail: str | None = None


@dataclass
class FakeAmdSmi:
    gpus: list[AmdGpu]
    inits: int = 0
    shutdowns: int = 0
    init_error: str | None = None

    def install(self, mp: pytest.MonkeyPatch) -> None:
        s = self
        amd = types.ModuleType("amdsmi")

        def init(flag: Any = None) -> None:
            if s.init_error:
                raise AmdSmiLibraryException(s.init_error)
            s.inits += 1

        def shut_down() -> None:
            s.shutdowns += 1

        def energy(h: AmdGpu) -> dict[str, Any]:
            if not h.energy:
                raise AmdSmiLibraryException("AMDSMI_STATUS_NOT_SUPPORTED")
            if h.fail:
                raise AmdSmiLibraryException(h.fail)
            key = "power" if h.legacy_key else "energy_accumulator"
            return {key: h.acc, "counter_resolution": h.resolution_uj, "timestamp": 1}

        def power(h: AmdGpu) -> dict[str, Any]:
            if h.fail:
                raise AmdSmiLibraryException(h.fail)
            return dict(h.power)

        funcs: dict[str, Any] = {
            "AmdSmiException": AmdSmiException,
            "AmdSmiLibraryException": AmdSmiLibraryException,
            "amdsmi_init": init,
            "amdsmi_shut_down": shut_down,
            "amdsmi_get_processor_handles": lambda: list(s.gpus),
            "amdsmi_get_gpu_device_bdf": lambda h: h.bdf,
            "amdsmi_get_gpu_asic_info": lambda h: {"market_name": h.market_name},
            "amdsmi_get_energy_count": energy,
            "amdsmi_get_power_info": power,
        }
        for k, v in funcs.items():
            setattr(amd, k, v)
        mp.setitem(sys.modules, "amdsmi", amd)


def mi300x(bdf: str = "0000:c1:00.0", **kw: Any) -> AmdGpu:
    return AmdGpu("AMD Instinct MI300X", bdf, **kw)


def mi250(bdf: str = "0000:29:00.0", **kw: Any) -> AmdGpu:
    return AmdGpu("AMD Instinct MI250X/MI250", bdf, **kw)


def open_amd(device: BaseDevice) -> AmdSmiMeter:
    (m,) = amdsmi_meters(device)
    assert isinstance(m, AmdSmiMeter)
    return m


@pytest.mark.parametrize("legacy", [False, True])
def test_amdsmi_energy_counter_in_joules(monkeypatch: pytest.MonkeyPatch, legacy: bool) -> None:
    amd = FakeAmdSmi([mi250(), mi300x(acc=1_000_000, legacy_key=legacy)])
    amd.install(monkeypatch)
    # torch writes the NVML form, amdsmi a 4-digit lowercase one: the same address
    m = open_amd(StubGpu(0, "00000000:C1:00.0", rocm=True))
    assert m.mode == "energy"
    assert m.domain == "GPU 0 (AMD Instinct MI300X) socket"
    assert m.read_energy_j() == 15.625  # 1e6 counts * 15.625 uJ
    amd.gpus[1].acc += 64_000_000
    assert m.read_energy_j() == 1015.625
    assert m.read_power_w() == 550.0
    m.close()
    assert (amd.inits, amd.shutdowns) == (1, 1)


def test_amdsmi_power_only(monkeypatch: pytest.MonkeyPatch) -> None:
    cur = mi300x(energy=False, power={"current_socket_power": 612, "average_socket_power": "N/A"})
    amd = FakeAmdSmi([cur])
    amd.install(monkeypatch)
    m = open_amd(StubGpu(0, "00000000:C1:00.0", rocm=True))
    assert m.mode == "power" and m.read_power_w() == 612.0 and m.averaging_window_s == 0.1
    m.close()

    avg = mi250(energy=False, power={"current_socket_power": "N/A", "average_socket_power": 300})
    FakeAmdSmi([avg]).install(monkeypatch)
    m = open_amd(StubGpu(0, None, rocm=True))  # one GPU: no bus id needed
    assert m.mode == "power" and m.read_power_w() == 300.0 and m.averaging_window_s == 1.0
    m.close()

    rocm7 = mi300x(energy=False, power={"socket_power": 700, "current_socket_power": "N/A"})
    FakeAmdSmi([rocm7]).install(monkeypatch)
    m = open_amd(StubGpu(0, None, rocm=True))
    assert m.read_power_w() == 700.0
    m.close()

    none = mi300x(energy=False, power={"current_socket_power": "N/A"})
    FakeAmdSmi([none]).install(monkeypatch)
    with pytest.raises(MeterUnavailable, match="no energy counter and no power field"):
        amdsmi_meters(StubGpu(0, None, rocm=True))


def test_amdsmi_unavailable_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    assert amdsmi_meters(StubGpu(0, None, rocm=False)) == []  # NVIDIA: NVML's job
    with pytest.raises(MeterUnavailable, match="amdsmi Python package is not installed"):
        amdsmi_meters(StubGpu(0, None, rocm=True))

    amd = FakeAmdSmi([mi300x()], init_error="AMDSMI_STATUS_INIT_ERROR")
    amd.install(monkeypatch)
    with pytest.raises(MeterUnavailable, match="AMDSMI_STATUS_INIT_ERROR"):
        amdsmi_meters(StubGpu(0, None, rocm=True))

    amd = FakeAmdSmi([mi300x(), mi250()])
    amd.install(monkeypatch)
    with pytest.raises(MeterUnavailable, match="cannot tell which"):
        amdsmi_meters(StubGpu(0, None, rocm=True))
    with pytest.raises(MeterUnavailable, match="no GPU at PCI bus id"):
        amdsmi_meters(StubGpu(0, "00000000:05:00.0", rocm=True))
    assert amd.inits == amd.shutdowns == 2  # given back after each failed open


def test_amdsmi_read_failure_and_refcount(monkeypatch: pytest.MonkeyPatch) -> None:
    amd = FakeAmdSmi([mi300x(), mi250()])
    amd.install(monkeypatch)
    a = open_amd(StubGpu(0, "00000000:C1:00.0", rocm=True))
    b = open_amd(StubGpu(1, "00000000:29:00.0", rocm=True))
    assert amd.inits == 1  # amdsmi is initialised once for the process
    amd.gpus[0].fail = "AMDSMI_STATUS_DRM_ERROR"
    with pytest.raises(MeterError, match="DRM_ERROR"):
        a.read_energy_j()
    with pytest.raises(MeterError, match="DRM_ERROR"):
        a.read_power_w()
    a.close()
    a.close()
    assert amd.shutdowns == 0  # b still open
    b.close()
    assert amd.shutdowns == 1


def test_parse_bdf() -> None:
    assert parse_bdf("0000:c1:00.0") == parse_bdf("00000000:C1:00.0") == (0, 0xC1, 0)
    assert parse_bdf("garbage") is None
