"""A scriptable power meter for the fake device and for tests.

:class:`FakeMeter` plays either kind of real meter: a cumulative energy counter (like NVML on
Volta+ or RAPL) or a sampled power reading (like npu-smi), with any power as a function of
time, a settable averaging window and update interval, and an optional failure after N reads
(a driver going away mid-run). :class:`~accelbench.devices.fake.FakeDevice` picks its meter
with its ``power_meter`` argument; the default is a 100 W energy counter on the host clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice

DEFAULT_WATTS = 100.0


class FakeMeter(PowerMeter):
    """Power ``watts(t)`` (``t``: seconds since the meter was made; a number means constant).

    In energy mode the counter is the integral of ``watts`` over the host clock, advanced by
    the trapezoidal rule between reads: exact for constant and linear power, an approximation
    otherwise. In power mode there is no counter (like npu-smi); an energy-mode meter also
    reads power (like NVML). ``fail_after=N`` lets N reads succeed and raises
    :class:`MeterError` from then on.
    """

    name = "fake"

    def __init__(
        self,
        watts: float | Callable[[float], float] = DEFAULT_WATTS,
        mode: Literal["energy", "power"] = "energy",
        *,
        domain: str = "fake board",
        fail_after: int | None = None,
        averaging_window_s: float = 0.0,
        update_interval_s: float = 0.001,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if mode not in ("energy", "power"):
            raise ValueError(f"mode {mode!r}: expected 'energy' or 'power'")
        self._watts = watts if callable(watts) else (lambda _t, w=float(watts): w)
        self.mode = mode
        self.domain = domain
        self.fail_after = fail_after
        self.averaging_window_s = averaging_window_s
        self.update_interval_s = update_interval_s
        self._clock = clock
        self._t0 = clock()
        self._t_last = 0.0
        self._energy = 0.0
        self._lock = threading.Lock()
        self.reads = 0
        self.closed = False

    def watts_at(self, t: float) -> float:
        return float(self._watts(t))

    def _tick(self) -> float:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise MeterError(f"fake meter failed after {self.fail_after} reads")
        return self._clock() - self._t0

    def read_energy_j(self) -> float:
        if self.mode == "power":  # like npu-smi: sampled power only
            return super().read_energy_j()
        with self._lock:
            t = self._tick()
            if t > self._t_last:
                dt = t - self._t_last
                self._energy += dt * (self.watts_at(self._t_last) + self.watts_at(t)) / 2
                self._t_last = t
            return self._energy

    def read_power_w(self) -> float:
        with self._lock:
            return self.watts_at(self._tick())

    def close(self) -> None:
        self.closed = True

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "fail_after": self.fail_after}


@METERS.register("fake")
def fake_meters(device: BaseDevice) -> list[PowerMeter]:
    """The fake device's meter: its ``power_meter`` (a meter, or a string: unavailable for that
    reason), by default a 100 W energy counter; [] for other devices."""
    if device.kind != "fake":
        return []
    chosen = getattr(device, "power_meter", None)
    if isinstance(chosen, str):
        raise MeterUnavailable(chosen)
    if chosen is None:
        return [FakeMeter()]
    return [chosen]
