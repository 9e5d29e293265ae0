"""Huawei Ascend NPU power through the ``npu-smi`` command-line tool (it ships with the driver).

Command: ``npu-smi info -t power -i <NPU ID>`` (the whole card), or with ``-c <chip id>`` one
chip. Huawei documents the output as ``key : value`` lines (npu-smi reference, "查询所有芯片功率"
/ "查询指定芯片功率", e.g. https://www.hiascend.com/document/detail/zh/Atlas%20200I%20A2/2520/re/npu/npusmi_023.html
and ``npusmi_024.html``)::

    NPU ID                         : 0
    Chip Count                     : 1

    Chip ID                        : 0
    NPU Real-time Power(W)         : 9.1

    Power Dissipation(W)           : 16.9
    Chip Name                      : MCU

``NPU Real-time Power(W)`` is the chip's power and ``Power Dissipation(W)`` the whole card's
("整卡实时功率"); Atlas training cards (910) print only ``Power Dissipation(W)``, which is
also the line Huawei's own ais_bench reads. Which line is used:

* no chip given: ``Power Dissipation(W)``, the card -- the analogue of NVML's board power --
  else the chip's real-time power where the card has a single chip;
* a chip given: that chip's real-time power, else ``Power Dissipation(W)``.

The meter says which line it read (``field`` in :meth:`NpuSmiMeter.describe`). ``mode`` is
``"power"``: npu-smi has no energy counter; the session samples and integrates.

Which card: npu-smi numbers cards by "NPU ID", torch numbers visible chips (after
``ASCEND_RT_VISIBLE_DEVICES``) from 0. By default the card is the device index mapped through
``ASCEND_RT_VISIBLE_DEVICES`` where that is set -- right on the common one-chip-per-card
servers (Atlas 800 with 910/910B) whose NPU IDs run 0..N-1, wrong elsewhere. Override with
``ACCELBENCH_NPU_CARD``: ``"4"`` (card 4) or ``"4:1"`` (card 4, chip 1) for the device, or a
comma list indexed by device index (``"0:0,0:1"``); ``npu-smi info -m`` lists the mapping.

npu-smi is slow (a process, a driver query; tenths of a second): the meter measures every call
(``last_call_s``, ``mean_call_s``) and reports at least a 1 s update interval.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from accelbench.power.base import METERS, MeterError, MeterUnavailable, PowerMeter

if TYPE_CHECKING:
    from accelbench.devices.base import BaseDevice

NPU_SMI: str | None = None
"""Path of the npu-smi executable; None: ``$ACCELBENCH_NPU_SMI``, else ``npu-smi`` on PATH."""
ENV_EXE = "ACCELBENCH_NPU_SMI"
ENV_CARD = "ACCELBENCH_NPU_CARD"
TIMEOUT_S = 10.0
MIN_UPDATE_INTERVAL_S = 1.0

CARD_FIELD = "power dissipation(w)"
_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")
_EXCLUDE = ("rated", "limit", "cap", "max", "min")


def _first_line(*texts: str) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return line.strip()[:300]
    return "(no output)"


def parse_power(text: str, chip: int | None = None) -> tuple[float, str]:
    """The power in watts from ``npu-smi info -t power`` output, and the line it came from.

    Raises ValueError when no usable power line is found."""
    chip_count: int | None = None
    current_chip: int | None = None
    found: list[tuple[str, str, int | None]] = []  # (key, value, chip section)
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        low = key.lower()
        if low == "chip count":
            chip_count = int(value) if value.isdigit() else None
        elif low == "chip id":
            current_chip = int(value) if value.isdigit() else None
        elif "power" in low and "(w)" in low and not any(x in low for x in _EXCLUDE):
            found.append((key, value, current_chip))
    card = [f for f in found if f[0].lower() == CARD_FIELD]
    chip_lines = [f for f in found if "real-time" in f[0].lower()]
    if chip is not None:
        mine = [f for f in chip_lines if f[2] in (chip, None)]
        order = mine + card
    else:
        single = chip_count is None or chip_count <= 1
        order = card + (chip_lines if single and len(chip_lines) == 1 else [])
    order += [f for f in found if f not in card and f not in chip_lines]  # e.g. "Power(W)"
    for key, value, _ in order:
        try:
            watts = float(value)
        except ValueError:  # "NA": not supported on this card
            continue
        if watts >= 0:
            return watts, key
    raise ValueError("no power line in npu-smi output")


def _executable() -> str:
    explicit = NPU_SMI or os.environ.get(ENV_EXE)
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise MeterUnavailable(f"npu-smi at {explicit} is not an executable file")
        return explicit
    found = shutil.which("npu-smi")
    if found is None:
        raise MeterUnavailable(
            "npu-smi not found on PATH (it ships with the Ascend driver, usually "
            f"/usr/local/sbin/npu-smi); set {ENV_EXE} to its path"
        )
    return found


def card_and_chip(device_index: int) -> tuple[int, int | None, str]:
    """npu-smi's (NPU ID, chip ID or None) for a device index, and how it was chosen."""
    value = os.environ.get(ENV_CARD, "").strip()
    if value:
        entries = [e.strip() for e in value.split(",")]
        entry = entries[0] if len(entries) == 1 else None
        if len(entries) > 1:
            if device_index >= len(entries):
                raise MeterUnavailable(
                    f"{ENV_CARD}={value!r} names {len(entries)} devices; no entry for device "
                    f"{device_index}"
                )
            entry = entries[device_index]
        card, sep, chip = (entry or "").partition(":")
        if not card.isdigit() or (sep and not chip.isdigit()):
            raise MeterUnavailable(
                f"{ENV_CARD}={value!r}: expected 'card' or 'card:chip' (integers), or a comma "
                "list of those indexed by device"
            )
        return int(card), int(chip) if sep else None, f"{ENV_CARD}={value}"
    visible = os.environ.get("ASCEND_RT_VISIBLE_DEVICES")
    if visible is not None:
        ids = [x.strip() for x in visible.split(",") if x.strip()]
        if not all(x.isdigit() for x in ids) or device_index >= len(ids):
            raise MeterUnavailable(
                f"ASCEND_RT_VISIBLE_DEVICES={visible!r} does not map device {device_index} to "
                f"an npu-smi card; set {ENV_CARD}"
            )
        card = int(ids[device_index])
        return (
            card,
            None,
            (
                f"device index {device_index} through ASCEND_RT_VISIBLE_DEVICES (assumes one chip "
                f"per card and NPU IDs from 0; set {ENV_CARD} otherwise)"
            ),
        )
    return (
        device_index,
        None,
        (f"device index (assumes one chip per card and NPU IDs from 0; set {ENV_CARD} otherwise)"),
    )


class NpuSmiMeter(PowerMeter):
    """One Ascend card (or one chip of it), sampled by running npu-smi."""

    name = "npu-smi"
    mode = "power"
    averaging_window_s = 0.0

    def __init__(
        self, exe: str, card: int, chip: int | None = None, card_by: str = "explicit"
    ) -> None:
        self.exe = exe
        self.card = card
        self.chip = chip
        self.card_by = card_by
        self.domain = f"NPU card {card}" + (f" chip {chip}" if chip is not None else "")
        self.command = [exe, "info", "-t", "power", "-i", str(card)]
        if chip is not None:
            self.command += ["-c", str(chip)]
        self.field: str | None = None
        """The output line the last reading came from."""
        self.last_call_s: float | None = None
        self.calls = 0
        self._call_total_s = 0.0
        self.update_interval_s = MIN_UPDATE_INTERVAL_S

    @property
    def mean_call_s(self) -> float | None:
        return self._call_total_s / self.calls if self.calls else None

    def read_power_w(self) -> float:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(self.command, capture_output=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise MeterError(f"{' '.join(self.command)} took over {TIMEOUT_S:g} s") from exc
        except OSError as exc:
            raise MeterError(f"{' '.join(self.command)}: {exc}") from exc
        finally:
            self.last_call_s = time.perf_counter() - t0
            self.calls += 1
            self._call_total_s += self.last_call_s
        out = proc.stdout.decode(errors="replace")
        err = proc.stderr.decode(errors="replace")
        if proc.returncode != 0:
            raise MeterError(
                f"npu-smi {' '.join(self.command[1:])} exited with {proc.returncode}: "
                f"{_first_line(out, err)}"
            )
        try:
            watts, self.field = parse_power(out, self.chip)
        except ValueError:
            raise MeterError(
                f"npu-smi {' '.join(self.command[1:])}: no power reading in its output: "
                f"{_first_line(out, err)}"
            ) from None
        return watts

    def describe(self) -> dict[str, object]:
        return {
            **super().describe(),
            "command": " ".join(self.command),
            "card_by": self.card_by,
            "field": self.field,
            "last_call_s": self.last_call_s,
            "mean_call_s": self.mean_call_s,
        }


@METERS.register("npu-smi")
def npu_smi_meters(device: BaseDevice) -> list[PowerMeter]:
    """The card meter of an ``npu`` device; [] for anything else."""
    if device.kind != "npu":
        return []
    exe = _executable()
    card, chip, card_by = card_and_chip(device.index)
    meter = NpuSmiMeter(exe, card, chip, card_by)
    try:
        meter.read_power_w()  # fails here, not in the middle of the first benchmark
    except MeterError as exc:
        raise MeterUnavailable(str(exc)) from None
    # npu-smi's value changes about once a second; reading faster than a call takes is moot.
    meter.update_interval_s = max(MIN_UPDATE_INTERVAL_S, meter.last_call_s or 0.0)
    return [meter]
