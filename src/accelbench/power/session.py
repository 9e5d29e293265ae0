"""Background power sampling around a measured region, and what it yields.

A :class:`PowerMonitor` holds the meters of one device for a whole run. :meth:`start` opens a
window: energy counters are read at both ends (and polled in between, so a counter that wraps
or fails is noticed), power meters are sampled by a background thread at ``rate_hz`` (default
10 Hz) and integrated with the trapezoidal rule. :meth:`stop` closes it and returns a
:class:`PowerReading`. The thread's own cost (time spent inside meter reads) is measured and
reported as ``sampler_busy_fraction`` so a reader can judge whether sampling disturbed the
workload.

A meter that fails mid-run is reported unavailable from that point on, with the reason; the
run goes on. A total over several meters is only given when every meter delivered: a partial
sum would look like a real number and be wrong.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice

DEFAULT_RATE_HZ = 10.0


class MeterReading(BaseModel):
    """One meter over one window."""

    meter: dict[str, Any]
    method: str = Field(description="'energy-counter' or 'sampled-power'")
    energy_j: float | None = None
    avg_power_w: float | None = None
    samples: int = 0
    unavailable: str | None = None


class PowerReading(BaseModel):
    """Every meter of a device over one window, plus the sampler's own cost."""

    duration_s: float
    iterations: int | None = Field(
        default=None, description="workload iterations run inside the window"
    )
    rate_hz: float
    meters: list[MeterReading]
    sampler_busy_s: float
    sampler_busy_fraction: float = Field(
        description="time the sampler spent in meter reads / window length (of one CPU core)"
    )
    min_window_s: float

    @property
    def unavailable(self) -> str | None:
        """Why there is no total, or None when every meter delivered."""
        if not self.meters:
            return "no power meter"
        bad = [m for m in self.meters if m.unavailable]
        if bad:
            return "; ".join(
                f"{m.meter['meter']} {m.meter['domain']}: {m.unavailable}" for m in bad
            )
        return None

    @property
    def energy_j(self) -> float | None:
        if self.unavailable:
            return None
        return sum(m.energy_j or 0.0 for m in self.meters)

    @property
    def avg_power_w(self) -> float | None:
        e = self.energy_j
        return None if e is None or self.duration_s <= 0 else e / self.duration_s


@dataclass
class _Track:
    meter: PowerMeter
    e0: float | None = None
    e_last: float | None = None
    samples: list[tuple[float, float]] = field(default_factory=list)
    reads: int = 0
    error: str | None = None


class PowerMonitor:
    """The power meters of one device for one run, and the sampling windows over them."""

    def __init__(
        self,
        meters: list[PowerMeter],
        unavailable: dict[str, str] | None = None,
        rate_hz: float = DEFAULT_RATE_HZ,
    ) -> None:
        if not rate_hz > 0:
            raise ValueError(f"power sampling rate {rate_hz}: expected a positive number of Hz")
        self.meters = meters
        self.unavailable = dict(unavailable or {})
        """meter name -> why it could not be opened."""
        self.rate_hz = rate_hz
        self.failed: dict[int, str] = {}
        """index in ``meters`` -> why it stopped working (sticky for the rest of the run)."""
        self._tracks: list[_Track] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._busy = 0.0
        self._t0 = 0.0

    @classmethod
    def for_device(cls, device: BaseDevice, rate_hz: float = DEFAULT_RATE_HZ) -> PowerMonitor:
        meters, reasons = open_meters(device)
        return cls(meters, reasons, rate_hz)

    @property
    def reason(self) -> str:
        """Why nothing (or not everything) can be measured on this device."""
        if self.unavailable:
            return "; ".join(f"{k}: {v}" for k, v in self.unavailable.items())
        return "no power meter applies to this device"

    @property
    def min_window_s(self) -> float:
        """The shortest window every meter can attribute energy to honestly."""
        # Sampled power also needs a handful of samples to integrate.
        return max(
            (
                max(m.min_window_s, 5 / self.rate_hz if m.mode == "power" else 0.0)
                for m in self.meters
            ),
            default=0.0,
        )

    # -- a window ----------------------------------------------------------------------------
    def _read(self, tr: _Track, now: float) -> None:
        t = time.perf_counter()
        try:
            if tr.meter.mode == "energy":
                tr.e_last = tr.meter.read_energy_j()
                if tr.e0 is None:
                    tr.e0 = tr.e_last
            else:
                tr.samples.append((now, tr.meter.read_power_w()))
            tr.reads += 1
        except (MeterError, OSError, RuntimeError, ValueError) as exc:
            tr.error = f"failed mid-run: {exc}"[:300]
        finally:
            self._busy += time.perf_counter() - t

    def _poll(self) -> None:
        period = 1.0 / self.rate_hz
        while not self._stop.wait(period):
            now = time.perf_counter()
            for tr in self._tracks:
                if tr.error is None:
                    self._read(tr, now)

    def start(self) -> None:
        """Open a window: first readings now, then background sampling."""
        self._busy = 0.0
        self._stop.clear()
        self._tracks = [_Track(m, error=self.failed.get(i)) for i, m in enumerate(self.meters)]
        self._t0 = time.perf_counter()
        for tr in self._tracks:
            if tr.error is None:
                self._read(tr, self._t0)
        self._thread = threading.Thread(target=self._poll, name="accelbench-power", daemon=True)
        self._thread.start()

    def elapsed(self) -> float:
        return time.perf_counter() - self._t0

    def stop(self, iterations: int | None = None) -> PowerReading:
        """Close the window with final readings and return what it measured."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        t1 = time.perf_counter()
        readings = []
        for i, tr in enumerate(self._tracks):
            if tr.error is None:
                self._read(tr, t1)
            if tr.error is not None:
                self.failed.setdefault(i, tr.error)
            readings.append(self._reading(tr, t1))
        duration = t1 - self._t0
        return PowerReading(
            duration_s=duration,
            iterations=iterations,
            rate_hz=self.rate_hz,
            meters=readings,
            sampler_busy_s=self._busy,
            sampler_busy_fraction=self._busy / duration if duration > 0 else 0.0,
            min_window_s=self.min_window_s,
        )

    def _reading(self, tr: _Track, t1: float) -> MeterReading:
        duration = t1 - self._t0
        info = tr.meter.describe()
        if tr.meter.mode == "energy":
            r = MeterReading(meter=info, method="energy-counter", samples=tr.reads)
            if tr.error:
                r.unavailable = tr.error
            elif tr.e0 is None or tr.e_last is None:
                r.unavailable = "no reading"
            else:
                r.energy_j = tr.e_last - tr.e0
                r.avg_power_w = r.energy_j / duration if duration > 0 else None
            return r
        r = MeterReading(meter=info, method="sampled-power", samples=len(tr.samples))
        if tr.error:
            r.unavailable = tr.error
        elif len(tr.samples) < 2:
            r.unavailable = "fewer than 2 power samples in the window"
        else:
            energy = sum(
                (t2 - ta) * (wa + w2) / 2
                for (ta, wa), (t2, w2) in zip(tr.samples, tr.samples[1:], strict=False)
            )
            r.energy_j = energy
            r.avg_power_w = energy / (tr.samples[-1][0] - tr.samples[0][0])
        return r

    def close(self) -> None:
        for m in self.meters:
            with contextlib.suppress(Exception):  # closing must never fail a run
                m.close()


def open_meters(device: BaseDevice) -> tuple[list[PowerMeter], dict[str, str]]:
    """Every meter that applies to ``device``, and why each applicable backend could not open."""
    meters: list[PowerMeter] = []
    reasons: dict[str, str] = {}
    for name, factory in METERS:
        try:
            meters.extend(factory(device))
        except MeterUnavailable as exc:
            reasons[name] = str(exc)
    return meters, reasons


def meter_status(device: BaseDevice) -> list[dict[str, Any]]:
    """What ``accelbench devices`` shows: each applicable meter, or why a backend is absent."""
    meters, reasons = open_meters(device)
    rows: list[dict[str, Any]] = [{**m.describe(), "available": True} for m in meters]
    rows += [{"meter": k, "available": False, "reason": v} for k, v in reasons.items()]
    for m in meters:
        m.close()
    return rows
