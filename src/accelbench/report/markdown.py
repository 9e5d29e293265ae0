"""The report as Markdown: the same sections and tables, with figures as image links when
they are written to a folder (``--figures DIR``), for wikis, pull requests and issues.

Every string is escaped, as the HTML report escapes it: suite, workload, device and host
names and messages can come from imported results, and Markdown renderers pass raw HTML
(``<script>``) and links through. HTML's special characters become entities and Markdown's
punctuation is backslash-escaped, so a hostile string renders as the text it is.
"""

from __future__ import annotations

import html
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from accelbench.report.model import Link, ReportDoc, Table, fmt
from accelbench.terminal import printable

# Punctuation that opens Markdown markup inside a line: code spans, emphasis, links and
# images ('[' and ']'; without them '(' and '!' are plain), table cells, strikethrough. An
# underscore only emphasises at a word boundary, so 'time_median' stays readable. '<', '>'
# and '&' become HTML entities.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|~])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_LINE_START = ("#", "+", "-", "=")  # a heading, list item or setext underline at line start


def _backslash(match: re.Match[str]) -> str:
    return "\\" + match.group(0)


def escape(text: str) -> str:
    """``text`` as literal Markdown: one line, no HTML, no markup, no control characters."""
    one_line = " ".join(printable(text).splitlines())
    out = _MARKDOWN_SPECIAL.sub(_backslash, html.escape(one_line, quote=False))
    return "\\" + out if out.startswith(_LINE_START) else out


def _anchor(title: str) -> str:
    """The anchor Markdown renderers (GitHub, GitLab) give a heading: lower case, punctuation
    dropped, spaces as hyphens."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def _cell(v: Any, anchors: dict[str, str] | None = None) -> str:
    if isinstance(v, Link):
        return f"[{_cell(v.text)}](#{(anchors or {}).get(v.section, v.section)})"
    return escape(v if isinstance(v, str) else fmt(v))


def _table(t: Table, anchors: dict[str, str] | None = None) -> str:
    lines = []
    if t.caption:
        lines.append(f"*{escape(t.caption)}*\n")
    lines.append("| " + " | ".join(_cell(c) for c in t.columns) + " |")
    lines.append("|" + "---|" * len(t.columns))
    lines += ["| " + " | ".join(_cell(v, anchors) for v in row) + " |" for row in t.rows]
    return "\n".join(lines)


def render_markdown(
    doc: ReportDoc, figures: dict[str, Path] | None = None, relative_to: Path | None = None
) -> str:
    """``figures`` maps figure ids to written files; without them a figure is named only."""
    anchors = {s.id: _anchor(s.title) for s in doc.sections}
    out = [f"# {escape(doc.title)}", "", f"Generated {escape(doc.generated_at)} by accelbench.", ""]
    out += [f"> {escape(n)}" for n in doc.notes]
    for s in doc.sections:
        out += [f"## {escape(s.title)}", ""]
        out += [escape(p) + "\n" for p in s.text]
        for f in s.figures:
            path = (figures or {}).get(f.id)
            if path is not None:
                link = os.path.relpath(path, relative_to) if relative_to else str(path)
                target = urllib.parse.quote(Path(link).as_posix())
                out.append(f"![{escape(f.title)}]({target})\n")
            else:
                out.append(f"*Figure: {escape(f.title)} (write figures with --figures DIR)*\n")
        out += [_table(t, anchors) + "\n" for t in s.tables]
    return "\n".join(out)
