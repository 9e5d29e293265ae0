"""Huawei Ascend NPUs through the ``torch_npu`` plug-in, which adds ``torch.npu``."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import torch

from accelbench.devices.base import DEVICES, Probe, TorchAcceleratorDevice


def _import_torch_npu() -> tuple[object | None, str | None]:
    try:
        return importlib.import_module("torch_npu"), None
    except ImportError as exc:
        return None, f"torch_npu is not installed ({exc})"
    except Exception as exc:  # the plug-in raises assorted errors when CANN is missing
        return None, f"torch_npu failed to import: {exc}"


def _read_version_file(candidates: list[Path], key: str) -> str | None:
    for path in candidates:
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                k, _, v = line.partition("=")
                if k.strip().lower() == key:
                    return v.strip().strip('"')
    return None


# Where CANN and the driver are installed when the environment does not say (module constants so
# tests can point them elsewhere).
_DEFAULT_TOOLKIT_ROOTS = [
    Path("/usr/local/Ascend/ascend-toolkit/latest"),
    Path("/usr/local/Ascend/cann"),
]
_DRIVER_VERSION_FILE = Path("/usr/local/Ascend/driver/version.info")


def _cann_version(roots: list[Path]) -> str | None:
    """The CANN toolkit version under the first root that has one.

    ``<root>/version.cfg`` holds lines like ``toolkit_running_version=[7.3.0.1.231:8.0.RC2]``
    (inner build : release; the release is what users quote); the per-architecture
    ``<root>/<arch>-linux/ascend_toolkit_install.info`` holds ``version=8.0.RC2``.
    """
    for root in roots:
        raw = _read_version_file([root / "version.cfg"], "toolkit_running_version")
        if raw:
            return raw.strip("[]").rpartition(":")[2] or raw
        found = _read_version_file(
            [root / "version.cfg"]
            + [
                root / f"{arch}-linux" / "ascend_toolkit_install.info"
                for arch in ("aarch64", "x86_64")
            ],
            "version",
        )
        if found:
            return found
    return None


@DEVICES.register("npu")
class NpuDevice(TorchAcceleratorDevice):
    kind = "npu"
    spec_help = "npu[:N]"
    default_rank = 1
    packages = ("torch_npu",)
    platform_modules = ("torch.npu", "torch_npu")
    vendor = "Huawei"
    module_name = "npu"
    oom_markers = ("npu out of memory", "out of memory")

    @classmethod
    def probe(cls) -> Probe:
        _, why = _import_torch_npu()
        if why:
            return Probe(kind="npu", available=False, reason=why)
        return super().probe()

    def runtime_versions(self) -> dict[str, str]:
        mod, _ = _import_torch_npu()
        v = {"torch": torch.__version__, "torch_npu": str(getattr(mod, "__version__", "unknown"))}
        home = os.environ.get("ASCEND_TOOLKIT_HOME") or os.environ.get("ASCEND_HOME_PATH")
        roots = [Path(home)] if home else []
        roots.extend(_DEFAULT_TOOLKIT_ROOTS)
        cann = _cann_version(roots)
        v["cann"] = cann or "unavailable: no CANN version file found under ASCEND_TOOLKIT_HOME"
        return v

    def driver_version(self) -> tuple[str | None, str | None]:
        v = _read_version_file([_DRIVER_VERSION_FILE], "version")
        if v:
            return v, None
        return None, f"{_DRIVER_VERSION_FILE} is absent or has no Version line"

    def dtype_support(self, dtype: str) -> tuple[bool, str | None]:
        if dtype == "bfloat16" and "910b" not in self.name().lower() and "910_9" not in self.name():
            return False, "bfloat16 needs an Ascend 910B or newer"
        return super().dtype_support(dtype)
