"""Device layer: the only package that touches ``torch.cuda``, ``torch_npu``, ``torch.mps`` and
``torch.xpu``. A device kind is one module here that registers its class in ``DEVICES`` (imported
on first use), plus its rows in ``specs.yaml``."""

from __future__ import annotations

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
    """The present accelerator of lowest ``default_rank``, else the CPU."""
    ranked = sorted(
        (cls.default_rank, kind) for kind, cls in DEVICES if cls.default_rank is not None
    )
    for _, kind in ranked:
        if DEVICES.get(kind).probe().available:
            return kind
    return "cpu"


def device_help() -> str:
    """The ways ``--device`` can be spelled, from the registry: "cpu, cuda[:N], ..."."""
    return ", ".join(cls.spec_help or kind for kind, cls in DEVICES)


def device_packages() -> tuple[str, ...]:
    """Plug-in distributions of every registered device, recorded with each result."""
    return tuple(dict.fromkeys(p for _, cls in DEVICES for p in cls.packages))


__all__ = [
    "DEVICES",
    "DTYPES",
    "BaseDevice",
    "Device",
    "DeviceInfo",
    "PeakSpec",
    "Probe",
    "default_device_spec",
    "device_help",
    "device_packages",
    "load_peaks_file",
    "lookup_peak",
    "make_device",
    "present_devices",
    "probe_all",
    "torch_dtype",
]
