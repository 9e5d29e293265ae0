"""The command-line application object, its consoles and the options commands share.

Commands live in the modules beside this one; each parses its options, calls
:mod:`accelbench.api`, and prints. Nothing here measures or analyses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from accelbench import __version__
from accelbench.errors import UserError
from accelbench.results.schema import Result
from accelbench.terminal import SafeConsole

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


def check_power_rate(hz: float) -> float:
    from accelbench.limits import check_power_rate as check

    return check(hz)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def load_peaks(path: Path | None) -> list[Any]:
    if path is None:
        return []
    from accelbench.devices import load_peaks_file

    return load_peaks_file(path)


def device_spec(device: str | None) -> str:
    """The --device value, or the first accelerator present (else cpu) when it is omitted."""
    from accelbench.devices import default_device_spec, device_help

    if device is None:
        return default_device_spec()
    if not device.strip():
        raise UserError(f"--device: empty; expected one of {device_help()}")
    return device


def describe(r: Result) -> str:
    from accelbench.workloads.base import describe as describe_result

    return describe_result(r)


def _version(value: bool) -> None:
    if value:
        out.print(f"accelbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="on an error, also print the traceback (accepted anywhere on the line)",
        ),
    ] = False,
) -> None:
    """accelbench: time real work on a device and keep every number with its provenance."""
