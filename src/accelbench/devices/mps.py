"""Apple GPUs through the Metal Performance Shaders backend (single device, index 0)."""

from __future__ import annotations

import platform

import torch

from accelbench.devices.base import DEVICES, Probe, TorchAcceleratorDevice


@DEVICES.register("mps")
class MpsDevice(TorchAcceleratorDevice):
    kind = "mps"
    default_rank = 3
    platform_modules = ("torch.mps",)
    vendor = "Apple"
    module_name = "mps"
    oom_markers = ("mps backend out of memory", "out of memory")

    def dist_backend(self) -> str:
        from accelbench.errors import Unsupported

        raise Unsupported(
            "torch.distributed has no backend for MPS tensors (gloo moves CPU tensors only); "
            "an Apple GPU is one device, so there is nothing to scale across"
        )

    @classmethod
    def probe(cls) -> Probe:
        if not torch.backends.mps.is_available():
            return Probe(
                kind="mps", available=False, reason="torch.backends.mps.is_available() is False"
            )
        return Probe(kind="mps", available=True, count=1)

    @property
    def torch_device(self) -> torch.device:
        return torch.device("mps")

    def name(self) -> str:
        return f"Apple {platform.machine()} GPU (MPS)"

    def memory_total(self) -> tuple[int | None, str | None]:
        try:
            return int(torch.mps.recommended_max_memory()), None
        except Exception as exc:
            return None, f"torch.mps.recommended_max_memory() failed: {exc}"

    def memory_free(self) -> tuple[int | None, str | None]:
        try:
            used = int(torch.mps.current_allocated_memory())
            return max(int(torch.mps.recommended_max_memory()) - used, 0), None
        except Exception as exc:
            return None, f"torch.mps memory queries failed: {exc}"

    def synchronize(self) -> None:
        torch.mps.synchronize()

    def reset_peak_memory(self) -> None:
        pass  # MPS keeps no resettable high-water mark

    def peak_memory_bytes(self) -> int | None:
        return None

    def peak_memory_unavailable_reason(self) -> str:
        return "torch.mps reports current, not peak, allocation"

    def new_timer(self):  # type: ignore[override]
        from accelbench.devices.base import EventTimer

        return EventTimer(torch.mps.event.Event)
