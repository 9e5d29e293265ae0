"""Reports: turn analyses of stored results into HTML, Markdown and figure files."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from accelbench import fileio
from accelbench.analysis.compare import Comparison
from accelbench.analysis.groups import RunGroup
from accelbench.errors import UserError
from accelbench.report.document import ReportDoc, build_report


@dataclass
class Written:
    path: Path
    figures: list[Path]
    seconds: float
    bytes: int


@contextmanager
def _writing(option: str, path: Path) -> Iterator[None]:
    """An unwritable destination is the user's to fix: say which option and why."""
    try:
        yield
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None


def write_report(
    groups: list[RunGroup],
    out: Path,
    fmt: str = "html",
    figures_dir: Path | None = None,
    comparisons: list[Comparison] | None = None,
    title: str = "accelbench report",
    figure_format: str = "svg",
    protect: Iterable[Path] = (),
) -> Written:
    """Build and write the report; figure files too when ``figures_dir`` is given.

    Every file goes through :mod:`accelbench.fileio`: complete or not at all, ``-`` for
    standard output, devices written directly, and never over a database in ``protect`` (the
    ones the report was read from) or any other SQLite file.
    """
    from accelbench.report import plots
    from accelbench.report.html import render_html
    from accelbench.report.markdown import render_markdown

    protect = list(protect)
    t0 = time.perf_counter()
    fileio.check_destination(out, "--output", protect, make_parents=True)  # before the work
    doc: ReportDoc = build_report(groups, comparisons, title)
    written: dict[str, Path] = {}
    if figures_dir is not None:
        with _writing("--figures", figures_dir):
            figures_dir.mkdir(parents=True, exist_ok=True)
        for s in doc.sections:
            for f in s.figures:
                fig = f.make()
                path = figures_dir / f"{f.id}.{figure_format}"
                written[f.id] = plots.save(fig, path, option="--figures", protect=protect)
                fig.clear()
    if fmt == "md":
        text = render_markdown(doc, written, relative_to=out.parent)
    else:
        text = render_html(doc)
    n = fileio.write_text(out, text, option="--output", protect=protect, make_parents=True)
    return Written(out, list(written.values()), time.perf_counter() - t0, n)


__all__ = ["RunGroup", "Written", "build_report", "write_report"]
