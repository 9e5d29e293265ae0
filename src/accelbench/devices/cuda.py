"""NVIDIA GPUs, and AMD GPUs through the ROCm build of torch (which keeps the ``torch.cuda``
API)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from accelbench.devices.base import (
    DEVICES,
    TRITON_MISSING,
    TorchAcceleratorDevice,
    installed_version,
)
from accelbench.names import LOW_PRECISIONS
from accelbench.results.schema import DeviceActivity


def _nvml_driver() -> tuple[str | None, str | None]:
    try:
        import pynvml  # from nvidia-ml-py

        pynvml.nvmlInit()
        try:
            v = pynvml.nvmlSystemGetDriverVersion()
            return (v.decode() if isinstance(v, bytes) else str(v)), None
        finally:
            pynvml.nvmlShutdown()
    except ImportError:
        pass
    except Exception as exc:
        return None, f"NVML failed: {exc}"
    proc = Path("/proc/driver/nvidia/version")
    if proc.exists():
        for word in proc.read_text().split():
            if word[:1].isdigit() and word.count(".") >= 1:
                return word, None
    return None, "nvidia-ml-py is not installed and /proc/driver/nvidia/version is absent"


# Clock event (throttle) reasons, the bits of nvmlClocksEventReasons in nvml.h (CUDA 12
# headers; the same bits as the older nvmlClocksThrottleReason* names).
THROTTLE_REASONS = {
    0x1: "gpu idle",
    0x2: "applications clocks setting",
    0x4: "software power cap",
    0x8: "hardware slowdown",
    0x10: "sync boost",
    0x20: "software thermal slowdown",
    0x40: "hardware thermal slowdown",
    0x80: "hardware power brake slowdown",
    0x100: "display clock setting",
}
# The reasons that make a measurement slower than the chip is: heat, an external slowdown
# signal, the power brake. A power cap under full load is the chip's normal behaviour, and
# idle/application settings say nothing about speed under load.
SLOWDOWN_BITS = 0x8 | 0x20 | 0x40 | 0x80
NVML_CLOCK_SM = 1  # nvmlClockType_t NVML_CLOCK_SM


def _other_processes(nv: Any, handle: Any, own_pid: int) -> list[str] | None:
    """Other processes with a context on the GPU, 'pid N (M MiB)'; None when the driver cannot
    list compute processes."""
    try:
        procs = list(nv.nvmlDeviceGetComputeRunningProcesses(handle))
    except Exception:
        return None
    with contextlib.suppress(Exception):  # graphics processes: not on every driver
        procs += list(nv.nvmlDeviceGetGraphicsRunningProcesses(handle))
    unique = list({int(p.pid): p for p in procs}.values())
    if any(int(p.pid) == own_pid for p in unique):
        rest = [p for p in unique if int(p.pid) != own_pid]
    else:
        # In a container with its own pid namespace the driver reports host pids, so this
        # process is listed under another number: count it as one of them.
        rest = unique[1:]
    out = []
    for p in rest:
        mem = getattr(p, "usedGpuMemory", None)
        out.append(f"pid {p.pid}" + (f" ({int(mem) // 2**20} MiB)" if mem else ""))
    return out


def nvml_activity(nv: Any, handle: Any, own_pid: int) -> DeviceActivity:
    """The device's report through NVML: other processes, utilisation, SM clock and throttle
    reasons. Each reading that the driver does not support is left out, not guessed."""
    others = _other_processes(nv, handle, own_pid)
    util = sm = sm_max = None
    reasons: list[str] = []
    slowdown: list[str] = []
    with contextlib.suppress(Exception):
        util = float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)
    try:
        sm = float(nv.nvmlDeviceGetClockInfo(handle, NVML_CLOCK_SM))
        sm_max = float(nv.nvmlDeviceGetMaxClockInfo(handle, NVML_CLOCK_SM))
    except Exception:
        pass
    for getter in (
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
    ):
        fn = getattr(nv, getter, None)
        if fn is None:
            continue
        try:
            mask = int(fn(handle))
        except Exception:
            continue
        reasons = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
        slowdown = [name for bit, name in THROTTLE_REASONS.items() if mask & bit & SLOWDOWN_BITS]
        break
    return DeviceActivity(
        other_processes=others,
        utilisation_pct=util,
        sm_clock_mhz=sm,
        max_sm_clock_mhz=sm_max,
        throttle_reasons=reasons,
        slowdown=slowdown,
    )


@DEVICES.register("cuda")
class CudaDevice(TorchAcceleratorDevice):
    kind = "cuda"
    module_name = "cuda"
    spec_help = "cuda[:N]"
    default_rank = 0
    packages = ("nvidia-ml-py", "pytorch-triton-rocm")
    platform_modules = ("torch.cuda",)
    oom_markers = ("cuda out of memory", "hip out of memory", "out of memory")
    visible_devices_env = "CUDA_VISIBLE_DEVICES"

    def dist_backend(self) -> str:
        # ROCm builds of torch answer "nccl" with RCCL, AMD's implementation of the same API.
        return "nccl"

    @property
    def is_rocm(self) -> bool:
        return getattr(torch.version, "hip", None) is not None

    @property
    def vendor(self) -> str:  # type: ignore[override]
        return "AMD" if self.is_rocm else "NVIDIA"

    def runtime_versions(self) -> dict[str, str]:
        v = {"torch": torch.__version__}
        if self.is_rocm:
            v["hip"] = str(torch.version.hip)
        else:
            v["cuda"] = str(torch.version.cuda)
        if torch.backends.cudnn.is_available():
            v["cudnn"] = str(torch.backends.cudnn.version())
        return v

    def driver_version(self) -> tuple[str | None, str | None]:
        if self.is_rocm:
            p = Path("/sys/module/amdgpu/version")
            if p.exists():
                return p.read_text().strip(), None
            return None, "/sys/module/amdgpu/version is absent"
        return _nvml_driver()

    def compute_capability(self) -> str | None:
        major, minor = torch.cuda.get_device_capability(self.index)
        return f"{major}.{minor}"

    def pci_bus_id(self) -> str | None:
        """``"DDDDDDDD:BB:DD.0"`` from torch's device properties (the form NVML's
        ``nvmlDeviceGetHandleByPciBusId`` takes); None where this torch does not report it."""
        try:
            p = torch.cuda.get_device_properties(self.index)
            domain, bus, dev = (int(p.pci_domain_id), int(p.pci_bus_id), int(p.pci_device_id))
        except Exception:  # an older torch without the fields, or a driver error
            return None
        return f"{domain:08X}:{bus:02X}:{dev:02X}.0"

    def extra_info(self) -> dict[str, Any]:
        p = torch.cuda.get_device_properties(self.index)
        return {"multiprocessors": p.multi_processor_count}

    def _rocm_arch(self) -> str:
        return str(getattr(torch.cuda.get_device_properties(self.index), "gcnArchName", ""))

    def _low_precision_support(self, dtype: str) -> tuple[bool, str | None]:
        major, minor = torch.cuda.get_device_capability(self.index)
        if dtype == "int8":
            if self.is_rocm or (major, minor) >= (7, 5):
                return True, None
            return False, (
                f"int8 GEMM runs on INT8 tensor cores (compute capability 7.5+, Turing on); this "
                f"GPU is {major}.{minor}"
            )
        if self.is_rocm:
            arch = self._rocm_arch()
            # The OCP formats (e4m3fn, e5m2) have matrix cores from gfx950 (MI350) and gfx12
            # (RDNA4); gfx94x (MI300) multiplies the 'fnuz' variants, a different format.
            if arch.startswith(("gfx95", "gfx12")):
                return True, None
            return False, (
                f"{arch or 'this GPU'} has no matrix cores for the OCP FP8 formats "
                "(gfx94x/MI300 multiplies float8_*fnuz, which accelbench does not measure)"
            )
        if (major, minor) >= (8, 9):
            return True, None
        return False, (
            f"FP8 tensor cores need compute capability 8.9+ (Ada, Hopper and newer); this GPU is "
            f"{major}.{minor}"
        )

    def matmul_shape_rule(self, dtype: str, m: int, n: int, k: int) -> str | None:
        """torch's own checks, so a shape that breaks them is unsupported with the rule:
        ``_int_mm`` on CUDA (aten/src/ATen/native/cuda/Blas.cpp, _int_mm_out_cuda) needs
        m > 16 and k, n multiples of 8; ``_scaled_mm`` needs k and n multiples of 16 (cuBLASLt
        FP8 alignment)."""
        if dtype == "int8" and not (m > 16 and k % 8 == 0 and n % 8 == 0):
            return f"torch._int_mm on CUDA needs m > 16 and k, n multiples of 8 (got {m}x{n}x{k})"
        if dtype.startswith("float8") and not (k % 16 == 0 and n % 16 == 0):
            return f"torch._scaled_mm needs k and n multiples of 16 (got {m}x{n}x{k})"
        return None

    def last_level_cache(self) -> tuple[int | None, str]:
        try:
            l2 = int(torch.cuda.get_device_properties(self.index).L2_cache_size)
        except Exception as exc:  # an older torch without the field, or a driver error
            return None, f"the device properties give no L2 size: {exc}"
        if self.is_rocm:
            # torch reports L2 only; MI300-class GPUs put a 256 MB Infinity Cache (AMD CDNA 3
            # white paper) behind it, which a flush must also evict.
            return max(l2, 256 << 20), (
                f"L2 of {l2} B from the device properties, raised to 256 MiB for an Infinity Cache"
            )
        return l2, "L2 from the device properties"

    def triton_backend(self) -> tuple[str | None, str | None]:
        name = "pytorch-triton-rocm" if self.is_rocm else "triton"
        if installed_version(name, "triton") is None:
            return None, TRITON_MISSING
        return "compiled", None

    _nvml: tuple[Any, Any] | None = None

    def activity(self) -> DeviceActivity | None:
        """Other processes, clocks and throttle reasons from NVML (NVIDIA only; the GPU is
        found by its PCI bus id, as the power meter finds it)."""
        if self.is_rocm:
            return DeviceActivity(unavailable="not read on ROCm (no NVML)")
        if self._nvml is None:
            try:
                import pynvml  # from nvidia-ml-py
            except ImportError:
                return DeviceActivity(
                    unavailable="nvidia-ml-py is not installed: pip install 'accelbench[nvidia]'"
                )
            bus = self.pci_bus_id()
            if bus is None:
                return DeviceActivity(unavailable="torch reports no PCI bus id for this GPU")
            try:
                pynvml.nvmlInit()  # reference-counted by NVML; held for the process
                handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus)
            except Exception as exc:
                return DeviceActivity(unavailable=f"NVML: {str(exc).strip() or type(exc).__name__}")
            self._nvml = (pynvml, handle)
        nv, handle = self._nvml
        return nvml_activity(nv, handle, os.getpid())

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        if dtype in LOW_PRECISIONS:
            return self._low_precision_support(dtype)
        if dtype == "tfloat32":
            if self.is_rocm:
                return False, "TF32 is an NVIDIA tensor-core mode; not exposed by this ROCm build"
            major, _ = torch.cuda.get_device_capability(self.index)
            if major < 8:
                return False, f"TF32 needs compute capability 8.0+, this GPU is {major}.x"
            return True, None
        if dtype == "bfloat16":
            if self.is_rocm:
                if not torch.cuda.is_bf16_supported():
                    return False, "torch.cuda.is_bf16_supported() is False for this GPU"
            else:
                # torch.cuda.is_bf16_supported() says True on pre-Ampere GPUs (bfloat16 is
                # emulated there, and asks about the current device, not this one): ask the
                # capability of this device instead, as for TF32.
                major, minor = torch.cuda.get_device_capability(self.index)
                if major < 8:
                    return False, (
                        f"bfloat16 math needs compute capability 8.0+, this GPU is {major}.{minor} "
                        "(torch would time an emulated fallback)"
                    )
        return super().dtype_support(dtype)

    @contextlib.contextmanager
    def precision(self, dtype: str) -> Iterator[None]:
        prev = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = dtype == "tfloat32"
        try:
            with super().precision(dtype):
                yield
        finally:
            torch.backends.cudnn.allow_tf32 = prev

    @contextlib.contextmanager
    def autotune(self, enabled: bool = True) -> Iterator[None]:
        prev = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = enabled
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = prev

    def graph_callable(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Capture ``fn`` once into a CUDA graph; replays skip per-kernel launch overhead."""
        with torch.cuda.device(self.index):
            return self._capture(fn)

    def _capture(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):  # warm up on a side stream, as capture requires
                fn()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        return graph.replay
