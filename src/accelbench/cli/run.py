"""``accelbench run``, ``peaks`` and ``idle-power``: measure and store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from accelbench.analysis.summary import run_summary
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
from accelbench.cli.progress import RichReporter
from accelbench.names import describe_case
from accelbench.results.schema import Status


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
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            envvar="ACCELBENCH_OFFLINE",
            help="never download a missing dataset (a workload that needs one stores an error)",
        ),
    ] = False,
) -> None:
    """Run a suite on a device; every case is stored in the database as it completes."""
    from accelbench.api import load_suite, run_suite

    s = load_suite(suite)
    reporter = RichReporter(err)
    report = run_suite(
        s,
        device=device_spec(device),
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
    rows = run_summary(report.results)
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
                "repeat_groups": [vars(g) for g in groups],
                "results": [r.result_id for r in report.results],
            }
        )
    elif report.run_id is None:
        runs = ", ".join(report.stored_in_runs)
        out.print(f"{report.skipped_already_stored} results already in {report.db} (runs: {runs})")
    else:
        t = Table(
            "workload",
            "cases",
            "ok",
            "not ok",
            "best rate",
            "best case",
            "median CV",
            "noisy",
            title=f"run {report.run_id}",
        )
        for r in rows:
            best = f"{r['best']:.1f} {r['unit']}" if r["best"] is not None else "-"
            failed = ", ".join(
                f"{r[s.value]} {s.value}" for s in Status if s is not Status.OK and r[s.value]
            )
            cv = f"{r['median_cv']:.1%}" if r["median_cv"] is not None else "-"
            t.add_row(
                r["workload"],
                str(r["cases"]),
                str(r["ok"]),
                failed or "0",
                best,
                r["best_case"] or "-",
                cv,
                str(r["high_spread"]),
            )
        out.print(t)
        _print_repeats(groups)
        noisy = sum(r["high_spread"] for r in rows)
        unconverged = sum(r["not_converged"] for r in rows)
        if noisy or unconverged:
            out.print(
                f"{noisy} noisy (IQR above 10% of the median), {unconverged} stopped on the time "
                "budget before reaching the CI target: treat those numbers with care"
            )
        out.print(
            f"{len(report.results)} results stored in {report.db} in {report.wall_s:.1f} s"
            + (
                f"; {report.skipped_already_stored} already stored were skipped"
                if report.skipped_already_stored
                else ""
            )
        )
    if report.interrupted:
        err.print(
            f"interrupted: {len(report.results)} results of this run are stored; "
            f"run the same command again to resume"
        )
        raise typer.Exit(130)


def _print_repeats(groups: list[RepeatGroup]) -> None:
    """Time to threshold over repeated runs: mean, median, spread, and MLPerf's rule."""
    if not groups:
        return
    t = Table(
        "workload",
        "configuration",
        "runs",
        "reached",
        "mean",
        "median",
        "min-max",
        "MLPerf mean",
        title="time to threshold over repeated runs (s)",
    )
    for g in groups:
        span = f"{g.min_s:.1f}-{g.max_s:.1f}" if g.min_s is not None else "-"
        t.add_row(
            g.workload,
            describe_case(g.case),
            str(g.runs),
            str(g.reached),
            *(f"{v:.1f}" if v is not None else "-" for v in (g.mean_s, g.median_s)),
            span,
            f"{g.mlperf_mean_s:.1f}" if g.mlperf_mean_s is not None else "-",
        )
    out.print(t)
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
        remeasure=remeasure,
        peaks_override=load_peaks(peaks_file),
        reporter=RichReporter(err),
        note=err.print,
    )
    rows, dev_spec = pk.rows, pk.device
    if as_json:
        print_json({"device": dev_spec, "db": str(db), "peaks": rows})
    else:
        t = Table(
            "peak",
            "measured",
            "CV",
            "datasheet",
            "of datasheet",
            "note",
            title=f"measured peaks of {dev_spec} ({pk.info.name})",
        )
        for r in rows:
            measured = f"{r['measured']:.1f} {r['unit']}" if r["measured"] is not None else "-"
            sheet = f"{r['datasheet']:.1f} {r['unit']}" if r["datasheet"] is not None else "-"
            t.add_row(
                r["peak"],
                measured,
                f"{r['cv']:.1%}" if r["cv"] is not None else "-",
                sheet,
                f"{r['of_datasheet']:.0%}" if r["of_datasheet"] is not None else "-",
                r["note"][:70],
            )
        out.print(t)
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
        reporter=RichReporter(err),
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
