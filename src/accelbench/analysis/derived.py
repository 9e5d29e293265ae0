"""Derived numbers, computed in exactly one place: utilisation of the datasheet and measured
peaks, the roofline (attainable rate, efficiency, which roof binds), and net energy above idle.

A result stores the raw facts (achieved rate, arithmetic intensity, the power window) and, in
``references``, what it was judged against. The runner calls :func:`derived_metrics` once to
store a snapshot with the result; a report can call :func:`rederive` with other references, e.g.
a peak measured later, and get numbers computed by the same code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accelbench.results.schema import Metric, References, Result

DERIVED = (
    "utilisation_datasheet",
    "utilisation_measured",
    "mfu_datasheet",
    "mfu_measured",
    "roofline_attainable_gflops",
    "roofline_efficiency",
    "net_energy_per_iter_j",
)


@dataclass(frozen=True)
class RooflineFacts:
    attainable: float
    """FLOP/s the measured roofline allows at this intensity: min(peak, intensity x bandwidth)."""
    efficiency: float
    """achieved / attainable, in %."""
    bound: str
    """'memory' or 'compute': which roof is lower at this intensity."""
    ridge: float
    """FLOP/B where the two roofs meet."""


def roofline_facts(intensity: float, achieved: float, refs: References) -> RooflineFacts | None:
    """Where a case sits on the measured roofline, or None without both measured roofs."""
    if refs.measured_peak is None or refs.measured_bandwidth is None:
        return None
    peak, bw = refs.measured_peak.value, refs.measured_bandwidth.value
    memory_roof = intensity * bw
    attainable = min(peak, memory_roof)
    return RooflineFacts(
        attainable=attainable,
        efficiency=100 * achieved / attainable,
        bound="memory" if memory_roof < peak else "compute",
        ridge=peak / bw,
    )


def _value(metrics: Mapping[str, Metric], name: str) -> float | None:
    m = metrics.get(name)
    return None if m is None else m.value


def _compute(metrics: Mapping[str, Metric], refs: References) -> dict[str, Metric]:
    b = refs.basis
    ds_name, m_name = f"{b.utilisation}_datasheet", f"{b.utilisation}_measured"
    if b.not_comparable:
        return {
            ds_name: Metric.missing("%", b.not_comparable),
            m_name: Metric.missing("%", b.not_comparable),
        }
    gflops = _value(metrics, b.compute_metric)
    if b.compute_dtype is None or gflops is None:
        return {}
    achieved = gflops * 1e9
    out: dict[str, Metric] = {}
    ds = refs.datasheet
    if ds is not None and ds.flops:
        out[ds_name] = Metric(value=100 * achieved / ds.flops, unit="%")
    else:
        why = refs.unavailable.get("datasheet") or (
            f"the datasheet entry has no {b.compute_dtype} figure"
        )
        out[ds_name] = Metric.missing("%", why)
    mp = refs.measured_peak
    if mp is not None:
        out[m_name] = Metric(value=100 * achieved / mp.value, unit="%")
    else:
        why = refs.unavailable.get("measured_peak") or "no measured peak"
        out[m_name] = Metric.missing("%", why)
    intensity = _value(metrics, "arithmetic_intensity")
    if intensity is None:
        return out
    facts = roofline_facts(intensity, achieved, refs)
    if facts is None:
        why = (
            refs.unavailable.get("measured_peak") or "no measured peak"
            if mp is None
            else refs.unavailable.get("measured_bandwidth")
            or "no measured memory bandwidth (run accelbench peaks)"
        )
        out["roofline_attainable_gflops"] = Metric.missing("GFLOP/s", why)
        out["roofline_efficiency"] = Metric.missing("%", why)
    else:
        out["roofline_attainable_gflops"] = Metric(value=facts.attainable / 1e9, unit="GFLOP/s")
        out["roofline_efficiency"] = Metric(value=facts.efficiency, unit="%")
    return out


def _bandwidth(metrics: Mapping[str, Metric], refs: References) -> dict[str, Metric]:
    name = refs.basis.bandwidth_metric
    rate = None if name is None else _value(metrics, name)
    if rate is None:
        return {}
    ds = refs.datasheet
    if ds is None or ds.memory_bandwidth_gbs is None:
        why = refs.unavailable.get("datasheet") or "the datasheet entry has no memory bandwidth"
        return {"utilisation_datasheet": Metric.missing("%", why)}
    return {"utilisation_datasheet": Metric(value=100 * rate / ds.memory_bandwidth_gbs, unit="%")}


def _net_energy(
    metrics: Mapping[str, Metric], refs: References, power: Mapping[str, Any] | None
) -> dict[str, Metric]:
    avg = metrics.get("power_avg_w")
    if avg is None:
        return {}  # an untimed workload: no power fields at all
    if avg.value is None:
        return {"net_energy_per_iter_j": Metric.missing("J", avg.unavailable or "no power")}
    if refs.idle_power is None:
        why = refs.unavailable.get("idle_power") or "no idle power"
        return {"net_energy_per_iter_j": Metric.missing("J", why)}
    power = power or {}
    duration, iterations = power.get("duration_s"), power.get("iterations")
    if not duration or not iterations:
        return {"net_energy_per_iter_j": Metric.missing("J", "no power window to attribute")}
    net = (avg.value - refs.idle_power.watts) * duration / iterations
    return {"net_energy_per_iter_j": Metric(value=net, unit="J")}


def derived_metrics(
    metrics: Mapping[str, Metric],
    refs: References,
    power: Mapping[str, Any] | None = None,
) -> dict[str, Metric]:
    """The derived metrics of one case from its raw metrics, its references and its power
    window (``config["power"]``); each one measured or unavailable with the reason."""
    out = _compute(metrics, refs)
    out.update(_bandwidth(metrics, refs))
    out.update(_net_energy(metrics, refs, power))
    return out


def rederive(result: Result, refs: References | None = None) -> dict[str, Metric]:
    """A stored result's derived metrics, recomputed against ``refs`` (default: its own)."""
    return derived_metrics(result.metrics, refs or result.references, result.config.get("power"))


def peak_exceeded(result: Result) -> bool:
    """Whether the case beat the measured peak it was judged against: possible (the peak is an
    achieved rate, perhaps taken on a busy host or below the plateau) and worth saying, since
    the reference is then too low."""
    mp, gflops = result.references.measured_peak, result.metric("achieved_gflops")
    return mp is not None and gflops is not None and gflops * 1e9 > mp.value


def roofline_bound(result: Result) -> str | None:
    """'memory' or 'compute' against the result's measured roofline, when it has one."""
    ai, gflops = result.metric("arithmetic_intensity"), result.metric("achieved_gflops")
    if ai is None or gflops is None:
        return None
    facts = roofline_facts(ai, gflops * 1e9, result.references)
    return None if facts is None else facts.bound
