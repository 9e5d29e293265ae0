"""NVIDIA GPU board power and energy through NVML (the ``pynvml`` module of nvidia-ml-py).

Which reading:
  * **energy** (Volta and newer): ``nvmlDeviceGetTotalEnergyConsumption``, millijoules since the
    driver was loaded. A cumulative counter, so a window's energy is the difference of two reads
    and no averaging window applies (``averaging_window_s = 0``); it is taken to change about
    every 0.1 s.
  * **power** (older GPUs): ``nvmlDeviceGetPowerUsage``, milliwatts, sampled by the session.
    NVML documents that on Ampere *except GA100* and newer this is an average over about 1 s,
    while GA100 (A100, A30; compute capability 8.0) and older return instantaneous power. An
    "instantaneous" reading is still a sensor sample, so it is given a 0.1 s window rather than 0.
    Where the architecture cannot be read, 1 s is assumed: too long a window only costs time.

Which GPU: torch numbers GPUs after ``CUDA_VISIBLE_DEVICES`` (and, by default, fastest first),
NVML numbers all of them in PCI order, so ``cuda:0`` is not NVML device 0 in general. The handle
is taken by PCI bus id from the device. Where torch does not report one, the index is used only
where that is safe (one GPU, or ``CUDA_VISIBLE_DEVICES`` of plain indices with PCI ordering or
identical GPUs), and the meter says so in :meth:`NvmlMeter.describe`; otherwise the meter is
unavailable rather than reading some other GPU.

With MIG enabled, the reading is the whole board's, not the instance's.
"""

from __future__ import annotations

import contextlib
import os
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice

INSTALL_HINT = "nvidia-ml-py is not installed: pip install 'accelbench[nvidia]'"
NVML_ARCH_AMPERE = 7  # NVML_DEVICE_ARCH_AMPERE; Ada is 8, Hopper 9, Blackwell 10
AVERAGED_WINDOW_S = 1.0
"""``nvmlDeviceGetPowerUsage`` on Ampere (except GA100) and newer: a 1 s average."""
INSTANT_WINDOW_S = 0.1
"""``nvmlDeviceGetPowerUsage`` on GA100 and older: "instantaneous" (one sensor sample)."""


def _pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError:
        raise MeterUnavailable(INSTALL_HINT) from None
    return pynvml


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _why(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def power_averaging_window(nv: ModuleType, handle: Any) -> float:
    """The window ``nvmlDeviceGetPowerUsage`` averages over on this GPU (see module doc)."""
    try:
        major, minor = (int(x) for x in nv.nvmlDeviceGetCudaComputeCapability(handle))
    except Exception:
        try:
            arch = int(nv.nvmlDeviceGetArchitecture(handle))
        except Exception:
            return AVERAGED_WINDOW_S  # unknown: assume the longer window
        # Ampere by architecture alone cannot tell GA100 from GA10x: assume the longer window.
        return AVERAGED_WINDOW_S if arch >= NVML_ARCH_AMPERE else INSTANT_WINDOW_S
    if major < 8 or (major, minor) == (8, 0):
        return INSTANT_WINDOW_S
    return AVERAGED_WINDOW_S


class NvmlMeter(PowerMeter):
    """One GPU board. Owns one ``nvmlInit`` reference, released once by :meth:`close`."""

    name = "nvml"

    def __init__(self, nv: ModuleType, handle: Any, domain: str, handle_by: str) -> None:
        self._nv = nv
        self._handle = handle
        self._lock = threading.Lock()
        self._open = True
        self._last_mj: int | None = None
        self.domain = domain
        self.handle_by = handle_by
        """How the NVML handle was found: by PCI bus id, or by index (and why that is safe)."""
        self.power_averaging_window_s = power_averaging_window(nv, handle)
        """The window of :meth:`read_power_w`, whichever mode is authoritative."""
        self.update_interval_s = 0.1
        try:
            self._read_mj()
            self.mode = "energy"
            self.averaging_window_s = 0.0
        except Exception as energy_exc:
            try:
                self.read_power_w()
            except MeterError as power_exc:
                raise MeterUnavailable(
                    f"{domain}: no energy counter ({_why(energy_exc)}) and no power reading "
                    f"({power_exc})"
                ) from None
            self.mode = "power"
            self.averaging_window_s = self.power_averaging_window_s

    def _read_mj(self) -> int:
        return int(self._nv.nvmlDeviceGetTotalEnergyConsumption(self._handle))

    def read_energy_j(self) -> float:
        try:
            mj = self._read_mj()
        except Exception as exc:
            raise MeterError(f"NVML energy counter: {_why(exc)}") from exc
        if self._last_mj is not None and mj < self._last_mj:
            # 64-bit millijoules do not wrap; a smaller value means the driver was reloaded.
            raise MeterError(
                f"NVML energy counter went backwards ({self._last_mj} -> {mj} mJ); "
                "was the driver reloaded?"
            )
        self._last_mj = mj
        return mj / 1000.0

    def read_power_w(self) -> float:
        try:
            return int(self._nv.nvmlDeviceGetPowerUsage(self._handle)) / 1000.0
        except Exception as exc:
            raise MeterError(f"NVML power usage: {_why(exc)}") from exc

    def close(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        self._nv.nvmlShutdown()  # NVML counts nvmlInit calls; this releases ours only

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "handle_by": self.handle_by,
            "power_averaging_window_s": self.power_averaging_window_s,
        }


def _visible_entries() -> list[str] | None:
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


def _handle_by_index(nv: ModuleType, device: BaseDevice) -> tuple[Any, str]:
    """The NVML handle of ``device`` where torch gave no PCI bus id; MeterUnavailable unless the
    index provably names the same GPU."""
    count = int(nv.nvmlDeviceGetCount())
    if count == 1:
        return nv.nvmlDeviceGetHandleByIndex(0), "index 0 (the only NVML device)"
    visible = _visible_entries()
    index = device.index
    if visible is not None:
        if not all(x.isdigit() for x in visible) or index >= len(visible):
            raise MeterUnavailable(
                f"torch reports no PCI bus id for {device.spec}, and CUDA_VISIBLE_DEVICES="
                f"{','.join(visible)!r} cannot be mapped to an NVML device; a newer torch "
                "reports the bus id"
            )
        index = int(visible[index])
    if os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID":
        names = {
            _text(nv.nvmlDeviceGetName(nv.nvmlDeviceGetHandleByIndex(i))) for i in range(count)
        }
        if len(names) > 1:
            raise MeterUnavailable(
                f"torch reports no PCI bus id for {device.spec}, and CUDA orders these different "
                "GPUs fastest first while NVML orders them by PCI bus: set "
                "CUDA_DEVICE_ORDER=PCI_BUS_ID or use a newer torch"
            )
    how = "CUDA_VISIBLE_DEVICES" if visible is not None else "no CUDA_VISIBLE_DEVICES"
    return nv.nvmlDeviceGetHandleByIndex(index), (
        f"index {index} (torch reports no PCI bus id; mapped from {device.spec} with {how})"
    )


def _handle(nv: ModuleType, device: BaseDevice) -> tuple[Any, str]:
    bus = device.pci_bus_id()
    if bus is None:
        return _handle_by_index(nv, device)
    try:
        try:
            handle = nv.nvmlDeviceGetHandleByPciBusId(bus)
        except TypeError:  # an old pynvml that wants bytes
            handle = nv.nvmlDeviceGetHandleByPciBusId(bus.encode())
    except Exception as exc:
        raise MeterUnavailable(
            f"NVML has no device at PCI bus id {bus} ({device.spec}): {_why(exc)}"
        ) from exc
    return handle, f"PCI bus id {bus}"


@METERS.register("nvml")
def nvml_meters(device: BaseDevice) -> list[PowerMeter]:
    """The board meter of an NVIDIA ``cuda`` device; [] for anything else (ROCm: amdsmi)."""
    if device.kind != "cuda" or getattr(device, "is_rocm", False):
        return []
    nv = _pynvml()
    try:
        nv.nvmlInit()
    except Exception as exc:
        raise MeterUnavailable(f"nvmlInit failed: {_why(exc)}") from exc
    try:
        handle, handle_by = _handle(nv, device)
        name = _text(nv.nvmlDeviceGetName(handle))
        return [NvmlMeter(nv, handle, f"GPU {device.index} ({name}) board", handle_by)]
    except MeterUnavailable:
        _shutdown(nv)
        raise
    except Exception as exc:
        _shutdown(nv)
        raise MeterUnavailable(f"NVML: {_why(exc)}") from exc


def _shutdown(nv: ModuleType) -> None:
    with contextlib.suppress(Exception):  # the reason for giving up matters more
        nv.nvmlShutdown()
