"""``accelbench run``: run a suite, locally or data-parallel under torchrun."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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
)
from accelbench.cli.progress import reporter_for
from accelbench.cli.summary import check_host_first, print_run
from accelbench.errors import UserError
from accelbench.parallel.launch import Launch
from accelbench.parallel.settings import DEFAULT_COLLECTIVE_TIMEOUT_S, DEFAULT_RDZV_TIMEOUT_S

if TYPE_CHECKING:
    pass


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
        # the launching host is checked as a single run's is, before torchrun starts any rank
        check_host_first(device_spec(device), require_idle, idle_wait, idle_check)
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
    check_host_first(spec, require_idle, idle_wait, idle_check)
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
    print_run(report, as_json)


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
        print_run(report, as_json, exit_on_interrupt=report.failure is None)
    elif report.failure is None:
        out.print(
            f"node {launch.node_rank}: its {launch.nproc_per_node} rank(s) finished; the results "
            "are stored by the node launched with --node-rank 0"
        )
    if report.failure is not None:
        err.print(f"error: {report.failure}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
