"""``accelbench devices``, ``suites`` and ``flops``: what is here and what things cost."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table

from accelbench.cli.app import JsonOpt, PeaksOpt, app, load_peaks, out, print_json
from accelbench.cli.layout import Col, print_table


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
    overrides = load_peaks(peaks)
    present = present_devices(overrides)
    infos = [d.info() for d in present]
    meters = {d.spec: meter_status(d) for d in present}
    absent = [p for p in probe_all() if not p.available]
    if as_json:
        print_json(
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
    from accelbench.api import load_suite
    from accelbench.config import builtin_suites
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
        print_json(rows)
        return
    print_table(
        out,
        [Col("suite"), Col("cases", numeric=True), Col("workloads", priority=1), Col("what")],
        [
            [r["name"], str(r["cases"]), ", ".join(r["workloads"]), _gist(r["description"])]
            for r in rows
        ],
    )
    out.print("the whole description of each: accelbench suites --json", highlight=False)


def _gist(description: str) -> str:
    """The first clause of a suite's description, which says what it is for."""
    return re.split(r"(?<=[.:;])\s", description, maxsplit=1)[0].rstrip(".:;")


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
