"""Inference throughput, latency percentiles and performance per price."""

from __future__ import annotations

from accelbench.analysis import (
    inference_rows,
)
from accelbench.analysis.compare import Comparison
from accelbench.analysis.groups import RunGroup
from accelbench.names import describe_case
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt, slug
from accelbench.report.sections import section
from accelbench.results.schema import Result, Status


@section("inference", order=80)
def _inference(groups: list[RunGroup]) -> Section | None:
    per_group = [(g, inference_rows(g.results)) for g in groups]
    if not any(rows for _, rows in per_group):
        return None
    s = Section("inference", "Inference")
    s.text.append(
        "Throughput and latency per model, scenario, runtime and precision, with random "
        "weights (speed only, no accuracy claim). Offline: samples per second at the batch "
        "size, from the median time of the timed batches. Single-stream: one query at a time, "
        "latency percentiles over every query. Server: Poisson arrivals at the target rate, "
        "latency including queueing. Samples per dollar = samples/s x 3600 / the hourly price "
        "given in the suite. A runtime or precision that cannot run a model is listed with the "
        "reason."
    )
    for g, rows in per_group:
        ok = [x for x in rows if x.result.status is Status.OK and x.result.metric("samples_per_s")]
        if ok:
            s.figures.append(
                FigureItem(
                    f"inference-{slug(g.key)}",
                    f"Inference throughput: {g.label}",
                    lambda ok=ok: plots.inference_bars(ok),
                )
            )
        if not rows:
            continue

        def ms(r: Result, name: str) -> str:
            v = r.metric(name)
            return fmt(v * 1e3) if v is not None else "—"

        s.tables.append(
            Table(
                [
                    "model",
                    "runtime",
                    "precision",
                    "status",
                    "samples/s",
                    "CV %",
                    "p50 ms",
                    "p90 ms",
                    "p99 ms",
                    "samples/USD",
                    "note",
                ],
                [
                    [
                        x.label,
                        x.runtime,
                        x.precision,
                        x.result.status.value,
                        fmt(x.result.metric("samples_per_s")),
                        fmt(x.result.summary.cv * 100 if x.result.summary else None, 2),
                        ms(x.result, "latency_p50"),
                        ms(x.result, "latency_p90"),
                        ms(x.result, "latency_p99"),
                        fmt(x.result.metric("samples_per_dollar")),
                        (x.result.message or "")[:120],
                    ]
                    for x in rows
                ],
                caption=g.label,
            )
        )
    return s


def _cost_table(cmp: Comparison) -> Table | None:
    """Performance per price of the inference pairs, when the suites gave hourly prices."""
    from accelbench.analysis.cost import compare_cost

    pairs = [p for p in cmp.pairs if p.kind == "inference"]
    rows = compare_cost([p.base for p in pairs], [p.candidate for p in pairs])
    priced = [r for r in rows if r.perf_per_price_ratio is not None]
    if not priced:
        return None
    return Table(
        ["configuration", "base $/h", "candidate $/h", "throughput ratio", "per-price ratio"],
        [
            [
                describe_case(r.case),
                fmt(r.base_price_per_hour),
                fmt(r.candidate_price_per_hour),
                fmt(r.perf_ratio),
                fmt(r.perf_per_price_ratio),
            ]
            for r in priced
        ],
        caption="Performance per price (candidate over base): throughput ratio x base price / "
        "candidate price",
    )
