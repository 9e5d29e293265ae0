"""Progress of a sweep: a bar on a terminal, plain lines in a pipe or a log.

A progress bar redrawn in place is unreadable once captured (rich prints its last frame cut
to the width: "255… 0:0… eta 0:00…"), so when stderr is not a terminal the sweep prints one
plain line per finished workload instead, plus one per new failure reason in both modes.
"""

from __future__ import annotations

import time
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


def _failure_line(result: Result, seen: set[str]) -> str | None:
    """The line for a failed case, or None for a repeat of an unsupported reason already
    shown (float16 on a CPU x every shape is expected: count it, don't bury real failures)."""
    msg = result.message or ""
    if msg in seen:
        if result.status is Status.UNSUPPORTED:
            return None
        msg = "same reason as above"
    seen.add(result.message or "")
    return f"  {result.status.value}: {result.workload} {describe(result)}: {msg}"


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
            line = _failure_line(result, self.seen)
            if line is None:
                self.repeated_unsupported += 1
            else:
                self.progress.console.print(line, markup=False, highlight=False)
        self.progress.advance(self.task)

    def finish(self) -> None:
        if self.task is not None:
            self.progress.stop()
        if self.repeated_unsupported:
            self.console.print(
                f"  and {self.repeated_unsupported} more unsupported cases for the reasons above "
                "(accelbench results list --status unsupported)"
            )


class PlainReporter:
    """Progress for a pipe or a log file: one line per finished workload, no bar."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: set[str] = set()
        self.repeated_unsupported = 0
        self.total = 0
        self.done = 0
        self.workload: str | None = None
        self.counts: dict[str, int] = {}
        self.started = time.perf_counter()  # when the current workload's first case began
        self.last_end = self.started  # when the last case finished (the next one starts then)

    def _say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def start(self, run_id: str | None, total: int, already_done: int) -> None:
        if run_id is None:
            self._say(
                f"nothing to do: all {total} cases are already stored "
                "(--no-resume measures them again)"
            )
            return
        self.total, self.done = total, already_done
        self.started = self.last_end = time.perf_counter()
        self._say(
            f"run {run_id}: {total} cases"
            + (f", {already_done} already stored (skipped)" if already_done else "")
        )

    def case_started(self, description: str) -> None:
        pass

    def case_finished(self, result: Result) -> None:
        now = time.perf_counter()
        if result.workload != self.workload:
            # a workload's line is written when the next one's first case ends; its time runs
            # from the end of the case before its first to the end of its last
            self._flush()
            self.workload, self.counts, self.started = result.workload, {}, self.last_end
        self.last_end = now
        self.done += 1
        self.counts[result.status.value] = self.counts.get(result.status.value, 0) + 1
        if result.status is not Status.OK:
            line = _failure_line(result, self.seen)
            if line is None:
                self.repeated_unsupported += 1
            else:
                self._say(line)

    def _flush(self) -> None:
        """The line of the workload that just finished."""
        if self.workload is None:
            return
        n = sum(self.counts.values())
        outcome = ", ".join(f"{v} {k}" for k, v in self.counts.items())
        self._say(
            f"[{self.done}/{self.total}] {self.workload}: {n} case{'' if n == 1 else 's'} "
            f"({outcome}) "
            f"in {self.last_end - self.started:.1f} s"
        )

    def finish(self) -> None:
        self._flush()
        self.workload = None
        if self.repeated_unsupported:
            self._say(
                f"  and {self.repeated_unsupported} more unsupported cases for the reasons above "
                "(accelbench results list --status unsupported)"
            )


def reporter_for(console: Console) -> RichReporter | PlainReporter:
    """A bar on a terminal, plain lines otherwise."""
    return RichReporter(console) if console.is_terminal else PlainReporter(console)
