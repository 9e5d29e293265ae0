"""Power and energy per configuration, and idle power, where a meter measured them."""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.results.schema import Result, Status


@dataclass(frozen=True)
class PowerRow:
    workload: str
    kind: str
    case: dict
    power_avg_w: float
    energy_per_iter_j: float | None
    energy_per_sample_j: float | None
    net_energy_per_iter_j: float | None


def power_rows(results: list[Result]) -> list[PowerRow]:
    return [
        PowerRow(
            workload=r.workload,
            kind=r.kind,
            case=r.case,
            power_avg_w=float(r.metric("power_avg_w")),
            energy_per_iter_j=r.metric("energy_per_iter_j"),
            energy_per_sample_j=r.metric("energy_per_sample_j"),
            net_energy_per_iter_j=r.metric("net_energy_per_iter_j"),
        )
        for r in results
        if r.status is Status.OK and r.metric("power_avg_w") is not None
    ]


def idle_power_rows(results: list[Result]) -> list[Result]:
    """Idle-power results that measured something (others say why they could not)."""
    return [
        r
        for r in results
        if r.kind == "idle-power" and r.status is Status.OK and r.metric("idle_power_w")
    ]


def power_unavailable_reasons(results: list[Result]) -> dict[str, int]:
    """Why power is missing, with how many results give each reason (shown when no row has
    a value, so the section still says what happened)."""
    out: dict[str, int] = {}
    for r in results:
        m = r.metrics.get("power_avg_w")
        if m is not None and m.value is None and m.unavailable:
            out[m.unavailable] = out.get(m.unavailable, 0) + 1
    return out
