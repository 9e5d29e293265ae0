"""The host CPU as a benchmark device.

Work on the CPU is synchronous, so ``perf_counter`` around the region is the timer. The intra-op
thread count is a setting (``--threads``) and is recorded with every result, because CPU
throughput scales with it. CPU peaks are not tabulated; they are measured (``peak-gemm``).
"""

from __future__ import annotations

import platform
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import psutil
import torch

from accelbench.devices.base import DEVICES, BaseDevice, Probe

# ISA features that give the CPU a native (fast) path for a reduced precision. Without one,
# torch falls back to scalar conversion loops that run 100x slower than float32, and timing
# them would describe the fallback, not the hardware.
_NATIVE_FP16_FLAGS = {"avx512_fp16", "amx_fp16", "fphp", "asimdhp"}
_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16", "sve_bf16", "svebf16"}
# torch._int_mm on the CPU calls oneDNN's int8 GEMM only where ATen's
# at::cpu::is_avx512_vnni_supported() holds (and mkldnn is enabled); everywhere else, Arm
# included, it runs a scalar triple loop (aten/src/ATen/native/LinearAlgebra.cpp,
# _int_mm_out_cpu), which would describe that loop, not the hardware.
_INT8_GEMM_FLAGS = {"avx512_vnni", "avx512vnni"}
_SYS_CACHE = Path("/sys/devices/system/cpu")


def host_last_level_cache(root: Path = _SYS_CACHE) -> tuple[int | None, str]:
    """Total bytes of the host's last-level cache from Linux sysfs: the highest cache level's
    size times its number of instances (one per group of CPUs sharing it, e.g. per CCX).

    sysfs, not py-cpuinfo: py-cpuinfo's ``l3_cache_size`` can be a per-core figure (it reads
    512 KiB for a 32 MiB L3 on an AMD EPYC VM).
    """
    best: dict[int, dict[str, int]] = {}
    for index in sorted(root.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_cache_size((index / "size").read_text())
            shared = (index / "shared_cpu_list").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        best.setdefault(level, {})[shared] = size
    if not best:
        return None, f"no cache description under {root} (not Linux, or sysfs hidden)"
    level = max(best)
    instances = best[level]
    total = sum(instances.values())
    return total, f"L{level} from sysfs: {len(instances)} x {max(instances.values())} B"


def _parse_cache_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


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


_NO_LIMIT = 2**62  # cgroup v1 writes "unlimited" as a number near 2**63


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # v2 writes "max" for no limit


def _inactive_file(stat_file: Path, key: str) -> int:
    try:
        for line in stat_file.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def cgroup_memory_room(proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes this process can still use before its memory cgroup (or an ancestor) hits its
    limit, counting reclaimable page cache as free (as ``docker stats`` does); None where no
    limit is set or cgroups are not readable. Handles cgroup v2 and v1."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    candidates: list[tuple[Path, str, str, str]] = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            candidates.append(
                (Path("/sys/fs/cgroup") / rel, "memory.max", "memory.current", "inactive_file")
            )
        elif "memory" in controllers.split(","):
            candidates.append(
                (
                    Path("/sys/fs/cgroup/memory") / rel,
                    "memory.limit_in_bytes",
                    "memory.usage_in_bytes",
                    "total_inactive_file",
                )
            )
    room: int | None = None
    for leaf, limit_file, usage_file, inactive in candidates:
        folder = leaf
        while True:
            limit, usage = _read_int(folder / limit_file), _read_int(folder / usage_file)
            if limit is not None and usage is not None and limit < _NO_LIMIT:
                used = max(usage - _inactive_file(folder / "memory.stat", inactive), 0)
                here = max(limit - used, 0)
                room = here if room is None else min(room, here)
            if folder == folder.parent or folder.name in ("cgroup", "memory"):
                break
            folder = folder.parent
    return room


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

    def memory_free(self) -> tuple[int | None, str | None]:
        # What the kernel can give without swapping (beyond it the case would time the disk,
        # and past swap the kernel kills the process), within this process's memory cgroup
        # limit where one is set (a container sees the host's RAM but is killed at its limit).
        free = int(psutil.virtual_memory().available)
        room = cgroup_memory_room()
        return (free if room is None else min(free, room)), None

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

    def _float_support(self, dtype: str) -> tuple[bool, str | None]:
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

    def low_precision_unsupported(self, dtype: str) -> str:
        if dtype == "int8":
            return (
                "torch._int_mm uses oneDNN's int8 GEMM only on CPUs with AVX512-VNNI; this CPU "
                "lacks it, so torch would time a scalar fallback loop"
            )
        return (
            "torch._scaled_mm on a CPU converts FP8 to a wider type before multiplying (CPUs "
            "torch supports have no FP8 matrix arithmetic), so it would time the conversion"
        )

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        if dtype == "int8":
            if not torch.backends.mkldnn.enabled:
                return False, "torch._int_mm needs oneDNN (torch.backends.mkldnn) for int8 GEMM"
            if set(cpu_details()["flags"]) & _INT8_GEMM_FLAGS:
                return True, None
        return self._float_support(dtype)

    def last_level_cache(self) -> tuple[int | None, str]:
        return host_last_level_cache()

    def triton_backend(self) -> tuple[str | None, str | None]:
        return None, (
            "Triton compiles for GPUs (NVIDIA, AMD) and, with triton-ascend, Ascend NPUs; on a "
            "CPU it has only its interpreter, which runs each program in Python and numpy and "
            "would time the interpreter, not the hardware"
        )
