"""One self-contained HTML file: inline CSS and inline SVG figures, no JavaScript and no
network fetches, so it opens offline, mails as one attachment and archives as it is."""

from __future__ import annotations

import html
from typing import Any

from accelbench.report.model import Link, ReportDoc, Section, Table, fmt
from accelbench.report.plots import to_svg
from accelbench.terminal import printable


def escape(text: str) -> str:
    """HTML-escaped, with control characters (invalid in HTML) shown as visible escapes."""
    return html.escape(printable(text))


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1b1b1b;background:#fafafa}
header{background:#263238;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#cfd8dc}
nav{padding:8px 32px;background:#eceff1;font-size:13px}
nav a{margin-right:14px;color:#37474f}
main{padding:8px 32px 40px;max-width:1400px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:18px 0;
padding:8px 20px 16px}
h2{font-size:18px;margin:12px 0 8px}
figure{margin:12px 0}
figure svg{width:100%;height:auto}
figcaption{font-size:12px;color:#555}
.table-wrap{overflow-x:auto;margin:10px 0}
table{border-collapse:collapse;font-size:12px}
th,td{border:1px solid #e0e0e0;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0;font-size:12px}
.notes{color:#6d4c41;font-size:13px}
"""


def _cell(v: Any) -> str:
    if isinstance(v, Link):
        return f'<td><a href="#{escape(v.section)}">{escape(v.text)}</a></td>'
    text = fmt(v) if not isinstance(v, str) else v
    cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
    return f"<td{cls}>{escape(text)}</td>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in t.rows)
    cap = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _section(s: Section) -> str:
    parts = [f'<section id="{escape(s.id)}"><h2>{escape(s.title)}</h2>']
    parts += [f"<p>{escape(p)}</p>" for p in s.text]
    for f in s.figures:
        try:
            fig = f.make()
            svg = to_svg(fig)
            fig.clear()
        except Exception as exc:  # one odd data set must not cost the whole report
            svg = f'<p class="notes">This figure could not be drawn: {escape(repr(exc))}</p>'
        parts.append(
            f'<figure id="{escape(f.id)}" class="figure">{svg}'
            f"<figcaption>{escape(f.title)}{(' — ' + escape(f.caption)) if f.caption else ''}"
            "</figcaption></figure>"
        )
    parts += [_table(t) for t in s.tables]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(doc: ReportDoc) -> str:
    nav = "".join(f'<a href="#{escape(s.id)}">{escape(s.title)}</a>' for s in doc.sections)
    notes = "".join(f'<p class="notes">{escape(n)}</p>' for n in doc.notes)
    body = "\n".join(_section(s) for s in doc.sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(doc.title)}</h1><p>Generated {escape(doc.generated_at)} by "
        "accelbench from its result store. Every number below was measured; what could not be "
        "measured is marked with the reason in the store.</p></header>"
        f"<nav>{nav}</nav><main>{notes}{body}</main></body></html>\n"
    )
