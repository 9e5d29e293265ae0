"""Is the host idle enough to start measuring? (``accelbench run`` checks before it starts.)

A run on a loaded machine stores slow, noisy numbers that look like the hardware's. ``run``
samples the host for a moment first and warns when it is busy; with ``--require-idle`` it
waits, up to a bound, for the host to settle and refuses to start if it does not. Every case
is judged again while it runs (:mod:`accelbench.hoststate`), so a load that starts later is
flagged on the cases it touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accelbench.devices import BaseDevice, make_device
from accelbench.errors import UserError
from accelbench.hoststate import HostMonitor, HostReaders, summary_line
from accelbench.results.schema import HostState

DEFAULT_WINDOW_S = 1.0
DEFAULT_WAIT_S = 60.0


class HostBusy(UserError):
    """``--require-idle`` and the host did not settle in time: one line with the numbers."""


@dataclass
class HostCheck:
    state: HostState
    waited_s: float
    """How long it waited for the host to settle (0 when it was idle at once)."""

    @property
    def idle(self) -> bool:
        return not self.state.busy

    def describe(self) -> str:
        if not self.state.reasons:
            return f"idle ({summary_line(self.state)})"
        load = self.state.load_avg_1m
        return "; ".join(self.state.reasons) + (f"; load {load:.2f}" if load is not None else "")


def check_host(
    device: str | BaseDevice,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    wait_s: float = 0.0,
    readers: HostReaders | None = None,
    on_busy: Callable[[HostCheck], None] | None = None,
) -> HostCheck:
    """Sample the host over ``window_s``; while it is busy and less than ``wait_s`` has passed,
    sample again (``on_busy`` hears about each busy window)."""
    if not 0 < window_s <= 60:
        raise UserError(f"--idle-check {window_s:g}: expected a window of 0 to 60 s")
    if not 0 <= wait_s <= 86_400:
        raise UserError(f"--idle-wait {wait_s:g}: expected 0 to 86400 s")
    dev = make_device(device) if isinstance(device, str) else device
    r = readers or HostReaders()
    if readers is None:
        r.device = dev.activity
    monitor = HostMonitor(r)
    t0 = r.clock()
    while True:
        state = monitor.sample(window_s)
        elapsed = r.clock() - t0
        check = HostCheck(state, max(elapsed - window_s, 0.0))
        if check.idle or elapsed + window_s > wait_s:
            return check
        if on_busy is not None:
            on_busy(check)


def require_idle(
    device: str | BaseDevice,
    *,
    window_s: float = DEFAULT_WINDOW_S,
    wait_s: float = DEFAULT_WAIT_S,
    readers: HostReaders | None = None,
    on_busy: Callable[[HostCheck], None] | None = None,
) -> HostCheck:
    """Wait up to ``wait_s`` for an idle window; :class:`HostBusy` if none came."""
    check = check_host(device, window_s=window_s, wait_s=wait_s, readers=readers, on_busy=on_busy)
    if not check.idle:
        raise HostBusy(
            f"--require-idle: the host was still busy after waiting {check.waited_s:.0f} s "
            f"(--idle-wait {wait_s:g}): {check.describe()}"
        )
    return check
