"""Measure a device's idle power (``accelbench idle-power``).

Idle power drifts with temperature and clocks, so every call is a new measurement (no resume);
later results on the device report their net energy above the newest one.
"""

from __future__ import annotations

from accelbench.api.plan import validate_suite
from accelbench.api.runner import Reporter, RunReport, run_suite
from accelbench.errors import UserError
from accelbench.power.session import DEFAULT_RATE_HZ


def measure_idle_power(
    device: str,
    db: str,
    *,
    seconds: float = 30.0,
    settle_s: float = 2.0,
    power_rate_hz: float = DEFAULT_RATE_HZ,
    reporter: Reporter | None = None,
) -> RunReport:
    """Wait ``settle_s``, then measure power over ``seconds`` with nothing running."""
    if not 0 < seconds <= 3600:
        raise UserError(f"--seconds {seconds:g}: expected a window between 0 and 3600 s")
    if not 0 <= settle_s <= 600:
        raise UserError(f"--settle {settle_s:g}: expected 0 to 600 s")
    suite = validate_suite(
        {
            "name": "idle-power",
            "workloads": [
                {
                    "name": "idle-power",
                    "kind": "idle-power",
                    "params": {"seconds": seconds, "settle_s": settle_s},
                }
            ],
        },
        "accelbench idle-power",
    )
    return run_suite(
        suite,
        device=device,
        db=db,
        resume=False,
        reporter=reporter,
        power_rate_hz=power_rate_hz,
    )
