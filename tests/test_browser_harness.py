"""Self-test of tests/browser.py: the harness must see what a real browser sees.

Two small pages: a clean one (a heading, an inline SVG, a tall body to prove the screenshot
covers the whole page) and a bad one (a console.error, an uncaught exception, a blocked
request for http://example.invalid). If the harness missed any of these, the report's
end-to-end test could pass on a broken page.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from browser import BrowserError, read_png, render_page, require_chromium

WIDTH = 320  # narrow: keeps the pure-Python PNG decode in read_png fast

CLEAN = """<!doctype html>
<html><head><meta charset="utf-8"><title>Harness clean page</title>
<style>body{margin:0;background:#fff} #top{height:200px;background:#ff0000}
#mid{height:1000px} #bottom{height:200px;background:#0000ff}</style></head>
<body>
<div id="top"></div>
<section id="summary"><h2>Summary</h2>
<svg width="100" height="50" xmlns="http://www.w3.org/2000/svg">
<rect width="100" height="50" fill="#00ff00"/></svg>
<img alt="inline" src="DATA_PNG">
</section>
<div id="mid"></div>
<div id="bottom"></div>
<script>console.log("ready", 1); console.warn("just a warning");</script>
</body></html>
"""

# A 1x1 PNG as a data: URL: allowed, because it is part of the file itself.
CLEAN = CLEAN.replace(
    "DATA_PNG",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQ"
    "IAX8jx0gAAAABJRU5ErkJggg==",
)

BAD = """<!doctype html>
<html><head><meta charset="utf-8"><title>Harness bad page</title></head>
<body><h2>Bad</h2>
<script>
console.error("report broke", 42);
fetch("http://example.invalid/x.png").catch(() => {});
setTimeout(() => { throw new Error("late failure"); }, 50);
</script>
</body></html>
"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def _write(tmp_path: Path, name: str, html: str) -> Path:
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path


def test_clean_page_has_no_errors_and_full_screenshot(chromium: str, tmp_path: Path) -> None:
    page = _write(tmp_path, "clean.html", CLEAN)
    shot = tmp_path / "clean.png"
    report = render_page(
        page,
        shot,
        width=WIDTH,
        chromium=chromium,
        evaluate={
            "svgs": "document.querySelectorAll('svg').length",
            "sections": "[...document.querySelectorAll('section h2')].map(h => h.textContent)",
            "img_ok": "document.images[0].complete && document.images[0].naturalWidth === 1",
            "svg_at": "(r => [r.x + r.width / 2, r.y + r.height / 2 + scrollY])"
            "(document.querySelector('svg').getBoundingClientRect())",
        },
    )
    assert report.errors == [], report.errors
    assert report.title == "Harness clean page"
    svg_x, svg_y = (round(v) for v in report.evaluated.pop("svg_at"))
    assert report.evaluated == {"svgs": 1, "sections": ["Summary"], "img_ok": True}
    assert report.external_requests == [] and report.blocked == []
    assert report.requests[0] == page.resolve().as_uri()
    line = next(i for i, t in enumerate(CLEAN.splitlines(), 1) if "console.log" in t)
    assert report.console["log"] == [f"ready 1 ({page.resolve().as_uri()}:{line})"]
    assert len(report.console["warning"]) == 1

    width, height, rows = read_png(shot)
    assert (width, height) == report.screenshot_size
    # The page is 1400 px tall, taller than the 900 px viewport: the whole page is captured.
    assert width == WIDTH and height >= 1400 and not report.screenshot_truncated
    assert rows[100][WIDTH // 2] == (255, 0, 0)  # red block at the top
    assert rows[height - 100][WIDTH // 2] == (0, 0, 255)  # blue block at the very bottom
    assert rows[svg_y][svg_x] == (0, 255, 0)  # the inline SVG really was drawn


def test_bad_page_reports_error_exception_and_blocked_request(
    chromium: str, tmp_path: Path
) -> None:
    page = _write(tmp_path, "bad.html", BAD)
    report = render_page(page, tmp_path / "bad.png", width=WIDTH, chromium=chromium)
    url = page.resolve().as_uri()
    assert report.console["error"][0] == f"report broke 42 ({url}:5)"
    # The blocked fetch also shows as a browser-side "Failed to load resource" error.
    assert len(report.console["error"]) == 2
    assert "example.invalid" in report.console["error"][1]
    assert len(report.exceptions) == 1 and "Error: late failure" in report.exceptions[0]
    assert report.external_requests == ["http://example.invalid/x.png"]
    assert report.blocked == ["http://example.invalid/x.png"]
    assert len(report.errors) == 3


def test_failing_probe_and_missing_file_are_loud(chromium: str, tmp_path: Path) -> None:
    page = _write(tmp_path, "clean.html", CLEAN)
    with pytest.raises(BrowserError, match="evaluate 'typo'"):
        render_page(
            page, tmp_path / "x.png", width=WIDTH, chromium=chromium, evaluate={"typo": "nope()"}
        )
    with pytest.raises(FileNotFoundError, match=r"missing\.html"):
        render_page(tmp_path / "missing.html", tmp_path / "y.png", chromium=chromium)


def test_screenshot_copied_to_stable_dir(
    chromium: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "stable"
    monkeypatch.setenv("ACCELBENCH_SCREENSHOT_DIR", str(out))
    page = _write(tmp_path, "clean.html", CLEAN)
    render_page(page, tmp_path / "shots" / "clean.png", width=WIDTH, chromium=chromium)
    assert (out / "clean.png").read_bytes() == (tmp_path / "shots" / "clean.png").read_bytes()


def test_missing_chromium_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CHROMIUM", raising=False)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium not found"):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true but Chromium not found"):
        require_chromium()


def test_hung_page_times_out_and_cleans_up(
    chromium: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A script that never returns: no load event, no evaluate reply. The deadline must fire,
    # the browser must die and its temporary profile must go.
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    page = _write(tmp_path, "hang.html", "<title>hang</title><script>for(;;){}</script>")
    start = time.monotonic()
    with pytest.raises(BrowserError, match="timed out"):
        render_page(page, tmp_path / "h.png", chromium=chromium, timeout_s=3)
    assert time.monotonic() - start < 20
    assert list(temp.iterdir()) == []
