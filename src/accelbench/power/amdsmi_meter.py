"""AMD GPU power and energy through the ``amdsmi`` Python package (ships with ROCm).

Applies to ``cuda`` devices of a ROCm build of torch. Which reading:
  * **energy**: ``amdsmi_get_energy_count`` gives an accumulator (``energy_accumulator``; older
    releases call it ``power``) and ``counter_resolution`` in microjoules per count, so joules are
    ``accumulator * resolution / 1e6``.
  * **power**, where there is no usable counter: ``amdsmi_get_power_info`` in watts, preferring
    the current socket power (``socket_power`` in ROCm 7, ``current_socket_power`` before) and
    falling back to ``average_socket_power``. Unsupported fields read "N/A".

The update interval (0.1 s) and the averaging window of the average field (1 s) are assumptions,
not documented values; the current field is given a 0.1 s window. Not exercised on hardware here.

The GPU is found by PCI address, since HIP/ROCR/CUDA_VISIBLE_DEVICES renumber torch's devices;
without one it is used only when amdsmi sees a single GPU.
"""

from __future__ import annotations

import contextlib
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice

INSTALL_HINT = (
    "the amdsmi Python package is not installed (it ships with ROCm: "
    "pip install /opt/rocm/share/amd_smi)"
)
CURRENT_POWER_FIELDS = ("socket_power", "current_socket_power")
AVERAGE_POWER_FIELD = "average_socket_power"

_refs: dict[int, int] = {}
"""``id(amdsmi module)`` -> open meters on it: amdsmi_init once, amdsmi_shut_down after the last."""
_refs_lock = threading.Lock()


def _amdsmi() -> ModuleType:
    try:
        import amdsmi
    except ImportError:
        raise MeterUnavailable(INSTALL_HINT) from None
    return amdsmi


def _why(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _acquire(amd: ModuleType) -> None:
    """``amdsmi_init`` for the first open meter only."""
    with _refs_lock:
        if not _refs.get(id(amd)):
            amd.amdsmi_init()
        _refs[id(amd)] = _refs.get(id(amd), 0) + 1


def _release(amd: ModuleType) -> None:
    """``amdsmi_shut_down`` when the last open meter closes."""
    with _refs_lock:
        _refs[id(amd)] -= 1
        if _refs[id(amd)] == 0:
            del _refs[id(amd)]
            amd.amdsmi_shut_down()


def _number(value: Any) -> float | None:
    """A reading as a float; None for "N/A" and other non-numbers."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def parse_bdf(text: str) -> tuple[int, int, int] | None:
    """(domain, bus, device) of ``"0000:c1:00.0"`` or ``"00000000:C1:00.0"``."""
    try:
        domain, bus, rest = text.strip().split(":")
        return int(domain, 16), int(bus, 16), int(rest.split(".")[0], 16)
    except ValueError:
        return None


class AmdSmiMeter(PowerMeter):
    """One AMD GPU. Holds one reference on the module-wide ``amdsmi_init``."""

    name = "amdsmi"

    def __init__(self, amd: ModuleType, handle: Any, domain: str) -> None:
        self._amd = amd
        self._handle = handle
        self._lock = threading.Lock()
        self._open = True
        self._last: float | None = None
        self._power_field: str | None = None
        self.domain = domain
        self.update_interval_s = 0.1
        self.averaging_window_s = 0.0
        try:
            self._counter_j()
            self.mode = "energy"
        except Exception:
            info = self._power_info()
            for field in (*CURRENT_POWER_FIELDS, AVERAGE_POWER_FIELD):
                if _number(info.get(field)) is not None:
                    self._power_field = field
                    break
            else:
                raise MeterUnavailable(
                    f"{domain}: no energy counter and no power field in {sorted(info)}"
                ) from None
            self.mode = "power"
            self.averaging_window_s = 1.0 if self._power_field == AVERAGE_POWER_FIELD else 0.1

    def _counter_j(self) -> float:
        d = self._amd.amdsmi_get_energy_count(self._handle)
        acc = _number(d.get("energy_accumulator", d.get("power")))
        res = _number(d.get("counter_resolution"))
        if acc is None or res is None or res <= 0:
            raise MeterError(f"unusable energy count {d!r}")
        return acc * res / 1e6

    def _power_info(self) -> dict[str, Any]:
        try:
            return dict(self._amd.amdsmi_get_power_info(self._handle))
        except Exception as exc:
            raise MeterUnavailable(f"{self.domain}: amdsmi_get_power_info: {_why(exc)}") from exc

    def read_energy_j(self) -> float:
        try:
            j = self._counter_j()
        except Exception as exc:
            raise MeterError(f"amdsmi energy count: {_why(exc)}") from exc
        if self._last is not None and j < self._last:
            raise MeterError(f"amdsmi energy counter went backwards ({self._last} -> {j} J)")
        self._last = j
        return j

    def read_power_w(self) -> float:
        try:
            info = self._amd.amdsmi_get_power_info(self._handle)
        except Exception as exc:
            raise MeterError(f"amdsmi power info: {_why(exc)}") from exc
        fields = (
            [self._power_field]
            if self._power_field
            else [*CURRENT_POWER_FIELDS, AVERAGE_POWER_FIELD]
        )
        for field in fields:
            w = _number(info.get(field))
            if w is not None:
                return w
        raise MeterError(f"amdsmi power info has no {' or '.join(fields)}: {info!r}")

    def close(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._open = False
        _release(self._amd)


def _handle(amd: ModuleType, device: BaseDevice) -> Any:
    handles = list(amd.amdsmi_get_processor_handles())
    want = device.pci_bus_id()
    if want is None:
        if len(handles) == 1:
            return handles[0]
        raise MeterUnavailable(
            f"torch reports no PCI bus id for {device.spec} and amdsmi sees {len(handles)} GPUs; "
            "cannot tell which one it is"
        )
    for h in handles:
        with contextlib.suppress(Exception):
            if parse_bdf(str(amd.amdsmi_get_gpu_device_bdf(h))) == parse_bdf(want):
                return h
    raise MeterUnavailable(f"amdsmi has no GPU at PCI bus id {want} ({device.spec})")


def _name(amd: ModuleType, handle: Any) -> str:
    try:
        return str(amd.amdsmi_get_gpu_asic_info(handle)["market_name"])
    except Exception:
        return "AMD GPU"


@METERS.register("amdsmi")
def amdsmi_meters(device: BaseDevice) -> list[PowerMeter]:
    """The meter of an AMD ``cuda`` device (ROCm build of torch); [] for anything else."""
    if device.kind != "cuda" or not getattr(device, "is_rocm", False):
        return []
    amd = _amdsmi()
    try:
        _acquire(amd)
    except Exception as exc:
        raise MeterUnavailable(f"amdsmi_init failed: {_why(exc)}") from exc
    try:
        handle = _handle(amd, device)
        return [AmdSmiMeter(amd, handle, f"GPU {device.index} ({_name(amd, handle)}) socket")]
    except MeterUnavailable:
        _release_quietly(amd)
        raise
    except Exception as exc:
        _release_quietly(amd)
        raise MeterUnavailable(f"amdsmi: {_why(exc)}") from exc


def _release_quietly(amd: ModuleType) -> None:
    with contextlib.suppress(Exception):
        _release(amd)
