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
                "unit": pm.unit,
                "best_case": (best[1].description or describe_case(best[1].case)) if best else None,
                "median_cv": cvs[len(cvs) // 2] if cvs else None,
                "high_spread": sum(bool(r.summary and r.summary.high_spread) for r in ok),
                "not_converged": sum(
                    r.config.get("protocol", {}).get("converged") is False for r in ok
                ),
            }
        )
    return rows
