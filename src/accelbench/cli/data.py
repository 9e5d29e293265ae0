"""``accelbench data``: list, fetch, verify and locate the datasets the workloads read.

A typer sub-app, registered on the main app when this module is imported; like the rest of the
CLI it only parses arguments, calls :mod:`accelbench.data` (registry, fetch, verify) and
prints. Every path and name printed comes from the user's file system, so nothing here is
printed as rich markup.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from accelbench.cli.app import app, err, out
from accelbench.errors import UserError

data_app = typer.Typer(
    help="Datasets: list them, fetch them (resumable, checksummed), verify what is on disk, "
    "print where they are.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="ACCELBENCH_DATA_DIR",
        help="folder holding datasets; default: the download folder under the cache "
        "directory (~/.cache/accelbench/datasets)",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
NamesArg = Annotated[list[str], typer.Argument(help="dataset names (accelbench data list)")]


class RichProgress:
    """A rich progress bar with size, rate and time left, one task per file."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def start(self, label: str, total: int | None, completed: int = 0) -> None:
        if self.task is None:
            self.progress.start()
        else:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(label, total=total, completed=completed)

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def finish(self) -> None:
        if self.task is not None:
            self.progress.refresh()

    def close(self) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None


def _print(text: str, console: Console = out) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= div:
            return f"{n / div:,.1f} {unit}"
    return f"{n} B"


def _datasets(names: list[str]) -> list[Any]:
    from accelbench.data.registry import get

    return [get(n) for n in dict.fromkeys(names)]


@data_app.command("list")
def list_cmd(data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Every dataset in the registry: what it is, its size, how to get it, and where it is
    here (without checking it: that is `accelbench data verify`)."""
    from accelbench.data.registry import DATASETS
    from accelbench.data.verify import locate_form

    rows = []
    for ds in DATASETS.values():
        found = locate_form(ds, data_dir)
        where = (
            "bundled"
            if ds.access == "bundled"
            else (f"{found[1]} ({found[0].label})" if found else None)
        )
        rows.append(
            {
                "name": ds.name,
                "title": ds.title,
                "access": ds.access,
                "download_bytes": ds.download_size,
                "files": [f.name for f in ds.files],
                "licence": ds.licence,
                "homepage": ds.homepage,
                "used_by": list(ds.used_by),
                "present": where,
            }
        )
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    t = Table("name", "dataset", "size", "here", "licence / terms")
    missing = {
        "download": "missing: accelbench data fetch",
        "manual": "missing: needs a login (accelbench data verify)",
        "bundled": "bundled",
    }
    for r in rows:
        t.add_row(
            r["name"],
            r["title"],
            _size(r["download_bytes"]),
            r["present"] or missing[r["access"]],
            r["licence"],
        )
    out.print(t)
    _print(
        f"looked in: {', '.join(str(d) for d in _dirs(data_dir))}; "
        "`accelbench data verify NAME` checks a dataset by checksum or content"
    )


def _dirs(data_dir: Path | None) -> list[Path]:
    from accelbench.data.common import search_dirs

    return search_dirs(data_dir)


@data_app.command("fetch")
def fetch_cmd(
    names: NamesArg,
    data_dir: DataDirOpt = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="seconds to wait for the server before giving up (default 30, or "
            "ACCELBENCH_FETCH_TIMEOUT)"
        ),
    ] = None,
) -> None:
    """Download datasets with their published checksums verified; an interrupted fetch
    resumes where it stopped. A dataset already here (in any form, verified) is not fetched
    again."""
    from accelbench.data.common import ENV_OFFLINE, fetch_dir, offline_from_env, resolve_data_dir
    from accelbench.data.fetch import FetchError, fetch_dataset
    from accelbench.data.verify import verify_dataset

    if timeout is not None and timeout <= 0:
        raise UserError(f"--timeout {timeout:g}: expected a positive number of seconds")
    datasets = _datasets(names)
    if offline_from_env():
        raise UserError(
            f"{ENV_OFFLINE} is set: this machine is marked offline, so nothing is downloaded "
            "(unset it to fetch)"
        )
    failed = []
    for ds in datasets:
        if ds.access == "bundled":
            _print(f"{ds.name}: ships inside a package, nothing to fetch")
            continue
        v = verify_dataset(ds, data_dir, _hash_progress())
        if v.ok:
            _print(f"{ds.name}: already here, {v.describe().split(': ', 1)[1]}")
            continue
        if v.method != "missing":
            _print(f"{ds.name}: {v.describe().split(': ', 1)[1]}; fetching the publisher's files")
        target = fetch_dir(data_dir)
        given = resolve_data_dir(data_dir)
        if given is not None and target != given:
            _print(f"{ds.name}: {given} is not writable, fetching into {target}", err)
        bar = RichProgress(err)
        try:
            report = fetch_dataset(ds, target, timeout=timeout, progress=bar)
        except FetchError as exc:
            bar.close()
            failed.append(str(exc))
            _print(f"error: {exc}", err)
            continue
        bar.close()
        for f in report.files:
            what = {
                "present": "already here, checksum ok",
                "downloaded": f"downloaded {_size(f.bytes_downloaded)} in {f.seconds:.1f} s, "
                "checksum ok",
                "resumed": f"resumed: {_size(f.bytes_downloaded)} more in {f.seconds:.1f} s, "
                "checksum ok",
            }[f.status]
            _print(f"{ds.name}: {f.path}: {what}")
    if failed:
        raise typer.Exit(1)


def _hash_progress() -> Any:
    """Hashing progress for large local files on a terminal; nothing in pipes and logs."""
    from accelbench.data.verify import NullProgress

    return RichProgress(err) if err.is_terminal else NullProgress()


@data_app.command("verify")
def verify_cmd(names: NamesArg, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """Check datasets on disk against the registry: the publisher's files by checksum, other
    packagings (extracted folders, repacks) by content. Names every missing or corrupt file;
    exits 1 when any check fails."""
    from accelbench.data.common import fetch_dir
    from accelbench.data.verify import verify_dataset

    results = []
    for ds in _datasets(names):
        progress = _hash_progress()
        v = verify_dataset(ds, data_dir, progress)
        if isinstance(progress, RichProgress):
            progress.close()
        results.append(v)
        if as_json:
            continue
        _print(v.describe())
        if v.method == "missing":
            hint = (
                f"get it: {ds.how_to_get.replace('DIR', str(fetch_dir(data_dir)))}"
                if ds.access == "manual"
                else f"fetch it with `accelbench data fetch {ds.name}`"
            )
            _print(f"  {hint}")
        for c in v.checks:
            _print(f"  {'ok  ' if c.ok else 'FAIL'} {c.what}" + ("" if c.ok else f": {c.detail}"))
    if as_json:
        sys.stdout.write(json.dumps([v.to_json() for v in results], indent=2) + "\n")
    if not all(v.ok for v in results):
        raise typer.Exit(1)


@data_app.command("path")
def path_cmd(
    name: Annotated[str, typer.Argument(help="a dataset name (accelbench data list)")],
    data_dir: DataDirOpt = None,
) -> None:
    """Print where a dataset is (the file or folder the loaders would read); exits 1, saying
    where it looked, when it is not here."""
    from accelbench.data.digits import bundled_file
    from accelbench.data.verify import locate_form, looked_paths

    (ds,) = _datasets([name])
    if ds.access == "bundled":
        _print(str(bundled_file()))
        return
    found = locate_form(ds, data_dir)
    if found is None:
        looked = ", ".join(str(p) for p in looked_paths(ds, data_dir))
        how = (
            f"accelbench data fetch {ds.name}"
            if ds.access == "download"
            else "see accelbench data verify " + ds.name
        )
        _print(f"{ds.name}: not found (looked for {looked}); get it with `{how}`", err)
        raise typer.Exit(1)
    _print(str(found[1]))


__all__ = ["data_app"]
