"""The report as Markdown: the same sections and tables, with figures as image links when
they are written to a folder (``--figures DIR``), for wikis, pull requests and issues."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from accelbench.report.model import Link, ReportDoc, Table, fmt


def _anchor(title: str) -> str:
    """The anchor Markdown renderers (GitHub, GitLab) give a heading: lower case, punctuation
    dropped, spaces as hyphens."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _cell(v: Any, anchors: dict[str, str] | None = None) -> str:
    if isinstance(v, Link):
        return f"[{_cell(v.text)}](#{(anchors or {}).get(v.section, v.section)})"
    text = v if isinstance(v, str) else fmt(v)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(t: Table, anchors: dict[str, str] | None = None) -> str:
    lines = []
    if t.caption:
        lines.append(f"*{t.caption}*\n")
    lines.append("| " + " | ".join(_cell(c) for c in t.columns) + " |")
    lines.append("|" + "---|" * len(t.columns))
    lines += ["| " + " | ".join(_cell(v, anchors) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render_markdown(
    doc: ReportDoc, figures: dict[str, Path] | None = None, relative_to: Path | None = None
) -> str:
    """``figures`` maps figure ids to written files; without them a figure is named only."""
    anchors = {s.id: _anchor(s.title) for s in doc.sections}
    out = [f"# {doc.title}", "", f"Generated {doc.generated_at} by accelbench.", ""]
    out += [f"> {n}" for n in doc.notes]
    for s in doc.sections:
        out += [f"## {s.title}", ""]
        out += [p + "\n" for p in s.text]
        for f in s.figures:
            path = (figures or {}).get(f.id)
            if path is not None:
                link = os.path.relpath(path, relative_to) if relative_to else str(path)
                out.append(f"![{f.title}]({Path(link).as_posix()})\n")
            else:
                out.append(f"*Figure: {f.title} (write figures with --figures DIR)*\n")
        out += [_table(t, anchors) + "\n" for t in s.tables]
    return "\n".join(out)
