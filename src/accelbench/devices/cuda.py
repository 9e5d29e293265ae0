"""NVIDIA GPUs, and AMD GPUs through the ROCm build of torch (which keeps the ``torch.cuda``
API)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from accelbench.devices.base import DEVICES, TorchAcceleratorDevice


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


@DEVICES.register("cuda")
class CudaDevice(TorchAcceleratorDevice):
    kind = "cuda"
    module_name = "cuda"
    spec_help = "cuda[:N]"
    default_rank = 0
    packages = ("nvidia-ml-py", "pytorch-triton-rocm")
    platform_modules = ("torch.cuda",)
    oom_markers = ("cuda out of memory", "hip out of memory", "out of memory")

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

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
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
