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
