"""End to end: a report of two platforms rendered in real headless Chromium.

Checks what only a browser can: the page loads with no console error or exception, fetches
nothing from the network, shows every section with its figures as drawn SVG (non-empty
boxes), and a screenshot of it exists for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from analysis_data import FULL_REPORT_SECTIONS, full_run
from browser import render_page, require_chromium

from accelbench.cli import main
from accelbench.results.store import Store

EXPECTED_SECTIONS = FULL_REPORT_SECTIONS


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def test_report_renders_cleanly_in_chromium(chromium: str, tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    with Store(db) as st:
        st.add_many(full_run("run-a", "box-a"))
        st.add_many(full_run("run-b", "box-b", scale=2.0, start_s=1000))
    html = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "-o", str(html)]) == 0
    shot = tmp_path / "report.png"
    page = render_page(
        html,
        shot,
        chromium=chromium,
        evaluate={
            "sections": "[...document.querySelectorAll('section[id]')].map(s => s.id)",
            "figures": "document.querySelectorAll('figure').length",
            "drawn": "[...document.querySelectorAll('figure svg')].filter(s => {"
            " const b = s.getBoundingClientRect(); return b.width > 100 && b.height > 50 }).length",
            "nav": "[...document.querySelectorAll('nav a')].map(a => a.getAttribute('href'))",
            "tables": "document.querySelectorAll('table').length",
        },
    )
    assert page.errors == []
    assert page.external_requests == []
    assert page.title == "accelbench report"
    assert page.evaluated["sections"] == EXPECTED_SECTIONS
    assert page.evaluated["nav"] == [f"#{s}" for s in EXPECTED_SECTIONS]
    assert page.evaluated["figures"] >= 12
    assert page.evaluated["drawn"] == page.evaluated["figures"]  # every figure is a visible SVG
    assert page.evaluated["tables"] >= len(EXPECTED_SECTIONS)
    width, height = page.screenshot_size
    assert width >= 1000 and height > 3000 and shot.stat().st_size > 50_000


# Per figure: its id, the smallest rendered text (computed font size x the SVG's scale on
# screen, in CSS px), the figure's width and its section's content width.
FIGURE_TEXT = """
[...document.querySelectorAll('figure')].filter(f => f.querySelector('svg')).map(f => {
  const svg = f.querySelector('svg');
  let min = Infinity, smallest = '';
  for (const t of svg.querySelectorAll('text')) {
    if (!t.textContent.trim()) continue;
    const m = t.getScreenCTM();
    const px = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
    if (px < min) { min = px; smallest = t.textContent.trim(); }
  }
  const sec = f.closest('section');
  const cs = getComputedStyle(sec);
  const inner = sec.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  return [f.id, min, smallest, svg.getBoundingClientRect().width, inner];
})
"""


def test_figures_are_readable_at_page_width_and_every_reason_is_shown(
    chromium: str, tmp_path: Path
) -> None:
    """Text in every figure renders at 11 px or more in a 1400-px page, every figure spans
    its section, and every failure reason stored appears in the page."""
    from accelbench.results.schema import Status

    db = tmp_path / "two.db"
    a = full_run("run-a", "box-a")
    b = full_run("run-b", "box-b", scale=2.0, start_s=1000)
    with Store(db) as st:
        st.add_many(a)
        st.add_many(b)
    reasons = {r.message for r in [*a, *b] if r.status is not Status.OK and r.message}
    assert reasons, "the fixture has failures to show"
    html = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "-o", str(html)]) == 0
    page = render_page(
        html,
        tmp_path / "figures.png",
        chromium=chromium,
        width=1400,
        evaluate={"figures": FIGURE_TEXT, "text": "document.body.innerText"},
    )
    assert page.errors == []
    figures = page.evaluated["figures"]
    assert len(figures) >= 12
    small = [(i, round(px, 1), txt) for i, px, txt, _, _ in figures if px < 11]
    assert not small, f"figure text under 11 px: {small}"
    narrow = [(i, round(w), round(inner)) for i, _, _, w, inner in figures if w < 0.95 * inner]
    assert not narrow, f"figures narrower than their section: {narrow}"
    missing = [m for m in reasons if m not in page.evaluated["text"]]
    assert not missing, f"failure reasons not in the page: {missing}"
