"""Is the host idle? The state of the machine around each measured case.

A timing taken while other processes compete for the CPUs (or a hypervisor gives the CPU to
other guests, or another process shares the GPU) is slower and noisier than the hardware is,
and a comparison that mixes it with an idle measurement says nothing about the hardware. So
every case records, around its run:

- the CPU time other processes used, in CPUs' worth (``psutil.cpu_times`` of the whole machine
  minus this process and its children: ``/proc/stat`` on Linux);
- the share of CPU time stolen by the hypervisor (the ``steal`` column of ``/proc/stat``);
- the 1-minute load average (recorded, not judged: it lags by a minute and counts this run);
- on a device with a management interface, the device's own report (other processes on it,
  clocks and throttle reasons; NVML through :meth:`BaseDevice.activity`).

A case is *busy* when other processes used more than ``BUSY_OTHER_CPUS`` CPUs on average,
more than ``BUSY_STEAL_PCT`` % of CPU time was stolen, another process ran on the device, or
the device slowed itself down (thermal or hardware slowdown, power brake).

The readers are injected (:class:`HostReaders`), so tests play a loaded or stolen-from host
without loading the machine.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil

from accelbench.results.schema import DeviceActivity, HostState

BUSY_OTHER_CPUS = 0.25
"""Other processes using more than a quarter of one logical CPU, sustained over the window,
mark the host busy: background daemons on an idle machine stay far below (a few hundredths)."""
BUSY_STEAL_PCT = 5.0
"""More than 5% of CPU time stolen by the hypervisor marks the host busy."""
MIN_WINDOW_S = 1.0
"""Shorter cases are judged over the last second (the case and what ran just before it):
``/proc/stat`` counts in clock ticks (usually 10 ms), too coarse for a 20 ms window."""
MIN_OTHER_S = 0.05
"""Other processes' time below 5 clock ticks is rounding, whatever share it makes."""
_HISTORY = 256


def _own_cpu_seconds() -> float:
    """CPU seconds of this process, its reaped children, and its live descendants.

    Live descendants (torch.compile's worker pool, data loader workers, a launcher's ranks) are
    found through ``/proc/<pid>/task/<tid>/children``, which is far cheaper than scanning every
    process as ``psutil.Process.children`` does; where that file does not exist they are
    counted when reaped.
    """
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    seen: set[int] = set()
    todo = [me.pid]
    while todo:
        pid = todo.pop()
        for path in glob.glob(f"/proc/{pid}/task/*/children"):
            try:
                with open(path) as f:
                    kids = [int(x) for x in f.read().split()]
            except (OSError, ValueError):
                continue
            for kid in kids:
                if kid in seen:
                    continue
                seen.add(kid)
                todo.append(kid)
                try:
                    ct = psutil.Process(kid).cpu_times()
                    total += ct.user + ct.system
                except (psutil.Error, OSError):
                    continue
    return total


def _device_none() -> DeviceActivity | None:
    return None


def _loadavg() -> tuple[float, float, float]:
    return os.getloadavg()  # AttributeError on Windows: recorded as unavailable


@dataclass
class HostReaders:
    """Where the numbers come from; tests replace any of them."""

    cpu_times: Callable[[], Any] = psutil.cpu_times
    """System-wide CPU times in seconds (fields user, nice, system, idle, iowait, irq, softirq,
    steal where the OS has them)."""
    own_cpu_seconds: Callable[[], float] = _own_cpu_seconds
    loadavg: Callable[[], tuple[float, float, float]] = _loadavg
    logical_cpus: Callable[[], int | None] = psutil.cpu_count
    clock: Callable[[], float] = time.monotonic
    device: Callable[[], DeviceActivity | None] = _device_none
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Reading:
    t: float
    busy_s: float | None
    total_s: float | None
    steal_s: float | None
    own_s: float | None
    error: str | None = None


_BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")
# guest and guest_nice are already inside user and nice on Linux (proc(5)).
_TOTAL_FIELDS = (*_BUSY_FIELDS, "idle", "iowait", "steal")


def _why(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]


@dataclass
class HostMonitor:
    """Takes readings and turns two of them into a :class:`HostState`.

    ``mark()`` before a case, ``state(mark)`` after it. Readings are kept for a while so a
    short case is judged over at least ``min_window_s``.
    """

    readers: HostReaders = field(default_factory=HostReaders)
    min_window_s: float = MIN_WINDOW_S
    busy_other_cpus: float = BUSY_OTHER_CPUS
    busy_steal_pct: float = BUSY_STEAL_PCT
    history: list[Reading] = field(default_factory=list)

    def _read(self) -> Reading:
        t = self.readers.clock()
        try:
            ct = self.readers.cpu_times()
            busy = sum(float(getattr(ct, f, 0.0)) for f in _BUSY_FIELDS)
            total = sum(float(getattr(ct, f, 0.0)) for f in _TOTAL_FIELDS)
            steal = float(ct.steal) if hasattr(ct, "steal") else None
        except Exception as exc:  # a missing /proc must not stop a benchmark
            return Reading(t, None, None, None, None, f"CPU times: {_why(exc)}")
        try:
            own = float(self.readers.own_cpu_seconds())
        except Exception as exc:
            return Reading(t, busy, total, steal, None, f"own CPU time: {_why(exc)}")
        return Reading(t, busy, total, steal, own)

    def mark(self) -> Reading:
        r = self._read()
        self.history.append(r)
        del self.history[:-_HISTORY]
        return r

    def _window_start(self, start: Reading, end: Reading) -> Reading:
        """``start``, or an earlier reading when the window would be shorter than the minimum."""
        if end.t - start.t >= self.min_window_s:
            return start
        best = start
        for r in self.history:
            if r.t <= end.t - self.min_window_s and r.busy_s is not None:
                best = r  # the latest reading that still gives the minimum window
        if best is start:
            # Not enough history: take the earliest usable reading (the window stays short).
            usable = [r for r in self.history if r.busy_s is not None and r.t < start.t]
            if usable:
                best = usable[0]
        return best

    def state(self, start: Reading) -> HostState:
        """The host's state from ``start`` (a :meth:`mark`) to now."""
        end = self.mark()
        first = self._window_start(start, end)
        window = max(end.t - first.t, 0.0)
        unavailable: dict[str, str] = {}
        cpus = self._cpus(unavailable)
        load = self._load(unavailable)
        other = own = steal_pct = None
        reasons: list[str] = []
        if first.error or end.error:
            unavailable["cpu"] = first.error or end.error or "no reading"
        elif first.busy_s is not None and end.busy_s is not None and window > 0:
            used = end.busy_s - first.busy_s
            if end.own_s is not None and first.own_s is not None:
                own_s = max(end.own_s - first.own_s, 0.0)
                other_s = max(used - own_s, 0.0)
                # Tick accounting and the monotonic clock disagree by a tick or two: clamp.
                own = min(own_s / window, cpus)
                other = min(other_s / window, cpus)
                if other > self.busy_other_cpus and other_s >= MIN_OTHER_S:
                    reasons.append(
                        f"other processes used {other:.2f} CPUs of {cpus} "
                        f"(this run {own:.2f}) over {window:.1f} s"
                    )
            if (
                end.steal_s is not None
                and first.steal_s is not None
                and end.total_s is not None
                and first.total_s is not None
            ):
                total = end.total_s - first.total_s
                if total > 0:
                    steal_pct = 100.0 * (end.steal_s - first.steal_s) / total
                    if steal_pct > self.busy_steal_pct:
                        reasons.append(f"hypervisor steal {steal_pct:.1f}% of CPU time")
            else:
                unavailable["steal"] = "this OS reports no steal time"
        else:
            unavailable["cpu"] = "no time passed between the readings"
        device = self._device(unavailable)
        if device is not None:
            if device.other_processes:
                reasons.append(
                    f"{len(device.other_processes)} other process(es) on the device: "
                    + ", ".join(device.other_processes[:4])
                )
            if device.slowdown:
                reasons.append("device clocks slowed: " + ", ".join(device.slowdown))
        return HostState(
            window_s=window,
            logical_cpus=cpus,
            load_avg_1m=load,
            other_cpus=other,
            own_cpus=own,
            steal_pct=steal_pct,
            device=device,
            busy=bool(reasons),
            reasons=reasons,
            unavailable=unavailable,
        )

    def _cpus(self, unavailable: dict[str, str]) -> int:
        try:
            n = self.readers.logical_cpus()
        except Exception as exc:
            unavailable["logical_cpus"] = _why(exc)
            return 1
        return int(n) if n else 1

    def _load(self, unavailable: dict[str, str]) -> float | None:
        try:
            return float(self.readers.loadavg()[0])
        except (OSError, AttributeError) as exc:  # Windows has no load average
            unavailable["load_avg"] = _why(exc)
            return None

    def _device(self, unavailable: dict[str, str]) -> DeviceActivity | None:
        try:
            return self.readers.device()
        except Exception as exc:  # a management library that fails must not stop the run
            unavailable["device"] = _why(exc)
            return None

    def sample(self, seconds: float) -> HostState:
        """The host's state over the next ``seconds`` (before a run starts)."""
        start = self.mark()
        self.readers.sleep(seconds)
        return self.state(start)


def summary_line(state: HostState) -> str:
    """One line with the numbers: what a user sees when a run starts or a case is flagged."""
    parts = []
    if state.other_cpus is not None:
        parts.append(f"other processes {state.other_cpus:.2f} CPUs of {state.logical_cpus}")
    if state.steal_pct is not None:
        parts.append(f"steal {state.steal_pct:.1f}%")
    if state.load_avg_1m is not None:
        parts.append(f"load {state.load_avg_1m:.2f}")
    d = state.device
    if d is not None and d.unavailable is None:
        if d.other_processes is not None:
            parts.append(f"{len(d.other_processes)} other device process(es)")
        if d.sm_clock_mhz is not None and d.max_sm_clock_mhz:
            parts.append(f"SM clock {d.sm_clock_mhz:.0f}/{d.max_sm_clock_mhz:.0f} MHz")
    return ", ".join(parts) or "nothing could be read"
