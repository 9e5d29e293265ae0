"""Reports and comparisons of stored results (``accelbench report`` and ``compare``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from accelbench.analysis import compare as compare_results
from accelbench.analysis.compare import Comparison
from accelbench.analysis.groups import RunGroup
from accelbench.api.results import open_store
from accelbench.api.sources import resolve_side, select_runs
from accelbench.errors import UserError
from accelbench.frameworks import FRAMEWORKS, case_framework
from accelbench.report import Written, write_report
from accelbench.results.schema import case_key
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
    base_framework: str | None = None,
    candidate_framework: str | None = None,
) -> ComparisonOutcome:
    """Each side is a run id or prefix, ``SUITE@DEVICE``, or a database file.

    Every ratio gets a 95% bootstrap interval (``resamples``, ``seed``); pairs whose settings
    differ are left out of the summaries unless ``allow_mismatch``; noisy pairs and pairs
    measured on a busy host are counted, and left out with ``exclude_noisy``. Comparing a run
    with itself is an error, except framework against framework: ``base_framework`` /
    ``candidate_framework`` (``FRAMEWORK/EXECUTION``, e.g. ``pytorch/eager``,
    ``mindspore/graph``) keep only that side's cases run through it, and pair them with the
    other side's by everything else, so the study's framework comparison is one suite run
    compared with itself framework against framework."""
    if not 100 <= resamples <= 1_000_000:
        raise UserError(f"--resamples {resamples}: expected 100 to 1000000 bootstrap resamples")
    if seed < 0:
        raise UserError(f"--seed {seed}: expected 0 or more")
    b = resolve_side(base, db)
    c = resolve_side(candidate, db)
    by_framework = base_framework is not None or candidate_framework is not None
    if base_framework is not None:
        b = framework_side(b, base_framework, "--base-framework")
    if candidate_framework is not None:
        c = framework_side(c, candidate_framework, "--candidate-framework")
    if not by_framework and (b.key, b.source) == (c.key, c.source):
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


def framework_side(group: RunGroup, selector: str, option: str = "framework") -> RunGroup:
    """The results of ``group`` run through ``FRAMEWORK[/EXECUTION]``, their cases without
    the framework keys, so they pair with the same configuration in another framework."""
    name, _, execution = selector.partition("/")
    if name not in FRAMEWORKS:
        raise UserError(
            f"{option} {selector!r}: unknown framework {name!r}; expected one of "
            f"{', '.join(FRAMEWORKS.names())} (as FRAMEWORK/EXECUTION, e.g. mindspore/graph)"
        )
    modes = FRAMEWORKS.get(name).executions
    if execution and execution not in modes:
        raise UserError(f"{option} {selector!r}: {name} has the execution modes {', '.join(modes)}")
    kept = [r for r in group.results if case_framework(r.case)[0] == name]
    present = sorted({case_framework(r.case)[1] for r in kept})
    if not execution:
        if len(present) > 1:
            raise UserError(
                f"{option} {selector!r}: {group.label} holds {name} results in "
                f"{', '.join(present)}; say which, e.g. {name}/{present[0]}"
            )
        execution = present[0] if present else modes[0]
    kept = [r for r in kept if case_framework(r.case)[1] == execution]
    if not kept:
        raise UserError(f"{option} {selector!r}: {group.label} has no {name} {execution} results")
    results = []
    for r in kept:
        case = {k: v for k, v in r.case.items() if k not in ("framework", "execution")}
        results.append(r.model_copy(update={"case": case, "case_key": case_key(case)}))
    return replace(group, suite=f"{group.suite} [{name} {execution}]", results=results)


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
