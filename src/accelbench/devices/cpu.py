"""The host CPU as a benchmark device.

Work on the CPU is synchronous, so ``perf_counter`` around the region is the timer. The intra-op
thread count is a setting (``--threads``) and is recorded with every result, because CPU
throughput scales with it. CPU peaks are not tabulated; they are measured (``peak-gemm``).
"""

from __future__ import annotations

import platform
import re
from functools import lru_cache
from typing import Any

import psutil
import torch

from accelbench.devices.base import DEVICES, BaseDevice, Probe

# ISA features that give the CPU a native (fast) path for a reduced precision. Without one,
# torch falls back to scalar conversion loops that run 100x slower than float32, and timing
# them would describe the fallback, not the hardware.
_NATIVE_FP16_FLAGS = {"avx512_fp16", "amx_fp16", "fphp", "asimdhp"}
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16", "sve_bf16", "svebf16"}


@lru_cache(maxsize=1)
def cpu_details() -> dict[str, Any]:
    """CPU model and ISA flags (py-cpuinfo works on x86 and Arm; cached: it is slow)."""
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception:  # pragma: no cover - cpuinfo failing must not stop a run
        info = {}
    return {
        "model": info.get("brand_raw") or platform.processor() or platform.machine(),
        "arch": info.get("arch_string_raw") or platform.machine(),
        "flags": sorted(info.get("flags", [])),
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
    }


@lru_cache(maxsize=1)
def _cpu_math_libraries() -> dict[str, str]:
    """Versions of the kernels' libraries (oneDNN, MKL, OpenBLAS) from torch's build config:
    the same torch version can time very differently with a different BLAS."""
    config = torch.__config__.show()
    found = {}
    patterns = {
        "onednn": r"MKL-DNN v([\w.]+)",
        "mkl": r"Math Kernel Library Version ([\w.-]+)",
        "blas": r"BLAS_INFO=(\w+)",
    }
    for name, pat in patterns.items():
        m = re.search(pat, config)
        if m:
            found[name] = m.group(1)
    return found


@DEVICES.register("cpu")
class CpuDevice(BaseDevice):
    kind = "cpu"
    timer_kind = "perf_counter"
    oom_markers = ("can't allocate memory", "out of memory", "not enough memory")

    @classmethod
    def probe(cls) -> Probe:
        return Probe(kind="cpu", available=True, count=1)

    @property
    def torch_device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def spec(self) -> str:
        return "cpu"

    def name(self) -> str:
        return str(cpu_details()["model"])

    def memory_total(self) -> tuple[int | None, str | None]:
        return int(psutil.virtual_memory().total), None

    def runtime_versions(self) -> dict[str, str]:
        v = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()}
        v.update(_cpu_math_libraries())
        v["openmp"] = str(torch.backends.openmp.is_available())
        return v

    def driver_version(self) -> tuple[str | None, str | None]:
        return None, "CPUs have no accelerator driver"

    def extra_info(self) -> dict[str, Any]:
        d = cpu_details()
        return {
            "arch": d["arch"],
            "cores_physical": d["cores_physical"],
            "cores_logical": d["cores_logical"],
            "interop_threads": torch.get_num_interop_threads(),
        }

    def peak_memory_unavailable_reason(self) -> str:
        return "the CPU allocator keeps no resettable per-case peak; process RSS is not per case"

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        ok, why = super().dtype_support(dtype)
        if not ok:
            return ok, why
        flags = set(cpu_details()["flags"])
        if dtype == "float16" and not flags & _NATIVE_FP16_FLAGS:
            return False, (
                "this CPU has no native float16 arithmetic (needs AVX512-FP16, AMX-FP16 or Arm "
                "FP16); torch would time a slow conversion fallback"
            )
        if dtype == "bfloat16" and not flags & _NATIVE_BF16_FLAGS:
            return False, (
                "this CPU has no native bfloat16 arithmetic (needs AVX512-BF16, AMX-BF16 or Arm "
                "BF16); torch would time a slow conversion fallback"
            )
        return True, None
