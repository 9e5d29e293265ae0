"""Power and energy: meters for NVIDIA (NVML), Ascend (npu-smi), AMD (amdsmi), CPU (RAPL) and a
fake, and the background sampling session that turns them into energy over a region. Each
backend is one module here that registers its factory in ``METERS``."""

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

__all__ = ["METERS", "MeterError", "MeterUnavailable", "PowerMeter"]
