"""Power fields of a result: average power, energy per iteration and per sample.

Every ok timed result gets the same fields, measured or ``unavailable`` with the reason: never
0, never a guess. Net energy above the device's idle power (the study's way of separating what
the work costs from what the powered-on chip costs anyway) is a derived number, computed in
:mod:`accelbench.analysis.derived` from these facts and the stored idle-power result.
"""

from __future__ import annotations

from typing import Any

from accelbench.power.session import PowerReading
from accelbench.results.schema import Metric

POWER_METRICS = (
    ("power_avg_w", "W"),
    ("energy_per_iter_j", "J"),
    ("energy_per_sample_j", "J/sample"),
)


def power_metrics(
    reading: PowerReading | None,
    unavailable_reason: str,
    samples_per_s: float | None,
) -> tuple[dict[str, Metric], dict[str, Any]]:
    """The power metrics of one case and the config (the power window) that explains them."""
    why = unavailable_reason if reading is None else reading.unavailable
    if reading is None or why or not reading.iterations:
        why = why or "no iterations in the power window"
        return {name: Metric.missing(unit, why) for name, unit in POWER_METRICS}, (
            {"power": reading.model_dump()} if reading is not None else {}
        )
    energy = reading.energy_j or 0.0
    avg = reading.avg_power_w or 0.0
    metrics = {
        "power_avg_w": Metric(value=avg, unit="W"),
        "energy_per_iter_j": Metric(value=energy / reading.iterations, unit="J"),
        "energy_per_sample_j": (
            Metric(value=avg / samples_per_s, unit="J/sample")
            if samples_per_s
            else Metric.missing("J/sample", "this workload has no samples per iteration")
        ),
    }
    return metrics, {"power": reading.model_dump()}
