"""Progress of a sweep on the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from accelbench.cli.app import describe
from accelbench.results.schema import Result, Status


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
                f"  {result.status.value}: {result.workload} {describe(result)}: {msg}",
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
