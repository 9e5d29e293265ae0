"""Collect the provenance stored with every result: host, software, device, settings."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import psutil
import torch

import accelbench
from accelbench.devices import device_packages
from accelbench.devices.base import DeviceInfo
from accelbench.devices.cpu import cpu_details
from accelbench.results.schema import Environment

# Environment variables that change how kernels run or which devices are visible.
ENV_PREFIXES = (
    "OMP_",
    "MKL_",
    "KMP_",
    "GOMP_",
    "OPENBLAS_",
    "DNNL_",
    "ONEDNN_",
    "ATEN_",
    "TORCH_",
    "PYTORCH_",
    "CUDA_",
    "CUBLAS_",
    "CUDNN_",
    "NVIDIA_TF32",
    "NCCL_",
    "HIP_",
    "ROCR_",
    "HSA_",
    "ASCEND_",
    "HCCL_",
    "TASK_QUEUE",
    "ZE_",
    "SYCL_",
    "ONEAPI_",
    "XPU_",
    "MPS_",
    "LD_PRELOAD",
)
# Libraries that change results whatever the device; each device kind adds its own plug-ins
# (``BaseDevice.packages``).
PACKAGES = (
    "numpy",
    "triton",
    "onnxruntime",
    "onnxruntime-gpu",
    "openvino",
    "mindspore",
)


def relevant_env_vars() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}


def package_versions() -> dict[str, str]:
    out = {}
    for name in (*PACKAGES, *device_packages()):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def git_revision() -> tuple[str | None, bool | None]:
    """The accelbench source revision and whether the tree had local changes (None if unknown)."""
    here = Path(accelbench.__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        return rev or None, bool(dirty)
    except (OSError, subprocess.SubprocessError):
        return None, None


def collect_environment(info: DeviceInfo, seed: int, threads: int) -> Environment:
    cpu = cpu_details()
    rev, dirty = git_revision()
    return Environment(
        host=socket.gethostname(),
        os=f"{platform.system()} {platform.release()} ({platform.platform()})",
        cpu_model=str(cpu["model"]),
        cpu_arch=str(cpu["arch"]),
        cpu_cores_physical=cpu["cores_physical"],
        cpu_cores_logical=cpu["cores_logical"],
        memory_total_bytes=int(psutil.virtual_memory().total),
        python=platform.python_version(),
        torch=torch.__version__,
        packages=package_versions(),
        accelerator_runtime=info.runtime,
        driver_version=info.driver_version,
        device_kind=info.kind,
        device_spec=info.spec,
        device_name=info.name,
        accelbench_version=accelbench.__version__,
        git_revision=rev,
        git_dirty=dirty,
        seed=seed,
        threads=threads,
        env_vars=relevant_env_vars(),
    )
