"""``accelbench peaks`` and ``idle-power``: measure and store the references later results
are judged against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from accelbench.cli.app import (
    DEFAULT_DB,
    DbOpt,
    JsonOpt,
    PeaksOpt,
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
from accelbench.results.schema import Status

if TYPE_CHECKING:
    pass


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
