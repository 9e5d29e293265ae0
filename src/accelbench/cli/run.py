"""``accelbench run``, ``peaks`` and ``idle-power``: measure and store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from accelbench.analysis.summary import host_summary, run_summary
from accelbench.analysis.training import RepeatGroup, repeat_groups
from accelbench.cli.app import (
    DEFAULT_DB,
    DbOpt,
    JsonOpt,
    PeaksOpt,
    PowerOpt,
    PowerRateOpt,
    app,
    check_power_rate,
    device_spec,
    err,
    load_peaks,
    out,
    print_json,
)
from accelbench.cli.layout import Col, print_table
from accelbench.cli.progress import reporter_for
from accelbench.errors import UserError
from accelbench.names import describe_case
from accelbench.parallel.launch import Launch
from accelbench.parallel.settings import DEFAULT_COLLECTIVE_TIMEOUT_S, DEFAULT_RDZV_TIMEOUT_S
from accelbench.results.schema import Result, Status

if TYPE_CHECKING:
    from accelbench.api.runner import RunReport


@app.command()
def run(
    suite: Annotated[str, typer.Argument(help="a built-in suite name or a suite YAML file")],
    device: Annotated[
        str | None,
        typer.Option(
            help="a device kind with an optional index, e.g. cpu, cuda:1 (`accelbench devices` "
            "lists them); default: the first accelerator, else cpu"
        ),
    ] = None,
    db: DbOpt = DEFAULT_DB,
    threads: Annotated[int | None, typer.Option(help="CPU intra-op threads (recorded)")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--no-resume",
            help="skip cases already stored as ok for this suite, device, host and thread count",
        ),
    ] = True,
    peaks: PeaksOpt = None,
    power: PowerOpt = True,
    power_rate: PowerRateOpt = 10.0,
    as_json: JsonOpt = False,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="ACCELBENCH_DATA_DIR",
            help="folder holding real datasets (cifar10-jpeg.tar.gz, aclImdb.tar.gz, ...)",
        ),
    ] = None,
    nproc_per_node: Annotated[
        int | None,
        typer.Option(
            "--nproc-per-node",
            help="run data-parallel under torchrun with this many processes on this node, one "
            "per device (gloo on CPU, NCCL on CUDA, HCCL on Ascend)",
        ),
    ] = None,
    nnodes: Annotated[
        int, typer.Option("--nnodes", help="nodes in the job (each runs the same command)")
    ] = 1,
    node_rank: Annotated[
        int,
        typer.Option(
            "--node-rank", help="this node's rank; the node with 0 stores the results in --db"
        ),
    ] = 0,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rdzv-endpoint",
            help="HOST:PORT of the c10d rendezvous, the same on every node (needed with --nnodes)",
        ),
    ] = None,
    rdzv_timeout: Annotated[
        float,
        typer.Option("--rdzv-timeout", help="seconds to wait for every node to join"),
    ] = DEFAULT_RDZV_TIMEOUT_S,
    collective_timeout: Annotated[
        float,
        typer.Option(
            "--collective-timeout",
            help="seconds any collective may wait for the other ranks before the case fails",
        ),
    ] = DEFAULT_COLLECTIVE_TIMEOUT_S,
    dist_worker: Annotated[
        Path | None, typer.Option("--dist-worker", hidden=True, help="internal: torchrun worker")
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            envvar="ACCELBENCH_OFFLINE",
            help="never download a missing dataset (a workload that needs one stores an error)",
        ),
    ] = False,
    require_idle: Annotated[
        bool,
        typer.Option(
            "--require-idle",
            help="refuse to start unless the host is idle, waiting up to --idle-wait for it",
        ),
    ] = False,
    idle_wait: Annotated[
        float,
        typer.Option("--idle-wait", help="seconds --require-idle waits for the host to settle"),
    ] = 60.0,
    idle_check: Annotated[
        float,
        typer.Option(
            "--idle-check",
            envvar="ACCELBENCH_IDLE_CHECK_S",
            help="seconds the host is sampled before the run starts (0: no check)",
        ),
    ] = 1.0,
) -> None:
    """Run a suite on a device; every case is stored in the database as it completes.

    With --nproc-per-node N the suite runs data-parallel under torchrun: N processes on this
    node (and --nnodes M nodes meeting at --rdzv-endpoint), one result per case holding every
    rank's record, stored by the node with --node-rank 0.

    The host is checked first (other processes' CPU use, hypervisor steal, other processes on
    the device): a busy host is warned about, or refused with --require-idle; each case
    records the host's state and is flagged host_busy when something competed with it.
    """
    from accelbench.api import load_suite, run_suite

    if dist_worker is not None:
        from accelbench.api.distributed import worker_main

        raise typer.Exit(worker_main(dist_worker, reporter_for(err)))
    if nproc_per_node is not None:
        _run_distributed(
            suite,
            _launch(
                nproc_per_node, nnodes, node_rank, rdzv_endpoint, rdzv_timeout, collective_timeout
            ),
            device=device_spec(device),
            db=db,
            threads=threads,
            resume=resume,
            peaks=peaks,
            power=power,
            power_rate=power_rate,
            as_json=as_json,
            data_dir=data_dir,
            offline=offline,
        )
        return
    if nnodes != 1 or node_rank != 0 or rdzv_endpoint is not None:
        raise UserError(
            "--nnodes, --node-rank and --rdzv-endpoint start a data-parallel run: give "
            "--nproc-per-node N too"
        )
    s = load_suite(suite)
    spec = device_spec(device)
    _check_host(spec, require_idle, idle_wait, idle_check)
    reporter = reporter_for(err)
    report = run_suite(
        s,
        device=spec,
        db=db,
        threads=threads,
        resume=resume,
        peaks=load_peaks(peaks),
        reporter=reporter,
        power=power,
        power_rate_hz=check_power_rate(power_rate),
        data_dir=data_dir,
        offline=offline,
    )
    _print_run(report, as_json)


def _launch(
    nproc: int,
    nnodes: int,
    node_rank: int,
    endpoint: str | None,
    rdzv_timeout: float,
    collective_timeout: float,
) -> Launch:
    """The launch options, each bad value one line naming its option."""
    from pydantic import ValidationError

    for opt, value, ok, expected in (
        ("--nproc-per-node", nproc, 1 <= nproc <= 1024, "an integer from 1 to 1024"),
        ("--nnodes", nnodes, 1 <= nnodes <= 4096, "an integer from 1 to 4096"),
        ("--node-rank", node_rank, node_rank >= 0, "0 or more"),
        ("--rdzv-timeout", rdzv_timeout, rdzv_timeout > 0, "a positive number of seconds"),
        (
            "--collective-timeout",
            collective_timeout,
            collective_timeout > 0,
            "a positive number of seconds",
        ),
    ):
        if not ok:
            raise UserError(f"{opt} {value}: expected {expected}")
    try:
        return Launch(
            nproc_per_node=nproc,
            nnodes=nnodes,
            node_rank=node_rank,
            rdzv_endpoint=endpoint,
            rdzv_timeout_s=rdzv_timeout,
            collective_timeout_s=collective_timeout,
        )
    except ValidationError as exc:
        raise UserError(f"--rdzv-endpoint {endpoint}: expected HOST:PORT") from exc


def _run_distributed(
    suite: str,
    launch: Launch,
    *,
    device: str,
    db: Path,
    threads: int | None,
    resume: bool,
    peaks: Path | None,
    power: bool,
    power_rate: float,
    as_json: bool,
    data_dir: Path | None,
    offline: bool,
) -> None:
    from accelbench.api.distributed import launch_suite

    report = launch_suite(
        suite,
        launch,
        device=device,
        db=db,
        threads=threads,
        resume=resume,
        peaks=load_peaks(peaks),
        power=power,
        power_rate_hz=check_power_rate(power_rate),
        data_dir=data_dir,
        offline=offline,
    )
    if report.owner_here and (report.run_id is not None or report.failure is None):
        _print_run(report, as_json, exit_on_interrupt=report.failure is None)
    elif report.failure is None:
        out.print(
            f"node {launch.node_rank}: its {launch.nproc_per_node} rank(s) finished; the results "
            "are stored by the node launched with --node-rank 0"
        )
    if report.failure is not None:
        err.print(f"error: {report.failure}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def _print_run(report: RunReport, as_json: bool, exit_on_interrupt: bool = True) -> None:
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


def _check_host(spec: str, require: bool, wait_s: float, window_s: float) -> None:
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


@app.command()
def peaks(
    device: Annotated[
        str | None,
        typer.Option(help="the device to measure; default: the first accelerator, else cpu"),
    ] = None,
    db: DbOpt = DEFAULT_DB,
    threads: Annotated[int | None, typer.Option(help="CPU intra-op threads (recorded)")] = None,
    sizes: Annotated[
        list[int] | None,
        typer.Option(
            "--size",
            help="GEMM size to try (repeatable); default 1024,2048 on a CPU, "
            "4096,8192,16384 on accelerators",
        ),
    ] = None,
    dtypes: Annotated[
        list[str] | None,
        typer.Option(
            "--dtype", help="precision (repeatable); default float32, tfloat32, bfloat16, float16"
        ),
    ] = None,
    bandwidth_sizes: Annotated[
        list[str] | None,
        typer.Option(
            "--bandwidth-size",
            help="copy/triad buffer size, e.g. 256MiB (repeatable); default 256MiB and 1GiB",
        ),
    ] = None,
    time_budget: Annotated[
        float,
        typer.Option(
            "--time-budget",
            help="seconds of timed work per size before stopping short of the 1% CI target",
        ),
    ] = 10.0,
    search: Annotated[
        bool,
        typer.Option(
            "--search/--no-search",
            help="also try GEMM shapes around the best square (smaller, larger, tall, wide)",
        ),
    ] = True,
    remeasure: Annotated[
        bool, typer.Option("--remeasure", help="measure again even if peaks are stored")
    ] = False,
    peaks_file: PeaksOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure and store peak compute per dtype and peak memory bandwidth of a device.

    Utilisation and the roofline of every later sweep on this device, host, thread count and
    software stack use them, next to the datasheet figures.
    """
    from accelbench.api.peaks import measure_peaks, parse_bandwidth_sizes

    pk = measure_peaks(
        device_spec(device),
        db,
        threads=threads,
        sizes=sizes,
        dtypes=dtypes,
        bandwidth_sizes=parse_bandwidth_sizes(bandwidth_sizes or []),
        time_budget_s=time_budget,
        search=search,
        remeasure=remeasure,
        peaks_override=load_peaks(peaks_file),
        reporter=reporter_for(err),
        note=err.print,
    )
    rows, dev_spec = pk.rows, pk.device
    if as_json:
        print_json({"device": dev_spec, "db": str(db), "peaks": rows})
    else:
        table_rows = []
        for r in rows:
            measured = "-"
            if r["measured"] is not None:
                measured = f"{r['measured']:.1f} {r['unit']}"
                if r["low"] is not None and r["high"] is not None:
                    measured += f" [{r['low']:.1f}, {r['high']:.1f}]"
            sheet = f"{r['datasheet']:.1f} {r['unit']}" if r["datasheet"] is not None else "-"
            table_rows.append(
                [
                    r["peak"],
                    measured,
                    f"{r['cv']:.1%}" if r["cv"] is not None else "-",
                    sheet,
                    f"{r['of_datasheet']:.0%}" if r["of_datasheet"] is not None else "-",
                    r["note"],
                ]
            )
        print_table(
            out,
            [
                Col("peak"),
                Col("measured [95%]", numeric=True),
                Col("CV", numeric=True, priority=2),
                Col("datasheet", numeric=True, priority=1),
                Col("of datasheet", numeric=True, priority=1),
                Col("note", priority=3),
            ],
            table_rows,
            title=f"measured peaks of {dev_spec} ({pk.info.name})",
        )
        out.print(f"stored in {db}; sweeps on this device use them for utilisation and roofline")
    if pk.interrupted:
        raise typer.Exit(130)


@app.command("idle-power")
def idle_power(
    device: Annotated[
        str | None,
        typer.Option(help="the device to measure; default: the first accelerator, else cpu"),
    ] = None,
    seconds: Annotated[float, typer.Option(help="length of the measured window")] = 30.0,
    settle: Annotated[
        float, typer.Option(help="seconds to wait first, so clocks come down after earlier work")
    ] = 2.0,
    db: DbOpt = DEFAULT_DB,
    power_rate: PowerRateOpt = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Measure and store the device's idle power.

    Later results report net energy above it. Nothing else should run on the device meanwhile.
    """
    from accelbench.api.idle import measure_idle_power

    report = measure_idle_power(
        device_spec(device),
        str(db),
        seconds=seconds,
        settle_s=settle,
        power_rate_hz=check_power_rate(power_rate),
        reporter=reporter_for(err),
    )
    if report.interrupted:
        raise typer.Exit(130)
    (r,) = report.results
    power = r.config.get("power", {})
    if as_json:
        print_json(
            {
                "device": r.device,
                "status": r.status.value,
                "message": r.message,
                "idle_power_w": r.metric("idle_power_w"),
                "result_id": r.result_id,
                "power": power,
            }
        )
    elif r.status is Status.OK:
        out.print(f"idle power of {r.device}: {r.metric('idle_power_w'):.1f} W over {seconds:g} s")
        for m in power.get("meters", []):
            out.print(f"  {m['meter']['meter']} {m['meter']['domain']}: {m['avg_power_w']:.1f} W")
        out.print(f"stored in {db} as {r.result_id[:12]}; later results report net energy")
    else:
        out.print(f"idle power of {r.device}: {r.status.value}: {r.message}")
    if r.status is not Status.OK:
        raise typer.Exit(1)
