"""One comparison of two run groups: the ratio per configuration and per kind, each with its
95% interval, what differs between the sides, and what was left out and why.

Not registered: build_report adds one per comparison, after the outcomes section."""

from __future__ import annotations

from typing import Any

from accelbench.analysis.compare import Comparison, Pair
from accelbench.names import describe_case
from accelbench.report import plots
from accelbench.report.model import FigureItem, Section, Table, fmt
from accelbench.report.sections.inference import _cost_table


def _ratio(ratio: float, iv: Any) -> str:
    return fmt(ratio) if iv is None else f"{fmt(ratio)} [{fmt(iv.low)}, {fmt(iv.high)}]"


def _config(p: Pair) -> str:
    return p.base.description or f"{p.kind} {describe_case(p.case)}"


def _flags(p: Pair) -> str:
    return ", ".join(w for w, on in (("noisy", p.noisy), ("host busy", p.busy)) if on)


def _runs(p: Pair) -> str:
    """Repeated training runs: how many on each side, and MLPerf's rule where it applies."""
    if not (p.base_runs or p.candidate_runs):
        return ""
    rule = f"; MLPerf rule: {fmt(p.mlperf_ratio)}" if p.mlperf_ratio is not None else ""
    return f" ({len(p.base_runs)}/{len(p.candidate_runs)} runs{rule})"


def comparison_section(cmp: Comparison, i: int) -> Section:
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
        f"Every ratio has a 95% interval ({cmp.settings.describe()}) from the raw samples of "
        "both sides: the ratio of median times per iteration, or of mean times to threshold "
        'over repeated training runs. A ratio whose interval holds 1 reads "no measurable '
        'difference". Summary intervals resample the configurations and, within each, its '
        "samples."
    )
    nb, nc = cmp.host_busy
    s.text.append(
        f"{len(cmp.pairs)} configurations compared; {len(cmp.mismatched)} not comparable "
        f"(settings differ{', included' if cmp.allow_mismatch else ', left out'}); "
        f"{len(cmp.one_sided)} ran on one side only; "
        f"{cmp.both_failed} were measured on neither side (unsupported or failed); "
        f"{cmp.only_in_base} only in the base and "
        f"{cmp.only_in_candidate} only in the candidate. "
        f"Measured on a busy host: {nb} base and {nc} candidate results"
        + (
            "; noisy and busy pairs are left out of the summaries."
            if cmp.exclude_noisy
            else "; noisy and busy pairs are counted in the summaries, not left out."
        )
    )
    s.tables.append(
        Table(
            ["", "base", "candidate"],
            [[d.what, d.base, d.candidate] for d in cmp.differences]
            or [["(nothing recorded differs)", "", ""]],
            caption="What differs between the two sides",
        )
    )
    if cmp.pairs:
        s.figures.append(
            FigureItem(
                f"ratio-scatter-{i + 1}",
                "Speed-up per configuration against its size, with its 95% interval (min and "
                "max marked)",
                lambda: plots.ratio_scatter(cmp),
            )
        )
    s.tables.append(
        Table(
            [
                "kind",
                "metric",
                "n",
                "geometric mean [95%]",
                "median [95%]",
                "verdict",
                "faster / slower / no difference",
                "noisy",
                "host busy",
                "left out",
                "min",
                "max",
            ],
            [
                [
                    x.kind,
                    f"{x.metric.name} ({x.metric.unit})",
                    x.n,
                    _ratio(x.geomean, x.geomean_interval),
                    _ratio(x.median, x.median_interval),
                    x.verdict,
                    f"{x.faster} / {x.slower} / {x.no_difference}",
                    x.noisy,
                    x.busy,
                    x.excluded_noisy + (0 if cmp.allow_mismatch else x.mismatched),
                    fmt(x.min),
                    fmt(x.max),
                ]
                for x in cmp.summaries
            ],
            caption="Speed-up of the candidate over the base, per kind ('left out': noisy or "
            "busy pairs with --exclude-noisy, and pairs whose settings differ)",
        )
    )
    if cmp.pairs:
        s.tables.append(
            Table(
                ["kind", "configuration", "base", "candidate", "ratio [95%]", "verdict", "flags"],
                [
                    [
                        p.kind,
                        _config(p),
                        fmt(p.base_value),
                        fmt(p.candidate_value),
                        _ratio(p.ratio, p.interval),
                        p.verdict + _runs(p),
                        "; ".join(x for x in (_flags(p), *map(str, p.mismatch)) if x),
                    ]
                    for p in sorted(cmp.pairs, key=lambda p: (p.kind, p.ratio))
                ],
                caption="Every compared configuration",
            )
        )
    if cmp.mismatched:
        s.tables.append(
            Table(
                ["kind", "configuration", "ratio", "not comparable: what differs"],
                [
                    [p.kind, _config(p), fmt(p.ratio), "; ".join(map(str, p.mismatch))]
                    for p in cmp.mismatched
                ],
                caption="Pairs whose settings differ, left out of the summaries "
                "(--allow-mismatch includes them)",
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
