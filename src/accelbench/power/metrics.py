"""Power fields of a result: average power, energy per iteration and per sample, net energy.

Every ok result gets the same fields, measured or ``unavailable`` with the reason: never 0,
never a guess. Net energy subtracts the device's stored idle power (``accelbench
idle-power``), the study's way of separating what the work costs from what the powered-on
chip costs anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelbench.power.session import PowerReading
from accelbench.results.schema import Metric


@dataclass(frozen=True)
class IdlePower:
    """A stored idle-power measurement of this device, or why there is none."""

    watts: float | None
    result_id: str | None = None
    reason: str | None = None


POWER_METRICS = (
    ("power_avg_w", "W"),
    ("energy_per_iter_j", "J"),
    ("energy_per_sample_j", "J/sample"),
    ("net_energy_per_iter_j", "J"),
)


def power_metrics(
    reading: PowerReading | None,
    unavailable_reason: str,
    samples_per_s: float | None,
    idle: IdlePower,
) -> tuple[dict[str, Metric], dict[str, Any]]:
    """The power metrics of one case and the config that explains them."""
    why = unavailable_reason if reading is None else reading.unavailable
    if reading is None or why or not reading.iterations:
        why = why or "no iterations in the power window"
        return {name: Metric.missing(unit, why) for name, unit in POWER_METRICS}, (
            {"power": reading.model_dump()} if reading is not None else {}
        )
    energy = reading.energy_j or 0.0
    avg = reading.avg_power_w or 0.0
    per_iter = energy / reading.iterations
    metrics = {
        "power_avg_w": Metric(value=avg, unit="W"),
        "energy_per_iter_j": Metric(value=per_iter, unit="J"),
        "energy_per_sample_j": (
            Metric(value=avg / samples_per_s, unit="J/sample")
            if samples_per_s
            else Metric.missing("J/sample", "this workload has no samples per iteration")
        ),
    }
    config: dict[str, Any] = {"power": reading.model_dump()}
    if idle.watts is not None:
        net = (avg - idle.watts) * reading.duration_s / reading.iterations
        metrics["net_energy_per_iter_j"] = Metric(value=net, unit="J")
        config["power"]["idle"] = {"watts": idle.watts, "result_id": idle.result_id}
    else:
        metrics["net_energy_per_iter_j"] = Metric.missing("J", idle.reason or "no idle power")
    return metrics, config
