"""``accelbench report`` and ``compare``: what the stored results say."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from accelbench import fileio
from accelbench.cli.app import DEFAULT_DB, DbOpt, JsonOpt, app, describe, err, out, print_json
from accelbench.errors import UserError
from accelbench.names import describe_case
from accelbench.terminal import printable
from accelbench.timing.intervals import RESAMPLES, SEED

MAX_DIFFERENCES = 12
MAX_MISMATCHED = 10

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
    title: Annotated[
        str, typer.Option("--title", help="the report's heading")
    ] = "accelbench report",
) -> None:
    """Write a report of stored results: platforms, outcomes, roofline, regression,
    comparisons, bandwidth, training and power, each section with its figure and table."""
    from accelbench.api.reporting import report as write

    done = write(
        db, output, runs=run, fmt=fmt, figures=figures, figure_format=figure_format, title=title
    )
    w = done.written
    extra = f", {len(w.figures)} figures in {figures}" if figures else ""
    to_stream = fileio.is_stream(w.path)  # the report itself is on stdout: talk on stderr
    (err if to_stream else out).print(
        f"report of {done.n_results} results from {len(done.groups)} run(s): "
        f"{w.bytes / 1024:.0f} KiB in {w.seconds:.1f} s{extra}",
        highlight=False,
    )
    if not to_stream:  # the path alone on the last line, so scripts can pick it up
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
    allow_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-mismatch",
            help="include pairs whose settings differ (hyper-parameters, measurement, data, "
            "threads) in the summaries; they are flagged",
        ),
    ] = False,
    exclude_noisy: Annotated[
        bool,
        typer.Option(
            "--exclude-noisy",
            help="leave pairs with a noisy side or a side measured on a busy host out of the "
            "summaries",
        ),
    ] = False,
    resamples: Annotated[
        int, typer.Option("--resamples", help="bootstrap resamples per interval")
    ] = RESAMPLES,
    seed: Annotated[int, typer.Option("--seed", help="seed of the bootstrap")] = SEED,
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
    speed-up per configuration and per kind (geometric mean and median), each with a 95%
    bootstrap interval ("no measurable difference" when it holds 1), what differs between the
    sides, pairs whose settings differ, noisy and busy-host pairs, and what failed on one
    side only."""
    from accelbench.api.reporting import compare, write_comparison

    if top < 0:
        raise UserError(f"--top {top}: expected 0 or more")
    from accelbench.limits import check_price

    for name, price in (("--base-price", base_price), ("--candidate-price", candidate_price)):
        if price is not None:
            check_price(price, name)
    to_stream = output is not None and fileio.is_stream(output)
    if to_stream and as_json:
        raise UserError(f"--output {output}: standard output already carries --json")
    outcome = compare(
        base,
        candidate,
        db,
        allow_mismatch=allow_mismatch,
        exclude_noisy=exclude_noisy,
        resamples=resamples,
        seed=seed,
        base_framework=base_framework,
        candidate_framework=candidate_framework,
    )
    cmp = outcome.comparison
    if as_json:
        print_json(cmp.as_dict())
    elif not to_stream:  # with -o -, stdout carries the written comparison alone
        _print_comparison(cmp, top)
        _print_cost(cmp, base_price, candidate_price)
    if output is not None:
        w = write_comparison(outcome, output)
        (err if to_stream else out).print(
            f"comparison written: {output} ({w.bytes / 1024:.0f} KiB)", highlight=False
        )
    if not cmp.pairs and not cmp.one_sided and not cmp.mismatched:
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


def _ratio(ratio: float, iv: Any) -> str:
    """'1.71 [1.62, 1.80]', or the ratio alone where there is no interval."""
    if iv is None:
        return f"{ratio:.3g}"
    return f"{ratio:.3g} [{iv.low:.3g}, {iv.high:.3g}]"


def _plain(text: str) -> Text:
    """Text from results (names, messages) shown as is: never read as rich markup, control
    characters made visible."""
    return Text(printable(text))


def _print_head(cmp: Any) -> None:
    lines = [f"base:      {cmp.base_label}", f"candidate: {cmp.candidate_label}"]
    diffs = [f"{d.what}: {d.base} vs {d.candidate}" for d in cmp.differences]
    shown = diffs[:MAX_DIFFERENCES]
    if len(diffs) > MAX_DIFFERENCES:
        shown.append(f"and {len(diffs) - MAX_DIFFERENCES} more (--json lists them)")
    for i, d in enumerate(shown or ["nothing recorded differs"]):
        lines.append(("differs:   " if i == 0 else "           ") + d)
    nb, nc = cmp.host_busy
    if nb or nc:
        lines.append(
            f"host busy: {nb} base and {nc} candidate results were measured on a busy host"
        )
    lines.append(f"intervals: {cmp.settings.describe()}")
    for line in lines:
        out.print(line, markup=False, highlight=False)


def _print_comparison(cmp: Any, top: int) -> None:
    _print_head(cmp)
    if cmp.summaries:
        t = Table(
            title="speed-up of the candidate over the base (above 1: candidate faster)",
            box=box.SIMPLE_HEAD,
        )
        t.add_column("kind")
        t.add_column("n", justify="right")
        t.add_column("geomean [95%]", justify="right", no_wrap=True)
        t.add_column("median [95%]", justify="right", no_wrap=True)
        t.add_column("verdict")
        for x in cmp.summaries:
            t.add_row(
                _plain(x.kind),
                str(x.n),
                _ratio(x.geomean, x.geomean_interval),
                _ratio(x.median, x.median_interval),
                x.verdict,
            )
        out.print(t)
        t = Table(title="pairs per kind", box=box.SIMPLE_HEAD)
        for col in ("kind", "faster", "slower", "no diff.", "noisy", "busy", "left out", "range"):
            t.add_column(col, justify="left" if col == "kind" else "right")
        for x in cmp.summaries:
            left = x.excluded_noisy + (0 if cmp.allow_mismatch else x.mismatched)
            t.add_row(
                _plain(x.kind),
                str(x.faster),
                str(x.slower),
                str(x.no_difference),
                str(x.noisy),
                str(x.busy),
                str(left),
                f"{x.min:.3g}-{x.max:.3g}",
            )
        out.print(t)
        notes = [
            "no diff.: no measurable difference (the 95% interval holds 1)",
            "noisy: a side's IQR is above 10% of its median; busy: a side was measured on a "
            "busy host"
            + (" (left out: --exclude-noisy)" if cmp.exclude_noisy else " (--exclude-noisy)"),
        ]
        if any(x.mismatched for x in cmp.summaries):
            notes.append(
                "left out: pairs whose settings differ"
                + (" are included (--allow-mismatch)" if cmp.allow_mismatch else "")
            )
        for n in notes:
            out.print(n, highlight=False)
    if cmp.excluded:
        out.print(
            "left out as noisy or busy (--exclude-noisy): "
            + ", ".join(f"{k} {n}" for k, n in cmp.excluded.items()),
            markup=False,
            highlight=False,
        )
    if top and cmp.pairs:
        ranked = sorted(cmp.pairs, key=lambda p: p.ratio)
        shown = ranked[-top:][::-1] + [p for p in ranked[:top] if p not in ranked[-top:]]
        t = Table(title=f"largest and smallest {top} ratios", box=box.SIMPLE_HEAD)
        t.add_column("configuration", ratio=1)
        t.add_column("ratio [95%]", justify="right", no_wrap=True)
        t.add_column("verdict", max_width=13)
        t.add_column("flags", max_width=6)
        for p in shown:
            flags = " ".join(w for w, on in (("noisy", p.noisy), ("busy", p.busy)) if on)
            t.add_row(_plain(describe(p.base)), _ratio(p.ratio, p.interval), p.verdict, flags)
        out.print(t)
    repeated = [p for p in cmp.pairs if p.base_runs or p.candidate_runs]
    if repeated:
        t = Table(title="repeated training runs (ratio of mean times)", box=box.SIMPLE_HEAD)
        t.add_column("configuration")
        t.add_column("runs", justify="right")
        t.add_column("ratio [95%]", justify="right", no_wrap=True)
        t.add_column("MLPerf rule", justify="right")
        t.add_column("verdict")
        for p in repeated:
            t.add_row(
                _plain(describe(p.base)),
                f"{len(p.base_runs)}/{len(p.candidate_runs)}",
                _ratio(p.ratio, p.interval),
                f"{p.mlperf_ratio:.3g}" if p.mlperf_ratio is not None else "-",
                p.verdict,
            )
        out.print(t)
        out.print(
            "MLPerf rule: the fastest and slowest run of each side dropped, ratio of the means "
            "of the rest (needs 3 runs on each side)",
            highlight=False,
        )
    if cmp.mismatched:
        t = Table(
            title="not comparable: settings differ (left out; --allow-mismatch includes them)",
            box=box.SIMPLE_HEAD,
        )
        t.add_column("configuration")
        t.add_column("differs")
        for p in cmp.mismatched[:MAX_MISMATCHED]:
            t.add_row(_plain(describe(p.base)), _plain("; ".join(map(str, p.mismatch[:3]))))
        out.print(t)
        if len(cmp.mismatched) > MAX_MISMATCHED:
            out.print(f"and {len(cmp.mismatched) - MAX_MISMATCHED} more (--json lists them)")
    if cmp.one_sided:
        t = Table(title="ran on one side only", box=box.SIMPLE_HEAD)
        for col in ("configuration", "ran on", "other side"):
            t.add_column(col)
        for o in cmp.one_sided:
            t.add_row(
                _plain(f"{o.kind} {describe_case(o.case)}"),
                o.ok_side,
                _plain(f"{o.failed_status}: {(o.failed_message or '')[:80]}"),
            )
        out.print(t)
    out.print(
        f"{len(cmp.pairs)} compared, {len(cmp.mismatched)} not comparable, "
        f"{len(cmp.one_sided)} on one side only, {cmp.both_failed} measured on neither side "
        f"(unsupported or failed), {cmp.only_in_base} only in base, "
        f"{cmp.only_in_candidate} only in candidate"
        + (f", {cmp.same_result} the same result on both sides" if cmp.same_result else ""),
        highlight=False,
    )
