"""The report as data: sections of prose, figures and tables, before any output format.

`build_report` runs the analyses over the selected run groups and decides which sections
exist (each appears only when its data does); the HTML and Markdown writers only lay it out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from matplotlib.figure import Figure

from accelbench.analysis import (
    bandwidth_curves,
    compare,
    idle_power_rows,
    inference_rows,
    power_rows,
    regress,
    roofline,
    success_table,
    training_runs,
)
from accelbench.analysis.compare import Comparison
from accelbench.analysis.power import power_unavailable_reasons
from accelbench.names import describe_case
from accelbench.report import plots
from accelbench.report.sources import RunGroup
from accelbench.results.schema import Result, Status

OPERATOR_KINDS = ("gemm", "linear", "conv2d", "rnn")


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class FigureItem:
    id: str
    title: str
    make: Callable[[], Figure]
    """Drawn when written, so a format that shows no figures never pays for them."""
    caption: str = ""


@dataclass
class Section:
    id: str
    title: str
    text: list[str] = field(default_factory=list)
    figures: list[FigureItem] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class ReportDoc:
    title: str
    generated_at: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)


def fmt(v: Any, digits: int = 3) -> str:
    """Numbers with a sensible number of significant digits; None as an em dash."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:  # NaN
            return "—"
        if abs(v) >= 10**digits:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def build_report(
    groups: list[RunGroup],
    comparisons: list[Comparison] | None = None,
    title: str = "accelbench report",
) -> ReportDoc:
    """Every analysis over ``groups``; ``comparisons`` default to each group against the
    first group with which it shares configurations."""
    if comparisons is None:
        comparisons = auto_comparisons(groups)
    doc = ReportDoc(
        title=title,
        generated_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        sections=[],
        notes=[n for g in groups for n in g.notes],
    )
    builders = (
        _platforms,
        _success,
        _best,
        _roofline,
        _regression,
        _bandwidth,
        _training,
        _inference,
        _power,
    )
    for b in builders:
        section = b(groups)
        if section is not None:
            doc.sections.append(section)
    for i, cmp in enumerate(comparisons):
        doc.sections.insert(min(len(doc.sections), 2 + i), _comparison(cmp, i))
    return doc


def auto_comparisons(groups: list[RunGroup]) -> list[Comparison]:
    out = []
    for g in groups[1:]:
        base = next((b for b in groups if b is not g and _overlap(b, g)), None)
        if base is not None and groups.index(base) < groups.index(g):
            out.append(compare(base.results, g.results, base.label, g.label))
    return out


def _overlap(a: RunGroup, b: RunGroup) -> bool:
    keys = {(r.kind, r.case_key) for r in a.results}
    return any((r.kind, r.case_key) in keys for r in b.results)


def _version(r: Result) -> str:
    e = r.environment
    dirty = ", uncommitted changes" if e.git_dirty else ""
    return f"{e.accelbench_version} ({(e.git_revision or 'no git')[:10]}{dirty})"


def _platforms(groups: list[RunGroup]) -> Section:
    s = Section("platforms", "Platforms and environments")
    s.text.append(
        "Each column is one run (or database) in this report: the hardware, software stack and "
        "settings its results were measured with. Numbers from different columns are only "
        "comparable when the rows that matter to you agree."
    )
    rows: list[tuple[str, Callable[[RunGroup, Result], Any]]] = [
        ("run", lambda g, r: g.key),
        ("suite", lambda g, r: g.suite),
        ("state", lambda g, r: g.state),
        ("started", lambda g, r: (g.started_at or r.started_at.isoformat())[:19]),
        ("device", lambda g, r: f"{r.device}: {r.environment.device_name}"),
        ("host", lambda g, r: r.environment.host),
        ("CPU", lambda g, r: r.environment.cpu_model),
        (
            "cores (physical / logical)",
            lambda g, r: f"{r.environment.cpu_cores_physical} / {r.environment.cpu_cores_logical}",
        ),
        ("threads", lambda g, r: r.environment.threads),
        ("memory", lambda g, r: fmt((r.environment.memory_total_bytes or 0) / 2**30) + " GiB"),
        ("OS", lambda g, r: r.environment.os),
        ("Python / torch", lambda g, r: f"{r.environment.python} / {r.environment.torch}"),
        (
            "accelerator runtime",
            lambda g, r: (
                ", ".join(f"{k} {v}" for k, v in r.environment.accelerator_runtime.items()) or "—"
            ),
        ),
        ("driver", lambda g, r: r.environment.driver_version or "—"),
        ("accelbench", lambda g, r: _version(r)),
        ("seed", lambda g, r: r.environment.seed),
        (
            "results (ok)",
            lambda g, r: f"{len(g.results)} ({sum(x.status is Status.OK for x in g.results)})",
        ),
        ("source", lambda g, r: g.source),
    ]
    table = Table(columns=["", *[g.label for g in groups]], rows=[])
    for name, get in rows:
        table.rows.append([name, *[get(g, g.results[0]) for g in groups]])
    s.tables.append(table)
    return s


def _success(groups: list[RunGroup]) -> Section:
    rows = success_table({g.label: g.results for g in groups})
    s = Section("success", "Which configurations ran")
    s.text.append(
        "Configurations per workload kind and run, by outcome: ok (measured), oom (the device "
        "ran out of memory), unsupported (the device or a kernel lacks the precision or "
        "operation; the reason is stored), error or diverged. Failures are results too: a sweep "
        "never stops on one."
    )
    s.figures.append(
        FigureItem("success-figure", "Outcome per workload kind", lambda: plots.success(rows))
    )
    statuses = [st.value for st in Status if any(r.counts.get(st.value) for r in rows)]
    s.tables.append(
        Table(
            ["run", "kind", "configurations", *statuses, "success rate"],
            [
                [
                    r.group,
                    r.kind,
                    r.total,
                    *[r.counts.get(st, 0) for st in statuses],
                    f"{100 * r.success_rate:.0f}%",
                ]
                for r in rows
            ],
        )
    )
    return s


def _best(groups: list[RunGroup]) -> Section | None:
    s = Section("operators", "Best and median throughput per operator")
    s.text.append(
        "For each operator kind, precision and mode: the best configuration's achieved GFLOP/s "
        "(analytic FLOPs over the median time of the timed iterations), the median over all "
        "ok configurations, and utilisation of the measured peak GEMM of the same precision "
        "on the same device and software stack (above 100% means that peak measurement came "
        "out low on a noisy machine; the result records it)."
    )
    rows = []
    for g in groups:
        by: dict[tuple[str, str, str], list[Result]] = {}
        for r in g.results:
            if r.status is Status.OK and r.kind in OPERATOR_KINDS and r.metric("achieved_gflops"):
                key = (r.kind, str(r.case.get("dtype")), str(r.case.get("mode", "forward")))
                by.setdefault(key, []).append(r)
        for (kind, dtype, mode), rs in sorted(by.items()):
            best = max(rs, key=lambda r: r.metric("achieved_gflops"))
            rows.append(
                [
                    g.label,
                    kind,
                    dtype,
                    mode,
                    len(rs),
                    fmt(best.metric("achieved_gflops")),
                    fmt(statistics.median(r.metric("achieved_gflops") for r in rs)),
                    fmt(best.metric("utilisation_measured")),
                    fmt(best.summary.cv * 100 if best.summary else None, 2),
                    describe_case(
                        {k: v for k, v in best.case.items() if k not in ("dtype", "mode")}
                    ),
                ]
            )
    if not rows:
        return None
    s.tables.append(
        Table(
            [
                "run",
                "kind",
                "dtype",
                "mode",
                "ok configs",
                "best GFLOP/s",
                "median GFLOP/s",
                "best: % of measured peak",
                "best: CV %",
                "best configuration",
            ],
            rows,
        )
    )
    return s


def _roofline(groups: list[RunGroup]) -> Section | None:
    s = Section("roofline", "Roofline")
    s.text.append(
        "Each ok operator configuration at its arithmetic intensity (analytic FLOPs over the "
        "minimum bytes it must move: inputs, weights and outputs once) and achieved GFLOP/s. "
        "Solid ceilings are this machine's measured peaks (best GEMM per precision; best copy "
        "or STREAM triad for memory), dashed ones the datasheet where the device is in the "
        "table. A point far below the roof at its intensity is a slow kernel, not a "
        "memory-bound shape."
    )
    for g in groups:
        roof = roofline(g.results)
        if not roof.points:
            continue
        s.figures.append(
            FigureItem(
                f"roofline-{_slug(g.key)}",
                f"Roofline: {g.label}",
                lambda roof=roof, g=g: plots.roofline(roof, g.label),
            )
        )
        rows = [[c.source, "compute", c.dtype, fmt(c.value), "GFLOP/s"] for c in roof.compute]
        rows += [[c.source, "memory", "—", fmt(c.value), "GB/s"] for c in roof.bandwidth]
        bound: dict[str, int] = {}
        for p in roof.points:
            bound[p.bound or "unknown"] = bound.get(p.bound or "unknown", 0) + 1
        s.tables.append(
            Table(
                ["source", "ceiling", "dtype", "value", "unit"],
                rows,
                caption=f"{g.label}: ceilings; configurations by bound: "
                + ", ".join(f"{k} {v}" for k, v in sorted(bound.items())),
            )
        )
    return s if s.figures else None


def _regression(groups: list[RunGroup]) -> Section | None:
    s = Section("regression", "What drives throughput: regression on configuration parameters")
    s.text.append(
        "Per operator kind and each combination of its categorical settings (precision, mode, "
        "cell type), ordinary least squares of achieved GFLOP/s on the numeric configuration "
        "parameters, each standardised to mean 0 and standard deviation 1. A weight is the "
        "GFLOP/s gained per standard deviation of that parameter with the others held fixed; "
        "p is the two-sided t-test of the weight (below 0.05: significant; hatched bars are "
        "not). R² says how much of the variation the linear model explains."
    )
    for g in groups:
        fits = regress([r for r in g.results if r.kind in OPERATOR_KINDS])
        for kind in dict.fromkeys(f.kind for f in fits):
            kfits = [f for f in fits if f.kind == kind]
            if any(f.coefficients for f in kfits):
                s.figures.append(
                    FigureItem(
                        f"regression-{_slug(g.key)}-{kind}",
                        f"Standardised weights: {kind}, {g.label}",
                        lambda kfits=kfits, kind=kind: plots.regression(kfits, kind),
                    )
                )
            rows = []
            for f in kfits:
                weights = "; ".join(
                    f"{c.param} {c.weight:+.3g} (p={fmt(c.p_value, 2)})" for c in f.coefficients
                )
                rows.append(
                    [
                        f.label,
                        f.n,
                        fmt(f.r2),
                        fmt(f.adj_r2),
                        fmt(f.intercept),
                        weights or (f.note or "—"),
                    ]
                )
            s.tables.append(
                Table(
                    ["group", "n", "R²", "adjusted R²", "mean GFLOP/s", "weights, largest first"],
                    rows,
                    caption=f"{kind}: {g.label}",
                )
            )
    return s if s.tables else None


def _comparison(cmp: Comparison, i: int) -> Section:
    s = Section(
        f"comparison-{i + 1}", f"Comparison: {cmp.candidate_label} against {cmp.base_label}"
    )
    s.text.append(
        "Configurations present in both, matched by workload kind and parameters. The ratio is "
        "the candidate's speed-up over the base on each kind's primary metric (GFLOP/s for "
        "operators and GEMM, GB/s for bandwidth; for time-like metrics base time over "
        "candidate time), so above 1 means the candidate is faster. The geometric mean is the "
        "summary that treats 2x and 0.5x symmetrically."
    )
    s.text.append(
        f"{len(cmp.pairs)} configurations compared; {len(cmp.one_sided)} ran on one side only; "
        f"{cmp.both_failed} were measured on neither side (unsupported or failed); "
        f"{cmp.only_in_base} only in the base and "
        f"{cmp.only_in_candidate} only in the candidate."
    )
    if cmp.pairs:
        s.figures.append(
            FigureItem(
                f"ratio-scatter-{i + 1}",
                "Speed-up per configuration against its size, coloured by batch",
                lambda: plots.ratio_scatter(cmp),
            )
        )
    s.tables.append(
        Table(
            ["kind", "metric", "n", "min", "median", "max", "geometric mean"],
            [
                [
                    x.kind,
                    f"{x.metric.name} ({x.metric.unit})",
                    x.n,
                    fmt(x.min),
                    fmt(x.median),
                    fmt(x.max),
                    fmt(x.geomean),
                ]
                for x in cmp.summaries
            ],
            caption="Speed-up of the candidate over the base, per kind",
        )
    )
    if (cost := _cost_table(cmp)) is not None:
        s.tables.append(cost)
    if cmp.one_sided:
        s.tables.append(
            Table(
                ["kind", "configuration", "ran on", "failed on the other side as", "message"],
                [
                    [
                        o.kind,
                        describe_case(o.case),
                        o.ok_side,
                        o.failed_status,
                        (o.failed_message or "")[:160],
                    ]
                    for o in cmp.one_sided
                ],
                caption="Configurations that ran on one side only",
            )
        )
    return s


def _bandwidth(groups: list[RunGroup]) -> Section | None:
    s = Section("bandwidth", "Bandwidth against transfer size")
    s.text.append(
        "Achieved GB/s (bytes moved over the median time) per transfer size, for each "
        "direction (h2d / d2h: host to device and back, with pinned or pageable host memory; "
        "d2d: a copy within device memory, counted as read plus write; triad: the STREAM "
        "triad, 2 reads and 1 write). Small transfers measure latency, large ones bandwidth."
    )
    for g in groups:
        series = bandwidth_curves(g.results)
        if not series:
            continue
        s.figures.append(
            FigureItem(
                f"bandwidth-{_slug(g.key)}",
                f"Bandwidth: {g.label}",
                lambda series=series, g=g: plots.bandwidth(series, g.label),
            )
        )
        s.tables.append(
            Table(
                ["series", "sizes", "best GB/s", "at bytes"],
                [
                    [
                        x.label,
                        len(x.points),
                        fmt(max(p[1] for p in x.points)),
                        max(x.points, key=lambda p: p[1])[0],
                    ]
                    for x in series
                ],
                caption=g.label,
            )
        )
    return s if s.figures else None


def _training(groups: list[RunGroup]) -> Section | None:
    runs = [t for g in groups for t in training_runs(g.results)]
    if not runs:
        return None
    s = Section("training", "Training to accuracy")
    s.text.append(
        "Validation metric after each epoch against wall time since the start of the run "
        "(setup, data preparation, compilation and evaluation included) and against epoch; "
        "dotted lines are the thresholds. Time to threshold is the headline number: "
        "throughput alone misleads. The first epoch carries setup and compilation, so its "
        "throughput is shown apart from the steady-state mean of the later epochs."
    )
    s.figures.append(
        FigureItem(
            "training-curves",
            "Validation metric against time and epoch",
            lambda: plots.training_curves(runs),
        )
    )
    s.figures.append(
        FigureItem(
            "training-throughput",
            "First-epoch against steady throughput",
            lambda: plots.throughput_bars(runs),
        )
    )
    s.tables.append(
        Table(
            [
                "run",
                "status",
                "epochs",
                "threshold",
                "best metric",
                "time to threshold (s)",
                "first-epoch samples/s",
                "steady samples/s",
            ],
            [
                [
                    t.label,
                    t.result.status.value,
                    len(t.epochs),
                    fmt(t.threshold),
                    fmt(max((m for m in t.metric if m is not None), default=None)),
                    fmt(t.time_to_threshold_s)
                    if t.time_to_threshold_s is not None
                    else (
                        t.result.metrics.get("time_to_threshold_s").unavailable
                        if t.result.metrics.get("time_to_threshold_s")
                        else "—"
                    ),
                    fmt(t.first_epoch_samples_per_s),
                    fmt(t.steady_samples_per_s),
                ]
                for t in runs
            ],
        )
    )
    return s


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
                    f"inference-{_slug(g.key)}",
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
    from accelbench.inference.cost import compare_cost

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


def _power_table(rows: list[Any], caption: str) -> Table:
    """One row per workload: how many configurations were metered and the spread of their
    average power and energy (the per-configuration values are in the store)."""
    by: dict[str, list[Any]] = {}
    for p in rows:
        by.setdefault(p.workload, []).append(p)

    def med(vals: list[float | None]) -> float | None:
        v = [x for x in vals if x is not None]
        return statistics.median(v) if v else None

    return Table(
        [
            "workload",
            "configurations",
            "W min",
            "W median",
            "W max",
            "J/iter median",
            "J/sample median",
            "net J/iter median",
        ],
        [
            [
                w,
                len(ps),
                fmt(min(p.power_avg_w for p in ps)),
                fmt(med([p.power_avg_w for p in ps])),
                fmt(max(p.power_avg_w for p in ps)),
                fmt(med([p.energy_per_iter_j for p in ps])),
                fmt(med([p.energy_per_sample_j for p in ps])),
                fmt(med([p.net_energy_per_iter_j for p in ps])),
            ]
            for w, ps in by.items()
        ],
        caption=caption,
    )


def _power(groups: list[RunGroup]) -> Section | None:
    rows = [(g, power_rows(g.results)) for g in groups]
    idle = [(g, r) for g in groups for r in idle_power_rows(g.results)]
    reasons: dict[str, int] = {}
    for g in groups:
        for k, v in power_unavailable_reasons(g.results).items():
            reasons[k] = reasons.get(k, 0) + v
    if not any(r for _, r in rows) and not idle and not reasons:
        return None
    s = Section("power", "Power and energy")
    s.text.append(
        "Average power over each configuration's timed window (a meter's energy counter read at "
        "both ends, or its power samples integrated), energy per iteration and per sample, and "
        "idle power from `accelbench idle-power`; net energy is above idle."
    )
    for g, pr in rows:
        if pr:
            s.figures.append(
                FigureItem(
                    f"power-{_slug(g.key)}",
                    f"Power and energy: {g.label}",
                    lambda pr=pr: plots.power_bars(pr),
                )
            )
            s.tables.append(_power_table(pr, g.label))
    if idle:
        s.tables.append(
            Table(
                ["run", "idle W", "window s"],
                [
                    [g.label, fmt(r.metric("idle_power_w")), fmt(r.metric("window_s"))]
                    for g, r in idle
                ],
                caption="Idle power",
            )
        )
    if reasons and not any(r for _, r in rows):
        s.text.append("No power was measured in these runs. Why, with how many results say so:")
        s.tables.append(Table(["reason", "results"], [[k, v] for k, v in reasons.items()]))
    return s
