"""Power and energy: meters for NVIDIA (NVML), Ascend (npu-smi), AMD (amdsmi), CPU (RAPL) and a
fake, and the background sampling session that turns them into energy over a region."""

from accelbench.power import amdsmi_meter as _amdsmi_meter  # noqa: F401  (registers)
from accelbench.power import fake as _fake  # noqa: F401  (registers)
from accelbench.power import npu_smi as _npu_smi  # noqa: F401  (registers)
from accelbench.power import nvml as _nvml  # noqa: F401  (registers)
from accelbench.power import rapl as _rapl  # noqa: F401  (registers)
from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

__all__ = ["METERS", "MeterError", "MeterUnavailable", "PowerMeter"]
