"""``accelbench report`` and ``compare``: what the stored results say."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from accelbench.cli.app import DEFAULT_DB, DbOpt, JsonOpt, app, describe, err, out, print_json
from accelbench.errors import UserError
from accelbench.names import describe_case

FormatOpt = Annotated[str, typer.Option("--format", help="html (self-contained) or md")]
FiguresOpt = Annotated[
    Path | None,
    typer.Option("--figures", help="also write every figure as a file into this folder"),
]
FigureFormatOpt = Annotated[str, typer.Option("--figure-format", help="svg or png, for --figures")]


@app.command()
def report(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="file to write (default report.html / report.md)"),
    ] = None,
    db: DbOpt = DEFAULT_DB,
    run: Annotated[
        list[str] | None,
        typer.Option(
            "--run",
            help="run id or prefix; repeat for several (default: newest "
            "run of each suite on each platform)",
        ),
    ] = None,
    fmt: FormatOpt = "html",
    figures: FiguresOpt = None,
    figure_format: FigureFormatOpt = "svg",
    title: Annotated[str, typer.Option("--title")] = "accelbench report",
) -> None:
    """Write a report of stored results: platforms, outcomes, roofline, regression,
    comparisons, bandwidth, training and power, each section with its figure and table."""
    from accelbench.api.reporting import report as write

    done = write(
        db, output, runs=run, fmt=fmt, figures=figures, figure_format=figure_format, title=title
    )
    w = done.written
    extra = f", {len(w.figures)} figures in {figures}" if figures else ""
    out.print(
        f"report of {done.n_results} results from {len(done.groups)} run(s): "
        f"{w.bytes / 1024:.0f} KiB in {w.seconds:.1f} s{extra}",
        highlight=False,
    )
    # The path alone on the last line, so scripts can pick it up.
    print(w.path.resolve())


@app.command("compare")
def compare_cmd(
    base: Annotated[str, typer.Argument(help="run id, SUITE@DEVICE, or a database file")],
    candidate: Annotated[str, typer.Argument(help="run id, SUITE@DEVICE, or a database file")],
    db: DbOpt = DEFAULT_DB,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="also write the comparison as a report (.html/.md)"),
    ] = None,
    as_json: JsonOpt = False,
    top: Annotated[int, typer.Option("--top", help="largest and smallest ratios to list")] = 5,
    base_price: Annotated[
        float | None,
        typer.Option(
            "--base-price",
            help="hourly price of the base machine (USD), for "
            "performance per price; overrides the price stored with its results",
        ),
    ] = None,
    candidate_price: Annotated[
        float | None, typer.Option("--candidate-price", help="hourly price of the candidate")
    ] = None,
    base_framework: Annotated[
        str | None,
        typer.Option(
            "--base-framework",
            help="only the base's cases run through FRAMEWORK/EXECUTION (e.g. pytorch/eager), "
            "paired with the candidate's by everything else",
        ),
    ] = None,
    candidate_framework: Annotated[
        str | None,
        typer.Option(
            "--candidate-framework",
            help="only the candidate's cases run through FRAMEWORK/EXECUTION (e.g. "
            "mindspore/graph); the same run may be both sides",
        ),
    ] = None,
) -> None:
    """Put two runs or platforms side by side on the configurations both measured:
    speed-up per configuration and per kind (min, median, max, geometric mean), and what
    failed on one side only. With --base-framework / --candidate-framework, frameworks
    (PyTorch eager or compiled, MindSpore PyNative or Graph) side by side."""
    from accelbench.api.reporting import compare, write_comparison

    if top < 0:
        raise UserError(f"--top {top}: expected 0 or more")
    for name, price in (("--base-price", base_price), ("--candidate-price", candidate_price)):
        if price is not None and not price > 0:
            raise UserError(f"{name} {price:g}: expected a positive hourly price in USD")
    outcome = compare(
        base,
        candidate,
        db,
        base_framework=base_framework,
        candidate_framework=candidate_framework,
    )
    cmp = outcome.comparison
    if as_json:
        print_json(cmp.as_dict())
    else:
        _print_comparison(cmp, top)
        _print_cost(cmp, base_price, candidate_price)
    if output is not None:
        w = write_comparison(outcome, output)
        out.print(f"comparison written: {output} ({w.bytes / 1024:.0f} KiB)", highlight=False)
    if not cmp.pairs and not cmp.one_sided:
        err.print("no configuration was measured on both sides: nothing to compare")
        raise typer.Exit(1)


def _print_cost(cmp: Any, base_price: float | None, candidate_price: float | None) -> None:
    """Performance per price of the inference configurations, where prices are known."""
    from accelbench.analysis.cost import compare_cost

    pairs = [p for p in cmp.pairs if p.kind == "inference"]
    if not pairs:
        return
    rows = compare_cost(
        [p.base for p in pairs],
        [p.candidate for p in pairs],
        base_price_per_hour=base_price,
        candidate_price_per_hour=candidate_price,
    )
    priced = [r for r in rows if r.perf_per_price_ratio is not None]
    if not priced:
        out.print(
            "performance per price: no hourly price for "
            + ("either machine" if base_price is None and candidate_price is None else "one side")
            + " (give --base-price and --candidate-price, or price_per_hour in the suites)"
        )
        return
    t = Table(title="performance per price (candidate over base)")
    for col in ("configuration", "base $/h", "cand. $/h", "throughput", "per price"):
        t.add_column(col, justify="left" if col == "configuration" else "right")
    for r in priced:
        t.add_row(
            " ".join(
                str(r.case.get(k))
                for k in ("model", "scenario", "runtime", "quant", "dtype")
                if r.case.get(k) is not None
            )
            + f" b={r.case.get('batch')}",
            f"{r.base_price_per_hour:g}",
            f"{r.candidate_price_per_hour:g}",
            f"{r.perf_ratio:.3g}",
            f"{r.perf_per_price_ratio:.3g}",
        )
    out.print(t)


def _print_comparison(cmp: Any, top: int) -> None:
    out.print(f"base:      {cmp.base_label}\ncandidate: {cmp.candidate_label}", highlight=False)
    t = Table(title="speed-up of the candidate over the base (above 1: candidate faster)")
    for col in ("kind", "metric", "n", "min", "median", "max", "geomean"):
        t.add_column(col, justify="left" if col in ("kind", "metric") else "right")
    for x in cmp.summaries:
        t.add_row(
            x.kind,
            x.metric.name,
            str(x.n),
            f"{x.min:.3g}",
            f"{x.median:.3g}",
            f"{x.max:.3g}",
            f"{x.geomean:.3g}",
        )
    out.print(t)
    if top and cmp.pairs:
        ranked = sorted(cmp.pairs, key=lambda p: p.ratio)
        shown = ranked[-top:][::-1] + [p for p in ranked[:top] if p not in ranked[-top:]]
        t = Table(title=f"largest and smallest {top} ratios")
        for col in ("kind", "configuration", "base", "candidate", "ratio"):
            t.add_column(col, justify="right" if col in ("base", "candidate", "ratio") else "left")
        for p in shown:
            t.add_row(
                p.kind,
                describe(p.base),
                f"{p.base_value:.4g}",
                f"{p.candidate_value:.4g}",
                f"{p.ratio:.3g}",
            )
        out.print(t)
    if cmp.one_sided:
        t = Table(title="ran on one side only")
        for col in ("kind", "configuration", "ran on", "other side"):
            t.add_column(col)
        for o in cmp.one_sided:
            t.add_row(
                o.kind,
                describe_case(o.case),
                o.ok_side,
                f"{o.failed_status}: {(o.failed_message or '')[:80]}",
            )
        out.print(t)
    out.print(
        f"{len(cmp.pairs)} compared, {len(cmp.one_sided)} on one side only, {cmp.both_failed} "
        f"measured on neither side (unsupported or failed), {cmp.only_in_base} only in base, "
        f"{cmp.only_in_candidate} only in candidate",
        highlight=False,
    )
