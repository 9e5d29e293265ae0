"""The ``accelbench`` command: parses arguments and calls :mod:`accelbench.api`; nothing else.

User mistakes (bad options, malformed YAML, missing files) print one ``error:`` line and exit
with status 2; ``--verbose`` anywhere on the command line also prints the traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from accelbench import __version__, fileio
from accelbench.errors import AccelbenchError, UserError
from accelbench.results.schema import Result, Status
from accelbench.terminal import SafeConsole

# Typer >= 0.2x vendors click and exposes its errors as TyperException; older releases raise
# click's own. Accept both so the one-line error handling holds across versions.
USAGE_ERRORS: tuple[type[BaseException], ...] = (typer.TyperException,)
EXITS: tuple[type[BaseException], ...] = (typer.Exit,)
ABORTS: tuple[type[BaseException], ...] = (typer.Abort, KeyboardInterrupt)
try:  # pragma: no cover - depends on the installed typer
    import click

    USAGE_ERRORS += (click.exceptions.ClickException,)
    EXITS += (click.exceptions.Exit,)
    ABORTS += (click.exceptions.Abort,)
except ImportError:
    pass

app = typer.Typer(
    help="Benchmark neural-network accelerators honestly: measured, reproducible, stored.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
results_app = typer.Typer(
    help="List, show, export, import and delete stored results.", no_args_is_help=True
)
app.add_typer(results_app, name="results")

# Stored strings may come from other machines: never let them drive the terminal (markup off,
# control characters shown as escapes; see accelbench.terminal).
out: Console = SafeConsole()
err: Console = SafeConsole(stderr=True)
VERBOSE = False

DbOpt = Annotated[Path, typer.Option("--db", help="result store (SQLite file)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
PeaksOpt = Annotated[
    Path | None,
    typer.Option("--peaks", help="YAML file of datasheet peaks that override the table"),
]
DEFAULT_DB = Path("accelbench.db")
PowerOpt = Annotated[
    bool,
    typer.Option(
        "--power/--no-power", help="sample the device's power meters around every timed region"
    ),
]
PowerRateOpt = Annotated[
    float, typer.Option("--power-rate", help="power samples per second for sampled meters")
]


def _power_rate(hz: float) -> float:
    from accelbench.limits import check_power_rate

    return check_power_rate(hz)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _peaks(path: Path | None) -> list[Any]:
    if path is None:
        return []
    from accelbench.devices import load_peaks_file

    return load_peaks_file(path)


def _version(value: bool) -> None:
    if value:
        out.print(f"accelbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    """accelbench: time real work on a device and keep every number with its provenance."""


# -- devices and suites ------------------------------------------------------------------------
@app.command()
def devices(
    as_json: JsonOpt = False,
    threads: Annotated[int | None, typer.Option(help="CPU intra-op threads to report")] = None,
    peaks: PeaksOpt = None,
) -> None:
    """List the devices present, with memory, versions, dtypes and peak figures."""
    from accelbench.api import set_threads
    from accelbench.devices import present_devices, probe_all
    from accelbench.power.session import meter_status

    set_threads(threads)
    overrides = _peaks(peaks)
    present = present_devices(overrides)
    infos = [d.info() for d in present]
    meters = {d.spec: meter_status(d) for d in present}
    absent = [p for p in probe_all() if not p.available]
    if as_json:
        _print_json(
            {
                "devices": [
                    {**i.model_dump(mode="json"), "power_meters": meters[i.spec]} for i in infos
                ],
                "absent": [p.model_dump() for p in absent],
            }
        )
        return
    for i in infos:
        t = Table(title=f"{i.spec}  {i.name}", show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column()
        mem = (
            f"{i.memory_total_bytes / 2**30:.1f} GiB"
            if i.memory_total_bytes
            else (f"unavailable ({i.memory_unavailable_reason})")
        )
        t.add_row("memory", mem)
        t.add_row("runtime", ", ".join(f"{k} {v}" for k, v in i.runtime.items()))
        t.add_row("driver", i.driver_version or f"unavailable ({i.driver_unavailable_reason})")
        if i.compute_capability:
            t.add_row("compute capability", i.compute_capability)
        t.add_row("timer", i.timer)
        t.add_row("threads", str(i.threads))
        t.add_row("dtypes", ", ".join(i.supported_dtypes))
        for dt, why in i.unsupported_dtypes.items():
            t.add_row(f"  no {dt}", why)
        t.add_row("autocast", ", ".join(i.autocast_dtypes) or "none")
        if i.peak:
            tf = ", ".join(f"{k} {v:g}" for k, v in i.peak.tflops.items())
            t.add_row(
                "datasheet peak",
                f"{i.peak.name}: {tf} TFLOPS; "
                f"{i.peak.memory_bandwidth_gbs or '?'} GB/s ({i.peak.source})",
            )
        else:
            t.add_row("datasheet peak", f"unavailable ({i.peak_unavailable_reason})")
        for k, v in i.extra.items():
            t.add_row(k, str(v))
        for m in meters[i.spec] or [{"meter": "none", "available": False, "reason": "-"}]:
            if m["available"]:
                t.add_row(f"power: {m['meter']}", f"{m['domain']} ({m['mode']})")
            else:
                t.add_row(f"power: {m['meter']}", f"unavailable ({m['reason']})")
        out.print(t)
    for p in absent:
        out.print(f"{p.kind}: not present ({p.reason})", style="dim")


@app.command()
def suites(as_json: JsonOpt = False) -> None:
    """List the built-in suites."""
    from accelbench.config import builtin_suites, load_suite
    from accelbench.workloads import WORKLOADS

    rows = []
    for name in sorted(builtin_suites()):
        s = load_suite(name)
        n = sum(len(WORKLOADS.get(w.kind).from_dict(w.params).cases()) for w in s.workloads)
        rows.append(
            {
                "name": name,
                "cases": n,
                "workloads": [w.name for w in s.workloads],
                "description": " ".join(s.description.split()),
            }
        )
    if as_json:
        _print_json(rows)
        return
    t = Table("suite", "cases", "workloads", "description")
    for r in rows:
        t.add_row(r["name"], str(r["cases"]), ", ".join(r["workloads"]), r["description"])
    out.print(t)


# -- flops --------------------------------------------------------------------------------------
@app.command("flops")
def flops_cmd(
    op: Annotated[str | None, typer.Argument(metavar="OP", help="operator (see --list)")] = None,
    args: Annotated[
        list[str] | None,
        typer.Argument(metavar="KEY=VALUE", help="the op's arguments, e.g. rows=64 bias=false"),
    ] = None,
    mode: Annotated[str, typer.Option(help="forward or forward+backward")] = "forward",
    dtype: Annotated[
        str | None, typer.Option(help="sets elem_bytes: float32, bfloat16, float16, int8, ...")
    ] = None,
    list_ops: Annotated[bool, typer.Option("--list", help="list the ops and their arguments")] = (
        False
    ),
    as_json: JsonOpt = False,
) -> None:
    """Count FLOPs, MACs and minimum bytes of one operator, analytically.

    Convention: 1 multiply-accumulate (MAC) = 2 FLOPs, both reported; other work counts 1 FLOP
    per elementary operation (exp, erf, sqrt 1 each; sigmoid 4, tanh 5, gelu 5); backward is
    the weight gradient plus, with input_grad=true, the input gradient (about 2x the forward
    MACs) plus the forward's non-MAC work again; min bytes read every input and parameter once
    and write every output once. Values: ints, floats, true/false, none, tuples as 3,3.
    """
    from accelbench.flops.cli import run as run_flops

    run_flops(
        op, args or [], mode=mode, dtype=dtype, list_ops=list_ops, as_json=as_json, console=out
    )


# -- run ----------------------------------------------------------------------------------------
class RichReporter:
    """A progress bar on stderr; one line per failed case so failures are seen as they happen."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None
        self.seen: set[str] = set()
        self.repeated_unsupported = 0

    def start(self, run_id: str | None, total: int, already_done: int) -> None:
        if run_id is None:
            self.console.print(
                f"nothing to do: all {total} cases are already stored "
                "(--no-resume measures them again)"
            )
            return
        self.console.print(
            f"run {run_id}: {total} cases"
            + (f", {already_done} already stored (skipped)" if already_done else "")
        )
        self.progress.start()
        self.task = self.progress.add_task("starting", total=total, completed=already_done)

    def case_started(self, description: str) -> None:
        self.progress.update(self.task, description=description[:60])

    def case_finished(self, result: Result) -> None:
        if result.status is not Status.OK:
            msg = result.message or ""
            if msg in self.seen:
                if result.status is Status.UNSUPPORTED:
                    # Expected and repetitive (float16 on a CPU x every shape): count, don't
                    # bury the failures that matter under it.
                    self.repeated_unsupported += 1
                    self.progress.advance(self.task)
                    return
                msg = "same reason as above"
            self.seen.add(result.message or "")
            self.progress.console.print(
                f"  {result.status.value}: {result.workload} {_describe(result)}: {msg}",
                markup=False,
                highlight=False,
            )
        self.progress.advance(self.task)

    def finish(self) -> None:
        if self.task is not None:
            self.progress.stop()
        if self.repeated_unsupported:
            self.console.print(
                f"  and {self.repeated_unsupported} more unsupported cases for the reasons above "
                "(accelbench results list --status unsupported)"
            )


# The headline rate of each kind in the run summary; operators default to achieved GFLOP/s.
def _summary_rows(results: list[Result]) -> list[dict[str, Any]]:
    from accelbench.analysis.metrics import primary_metric

    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(r.workload, []).append(r)
    rows = []
    for name, rs in groups.items():
        ok = [r for r in rs if r.status is Status.OK]
        counts = {s.value: sum(r.status is s for r in rs) for s in Status}
        pm = primary_metric(rs[0].kind, ok)
        unit = pm.unit
        rates = [(v, r) for r in ok if (v := r.metric(pm.name)) is not None]
        pick = max if pm.higher_is_better else min
        best = pick(rates, key=lambda x: x[0]) if rates else None
        cvs = sorted(r.summary.cv for r in ok if r.summary)
        rows.append(
            {
                "workload": name,
                "cases": len(rs),
                **counts,
                "best": best[0] if best else None,
                "unit": unit,
                "best_case": _describe(best[1]) if best else None,
                "median_cv": cvs[len(cvs) // 2] if cvs else None,
                "high_spread": sum(bool(r.summary and r.summary.high_spread) for r in ok),
                "not_converged": sum(
                    r.config.get("protocol", {}).get("converged") is False for r in ok
                ),
            }
        )
    return rows


def _device_spec(device: str | None) -> str:
    """The --device value, or the first accelerator present (else cpu) when it is omitted."""
    from accelbench.devices import default_device_spec

    if device is None:
        return default_device_spec()
    if not device.strip():
        raise UserError("--device: empty; expected cpu, cuda[:N], npu[:N], mps, xpu[:N] or fake")
    return device


@app.command()
def run(
    suite: Annotated[str, typer.Argument(help="a built-in suite name or a suite YAML file")],
    device: Annotated[
        str | None,
        typer.Option(
            help="cpu, cuda[:N], npu[:N], mps, xpu[:N], fake; "
            "default: the first accelerator, else cpu"
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
) -> None:
    """Run a suite on a device; every case is stored in the database as it completes."""
    from accelbench.api import run_suite
    from accelbench.config import load_suite

    s = load_suite(suite)
    reporter = RichReporter(err)
    report = run_suite(
        s,
        device=_device_spec(device),
        db=db,
        threads=threads,
        resume=resume,
        peaks=_peaks(peaks),
        reporter=reporter,
        power=power,
        power_rate_hz=_power_rate(power_rate),
        data_dir=data_dir,
    )
    rows = _summary_rows(report.results)
    if as_json:
        _print_json(
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
    from accelbench.api import run_suite, set_threads
    from accelbench.devices import make_device
    from accelbench.environment import collect_environment
    from accelbench.peaks import latest_results, peak_rows, peaks_suite
    from accelbench.workloads.bandwidth import parse_size

    spec = _device_spec(device)
    for d in dtypes or []:
        from accelbench.devices.base import DTYPES

        if d not in DTYPES:
            raise UserError(f"--dtype {d!r}: expected one of {', '.join(DTYPES)}")
    for n in sizes or []:
        if not 0 < n <= 2**31 - 1:
            raise UserError(f"--size {n}: expected a positive matrix size")
    dev = make_device(spec, _peaks(peaks_file))
    bw_sizes = []
    for text in bandwidth_sizes or []:
        try:
            bw_sizes.append(parse_size(int(text) if text.isdigit() else text))
        except ValueError as exc:
            raise UserError(f"--bandwidth-size: {exc}") from None
    if not 0 < time_budget <= 86_400:
        raise UserError(f"--time-budget {time_budget:g}: expected seconds between 0 and 86400")
    suite = peaks_suite(
        dev,
        sizes=sizes,
        dtypes=dtypes,
        bandwidth_sizes=bw_sizes or None,
        time_budget_s=time_budget,
    )
    info = dev.info()
    env = collect_environment(info, seed=suite.seed, threads=set_threads(threads))
    resume = not remeasure
    if resume and db.exists():
        with _open(db, readonly=True) as st:
            stored, stale = latest_results(st, suite, dev.spec, env, [])
        if stale and len(stored) < sum(len(wl.cases()) for wl in _workloads(suite)):
            # Peaks from another torch, driver or chip would be skipped as "stored" yet never
            # used by a sweep: measure them again for this software stack.
            err.print("stored peaks come from another software stack: measuring again")
            resume = False
    report = run_suite(
        suite, device=dev, db=db, threads=threads, resume=resume, reporter=RichReporter(err)
    )
    # The newest result of each case in this suite: just measured, or stored earlier and skipped.
    with _open(db, readonly=True) as st:
        results, _ = latest_results(st, suite, report.device, env, report.results)
    rows = peak_rows(results, info)
    if as_json:
        _print_json({"device": dev.spec, "db": str(db), "peaks": rows})
    else:
        t = Table(
            "peak",
            "measured",
            "CV",
            "datasheet",
            "of datasheet",
            "note",
            title=f"measured peaks of {dev.spec} ({dev.name()})",
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
    if report.interrupted:
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
    from accelbench.api import run_suite
    from accelbench.config import validate_suite

    if not 0 < seconds <= 3600:
        raise UserError(f"--seconds {seconds:g}: expected a window between 0 and 3600 s")
    if not 0 <= settle <= 600:
        raise UserError(f"--settle {settle:g}: expected 0 to 600 s")
    suite = validate_suite(
        {
            "name": "idle-power",
            "workloads": [
                {
                    "name": "idle-power",
                    "kind": "idle-power",
                    "params": {"seconds": seconds, "settle_s": settle},
                }
            ],
        },
        "accelbench idle-power",
    )
    report = run_suite(
        suite,
        device=_device_spec(device),
        db=db,
        resume=False,  # idle power drifts (temperature, clocks): each call is a new measurement
        reporter=RichReporter(err),
        power_rate_hz=_power_rate(power_rate),
    )
    if report.interrupted:
        raise typer.Exit(130)
    (r,) = report.results
    power = r.config.get("power", {})
    if as_json:
        _print_json(
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


def _workloads(suite: Any) -> list[Any]:
    from accelbench.workloads import WORKLOADS

    return [WORKLOADS.get(w.kind).from_dict(w.params) for w in suite.workloads]


# -- report and compare ---------------------------------------------------------------------------
FormatOpt = Annotated[str, typer.Option("--format", help="html (self-contained) or md")]
FiguresOpt = Annotated[
    Path | None,
    typer.Option("--figures", help="also write every figure as a file into this folder"),
]
FigureFormatOpt = Annotated[str, typer.Option("--figure-format", help="svg or png, for --figures")]


def _report_format(fmt: str, figure_format: str) -> None:
    if fmt not in ("html", "md"):
        raise UserError(f"--format {fmt!r}: expected html or md")
    if figure_format not in ("svg", "png"):
        raise UserError(f"--figure-format {figure_format!r}: expected svg or png")


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
    from accelbench.report import write_report
    from accelbench.report.sources import select_runs

    _report_format(fmt, figure_format)
    output = output or Path(f"report.{fmt}")
    with _open(db, readonly=True) as st:
        groups = select_runs(st, str(db), run)
    if not groups:
        raise UserError(f"--db {db}: no results to report (run a suite first)")
    w = write_report(
        groups, output, fmt, figures, title=title, figure_format=figure_format, protect=[db]
    )
    extra = f", {len(w.figures)} figures in {figures}" if figures else ""
    to_stream = fileio.is_stream(output)  # the report itself is on stdout: talk on stderr
    (err if to_stream else out).print(
        f"report of {sum(len(g.results) for g in groups)} results from {len(groups)} run(s): "
        f"{w.bytes / 1024:.0f} KiB in {w.seconds:.1f} s{extra}",
        highlight=False,
    )
    if not to_stream:  # the path alone on the last line, so scripts can pick it up
        print(output.resolve())


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
) -> None:
    """Put two runs or platforms side by side on the configurations both measured:
    speed-up per configuration and per kind (min, median, max, geometric mean), and what
    failed on one side only."""
    from accelbench.analysis import compare
    from accelbench.report.sources import resolve_side

    if top < 0:
        raise UserError(f"--top {top}: expected 0 or more")
    from accelbench.limits import check_price

    for name, price in (("--base-price", base_price), ("--candidate-price", candidate_price)):
        if price is not None:
            check_price(price, name)
    to_stream = output is not None and fileio.is_stream(output)
    if to_stream and as_json:
        raise UserError(f"--output {output}: standard output already carries --json")
    b = resolve_side(base, db)
    c = resolve_side(candidate, db)
    cmp = compare(b.results, c.results, b.label, c.label)
    if as_json:
        _print_json(
            {
                "base": b.label,
                "candidate": c.label,
                "summaries": [
                    {
                        "kind": x.kind,
                        "metric": x.metric.name,
                        "n": x.n,
                        "min": x.min,
                        "median": x.median,
                        "max": x.max,
                        "geomean": x.geomean,
                    }
                    for x in cmp.summaries
                ],
                "pairs": [
                    {
                        "kind": p.kind,
                        "case": p.case,
                        "base": p.base_value,
                        "candidate": p.candidate_value,
                        "ratio": p.ratio,
                    }
                    for p in cmp.pairs
                ],
                "one_sided": [o.__dict__ for o in cmp.one_sided],
            }
        )
    elif not to_stream:  # with -o -, stdout carries the written comparison alone
        _print_comparison(cmp, top)
        _print_cost(cmp, base_price, candidate_price)
    if output is not None:
        from accelbench.report import write_report

        fmt = "md" if output.suffix == ".md" else "html"
        w = write_report(
            [b, c],
            output,
            fmt,
            comparisons=[cmp],
            title=f"{c.label} against {b.label}",
            protect=[db, Path(b.source), Path(c.source)],
        )
        (err if to_stream else out).print(
            f"comparison written: {output} ({w.bytes / 1024:.0f} KiB)", highlight=False
        )
    if not cmp.pairs and not cmp.one_sided:
        err.print("no configuration was measured on both sides: nothing to compare")
        raise typer.Exit(1)


def _print_cost(cmp: Any, base_price: float | None, candidate_price: float | None) -> None:
    """Performance per price of the inference configurations, where prices are known."""
    from accelbench.inference.cost import compare_cost

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
                _describe(p.base),
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
                " ".join(f"{k}={v}" for k, v in o.case.items()),
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


# -- results ------------------------------------------------------------------------------------
def _open(db: Path, must_exist: bool = True, readonly: bool = False) -> Any:
    """The store at ``db``; ``readonly`` for commands that only read (nothing in the file
    changes, and a database that is not accelbench's is refused untouched)."""
    from accelbench.results.store import Store

    if must_exist and not db.exists():
        raise UserError(f"--db {db}: no such database (run a suite first, or pass --db)")
    return Store(db, readonly=readonly)


def _filters(
    run_id: str | None,
    suite: str | None,
    device: str | None,
    status: str | None,
    workload: str | None,
) -> dict[str, Any]:
    return {
        "run": run_id,
        "suite": suite,
        "device": _device_filter(device),
        "status": status,
        "workload": workload,
    }


def _device_filter(device: str | None) -> str | None:
    """Accept what --device accepts for a run: `fake` or `cuda` mean index 0, as stored."""
    if device is None or not device.strip() or device == "cpu" or ":" in device:
        return device
    return f"{device}:0"


RunOpt = Annotated[str | None, typer.Option("--run", help="run id (or prefix)")]
SuiteOpt = Annotated[str | None, typer.Option("--suite")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="device spec, e.g. cpu, cuda:0")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="ok, oom, error, unsupported, ...")]
WorkloadOpt = Annotated[str | None, typer.Option("--workload")]


def _describe(r: Result) -> str:
    from accelbench.workloads import WORKLOADS

    if r.kind in WORKLOADS:
        try:
            return WORKLOADS.get(r.kind).describe(r.case)
        except (KeyError, TypeError, ValueError):
            pass  # a record from another accelbench version whose case has other keys
    return " ".join(f"{k}={v}" for k, v in r.case.items())


def _brief(r: Result) -> dict[str, Any]:
    rate = r.metric("achieved_gflops") or r.metric("peak_gflops")
    return {
        "id": r.result_id[:12],
        "run": r.run_id,
        "workload": r.workload,
        "case": _describe(r),
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
    with _open(db, readonly=True) as st:
        if runs:
            rows = [vars(r) for r in st.runs()]
            if as_json:
                _print_json(rows)
                return
            t = Table(
                Column("run", no_wrap=True),  # copied into --run: never wrapped or truncated
                "host",
                "device",
                "thr",
                "state",
                "ok/all",
                Column("started (UTC)", no_wrap=True),
            )
            for r in rows:
                t.add_row(
                    r["run_id"],
                    r["host"],
                    r["device"],
                    str(r["threads"]),
                    r["state"],
                    f"{r['n_ok']}/{r['n_results']}",
                    r["started_at"][5:16].replace("T", " "),
                )
            out.print(t)
            return
        rs = st.query(limit=limit, **_filters(run_id, suite, device, status, workload))
    briefs = [_brief(r) for r in rs]
    if as_json:
        _print_json(briefs)
        return
    t = Table(
        Column("id", no_wrap=True, min_width=12),
        "workload",
        "case",
        "device",
        "status",
        "median",
        "CV",
        "GFLOP/s",
        title=f"{len(briefs)} results in {db}",
    )
    for b in briefs:
        med = f"{b['median_s'] * 1e3:.3f} ms" if b["median_s"] is not None else "-"
        cv = f"{b['cv']:.1%}" + (" !" if b["noisy"] else "") if b["cv"] is not None else "-"
        g = f"{b['gflops']:.1f}" if b["gflops"] is not None else "-"
        t.add_row(b["id"], b["workload"], b["case"], b["device"], b["status"], med, cv, g)
    out.print(t)
    if any(b["noisy"] for b in briefs):
        out.print("! = IQR above 10% of the median: noisy timing")


@results_app.command("show")
def results_show(
    result_id: Annotated[str, typer.Argument(help="result id or a unique prefix")],
    db: DbOpt = DEFAULT_DB,
    as_json: JsonOpt = False,
) -> None:
    """Show one result whole: case, metrics, statistics, environment."""
    with _open(db, readonly=True) as st:
        r = st.get(result_id)
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
    fmt: Annotated[str | None, typer.Option("--format")] = None,
    run_id: RunOpt = None,
    suite: SuiteOpt = None,
    device: DeviceOpt = None,
    status: StatusOpt = None,
    workload: WorkloadOpt = None,
) -> None:
    """Export results (all, or those matching the filters)."""
    from accelbench.results.io import export_results

    with _open(db, readonly=True) as st:
        rs = st.query(**_filters(run_id, suite, device, status, workload))
    n = export_results(rs, path, fmt, protect=[db])
    (err if fileio.is_stream(path) else out).print(f"exported {n} results to {path}")


@results_app.command("import")
def results_import(
    paths: Annotated[
        list[Path], typer.Argument(help=".jsonl, .csv, .parquet exports or .db files")
    ],
    db: DbOpt = DEFAULT_DB,
    fmt: Annotated[str | None, typer.Option("--format")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Merge results from other machines; results already present (same id) are skipped.

    Every record is validated as a fresh measurement would be, and every file is read before
    anything is written: one bad record adds nothing. All files go in one transaction, each
    remembered as the source of its results; imported results never stand in for this
    machine's own measurements."""
    from accelbench.results.io import ImportInterrupted, import_files

    try:
        summaries = import_files(
            paths, db, fmt, notice=lambda m: err.print(m, highlight=False, soft_wrap=True)
        )
    except ImportInterrupted as exc:
        err.print(str(exc), highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    if as_json:
        _print_json([s.as_dict() for s in summaries])
        return
    for s in summaries:
        out.print(
            f"{s.source}: {s.added} added, {s.already_present} already present"
            + (f", {len(s.conflicts)} conflicting (kept as stored)" if s.conflicts else ""),
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
    filters = {**_filters(run_id, suite, device, status, workload), "ids": ids or None}
    if not any(v for v in filters.values()):
        raise UserError("refusing to delete every result: give result ids or a filter")
    with _open(db) as st:
        n = st.count(**filters)
        if n == 0:
            out.print("nothing matches")
            return
        if not yes and not typer.confirm(f"delete {n} results from {db}?", default=False):
            raise typer.Exit(1)
        deleted = st.delete(**filters)
    out.print(f"deleted {deleted} results")


@results_app.command("schema")
def results_schema() -> None:
    """Print the JSON Schema of a result record."""
    from accelbench.results.schema import result_json_schema

    _print_json(result_json_schema())


# -- entry point --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and exits with) the status code."""
    global VERBOSE
    args = list(sys.argv[1:] if argv is None else argv)
    VERBOSE = any(a in ("--verbose", "-v") for a in args)
    args = [a for a in args if a not in ("--verbose", "-v")]
    code = 0
    try:
        # Without standalone mode, click *returns* the code of a `typer.Exit(n)` raised in a
        # command instead of raising it; commands themselves return None.
        rv = app(args=args, prog_name="accelbench", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            code = rv
    except EXITS as exc:
        code = int(getattr(exc, "exit_code", 0) or 0)
    except USAGE_ERRORS as exc:
        ctx = getattr(exc, "ctx", None)
        cmd = ctx.command_path if ctx is not None else "accelbench"
        err.print(
            f"error: {exc.format_message()} (see '{cmd} --help')",
            markup=False,  # type: ignore[attr-defined]
            highlight=False,
            soft_wrap=True,
        )
        code = int(getattr(exc, "exit_code", 2) or 2)
    except ABORTS:
        err.print("interrupted")
        code = 130
    except AccelbenchError as exc:
        if VERBOSE:
            traceback.print_exc()
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        code = 2
    except Exception as exc:  # a bug: say so plainly, keep the traceback one flag away
        if VERBOSE:
            traceback.print_exc()
        err.print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --verbose for the "
            "traceback, and please report it)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        code = 1
    if argv is None:
        sys.exit(code)
    return code
