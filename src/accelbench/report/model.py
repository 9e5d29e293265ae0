"""The report as data: sections of prose, figures and tables, before any output format.

Section builders (:mod:`accelbench.report.sections`) fill these; the HTML and Markdown
writers only lay them out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

from accelbench.analysis.groups import RunGroup

OPERATOR_KINDS = ("gemm", "linear", "conv2d", "rnn")


@dataclass(frozen=True)
class Link:
    """A table cell that points to a section of the same report (``#id``)."""

    text: str
    section: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass
class FigureItem:
    id: str
    title: str
    make: Callable[[], Figure]
    """Drawn when written, so a format that shows no figures never pays for them."""
    caption: str = ""


@dataclass
class Section:
    id: str
    title: str
    text: list[str] = field(default_factory=list)
    figures: list[FigureItem] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class ReportDoc:
    title: str
    generated_at: str
    sections: list[Section]
    notes: list[str] = field(default_factory=list)


def fmt(v: Any, digits: int = 3) -> str:
    """Numbers with a sensible number of significant digits; None as an em dash."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != v:  # NaN
            return "—"
        if abs(v) >= 10**digits:
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def run_names(groups: Sequence[RunGroup]) -> dict[str, str]:
    """A short name per run group (by key) that says what differs between them: device,
    host, threads, torch, suite; the run id's tail only when nothing else does. Legends built
    from these never show two runs under the same entry."""
    fields: list[tuple[str, Callable[[RunGroup], str]]] = [
        ("", lambda g: g.platform.device_name),
        ("", lambda g: g.platform.device),
        ("on ", lambda g: g.platform.host),
        ("threads ", lambda g: str(g.platform.threads)),
        ("torch ", lambda g: g.platform.torch),
        ("", lambda g: g.suite),
    ]
    differ = [(p, f) for p, f in fields if len({f(g) for g in groups}) > 1]
    names = {g.key: " ".join(p + f(g) for p, f in differ) for g in groups}
    if len(set(names.values())) < len(groups):
        names = {g.key: (f"{names[g.key]} run {g.key[-6:]}").strip() for g in groups}
    return names
