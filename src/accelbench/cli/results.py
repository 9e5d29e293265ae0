"""``accelbench results``: list, show, export, import and delete stored results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from accelbench import fileio
from accelbench.api import results as api
from accelbench.cli.app import (
    DEFAULT_DB,
    DbOpt,
    JsonOpt,
    describe,
    err,
    out,
    print_json,
    results_app,
)
from accelbench.cli.layout import Col, print_table
from accelbench.results.schema import Result

RunOpt = Annotated[str | None, typer.Option("--run", help="run id (or prefix)")]
SuiteOpt = Annotated[str | None, typer.Option("--suite", help="suite name")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="device spec, e.g. cpu, cuda:0")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="ok, oom, error, unsupported, ...")]
WorkloadOpt = Annotated[str | None, typer.Option("--workload", help="workload name in its suite")]


def _brief(r: Result) -> dict[str, Any]:
    rate = r.metric("achieved_gflops") or r.metric("peak_gflops")
    return {
        "id": r.result_id[:12],
        "run": r.run_id,
        "workload": r.workload,
        "case": describe(r),
        "device": r.device,
        "status": r.status.value,
        "median_s": r.summary.median if r.summary else None,
        "cv": r.summary.cv if r.summary else None,
        "gflops": rate,
        "noisy": bool(r.summary and r.summary.high_spread),
    }


@results_app.command("list")
def results_list(
    db: DbOpt = DEFAULT_DB,
    run_id: RunOpt = None,
    suite: SuiteOpt = None,
    device: DeviceOpt = None,
    status: StatusOpt = None,
    workload: WorkloadOpt = None,
    limit: Annotated[int | None, typer.Option(help="at most this many", min=1)] = None,
    runs: Annotated[bool, typer.Option("--runs", help="list runs instead of results")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List stored results (or runs with --runs)."""
    if runs:
        rows = [vars(r) for r in api.list_runs(db)]
        if as_json:
            print_json(rows)
            return
        print_table(
            out,
            [
                Col("run", numeric=True, justify="left"),  # copied into --run: never wrapped or cut
                Col("host", priority=2),
                Col("device"),
                Col("thr", numeric=True, priority=3),
                Col("state"),
                Col("ok/all", numeric=True),
                Col("started (UTC)", numeric=True, priority=1),
            ],
            [
                [
                    r["run_id"],
                    r["host"],
                    r["device"],
                    str(r["threads"]),
                    r["state"],
                    f"{r['n_ok']}/{r['n_results']}",
                    r["started_at"][5:16].replace("T", " "),
                ]
                for r in rows
            ],
        )
        return
    rs = api.list_results(
        db, limit=limit, run_id=run_id, suite=suite, device=device, status=status, workload=workload
    )
    briefs = [_brief(r) for r in rs]
    if as_json:
        print_json(briefs)
        return
    table_rows = []
    for b in briefs:
        med = f"{b['median_s'] * 1e3:.3f} ms" if b["median_s"] is not None else "-"
        cv = f"{b['cv']:.1%}" + (" !" if b["noisy"] else "") if b["cv"] is not None else "-"
        g = f"{b['gflops']:.1f}" if b["gflops"] is not None else "-"
        table_rows.append([b["id"], b["workload"], b["case"], b["device"], b["status"], med, cv, g])
    print_table(
        out,
        [
            Col("id", numeric=True, justify="left"),  # copied into `results show`
            Col("workload", priority=2),
            Col("case"),
            Col("device", priority=3),
            Col("status"),
            Col("median", numeric=True),
            Col("CV", numeric=True, priority=1),
            Col("GFLOP/s", numeric=True),
        ],
        table_rows,
        title=f"{len(briefs)} results in {db}",
    )
    if any(b["noisy"] for b in briefs):
        out.print("! = IQR above 10% of the median: noisy timing")


@results_app.command("show")
def results_show(
    result_id: Annotated[str, typer.Argument(help="result id or a unique prefix")],
    db: DbOpt = DEFAULT_DB,
    as_json: JsonOpt = False,
) -> None:
    """Show one result whole: case, metrics, statistics, environment."""
    r = api.show(db, result_id)
    if as_json:
        sys.stdout.write(r.model_dump_json(indent=2) + "\n")
        return
    out.print(
        Text(r.result_id, style="bold"),
        f" {r.suite}/{r.workload}  {r.device}  {r.status.value}",
    )
    if r.message:
        out.print(f"message: {r.message}")
    out.print(f"case: {r.case}")
    t = Table("metric", "value", "unit")
    for name, m in r.metrics.items():
        t.add_row(
            name,
            f"{m.value:.6g}" if m.value is not None else f"unavailable: {m.unavailable}",
            m.unit,
        )
    out.print(t)
    if r.summary:
        s = r.summary
        out.print(
            f"time: n={s.n} median={s.median:.6g}s mean={s.mean:.6g}s IQR={s.iqr:.3g}s "
            f"min={s.min:.6g}s max={s.max:.6g}s CV={s.cv:.2%} "
            f"CI95=[{s.ci95_low:.6g}, {s.ci95_high:.6g}]s"
            + (" HIGH SPREAD" if s.high_spread else "")
        )
    e = r.environment
    out.print(
        f"environment: {e.host}, {e.cpu_model}, {e.os}, python {e.python}, torch {e.torch}, "
        f"device {e.device_name}, threads {e.threads}, seed {e.seed}, "
        f"accelbench {e.accelbench_version} ({e.git_revision or 'no git revision'})"
    )


@results_app.command("export")
def results_export(
    path: Annotated[
        Path, typer.Argument(help="output file: .jsonl, .csv or .parquet; - for stdout (JSONL)")
    ],
    db: DbOpt = DEFAULT_DB,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl, csv or parquet (import also reads db); default: from the suffix",
        ),
    ] = None,
    run_id: RunOpt = None,
    suite: SuiteOpt = None,
    device: DeviceOpt = None,
    status: StatusOpt = None,
    workload: WorkloadOpt = None,
) -> None:
    """Export results (all, or those matching the filters)."""
    n = api.export(
        db, path, fmt, run_id=run_id, suite=suite, device=device, status=status, workload=workload
    )
    (err if fileio.is_stream(path) else out).print(f"exported {n} results to {path}")


@results_app.command("import")
def results_import(
    paths: Annotated[
        list[Path], typer.Argument(help=".jsonl, .csv, .parquet exports or .db files")
    ],
    db: DbOpt = DEFAULT_DB,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl, csv or parquet (import also reads db); default: from the suffix",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge results from other machines; results already present (same id) are skipped.

    Every record is validated as a fresh measurement would be, and every file is read before
    anything is written: one bad record adds nothing. All files go in one transaction, each
    remembered as the source of its results; imported results never stand in for this
    machine's own measurements."""
    from accelbench.results.io import ImportInterrupted

    try:
        summary = api.import_files(
            db, paths, fmt, notice=lambda m: err.print(m, highlight=False, soft_wrap=True)
        )
    except ImportInterrupted as exc:
        err.print(str(exc), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    if as_json:
        print_json(summary)
        return
    for s in summary:
        out.print(
            f"{s['file']}: {s['added']} added, {s['already_present']} already present"
            + (f", {len(s['conflicts'])} conflicting (kept as stored)" if s["conflicts"] else ""),
            highlight=False,
        )


@results_app.command("delete")
def results_delete(
    ids: Annotated[list[str] | None, typer.Argument(help="result ids or prefixes")] = None,
    db: DbOpt = DEFAULT_DB,
    run_id: RunOpt = None,
    suite: SuiteOpt = None,
    device: DeviceOpt = None,
    status: StatusOpt = None,
    workload: WorkloadOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete results by id or filter (asks first unless --yes)."""
    deleted = api.delete(
        db,
        ids,
        lambda n: yes or typer.confirm(f"delete {n} results from {db}?", default=False),
        run_id=run_id,
        suite=suite,
        device=device,
        status=status,
        workload=workload,
    )
    if deleted is None:
        raise typer.Exit(1)
    out.print("nothing matches" if deleted == 0 else f"deleted {deleted} results")


@results_app.command("schema")
def results_schema() -> None:
    """Print the JSON Schema of a result record."""
    from accelbench.results.schema import result_json_schema

    print_json(result_json_schema())
