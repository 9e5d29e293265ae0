"""Device layer: the only package that touches ``torch.cuda``, ``torch_npu``, ``torch.mps`` and
``torch.xpu``."""

from __future__ import annotations

from accelbench.devices import cpu, cuda, fake, mps, npu, xpu  # noqa: F401  (register)
from accelbench.devices.base import (
    DEVICES,
    DTYPES,
    BaseDevice,
    Device,
    DeviceInfo,
    Probe,
    make_device,
    torch_dtype,
)
from accelbench.devices.specs import PeakSpec, load_peaks_file, lookup_peak


def probe_all() -> list[Probe]:
    """Probe every registered kind, including those absent here (with the reason)."""
    return [cls.probe() for _, cls in DEVICES]


def present_devices(peaks: list[PeakSpec] | None = None) -> list[BaseDevice]:
    """One device object per present device, in registry order."""
    out: list[BaseDevice] = []
    for _, cls in DEVICES:
        p = cls.probe()
        if p.available:
            out.extend(cls(index=i, peaks_override=peaks) for i in range(max(p.count, 1)))
    return out


def default_device_spec() -> str:
    """The first accelerator present, else the CPU."""
    for kind in ("cuda", "npu", "xpu", "mps"):
        if DEVICES.get(kind).probe().available:
            return kind
    return "cpu"


__all__ = [
    "DEVICES",
    "DTYPES",
    "BaseDevice",
    "Device",
    "DeviceInfo",
    "PeakSpec",
    "Probe",
    "default_device_spec",
    "load_peaks_file",
    "lookup_peak",
    "make_device",
    "present_devices",
    "probe_all",
    "torch_dtype",
]
