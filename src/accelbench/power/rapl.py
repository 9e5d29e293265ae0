"""CPU package and DRAM energy through RAPL, read from Linux's powercap sysfs interface.

Layout (``/sys/class/powercap``, the ``intel_rapl_msr`` driver):

* ``intel-rapl:N`` -- one zone per CPU package (socket), ``name`` = ``package-N``; on some
  laptops also a ``psys`` (whole platform) zone;
* ``intel-rapl:N:M`` -- subzones of package N, ``name`` = ``core``, ``uncore`` (integrated
  GPU) or ``dram``;
* each zone has ``energy_uj`` (a cumulative counter in microjoules) and
  ``max_energy_range_uj`` (where that counter wraps back to 0).

AMD Zen CPUs appear under the same ``intel-rapl`` names (package, and core) on kernels >= 5.8;
``amd-rapl`` prefixes are accepted too, should a kernel use them. ``intel-rapl-mmio`` zones
repeat the package through a second interface and are skipped.

Meters: one per package and one per DRAM subzone (``mode = "energy"``). ``core`` and
``uncore`` are parts of their package and ``psys`` contains the packages, so metering them too
would count the same joules twice in the session's total; they are listed in
:func:`rapl_domains` and in each meter's :meth:`RaplMeter.describe`, not metered.

RAPL measures the whole socket: every process on the machine, not only the benchmark. The
counters update about every millisecond.

Permissions: since Linux 5.10 (CVE-2020-8694, the "Platypus" side channel) ``energy_uj`` is
readable only by root; such a meter is unavailable with that reason, never estimated.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice

POWERCAP_ROOT = Path("/sys/class/powercap")
"""Where the powercap zones live; tests point it at a fake tree."""

UPDATE_INTERVAL_S = 0.001
"""RAPL's counters advance about once a millisecond."""

_ZONE = re.compile(r"^(intel-rapl|amd-rapl):(\d+)(?::(\d+))?$")
_METERED = {"package", "dram"}


def _zone_kind(name: str) -> str:
    """``package-0`` -> ``package``; ``dram`` -> ``dram``."""
    return re.sub(r"-\d+$", "", name.strip()).lower()


def _permission_reason(path: Path) -> str:
    return (
        f"{path} is readable only by root since Linux 5.10 (CVE-2020-8694); run as root or "
        "`sudo chmod o+r` it"
    )


def _zones(root: Path) -> list[tuple[Path, int, int | None]]:
    """``(zone dir, package number, subzone number or None)``, packages before subzones."""
    found = []
    for p in root.iterdir():
        m = _ZONE.match(p.name)
        if m:
            found.append((p, int(m.group(2)), None if m.group(3) is None else int(m.group(3))))
    return sorted(found, key=lambda z: (z[1], -1 if z[2] is None else z[2], z[0].name))


def rapl_domains(root: Path | None = None) -> list[dict[str, object]]:
    """Every RAPL zone under ``root``: its path, name, whether it is metered (and if not, why),
    and whether its counter is readable by this process."""
    root = POWERCAP_ROOT if root is None else root
    if not root.is_dir():
        return []
    out: list[dict[str, object]] = []
    for path, pkg, _sub in _zones(root):
        try:
            name = (path / "name").read_text().strip()
        except OSError as exc:
            out.append({"path": str(path), "name": None, "metered": False, "why": str(exc)})
            continue
        kind = _zone_kind(name)
        row: dict[str, object] = {"path": str(path), "name": name, "package": pkg}
        if kind in _METERED:
            row["metered"] = True
        elif kind in ("core", "uncore"):
            row["metered"] = False
            row["why"] = f"part of package {pkg}, which is metered"
        elif kind == "psys":
            row["metered"] = False
            row["why"] = "the whole platform, which contains the packages"
        else:
            row["metered"] = False
            row["why"] = f"unknown RAPL domain {name!r}"
        try:
            int((path / "energy_uj").read_text())
            row["readable"] = True
        except (OSError, ValueError):
            row["readable"] = False
        out.append(row)
    return out


class RaplMeter(PowerMeter):
    """One RAPL zone's energy counter, corrected for wrap-around.

    The raw counter wraps to 0 at ``max_energy_range_uj``. The meter keeps the last raw value
    and adds one range whenever a read is smaller than it. That is only correct if the counter
    is read at least once per wrap period -- ``max_energy_range_uj / power``, typically tens of
    minutes at 100 W (about 44 min for a 262 kJ range), but shorter on big sockets; the
    sampling session reads it at about 10 Hz inside a window. Between windows nobody reads it,
    so the absolute value may be off by whole ranges, but a window only uses differences of
    reads taken inside it.
    """

    name = "rapl"
    mode = "energy"
    update_interval_s = UPDATE_INTERVAL_S
    averaging_window_s = 0.0

    def __init__(self, zone: Path, domain: str, others: list[dict[str, object]]) -> None:
        self.zone = zone
        self.domain = domain
        self._others = others
        self._energy = zone / "energy_uj"
        self._lock = threading.Lock()
        try:
            self.max_range_uj = int((zone / "max_energy_range_uj").read_text())
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(
                f"{zone / 'max_energy_range_uj'} unreadable ({exc}): wrap-around of the "
                "energy counter could not be corrected"
            ) from exc
        if self.max_range_uj <= 0:
            raise MeterUnavailable(f"{zone / 'max_energy_range_uj'} is {self.max_range_uj}")
        try:
            self._last = self._raw()
        except PermissionError:
            raise MeterUnavailable(_permission_reason(self._energy)) from None
        except (OSError, ValueError) as exc:
            raise MeterUnavailable(f"{self._energy} unreadable: {exc}") from exc
        self._wraps = 0

    def _raw(self) -> int:
        return int(self._energy.read_text())

    def read_energy_j(self) -> float:
        """Joules since the meter was opened plus the counter's value then (monotonic)."""
        with self._lock:
            try:
                raw = self._raw()
            except PermissionError as exc:
                raise MeterError(_permission_reason(self._energy)) from exc
            except (OSError, ValueError) as exc:
                raise MeterError(f"{self._energy}: {exc}") from exc
            if raw < self._last:
                self._wraps += 1
            self._last = raw
            return (raw + self._wraps * self.max_range_uj) / 1e6

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "path": str(self.zone),
            "max_energy_range_uj": self.max_range_uj,
            "scope": "the whole socket (all processes)",
            "other_domains": self._others,
        }


@METERS.register("rapl")
def rapl_meters(device: BaseDevice, root: Path | None = None) -> list[PowerMeter]:
    """One meter per CPU package and per DRAM domain for the ``cpu`` device; [] otherwise."""
    if device.kind != "cpu":
        return []
    root = POWERCAP_ROOT if root is None else root
    if not root.is_dir():
        raise MeterUnavailable(f"no RAPL powercap interface: {root} absent (VM or non-x86 kernel)")
    domains = rapl_domains(root)
    if not domains:
        raise MeterUnavailable(
            f"no RAPL zones under {root} (the intel_rapl_msr driver is not loaded, or this "
            "CPU or hypervisor exposes none)"
        )
    metered = [d for d in domains if d.get("metered")]
    if not metered:
        names = ", ".join(str(d["name"]) for d in domains)
        raise MeterUnavailable(f"RAPL exposes no package or DRAM domain under {root} ({names})")
    others = [d for d in domains if not d.get("metered")]
    meters: list[PowerMeter] = []
    for d in metered:
        kind = _zone_kind(str(d["name"]))
        label = "CPU package" if kind == "package" else "DRAM"
        # A meter that cannot open makes the whole backend unavailable: a CPU total missing
        # one socket or its DRAM would be a wrong number that looks right.
        meters.append(RaplMeter(Path(str(d["path"])), f"{label} {d['package']}", others))
    return meters
