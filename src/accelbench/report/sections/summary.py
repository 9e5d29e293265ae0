"""The answers first: per platform, the headline numbers, each linking to its section.

What a reader of the report came for, before the evidence: the best utilisation per operator
and precision, time to threshold per training workload, the bfloat16 over float32 speed-up,
the best performance per price, and idle power. Every number is one already in a later
section (nothing is computed here that the section does not show), with a link to it.
"""

from __future__ import annotations

from accelbench.analysis import idle_power_rows, inference_rows, training_runs
from accelbench.analysis.groups import RunGroup
from accelbench.report.model import OPERATOR_KINDS, Link, Section, Table, fmt, run_names
from accelbench.report.sections import section
from accelbench.results.schema import Result, Status


def _best(rs: list[Result], metric: str) -> Result | None:
    have = [r for r in rs if r.status is Status.OK and r.metric(metric) is not None]
    return max(have, key=lambda r: r.metric(metric)) if have else None


def _headlines(g: RunGroup) -> list[list[object]]:
    rows: list[list[object]] = []
    ops: dict[tuple[str, str], list[Result]] = {}
    for r in g.results:
        if r.kind in OPERATOR_KINDS:
            ops.setdefault((r.kind, str(r.case.get("dtype"))), []).append(r)
    for (kind, dtype), rs in sorted(ops.items()):
        best = _best(rs, "achieved_gflops")
        if best is None:
            continue
        util = best.metric("utilisation_measured")
        value = f"{fmt(best.metric('achieved_gflops'))} GFLOP/s" + (
            f" ({fmt(util)}% of measured peak)" if util is not None else ""
        )
        rows.append([f"best {kind} {dtype}", value, Link("operators", "operators")])
    for kind in dict.fromkeys(k for k, _ in ops):
        b16 = _best(ops.get((kind, "bfloat16"), []), "achieved_gflops")
        f32 = _best(ops.get((kind, "float32"), []), "achieved_gflops")
        if b16 is not None and f32 is not None:
            ratio = b16.metric("achieved_gflops") / f32.metric("achieved_gflops")
            rows.append(
                [
                    f"{kind} bfloat16 / float32 (best against best)",
                    f"{ratio:.2f}x",
                    Link("operators", "operators"),
                ]
            )
    for t in training_runs(g.results):
        if t.time_to_threshold_s is not None:
            value = f"{fmt(t.time_to_threshold_s)} s"
        else:
            m = t.result.metrics.get("time_to_threshold_s")
            value = f"not reached: {m.unavailable}" if m and m.unavailable else "not reached"
        rows.append([f"time to threshold: {t.label}", value, Link("training", "training")])
    priced = [
        x
        for x in inference_rows(g.results)
        if x.result.status is Status.OK and x.result.metric("samples_per_dollar") is not None
    ]
    if priced:
        x = max(priced, key=lambda x: x.result.metric("samples_per_dollar"))
        rows.append(
            [
                f"best performance per price: {x.short_label} {x.runtime} {x.precision}",
                f"{fmt(x.result.metric('samples_per_dollar'))} samples/USD",
                Link("inference", "inference"),
            ]
        )
    for r in idle_power_rows(g.results):
        rows.append(["idle power", f"{fmt(r.metric('idle_power_w'))} W", Link("power", "power")])
    return rows


@section("summary", order=5)
def _summary(groups: list[RunGroup]) -> Section | None:
    names = run_names(groups) if len(groups) > 1 else {g.key: g.label for g in groups}
    rows = [[names[g.key], *row] for g in groups for row in _headlines(g)]
    if not rows:
        return None
    s = Section("summary", "Summary")
    s.text.append(
        "The headline numbers of each platform, each taken from the section it links to, "
        "where it is shown with its spread, configuration and caveats. Utilisation is of the "
        "peak measured on the same device and software stack; bfloat16 / float32 compares the "
        "best configuration of each precision."
    )
    s.tables.append(Table(["platform", "headline", "value", "details"], rows))
    return s
