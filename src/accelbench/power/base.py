"""The power-meter interface: one shape for NVML, npu-smi, amdsmi, RAPL and the fake.

A meter reads one power domain (a GPU board, an NPU chip, a CPU package, DRAM) either as a
cumulative **energy counter** (joules since some origin; NVML on Volta and newer, RAPL) or as
**instantaneous power** (watts; npu-smi, NVML on older GPUs). The sampling session in
:mod:`accelbench.power.session` turns either into energy and average power over a window.

Meters never guess: a meter that cannot be opened raises :class:`MeterUnavailable` with the
reason, and a read that fails raises :class:`MeterError`, which the session records as
"unavailable from here on" for that meter.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

from accelbench.registry import Registry

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice


class MeterUnavailable(Exception):
    """This meter cannot be used here; the message says why (not installed, no permission...)."""


class MeterError(Exception):
    """A read failed after the meter was opened (driver gone, counter unreadable...)."""


class PowerMeter(ABC):
    """One power domain. Subclasses implement :meth:`read_energy_j` (``mode = "energy"``) or
    :meth:`read_power_w` (``mode = "power"``), and may implement both."""

    name: ClassVar[str]
    """Backend name: "nvml", "npu-smi", "amdsmi", "rapl", "fake"."""
    mode: Literal["energy", "power"]
    """Which reading is authoritative: a cumulative counter, or sampled power."""
    domain: str
    """What is measured, e.g. "GPU 0 board", "CPU package 0", "DRAM 0"."""
    update_interval_s: float = 0.1
    """How often the underlying value changes; reading faster gains nothing."""
    averaging_window_s: float = 0.0
    """For power readings: the window the device averages over (about 1 s on NVIDIA Ampere
    and newer). A measured region shorter than this cannot be attributed to the workload."""

    def read_energy_j(self) -> float:
        """Cumulative energy in joules, monotonic (the meter corrects counter wrap-around)."""
        raise MeterError(f"{self.name} {self.domain}: no energy counter")

    def read_power_w(self) -> float:
        """Current power in watts."""
        raise MeterError(f"{self.name} {self.domain}: no power reading")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (NVML shutdown, file descriptors)."""

    @property
    def min_window_s(self) -> float:
        """The shortest region this meter can attribute energy to honestly: two averaging
        windows (so at most half the reading predates the region) and ten value updates (so
        the counter's granularity is at most a tenth of the energy)."""
        return max(2 * self.averaging_window_s, 10 * self.update_interval_s)

    def describe(self) -> dict[str, object]:
        return {
            "meter": self.name,
            "domain": self.domain,
            "mode": self.mode,
            "update_interval_s": self.update_interval_s,
            "averaging_window_s": self.averaging_window_s,
        }


MeterFactory = Callable[["BaseDevice"], list[PowerMeter]]
"""``device -> meters`` for that device; raises MeterUnavailable with the reason, or returns
[] when the backend does not apply to the device (NVML for a CPU)."""

METERS: Registry[MeterFactory] = Registry("power meter", package="accelbench.power")
