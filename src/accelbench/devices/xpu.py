"""Intel GPUs through ``torch.xpu`` (built into torch 2.4+)."""

from __future__ import annotations

import torch

from accelbench.devices.base import DEVICES, TorchAcceleratorDevice


@DEVICES.register("xpu")
class XpuDevice(TorchAcceleratorDevice):
    kind = "xpu"
    spec_help = "xpu[:N]"
    default_rank = 2
    packages = ("intel_extension_for_pytorch",)
    platform_modules = ("torch.xpu",)
    vendor = "Intel"
    module_name = "xpu"
    oom_markers = ("xpu out of memory", "ur_result_error_out_of_device_memory", "out of memory")

    def driver_version(self) -> tuple[str | None, str | None]:
        try:
            props = torch.xpu.get_device_properties(self.index)
            return str(getattr(props, "driver_version", None) or ""), None
        except Exception as exc:
            return None, f"could not read XPU properties: {exc}"
