"""Report sections: one module each, registered with its place in the report.

A section builder takes the selected run groups and returns a :class:`~accelbench.report.model.
Section`, or None when its data is absent (a section appears only when there is something to
show). Adding a section is one module here with ``@section("name", order=N)``; the registry
imports every module of this package on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from accelbench.analysis.groups import RunGroup
from accelbench.registry import Registry
from accelbench.report.model import Section

Builder = Callable[[list[RunGroup]], Section | None]


@dataclass(frozen=True)
class SectionBuilder:
    name: str
    order: int
    """Place in the report, ascending; comparisons go after the section of order 20."""
    build: Builder


SECTIONS: Registry[SectionBuilder] = Registry(
    "report section", package="accelbench.report.sections"
)


def section(name: str, order: int) -> Callable[[Builder], Builder]:
    """Register ``build`` as the report section ``name`` at ``order``."""

    def deco(build: Builder) -> Builder:
        SECTIONS.register(name)(SectionBuilder(name, order, build))
        return build

    return deco


def ordered() -> list[SectionBuilder]:
    return sorted((b for _, b in SECTIONS), key=lambda b: b.order)
