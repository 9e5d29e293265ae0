"""Reports and comparisons of stored results (``accelbench report`` and ``compare``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accelbench.analysis import compare as compare_results
from accelbench.analysis.compare import Comparison
from accelbench.analysis.groups import RunGroup
from accelbench.api.results import open_store
from accelbench.api.sources import resolve_side, select_runs
from accelbench.errors import UserError
from accelbench.report import Written, write_report
from accelbench.timing.intervals import RESAMPLES, SEED, BootstrapSettings

REPORT_FORMATS = ("html", "md")
FIGURE_FORMATS = ("svg", "png")


@dataclass
class ReportOutcome:
    written: Written
    groups: list[RunGroup]

    @property
    def n_results(self) -> int:
        return sum(len(g.results) for g in self.groups)


def report(
    db: Path,
    output: Path | None = None,
    *,
    runs: list[str] | None = None,
    fmt: str = "html",
    figures: Path | None = None,
    figure_format: str = "svg",
    title: str = "accelbench report",
) -> ReportOutcome:
    """Write a report of the stored runs (default: the newest of each suite per platform)."""
    if fmt not in REPORT_FORMATS:
        raise UserError(f"--format {fmt!r}: expected html or md")
    if figure_format not in FIGURE_FORMATS:
        raise UserError(f"--figure-format {figure_format!r}: expected svg or png")
    output = output or Path(f"report.{fmt}")
    with open_store(db, readonly=True) as st:
        groups = select_runs(st, str(db), runs)
    if not groups:
        raise UserError(f"--db {db}: no results to report (run a suite first)")
    w = write_report(
        groups, output, fmt, figures, title=title, figure_format=figure_format, protect=[db]
    )
    return ReportOutcome(w, groups)


@dataclass
class ComparisonOutcome:
    base: RunGroup
    candidate: RunGroup
    comparison: Comparison


def compare(
    base: str,
    candidate: str,
    db: Path,
    *,
    allow_mismatch: bool = False,
    exclude_noisy: bool = False,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> ComparisonOutcome:
    """Each side is a run id or prefix, ``SUITE@DEVICE``, or a database file.

    Every ratio gets a 95% bootstrap interval (``resamples``, ``seed``); pairs whose settings
    differ are left out of the summaries unless ``allow_mismatch``; noisy pairs and pairs
    measured on a busy host are counted, and left out with ``exclude_noisy``. Comparing a run
    with itself is an error."""
    if not 100 <= resamples <= 1_000_000:
        raise UserError(f"--resamples {resamples}: expected 100 to 1000000 bootstrap resamples")
    if seed < 0:
        raise UserError(f"--seed {seed}: expected 0 or more")
    b = resolve_side(base, db)
    c = resolve_side(candidate, db)
    if (b.key, b.source) == (c.key, c.source):
        raise UserError(
            f"{base!r} and {candidate!r} are the same run ({b.key} in {b.source}): a run "
            "compared with itself is 1.0 by construction; compare two different runs"
        )
    cmp = compare_results(
        b.results,
        c.results,
        b.label,
        c.label,
        allow_mismatch=allow_mismatch,
        exclude_noisy=exclude_noisy,
        settings=BootstrapSettings(resamples=resamples, seed=seed),
    )
    return ComparisonOutcome(b, c, cmp)


def write_comparison(outcome: ComparisonOutcome, output: Path) -> Written:
    """The comparison as a report (.html, or .md by the file's suffix); never over the
    databases it was read from."""
    fmt = "md" if output.suffix == ".md" else "html"
    b, c = outcome.base, outcome.candidate
    return write_report(
        [b, c],
        output,
        fmt,
        comparisons=[outcome.comparison],
        title=f"{c.label} against {b.label}",
        protect=[Path(b.source), Path(c.source)],
    )
