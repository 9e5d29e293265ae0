"""Bounds on the numbers a user gives on the command line, and what this machine can use.

A number outside what the machine can use is a mistake to report in one line that says the
bound, never a MemoryError or OverflowError from deep inside torch or SQLite (``--threads
100000`` made torch try to start 100,000 threads; a 23-digit ``--limit`` overflowed SQLite's
64-bit integers). The CLI parses options and calls these; the bounds live here so that every
front end (CLI, notebooks through :mod:`accelbench.api`) applies the same ones.
"""

from __future__ import annotations

import math
import os

from accelbench.errors import UserError

POWER_RATE_MIN_HZ = 1.0
"""A sampled meter needs 5 samples in a timed window, so a slower rate stretches every timed
case (0.05 Hz made each one last 100 s)."""
POWER_RATE_MAX_HZ = 100.0
"""Faster sampling makes the sampling thread compete with the work it measures on the CPU."""
MAX_PRICE_PER_HOUR = 1e6
MAX_ROWS = 2**63 - 1
"""SQLite integers are signed 64-bit: the most rows a store can hold or a query can ask for."""


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask, which containers and
    ``taskset`` narrow), else every logical CPU of the host."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def check_threads(threads: int, option: str = "--threads") -> int:
    """A CPU intra-op thread count this machine can run: 1 to its usable logical CPUs.

    More threads than CPUs only time-slice the same cores: the measurement would be of the
    scheduler, not of the device."""
    cpus = usable_cpus()
    if not 1 <= threads <= cpus:
        raise UserError(
            f"{option} {threads}: expected 1 to {cpus} (the logical CPUs this process may use)"
        )
    return threads


def check_power_rate(hz: float, option: str = "--power-rate") -> float:
    if math.isfinite(hz) and POWER_RATE_MIN_HZ <= hz <= POWER_RATE_MAX_HZ:
        return hz
    if math.isfinite(hz) and hz > POWER_RATE_MAX_HZ:
        why = "faster sampling competes with the work it measures"
    elif math.isfinite(hz) and hz > 0:
        why = f"a sampled meter needs 5 samples per timed case: {hz:g} Hz stretches each "
        why += f"to {5 / hz:g} s"
    else:
        why = "a rate is a positive number"
    raise UserError(
        f"{option} {hz:g}: expected {POWER_RATE_MIN_HZ:g} to {POWER_RATE_MAX_HZ:g} samples per "
        f"second ({why})"
    )


def check_price(price: float, option: str) -> float:
    if not (math.isfinite(price) and 0 < price <= MAX_PRICE_PER_HOUR):
        raise UserError(
            f"{option} {price:g}: expected a positive hourly price in USD, at most "
            f"{MAX_PRICE_PER_HOUR:g}"
        )
    return price


def check_count(n: int, option: str, minimum: int = 1, maximum: int = MAX_ROWS) -> int:
    if not minimum <= n <= maximum:
        raise UserError(f"{option} {n}: expected {minimum} to {maximum}")
    return n
