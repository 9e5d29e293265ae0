"""The report as data: sections of prose, figures and tables, before any output format.

Section builders (:mod:`accelbench.report.sections`) fill these; the HTML and Markdown
writers only lay them out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

OPERATOR_KINDS = ("gemm", "linear", "conv2d", "rnn")


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
