"""The device layer on a CPU-only machine: the real CPU, the fake device, and fakes of the
``torch.cuda`` and ``torch_npu`` interfaces standing in for hardware that is not here."""

from __future__ import annotations

import contextlib
import inspect
import itertools
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import accelbench.devices.cpu as cpu_mod
import accelbench.devices.npu as npu_mod
from accelbench.devices import (
    DEVICES,
    DTYPES,
    BaseDevice,
    Device,
    PeakSpec,
    Probe,
    default_device_spec,
    load_peaks_file,
    lookup_peak,
    make_device,
    probe_all,
)
from accelbench.devices.base import EventTimer, PerfCounterTimer
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.cuda import CudaDevice
from accelbench.devices.fake import FAKE_PEAK, FakeDevice
from accelbench.devices.mps import MpsDevice
from accelbench.devices.npu import NpuDevice
from accelbench.devices.specs import builtin_peaks
from accelbench.devices.xpu import XpuDevice
from accelbench.errors import ConfigError, DeviceError, Unsupported, UserError
from accelbench.timing.protocol import MeasureSettings, measure

GiB = 1 << 30


# --------------------------------------------------------------------------------------------
# Contract: every registered device class, so a new device is checked without editing this file
# --------------------------------------------------------------------------------------------

ALL_DEVICE_CLASSES = [pytest.param(cls, id=name) for name, cls in DEVICES]


def test_registry_has_every_platform() -> None:
    assert {"cpu", "cuda", "npu", "mps", "xpu", "fake"} <= set(DEVICES.names())


def _protocol_members() -> dict[str, str]:
    """Name -> 'data' | 'method' | 'property' for every member of the Device protocol."""
    out = dict.fromkeys(Device.__annotations__, "data")
    for name, value in vars(Device).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            out[name] = "property"
        elif callable(value):
            out[name] = "method"
    return out


def test_protocol_member_list_is_complete() -> None:
    members = _protocol_members()
    assert {"kind", "index", "torch_device", "synchronize", "new_timer", "is_oom"} <= set(members)
    assert isinstance(CpuDevice(), Device)
    assert isinstance(FakeDevice(), Device)


@pytest.mark.parametrize("cls", ALL_DEVICE_CLASSES)
def test_device_class_satisfies_protocol(cls: type[BaseDevice]) -> None:
    # Checked statically: on Python < 3.12 isinstance() would evaluate torch_device, and
    # torch.device("npu") only exists once the torch_npu plug-in has been imported.
    name = next(n for n, c in DEVICES if c is cls)
    assert issubclass(cls, BaseDevice)
    assert cls.kind == name
    dev = cls(index=0)
    for member, what in _protocol_members().items():
        inspect.getattr_static(dev, member)  # raises AttributeError when missing
        if what == "method":
            assert callable(getattr(dev, member)), member
        elif what == "property":
            assert isinstance(inspect.getattr_static(cls, member), property), member
    assert dev.kind == name and dev.index == 0
    assert dev.spec.startswith(name)
    assert cls.timer_kind in ("device-events", "perf_counter")


@pytest.mark.parametrize("cls", ALL_DEVICE_CLASSES)
def test_probe_never_raises_and_explains_absence(cls: type[BaseDevice]) -> None:
    p = cls.probe()
    assert isinstance(p, Probe)
    assert p.kind == cls.kind
    assert p.available or p.reason, "an absent device must say why"


@pytest.mark.parametrize("cls", ALL_DEVICE_CLASSES)
def test_generic_dtype_and_oom_contract(cls: type[BaseDevice]) -> None:
    dev = cls(index=0)
    ok, why = dev.dtype_support("int4")
    assert not ok and why and "int4" in why
    assert dev.dtype_support("float32") == (True, None)
    assert dev.is_oom(MemoryError())
    assert dev.is_oom(torch.OutOfMemoryError("allocation failed"))
    assert not dev.is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"))
    assert not dev.is_oom(ValueError("bad argument"))


def test_probe_all_covers_every_kind() -> None:
    assert sorted(p.kind for p in probe_all()) == DEVICES.names()


# --------------------------------------------------------------------------------------------
# Out-of-memory recognition per platform
# --------------------------------------------------------------------------------------------

OOM_CASES = [
    (CudaDevice, "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.10 GiB total)", True),
    (CudaDevice, "HIP out of memory. Tried to allocate 1.50 GiB", True),
    (CudaDevice, "CUDA error: an illegal memory access was encountered", False),
    (CudaDevice, "CUDA error: device-side assert triggered", False),
    (NpuDevice, "NPU out of memory. Tried to allocate 2.00 GiB (NPU 0; 60.97 GiB total)", True),
    (NpuDevice, "call aclnnMatmul failed, detail:EZ9999: Inner Error!", False),
    (CpuDevice, "DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 bytes", True),
    (CpuDevice, "DefaultCPUAllocator: not enough memory: you tried to allocate 8 bytes", True),
    (CpuDevice, "expected scalar type Float but found BFloat16", False),
    (XpuDevice, "UR_RESULT_ERROR_OUT_OF_DEVICE_MEMORY", True),
    (XpuDevice, "XPU out of memory. Tried to allocate 4.00 GiB", True),
    (MpsDevice, "MPS backend out of memory (MPS allocated: 17.00 GB, max allowed: 18.13 GB)", True),
    (FakeDevice, "Fake device out of memory: tried to allocate 8 bytes", True),
]


@pytest.mark.parametrize(
    ("cls", "message", "expected"),
    OOM_CASES,
    ids=[f"{c.kind}-{'oom' if e else 'other'}-{i}" for i, (c, _, e) in enumerate(OOM_CASES)],
)
def test_is_oom_by_message(cls: type[BaseDevice], message: str, expected: bool) -> None:
    assert cls(index=0).is_oom(RuntimeError(message)) is expected


def test_real_cpu_allocation_failure_is_recognised() -> None:
    # 1 PiB exceeds the 47-bit user address space, so this fails at once without touching RAM.
    with pytest.raises(RuntimeError) as ei:
        torch.empty(1 << 50, dtype=torch.uint8)
    assert CpuDevice().is_oom(ei.value)


# --------------------------------------------------------------------------------------------
# CPU
# --------------------------------------------------------------------------------------------


def _fake_cpu_details(flags: set[str]) -> dict[str, Any]:
    return {
        "model": "Testium(R) CPU 9000",
        "arch": "x86_64",
        "flags": sorted(flags),
        "cores_physical": 2,
        "cores_logical": 4,
    }


@pytest.fixture
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_cpu_info_records_threads_and_identity(
    monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    monkeypatch.setattr(cpu_mod, "cpu_details", lambda: _fake_cpu_details({"avx2"}))
    info = CpuDevice().info()
    assert info.threads == 1
    assert info.kind == "cpu" and info.spec == "cpu"
    assert info.name == "Testium(R) CPU 9000"
    assert info.timer == "perf_counter"
    assert info.memory_total_bytes and info.memory_total_bytes > 0
    assert info.driver_version is None and info.driver_unavailable_reason
    assert info.runtime["torch"] == torch.__version__
    assert info.extra["cores_logical"] == 4 and info.extra["arch"] == "x86_64"
    # CPUs are measured, not tabulated: no datasheet entry, and it says so.
    assert info.peak is None and info.peak_unavailable_reason
    assert "Testium" in info.peak_unavailable_reason
    assert CpuDevice().peak_memory_bytes() is None
    assert isinstance(CpuDevice().new_timer(), PerfCounterTimer)


@pytest.mark.parametrize(
    ("flags", "fp16", "bf16"),
    [
        (set(), False, False),
        ({"avx2", "fma"}, False, False),
        ({"avx512f", "avx512_bf16"}, False, True),
        ({"amx_bf16", "amx_fp16", "avx512_fp16"}, True, True),
        ({"asimd", "asimdhp", "bf16"}, True, True),  # Arm Neoverse N2 style
        ({"fphp"}, True, False),
        ({"svebf16"}, False, True),
    ],
)
def test_cpu_reduced_precision_needs_native_isa(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], fp16: bool, bf16: bool
) -> None:
    monkeypatch.setattr(cpu_mod, "cpu_details", lambda: _fake_cpu_details(flags))
    dev = CpuDevice()
    for dtype, want in (("float16", fp16), ("bfloat16", bf16)):
        ok, why = dev.dtype_support(dtype)
        assert ok is want
        if want:
            assert why is None
        else:
            assert why and dtype in why and "fallback" in why
    assert dev.dtype_support("float32") == (True, None)
    assert dev.dtype_support("float64") == (True, None)
    assert dev.dtype_support("tfloat32")[0] is False
    info = dev.info()
    assert ("bfloat16" in info.supported_dtypes) is bf16
    assert ("bfloat16" in info.unsupported_dtypes) is (not bf16)
    assert set(info.supported_dtypes) | set(info.unsupported_dtypes) == set(DTYPES)
    assert info.autocast_dtypes == [d for d, w in (("float16", fp16), ("bfloat16", bf16)) if w]


def test_precision_sets_matmul_mode_and_restores_it() -> None:
    dev = CpuDevice()
    before = torch.get_float32_matmul_precision()
    with dev.precision("tfloat32"):
        assert torch.get_float32_matmul_precision() == "high"
    with dev.precision("float32"):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == before


# --------------------------------------------------------------------------------------------
# Fake device
# --------------------------------------------------------------------------------------------


def test_fake_oom_inside_case_scope_is_recognised_and_cleaned_up() -> None:
    dev = FakeDevice(memory_bytes=1 << 20)
    with pytest.raises(RuntimeError) as ei, dev.case_scope():
        keep = torch.empty(200_000)  # 800 kB fits
        torch.empty(200_000)  # another 800 kB does not
    assert dev.is_oom(ei.value)
    assert "out of memory" in str(ei.value)
    del keep
    # The next case starts with a clean budget: no memory leaked from the failed one.
    with dev.case_scope():
        torch.empty(200_000)
    assert dev.peak_memory_bytes() == 800_000


def test_fake_non_oom_error_is_not_oom() -> None:
    dev = FakeDevice()
    with pytest.raises(RuntimeError) as ei, dev.case_scope():
        torch.ones(2, 3) @ torch.ones(4, 5)
    assert not dev.is_oom(ei.value)


def test_fake_tracks_peak_memory_per_case() -> None:
    dev = FakeDevice(memory_bytes=1 << 20)
    with dev.case_scope():
        a = torch.empty(1000)  # 4000 B
        b = torch.empty(1000)  # 8000 B live
        del a  # 4000 B live
        c = torch.empty(500)  # 6000 B live
        assert dev.peak_memory_bytes() == 8000
        dev.reset_peak_memory()
        assert dev.peak_memory_bytes() == 6000  # the peak restarts from what is live
        del b, c
    assert dev.peak_memory_bytes() == 6000  # still readable after the case ends
    with dev.case_scope():
        torch.empty(100)
    assert dev.peak_memory_bytes() == 400  # each case starts afresh


def test_fake_frees_memory_so_repeated_allocations_fit() -> None:
    dev = FakeDevice(memory_bytes=1 << 20)
    with dev.case_scope():
        for _ in range(10):
            x = torch.empty(150_000)  # 600 kB; two alive at once would not fit
            del x
    assert dev.peak_memory_bytes() == 600_000


def test_fake_views_and_inplace_ops_on_existing_tensors_allocate_nothing() -> None:
    dev = FakeDevice(memory_bytes=1 << 20)
    x = torch.zeros(100_000)  # 400 kB made before the case (e.g. a cached input)
    y = torch.zeros(100_000)
    with dev.case_scope():
        x.add_(1)
        x.view(-1)
        x[:10].mul_(2)
        torch.add(x, 1, out=y)
        assert dev.peak_memory_bytes() == 0
        torch.add(x, 1)  # a genuinely new 400 kB result
        assert dev.peak_memory_bytes() == 400_000


def test_fake_unsupported_dtype_has_a_reason() -> None:
    dev = FakeDevice(dtypes=("float32",))
    ok, why = dev.dtype_support("bfloat16")
    assert not ok and why and "bfloat16" in why
    info = dev.info()
    assert info.supported_dtypes == ["float32"]
    assert "bfloat16" in info.unsupported_dtypes and "float16" in info.unsupported_dtypes
    assert info.autocast_dtypes == []


def test_fake_info_peak_and_override() -> None:
    info = FakeDevice().info()
    assert info.peak == FAKE_PEAK
    assert info.memory_total_bytes == 1 << 30
    assert info.driver_version == "fake-driver-1.0"
    mine = PeakSpec(name="Mine", match=["^Fake"], tflops={"float32": 1.0})
    assert FakeDevice(peaks_override=[mine]).info().peak == mine


def test_fake_is_only_made_on_request() -> None:
    assert FakeDevice.probe().available is False
    assert isinstance(make_device("fake"), FakeDevice)
    assert make_device("fake:2").index == 2


# --------------------------------------------------------------------------------------------
# Peak table
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("driver_name", "entry"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM"),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe"),
        ("NVIDIA H100 NVL", "NVIDIA H100 NVL"),
        ("NVIDIA H200", "NVIDIA H200 SXM"),
        ("NVIDIA H200 NVL", "NVIDIA H200 NVL"),
        ("Tesla V100-SXM2-32GB", "NVIDIA V100 SXM2"),
        ("Tesla V100-SXM2-16GB", "NVIDIA V100 SXM2"),
        ("Tesla V100-PCIE-16GB", "NVIDIA V100 PCIe"),
        ("Tesla V100S-PCIE-32GB", "NVIDIA V100S PCIe"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 40GB SXM"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB SXM"),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe"),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 40GB PCIe"),
        ("Ascend910B3", "Huawei Ascend 910B"),
        ("Ascend910B1", "Huawei Ascend 910B"),
        ("Ascend910A", "Huawei Ascend 910"),
        ("Ascend910ProB", "Huawei Ascend 910"),
        ("nvidia h100 pcie", "NVIDIA H100 PCIe"),  # case-insensitive
    ],
)
def test_lookup_peak_maps_driver_names(driver_name: str, entry: str) -> None:
    spec, why = lookup_peak(driver_name)
    assert why is None
    assert spec is not None and spec.name == entry


def test_every_table_entry_is_reachable_by_its_own_name() -> None:
    """Catches an entry shadowed by a broader pattern listed before it."""
    for spec in builtin_peaks():
        found, _ = lookup_peak(spec.name)
        assert found is spec, f"{spec.name!r} resolves to {found and found.name!r}"


def test_peak_values_and_units() -> None:
    h100, _ = lookup_peak("NVIDIA H100 80GB HBM3")
    assert h100 is not None
    assert h100.peak_flops("bfloat16") == pytest.approx(989.4e12)
    assert h100.memory_bandwidth_gbs == 3350
    v100, _ = lookup_peak("Tesla V100-SXM2-32GB")
    assert v100 is not None
    assert v100.peak_flops("float32") == pytest.approx(15.7e12)
    assert v100.peak_flops("bfloat16") is None  # Volta has no bfloat16 figure
    for spec in builtin_peaks():
        assert spec.tflops and all(v > 0 for v in spec.tflops.values()), spec.name
        assert spec.memory_bandwidth_gbs and spec.memory_bandwidth_gbs > 0


def test_user_override_wins_and_falls_back_to_table() -> None:
    mine = PeakSpec(name="My H100 at 500 W", match=["H100"], tflops={"float32": 60.0})
    spec, _ = lookup_peak("NVIDIA H100 80GB HBM3", [mine])
    assert spec == mine
    spec, _ = lookup_peak("NVIDIA A100-SXM4-80GB", [mine])
    assert spec is not None and spec.name == "NVIDIA A100 80GB SXM"


def test_no_match_gives_a_reason() -> None:
    spec, why = lookup_peak("Intel(R) Xeon(R) Platinum 8480+")
    assert spec is None
    assert why and "Intel(R) Xeon(R) Platinum 8480+" in why and "--peaks" in why


def test_load_peaks_file_good(tmp_path: Path) -> None:
    path = tmp_path / "peaks.yaml"
    path.write_text(
        "- name: Lab GPU\n  match: ['^Lab GPU']\n  tflops: {float32: 12.5}\n"
        "  memory_bandwidth_gbs: 500\n"
    )
    peaks = load_peaks_file(path)
    assert [p.name for p in peaks] == ["Lab GPU"]
    spec, _ = lookup_peak("Lab GPU v2", peaks)
    assert spec is not None and spec.peak_flops("float32") == pytest.approx(12.5e12)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("- name: X\n", "match"),
        ("- name: X\n  match: []\n", "match"),
        ("- name: X\n  match: ['x']\n  tflops: {float32: fast}\n", "tflops.float32"),
        ("- name: X\n  match: ['x']\n  tflops: {float32: -3}\n", "tflops"),
        ("- name: X\n  match: ['x']\n  memory_bandwidth_gbs: 0\n", "memory_bandwidth_gbs"),
        ("- name: X\n  match: ['x']\n  colour: red\n", "colour"),
        ("- name: X\n  match: ['H100(']\n", "match"),  # not a regular expression
        ("- name: ok\n  match: ['y']\n- name: X\n  match: 'x'\n", "[1].match"),
        ("name: X\n", "list"),
        ("- name: [X\n", "line"),
    ],
)
def test_load_peaks_file_bad(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad-peaks.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_peaks_file(path)
    msg = str(ei.value)
    assert str(path) in msg
    assert field in msg
    assert "\n" not in msg


def test_load_peaks_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_peaks_file(tmp_path / "absent.yaml")


# --------------------------------------------------------------------------------------------
# make_device
# --------------------------------------------------------------------------------------------


def test_make_device_cpu() -> None:
    dev = make_device("cpu")
    assert isinstance(dev, CpuDevice) and dev.spec == "cpu"
    assert isinstance(make_device("cpu:0"), CpuDevice)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("tpu", "unknown device 'tpu'"),
        ("cpu:abc", "integer"),
        ("cpu:1", "only 1 cpu"),
        ("cpu:-1", "0 or more"),
    ],
)
def test_make_device_user_errors(spec: str, needle: str) -> None:
    with pytest.raises(UserError) as ei:
        make_device(spec)
    msg = str(ei.value)
    assert needle in msg
    assert "\n" not in msg


def test_make_device_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"cpu.*cuda.*npu"):
        make_device("gpu")


def test_make_device_absent_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError) as ei:
        make_device("cuda")
    assert "not available" in str(ei.value) and "is_available() is False" in str(ei.value)
    monkeypatch.setitem(sys.modules, "torch_npu", None)  # not installed
    with pytest.raises(DeviceError, match="torch_npu is not installed"):
        make_device("npu:0")


# --------------------------------------------------------------------------------------------
# CUDA through a fake of the torch.cuda interface
# --------------------------------------------------------------------------------------------


class FakeCuda:
    """State behind a fake ``torch.cuda``: a list of GPUs, a device clock, and call records."""

    def __init__(self, gpus: list[tuple[str, tuple[int, int], int, int]]) -> None:
        self.gpus = gpus  # (name, capability, total memory, multiprocessors)
        self.available = True
        self.hip: str | None = None
        self.clock_s = 0.0
        self.synced: list[int] = []
        self.peak = dict.fromkeys(range(len(gpus)), 0)
        self.resets: list[int] = []
        self.emptied = 0
        self.capturing = False
        self.replays = 0
        self.current = 0  # torch.cuda.current_device()
        self.recorded_on: list[int] = []  # the device of the stream each event was recorded on

    def run(self, seconds: float) -> None:
        """Queue work that takes ``seconds`` of device time."""
        self.clock_s += seconds

    def install(self, mp: pytest.MonkeyPatch) -> None:
        state = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing, "timing events must be created with enable_timing=True"
                self.t: float | None = None

            def record(self, stream: Any = None) -> None:
                self.t = state.clock_s
                state.recorded_on.append(state.current if stream is None else stream.device)

            def elapsed_time(self, end: Event) -> float:
                assert self.t is not None and end.t is not None
                return (end.t - self.t) * 1e3  # milliseconds, like CUDA

        class Stream:
            def __init__(self, device: int | None = None) -> None:
                self.device = state.current if device is None else device

            def wait_stream(self, other: Any) -> None:
                pass

        @contextlib.contextmanager
        def device(i: int) -> Iterator[None]:
            previous, state.current = state.current, i
            try:
                yield
            finally:
                state.current = previous

        class CUDAGraph:
            def replay(self) -> None:
                state.replays += 1

        @contextlib.contextmanager
        def graph(g: Any) -> Iterator[None]:
            state.capturing = True
            try:
                yield
            finally:
                state.capturing = False

        def props(i: int) -> Any:
            name, (major, minor), mem, sms = state.gpus[i]
            return types.SimpleNamespace(
                name=name, major=major, minor=minor, total_memory=mem, multi_processor_count=sms
            )

        def is_bf16_supported(including_emulation: bool = True) -> bool:
            # What torch does: True on ROCm; on CUDA, asks the *current* device (0) and says
            # True on pre-Ampere GPUs too unless emulation is excluded.
            if state.hip:
                return True
            return state.gpus[0][1][0] >= 8 or including_emulation

        def max_memory_allocated(i: int) -> int:
            return state.peak[i]

        def reset_peak_memory_stats(i: int) -> None:
            state.resets.append(i)
            state.peak[i] = 0

        def empty_cache() -> None:
            state.emptied += 1

        fakes = {
            "is_available": lambda: state.available,
            "device_count": lambda: len(state.gpus),
            "get_device_name": lambda i=0: state.gpus[i][0],
            "get_device_properties": props,
            "get_device_capability": lambda i=0: state.gpus[i][1],
            "is_bf16_supported": is_bf16_supported,
            "synchronize": lambda i=None: state.synced.append(i),
            "Event": Event,
            "max_memory_allocated": max_memory_allocated,
            "reset_peak_memory_stats": reset_peak_memory_stats,
            "empty_cache": empty_cache,
            "Stream": Stream,
            "current_stream": lambda i=None: Stream(i),
            "device": device,
            "stream": lambda s: contextlib.nullcontext(),
            "CUDAGraph": CUDAGraph,
            "graph": graph,
        }
        for attr, value in fakes.items():
            mp.setattr(torch.cuda, attr, value)
        mp.setattr(torch.version, "cuda", "12.4")
        mp.setattr(torch.version, "hip", self.hip)


H100 = ("NVIDIA H100 80GB HBM3", (9, 0), 80 * GiB, 132)
V100 = ("Tesla V100-SXM2-32GB", (7, 0), 32 * GiB, 80)
MI300X = ("AMD Instinct MI300X", (9, 4), 192 * GiB, 304)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> FakeCuda:
    """Two different GPUs in one box (an H100 at index 0, a V100 at index 1), NVML driver 550."""
    state = FakeCuda([H100, V100])
    state.install(monkeypatch)
    nvml = types.ModuleType("pynvml")
    nvml.nvmlInit = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlSystemGetDriverVersion = lambda: b"550.54.15"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    return state


def test_cuda_probe_and_make_device(fake_cuda: FakeCuda) -> None:
    p = CudaDevice.probe()
    assert p.available and p.count == 2 and p.reason is None
    dev = make_device("cuda:1")
    assert isinstance(dev, CudaDevice) and dev.index == 1 and dev.spec == "cuda:1"
    assert dev.torch_device == torch.device("cuda", 1)
    with pytest.raises(DeviceError, match="only 2 cuda"):
        make_device("cuda:2")
    assert default_device_spec() == "cuda"


def test_cuda_probe_survives_a_broken_driver(
    fake_cuda: FakeCuda, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> bool:
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "is_available", broken)
    p = CudaDevice.probe()
    assert not p.available
    assert p.reason and "driver initialization failed" in p.reason


def test_cuda_info_h100(fake_cuda: FakeCuda) -> None:
    info = CudaDevice(index=0).info()
    assert info.name == "NVIDIA H100 80GB HBM3"
    assert info.vendor == "NVIDIA"
    assert info.spec == "cuda:0"
    assert info.memory_total_bytes == 80 * GiB
    assert info.compute_capability == "9.0"
    assert info.timer == "device-events"
    assert info.driver_version == "550.54.15"
    assert info.runtime["cuda"] == "12.4" and "hip" not in info.runtime
    assert info.extra["multiprocessors"] == 132
    assert {"float32", "tfloat32", "float16", "bfloat16", "float64"} <= set(info.supported_dtypes)
    assert info.autocast_dtypes == ["float16", "bfloat16"]
    assert info.peak is not None and info.peak.name == "NVIDIA H100 SXM"
    assert info.peak_unavailable_reason is None


def test_cuda_info_v100_in_the_same_box(fake_cuda: FakeCuda) -> None:
    info = CudaDevice(index=1).info()
    assert info.name == "Tesla V100-SXM2-32GB"
    assert info.memory_total_bytes == 32 * GiB
    assert info.compute_capability == "7.0"
    assert info.peak is not None and info.peak.name == "NVIDIA V100 SXM2"
    assert "8.0" in info.unsupported_dtypes["tfloat32"]
    # torch.cuda.is_bf16_supported() says True here (emulation, and it asks about GPU 0), but a
    # V100 has no bfloat16 math: timing it would measure an emulation.
    assert "bfloat16" in info.unsupported_dtypes
    assert "7.0" in info.unsupported_dtypes["bfloat16"]
    assert info.autocast_dtypes == ["float16"]


@pytest.mark.parametrize(
    ("capability", "tf32"), [((6, 1), False), ((7, 0), False), ((7, 5), False), ((8, 0), True),
                             ((8, 6), True), ((9, 0), True), ((10, 0), True)]
)  # fmt: skip
def test_cuda_tf32_only_from_capability_8(
    monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int], tf32: bool
) -> None:
    FakeCuda([("Some GPU", capability, 16 * GiB, 40)]).install(monkeypatch)
    ok, why = CudaDevice(index=0).dtype_support("tfloat32")
    assert ok is tf32
    assert (why is None) is tf32
    ok, _ = CudaDevice(index=0).dtype_support("bfloat16")
    assert ok is (capability[0] >= 8)


def test_cuda_driver_reason_when_nvml_fails(
    fake_cuda: FakeCuda, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    monkeypatch.setattr(sys.modules["pynvml"], "nvmlInit", fail)
    info = CudaDevice(index=0).info()
    assert info.driver_version is None
    assert info.driver_unavailable_reason and "NVML" in info.driver_unavailable_reason


def test_cuda_rocm_build(monkeypatch: pytest.MonkeyPatch) -> None:
    state = FakeCuda([MI300X])
    state.hip = "6.2.41133"
    state.install(monkeypatch)
    dev = CudaDevice(index=0)
    assert dev.is_rocm
    info = dev.info()
    assert info.vendor == "AMD"
    assert info.runtime["hip"] == "6.2.41133" and "cuda" not in info.runtime
    assert "ROCm" in info.unsupported_dtypes["tfloat32"]
    assert "bfloat16" in info.supported_dtypes
    assert info.peak is None and info.peak_unavailable_reason
    assert "MI300X" in info.peak_unavailable_reason
    assert info.driver_version or info.driver_unavailable_reason


def test_cuda_sync_events_and_memory(fake_cuda: FakeCuda) -> None:
    dev = CudaDevice(index=1)
    dev.synchronize()
    assert fake_cuda.synced == [1]  # the device's own index, not the current device

    timer = dev.new_timer()
    assert isinstance(timer, EventTimer)
    timer.start()
    fake_cuda.run(0.25)
    timer.stop()
    assert timer.seconds() == pytest.approx(0.25)  # events report ms; the timer gives seconds

    fake_cuda.peak[1] = 123_456
    assert dev.peak_memory_bytes() == 123_456
    dev.reset_peak_memory()
    assert fake_cuda.resets == [1] and dev.peak_memory_bytes() == 0
    dev.empty_cache()
    assert fake_cuda.emptied == 1
    # Recorded on cuda:1's stream although cuda:0 is the current device: a bare record()
    # would have timed an idle GPU 0.
    assert fake_cuda.current == 0 and fake_cuda.recorded_on == [1, 1]
    with dev.case_scope():
        assert fake_cuda.current == 1  # the workload's default device inside a case
    assert fake_cuda.current == 0


def test_cuda_measure_uses_device_events(fake_cuda: FakeCuda) -> None:
    dev = CudaDevice(index=0)
    durations = itertools.cycle([1e-3, 2e-3])
    m = measure(
        lambda: fake_cuda.run(next(durations)), dev, MeasureSettings(warmup=1, iterations=4)
    )
    # The warm-up consumed the first 1 ms; timed: 2, 1, 2, 1 ms of device time.
    assert m.samples_s == pytest.approx([2e-3, 1e-3, 2e-3, 1e-3])
    assert m.timer == "device-events"
    assert len(fake_cuda.synced) >= 2 and set(fake_cuda.synced) == {0}


def test_cuda_case_scope_resets_and_empties(fake_cuda: FakeCuda) -> None:
    dev = CudaDevice(index=0)
    with pytest.raises(RuntimeError) as ei, dev.case_scope():
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
    assert dev.is_oom(ei.value)
    assert fake_cuda.resets == [0]
    assert fake_cuda.emptied == 2  # before the case and after it, even though it failed
    assert fake_cuda.synced == [0]


def test_cuda_graph_capture(fake_cuda: FakeCuda) -> None:
    calls: list[bool] = []
    replay = CudaDevice(index=0).graph_callable(lambda: calls.append(fake_cuda.capturing))
    assert calls == [False, False, False, True]  # three warm-ups on a side stream, one capture
    replay()
    replay()
    assert fake_cuda.replays == 2 and len(calls) == 4

    m = measure(lambda: None, CudaDevice(index=0), MeasureSettings(cuda_graph=True, warmup=2,
                                                                    iterations=3))  # fmt: skip
    assert m.graph is True and fake_cuda.replays == 2 + 5


def test_cuda_precision_toggles_tf32_and_restores(fake_cuda: FakeCuda) -> None:
    dev = CudaDevice(index=0)
    cudnn_before = torch.backends.cudnn.allow_tf32
    matmul_before = torch.get_float32_matmul_precision()
    with dev.precision("tfloat32"):
        assert torch.backends.cudnn.allow_tf32 is True
        assert torch.get_float32_matmul_precision() == "high"
    with dev.precision("float32"):
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.backends.cudnn.allow_tf32 == cudnn_before
    assert torch.get_float32_matmul_precision() == matmul_before


# --------------------------------------------------------------------------------------------
# Ascend NPU through a fake torch_npu plug-in and torch.npu
# --------------------------------------------------------------------------------------------


class FakeNpu:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.synced: list[int] = []
        self.peak = dict.fromkeys(range(len(names)), 0)
        self.resets: list[int] = []
        self.clock_s = 0.0

    def module(self) -> types.SimpleNamespace:
        state = self

        class Event:
            def __init__(self, enable_timing: bool = False) -> None:
                assert enable_timing
                self.t = 0.0

            def record(self, stream: Any = None) -> None:
                self.t = state.clock_s

            def elapsed_time(self, end: Event) -> float:
                return (end.t - self.t) * 1e3

        return types.SimpleNamespace(
            is_available=lambda: True,
            device_count=lambda: len(state.names),
            get_device_name=lambda i=0: state.names[i],
            get_device_properties=lambda i=0: types.SimpleNamespace(total_memory=64 * GiB),
            synchronize=lambda i=None: state.synced.append(i),
            Event=Event,
            max_memory_allocated=lambda i=0: state.peak[i],
            reset_peak_memory_stats=lambda i=0: (state.resets.append(i), state.peak.update({i: 0})),
            empty_cache=lambda: None,
        )


@pytest.fixture
def fake_npu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeNpu:
    """torch_npu 2.1.0 with an Ascend 910B3 at index 0 and a 910A at index 1; no CANN or driver
    files anywhere unless a test writes them under tmp_path."""
    state = FakeNpu(["Ascend910B3", "Ascend910A"])
    plugin = types.ModuleType("torch_npu")
    plugin.__version__ = "2.1.0.post8"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_npu", plugin)
    monkeypatch.setattr(torch, "npu", state.module(), raising=False)
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME", raising=False)
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    monkeypatch.setattr(npu_mod, "_DEFAULT_TOOLKIT_ROOTS", [tmp_path / "no-default-toolkit"])
    monkeypatch.setattr(npu_mod, "_DRIVER_VERSION_FILE", tmp_path / "no-driver" / "version.info")
    return state


def test_npu_probe_and_make_device(fake_npu: FakeNpu) -> None:
    p = NpuDevice.probe()
    assert p.available and p.count == 2
    assert make_device("npu:1").index == 1
    with pytest.raises(DeviceError, match="only 2 npu"):
        make_device("npu:2")


def test_npu_probe_when_plugin_fails_to_import(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str) -> Any:
        raise OSError("libascendcl.so: cannot open shared object file")

    monkeypatch.setattr(npu_mod, "importlib", types.SimpleNamespace(import_module=broken))
    p = NpuDevice.probe()
    assert not p.available
    assert p.reason and "failed to import" in p.reason and "libascendcl" in p.reason


def test_npu_info_910b(fake_npu: FakeNpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "ascend-toolkit" / "latest"
    home.mkdir(parents=True)
    (home / "version.cfg").write_text(
        "runtime_running_version=[7.3.0.1.231:8.0.RC2]\n"
        "compiler_running_version=[7.3.0.1.231:8.0.RC2]\n"
        "toolkit_running_version=[7.3.0.1.231:8.0.RC2]\n"
        "toolkit_upgrade_version=[7.3.0.1.231:8.0.RC2]\n"
    )
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(home))
    driver = tmp_path / "driver" / "version.info"
    driver.parent.mkdir()
    driver.write_text("Version=24.1.rc2\nascendhal_version=7.35.23\naicpu_version=1.0\n")
    monkeypatch.setattr(npu_mod, "_DRIVER_VERSION_FILE", driver)

    info = NpuDevice(index=0).info()
    assert info.name == "Ascend910B3"
    assert info.vendor == "Huawei"
    assert info.spec == "npu:0"
    assert info.memory_total_bytes == 64 * GiB
    assert info.runtime["torch_npu"] == "2.1.0.post8"
    assert info.runtime["cann"] == "8.0.RC2"
    assert info.driver_version == "24.1.rc2"
    assert info.timer == "device-events"
    assert info.compute_capability is None
    assert "bfloat16" in info.supported_dtypes and "float16" in info.supported_dtypes
    assert "tfloat32" in info.unsupported_dtypes
    assert info.peak is not None and info.peak.name == "Huawei Ascend 910B"


def test_npu_info_910a_has_no_bfloat16(fake_npu: FakeNpu) -> None:
    info = NpuDevice(index=1).info()
    assert info.name == "Ascend910A"
    assert "bfloat16" in info.unsupported_dtypes
    assert "910B" in info.unsupported_dtypes["bfloat16"]
    assert info.autocast_dtypes == ["float16"]
    assert info.peak is not None and info.peak.name == "Huawei Ascend 910"
    # No CANN or driver files here: says so instead of inventing a version.
    assert info.runtime["cann"].startswith("unavailable")
    assert info.driver_version is None
    assert info.driver_unavailable_reason and "version.info" in info.driver_unavailable_reason


@pytest.mark.parametrize(
    ("relpath", "text", "expected"),
    [
        ("version.cfg", "# version: 1.0\ntoolkit_running_version=[8.1.0.2.220:8.1.RC1]\n",
         "8.1.RC1"),
        ("version.cfg", "version=7.0.0\n", "7.0.0"),
        ("aarch64-linux/ascend_toolkit_install.info",
         "package_name=Ascend-cann-toolkit\nversion=8.0.0\ninnerversion=V100R001C20SPC001B230\n"
         "arch=aarch64\n", "8.0.0"),
        ("x86_64-linux/ascend_toolkit_install.info", 'version="7.0.RC1"\narch=x86_64\n',
         "7.0.RC1"),
    ],
)  # fmt: skip
def test_npu_cann_version_file_formats(
    fake_npu: FakeNpu,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    relpath: str,
    text: str,
    expected: str,
) -> None:
    home = tmp_path / "toolkit"
    (home / relpath).parent.mkdir(parents=True, exist_ok=True)
    (home / relpath).write_text(text)
    monkeypatch.setenv("ASCEND_HOME_PATH", str(home))  # the other variable set_env.sh exports
    assert NpuDevice(index=0).runtime_versions()["cann"] == expected


def test_npu_toolkit_home_wins_over_default_location(
    fake_npu: FakeNpu, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default, chosen = tmp_path / "default", tmp_path / "chosen"
    for root, version in ((default, "7.0.0"), (chosen, "8.0.RC3")):
        root.mkdir()
        (root / "version.cfg").write_text(f"toolkit_running_version=[1.2.3:{version}]\n")
    monkeypatch.setattr(npu_mod, "_DEFAULT_TOOLKIT_ROOTS", [default])
    assert NpuDevice().runtime_versions()["cann"] == "7.0.0"
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(chosen))
    assert NpuDevice().runtime_versions()["cann"] == "8.0.RC3"


def test_npu_sync_timer_and_memory(fake_npu: FakeNpu) -> None:
    dev = NpuDevice(index=1)
    durations = itertools.cycle([3e-3])

    def work() -> None:
        fake_npu.clock_s += next(durations)

    m = measure(work, dev, MeasureSettings(warmup=0, iterations=3))
    assert m.samples_s == pytest.approx([3e-3] * 3)
    assert set(fake_npu.synced) == {1}
    fake_npu.peak[1] = 4096
    assert dev.peak_memory_bytes() == 4096
    dev.reset_peak_memory()
    assert fake_npu.resets == [1] and dev.peak_memory_bytes() == 0


def test_default_device_is_cpu_without_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, cls in DEVICES:
        if name != "cpu":
            absent = Probe(kind=name, available=False, reason="absent in this test")
            monkeypatch.setattr(cls, "probe", classmethod(lambda c, p=absent: p))
    assert default_device_spec() == "cpu"


def test_autocast_region_runs_in_the_reduced_precision() -> None:
    from accelbench.devices.fake import FakeDevice

    dev = FakeDevice(dtypes=["float32", "bfloat16"])
    a = torch.randn(8, 8)
    with dev.autocast("bfloat16"):
        assert (a @ a).dtype == torch.bfloat16
    with pytest.raises(Unsupported, match="float16"):
        dev.autocast("float16")


def test_grace_hopper_is_not_mistaken_for_an_h200() -> None:
    spec, reason = lookup_peak("NVIDIA GH200 480GB")
    assert spec is None and reason and "GH200" in reason
