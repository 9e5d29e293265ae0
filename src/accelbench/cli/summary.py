"""What ``accelbench run`` prints when a run ends: the summary table, repeated runs, scaling
and how busy the host was."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from accelbench.analysis.summary import host_summary, run_summary
from accelbench.analysis.training import RepeatGroup, repeat_groups
from accelbench.cli.app import (
    err,
    out,
    print_json,
)
from accelbench.cli.layout import Col, print_table
from accelbench.names import describe_case
from accelbench.results.schema import Result, Status

if TYPE_CHECKING:
    from accelbench.api.runner import RunReport


def print_run(report: RunReport, as_json: bool, exit_on_interrupt: bool = True) -> None:
    rows = run_summary(report.results)
    host = host_summary(report.results)
    groups = [g for g in repeat_groups(report.results) if g.runs > 1]
    if as_json:
        print_json(
            {
                "run_id": report.run_id,
                "suite": report.suite,
                "device": report.device,
                "db": report.db,
                "wall_s": report.wall_s,
                "interrupted": report.interrupted,
                "skipped_already_stored": report.skipped_already_stored,
                "stored_in_runs": report.stored_in_runs,
                "workloads": rows,
                "host": host,
                "repeat_groups": [vars(g) for g in groups],
                "results": [r.result_id for r in report.results],
            }
        )
    elif report.run_id is None:
        runs = ", ".join(report.stored_in_runs)
        out.print(f"{report.skipped_already_stored} results already in {report.db} (runs: {runs})")
    else:
        table_rows = []
        for r in rows:
            best = f"{r['best']:.1f} {r['unit']}" if r["best"] is not None else "-"
            # "2 unsupported, 1 oom": one status per line when the column is narrow
            failed = ", ".join(
                f"{r[s.value]} {s.value}" for s in Status if s is not Status.OK and r[s.value]
            )
            cv = f"{r['median_cv']:.1%}" if r["median_cv"] is not None else "-"
            table_rows.append(
                [
                    r["workload"],
                    str(r["cases"]),
                    str(r["ok"]),
                    failed or "0",
                    best,
                    r["best_case"] or "-",
                    cv,
                    str(r["high_spread"]),
                    str(r["host_busy"]),
                ]
            )
        print_table(
            out,
            [
                Col("workload"),
                Col("cases", numeric=True, priority=3),
                Col("ok", numeric=True),
                Col("not ok"),
                Col("best rate", numeric=True),
                Col("best case", priority=2),
                Col("median CV", numeric=True, priority=1),
                Col("noisy", numeric=True, priority=1),
                Col("busy", numeric=True, priority=1),
            ],
            table_rows,
            title=f"run {report.run_id}",
        )
        _print_repeats(groups)
        _print_scaling(report.results)
        noisy = sum(r["high_spread"] for r in rows)
        unconverged = sum(r["not_converged"] for r in rows)
        if noisy or unconverged:
            out.print(
                f"{noisy} noisy (IQR above 10% of the median), {unconverged} stopped on the time "
                "budget before reaching the CI target: treat those numbers with care"
            )
        if host["busy"]:
            out.print(
                f"{host['busy']} of {host['recorded']} cases measured on a busy host "
                f"({_busy_numbers(host)}): slower and noisier than the hardware is; re-run on "
                "an idle host (--require-idle), or compare with --exclude-noisy",
                markup=False,
                highlight=False,
            )
        out.print(
            f"{len(report.results)} results stored in {report.db} in {report.wall_s:.1f} s"
            + (
                f"; {report.skipped_already_stored} already stored were skipped"
                if report.skipped_already_stored
                else ""
            )
        )
    if report.interrupted and exit_on_interrupt:
        err.print(
            f"interrupted: {len(report.results)} results of this run are stored; "
            f"run the same command again to resume"
        )
        raise typer.Exit(130)


def _print_scaling(results: list[Result]) -> None:
    """Where a run holds the same work at several world sizes: speed-up and efficiency."""
    from accelbench.analysis.scaling import scaling_series

    for series in scaling_series(results):
        if len(series.points) < 2:
            continue
        print_table(
            out,
            [
                Col("world size", numeric=True),
                Col("throughput", numeric=True),
                Col("speed-up", numeric=True),
                Col("efficiency", numeric=True),
                Col("time to threshold (s)", numeric=True, priority=1),
            ],
            [
                [
                    str(p.world_size),
                    f"{p.throughput:.1f} {series.unit}" if p.throughput is not None else "-",
                    f"{p.speedup:.2f}x" if p.speedup is not None else "-",
                    f"{p.efficiency:.0%}" if p.efficiency is not None else "-",
                    f"{p.time_to_threshold_s:.1f}" if p.time_to_threshold_s is not None else "-",
                ]
                for p in series.points
            ],
            title=f"scaling: {series.label}",
        )


def _busy_numbers(host: dict[str, Any]) -> str:
    parts = []
    if host["max_other_cpus"] is not None:
        parts.append(
            f"other processes used up to {host['max_other_cpus']:.2f} of "
            f"{host['logical_cpus']} CPUs, median {host['median_other_cpus']:.2f}"
        )
    if host["max_steal_pct"]:
        parts.append(f"steal up to {host['max_steal_pct']:.1f}%")
    if host["device_processes"]:
        parts.append(f"other device processes: {', '.join(host['device_processes'][:3])}")
    if host["device_slowdown"]:
        parts.append(f"device slowdown: {', '.join(host['device_slowdown'])}")
    return "; ".join(parts)


def check_host_first(spec: str, require: bool, wait_s: float, window_s: float) -> None:
    """Warn (or, with --require-idle, wait and refuse) when the host is busy at the start."""
    from accelbench.api.host import check_host, require_idle

    if window_s == 0 and not require:
        return
    window = window_s or 1.0
    if require:
        check = require_idle(
            spec,
            window_s=window,
            wait_s=wait_s,
            on_busy=lambda c: err.print(
                f"waiting for an idle host: {c.describe()}", markup=False, highlight=False
            ),
        )
        if check.waited_s:
            err.print(f"host idle after {check.waited_s:.0f} s", highlight=False)
        return
    check = check_host(spec, window_s=window)
    if not check.idle:
        err.print(
            f"warning: the host is not idle: {check.describe()}; cases measured meanwhile are "
            "flagged host_busy (--require-idle waits for an idle host)",
            markup=False,
            highlight=False,
        )


def _print_repeats(groups: list[RepeatGroup]) -> None:
    """Time to threshold over repeated runs: mean, median, spread, and MLPerf's rule."""
    if not groups:
        return
    rows = []
    for g in groups:
        span = f"{g.min_s:.1f}-{g.max_s:.1f}" if g.min_s is not None else "-"
        rows.append(
            [
                g.workload,
                describe_case(g.case),
                str(g.runs),
                str(g.reached),
                *(f"{v:.1f}" if v is not None else "-" for v in (g.mean_s, g.median_s)),
                span,
                f"{g.mlperf_mean_s:.1f}" if g.mlperf_mean_s is not None else "-",
            ]
        )
    print_table(
        out,
        [
            Col("workload"),
            Col("configuration", priority=2),
            Col("runs", numeric=True),
            Col("reached", numeric=True),
            Col("mean", numeric=True, priority=1),
            Col("median", numeric=True),
            Col("min-max", numeric=True, priority=1),
            Col("MLPerf mean", numeric=True),
        ],
        rows,
        title="time to threshold over repeated runs (s)",
    )
    out.print(
        "MLPerf mean: the fastest and slowest run dropped, mean of the rest (needs 3 runs "
        "that reached the threshold); runs that missed it are counted, not averaged"
    )
