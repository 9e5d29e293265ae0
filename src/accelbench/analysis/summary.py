"""The run summary: per workload, how many cases ran and how, the best rate and how noisy.

What ``accelbench run`` prints at the end, and its ``--json`` output; pure over the results.
"""

from __future__ import annotations

from typing import Any

from accelbench.analysis.metrics import primary_metric
from accelbench.names import describe_case
from accelbench.results.schema import Result, Status


def run_summary(results: list[Result]) -> list[dict[str, Any]]:
    """One row per workload, in the order the workloads first appear."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.workload, []).append(r)
    rows = []
    for name, rs in groups.items():
        ok = [r for r in rs if r.status is Status.OK]
        counts = {s.value: sum(r.status is s for r in rs) for s in Status}
        pm = primary_metric(rs[0].kind, ok)
        rates = [(v, r) for r in ok if (v := r.metric(pm.name)) is not None]
        pick = max if pm.higher_is_better else min
        best = pick(rates, key=lambda x: x[0]) if rates else None
        cvs = sorted(r.summary.cv for r in ok if r.summary)
        rows.append(
            {
                "workload": name,
                "cases": len(rs),
                **counts,
                "best": best[0] if best else None,
                # the best case's own unit: GOP/s when it is integer work
                "unit": best[1].metrics[pm.name].unit if best else pm.unit,
                "best_case": (best[1].description or describe_case(best[1].case)) if best else None,
                "median_cv": cvs[len(cvs) // 2] if cvs else None,
                "high_spread": sum(bool(r.summary and r.summary.high_spread) for r in ok),
                "host_busy": sum(r.host_busy for r in ok),
                "not_converged": sum(
                    r.config.get("protocol", {}).get("converged") is False for r in ok
                ),
            }
        )
    return rows


def host_summary(results: list[Result]) -> dict[str, Any]:
    """How busy the host was over a run's measured (ok) cases: how many were flagged, the worst
    readings (other processes' CPUs, steal), for the line under the run summary."""
    states = [r.host for r in results if r.host is not None and r.status is Status.OK]
    others = [h.other_cpus for h in states if h.other_cpus is not None]
    steals = [h.steal_pct for h in states if h.steal_pct is not None]
    device = sorted({p for h in states if h.device for p in h.device.other_processes or []})
    slowdown = sorted({x for h in states if h.device for x in h.device.slowdown})
    return {
        "recorded": len(states),
        "busy": sum(h.busy for h in states),
        "max_other_cpus": max(others) if others else None,
        "median_other_cpus": sorted(others)[len(others) // 2] if others else None,
        "max_steal_pct": max(steals) if steals else None,
        "device_processes": device,
        "device_slowdown": slowdown,
        "logical_cpus": states[0].logical_cpus if states else None,
    }
