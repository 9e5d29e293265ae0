"""Render a local HTML file in real headless Chromium and report what the page did.

Why this exists: the offline HTML report must open cleanly in a real browser with no network,
and only a real browser can say so (a parser cannot see a script error, a missing figure or a
stray CDN request). This helper launches Chromium headless, drives it over the Chrome DevTools
Protocol (CDP) and returns a :class:`PageReport` with console messages, uncaught exceptions,
every request the page attempted, the values of JavaScript probes, and a full-page screenshot.

Why a pipe and not a WebSocket: ``--remote-debugging-pipe`` (what Playwright uses for Chromium)
speaks CDP over file descriptors 3 and 4, so there is no TCP port to discover or race for, no
Origin check to satisfy, and no third-party client library to install.

Why it cannot hang a test session: every read from the browser waits at most until one overall
deadline (``timeout_s``), and the browser's whole process group is killed and its temporary
profile removed in a ``finally`` block, whatever happened.

External network is blocked twice: every request is paused by the CDP ``Fetch`` domain and
failed unless it is ``file:`` or ``data:`` (it is still *recorded* in ``requests``), and the
host resolver maps every name to NOTFOUND as a backstop.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BrowserError",
    "PageReport",
    "find_chromium",
    "read_png",
    "render_page",
    "require_chromium",
]

# Names tried on PATH, in order; $CHROMIUM (a path or a name) wins over all of them.
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium cannot allocate a surface taller than this; longer pages are cut (and say so).
_MAX_SCREENSHOT_HEIGHT = 16384
# After the load event, the page counts as settled once no request is in flight and no CDP
# event has arrived for this long (late fetches and timers report their errors in this window).
_QUIET_S = 0.3
_MAX_SETTLE_S = 5.0


class BrowserError(RuntimeError):
    """Chromium could not be started, timed out, or refused a command."""


@dataclass
class PageReport:
    """What one page load did, as the browser saw it."""

    url: str
    title: str
    # Console messages by level: "log", "info", "debug", "warning", "error", ... from both
    # console.* calls (Runtime.consoleAPICalled) and browser-side entries (Log.entryAdded,
    # e.g. "Failed to load resource"), each as "text (source url:line)".
    console: dict[str, list[str]] = field(default_factory=dict)
    # Uncaught exceptions and unhandled promise rejections (Runtime.exceptionThrown).
    exceptions: list[str] = field(default_factory=list)
    # Every URL the page asked for, in order, including the ones that were blocked.
    requests: list[str] = field(default_factory=list)
    # URLs refused because they were not file: or data: (the page is meant to be offline).
    blocked: list[str] = field(default_factory=list)
    # Results of the `evaluate` expressions, by the caller's names (JSON values).
    evaluated: dict[str, Any] = field(default_factory=dict)
    screenshot: Path | None = None
    # Size of the screenshot in CSS pixels (scale 1), and whether a very long page was cut.
    screenshot_size: tuple[int, int] = (0, 0)
    screenshot_truncated: bool = False
    # Seconds from navigation to the load event (a contended machine makes this noisy).
    load_s: float = 0.0

    @property
    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions together: a clean page has none."""
        return [*self.console.get("error", []), *self.exceptions]

    @property
    def external_requests(self) -> list[str]:
        """Requests for anything but file: and data: URLs: an offline page makes none."""
        return [u for u in self.requests if not u.startswith(("file:", "data:"))]


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable: $CHROMIUM if set, else the first on PATH."""
    env = os.environ.get("CHROMIUM")
    if env:
        return shutil.which(env) or (env if Path(env).is_file() else None)
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Chromium's path, or skip the calling test; in CI (CI=true) a missing browser FAILS.

    Why fail in CI: CI's test setup (scripts/test.sh) installs Chromium, so a skip there
    would hide a broken setup behind a green run.
    """
    import pytest

    path = find_chromium()
    if path is not None:
        return path
    reason = (
        "Chromium not found (tried $CHROMIUM, " + ", ".join(_CANDIDATES) + " on PATH); "
        "install it with `apt-get install -y --no-install-recommends chromium` "
        "(scripts/test.sh does this when run as root)"
    )
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


class _Cdp:
    """A minimal CDP client over Chromium's debugging pipe (NUL-terminated JSON messages)."""

    def __init__(self, to_browser: int, from_browser: int, deadline: float) -> None:
        self._out = to_browser
        self._in = from_browser
        self._deadline = deadline
        self._buf = b""
        self._next_id = 0
        # Replies read while waiting for another one (an event handler may send commands).
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.on_event: Any = None  # callable(event) run as each event arrives

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise BrowserError("timed out waiting for Chromium")
        return left

    def _read_message(self, timeout: float) -> dict[str, Any] | None:
        """One message, or None when `timeout` passes with nothing complete."""
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = min(end - time.monotonic(), self._remaining())
            if left <= 0:
                return None
            ready, _, _ = select.select([self._in], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed the debugging pipe (it exited or crashed)")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if self.on_event is not None:
            self.on_event(msg)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its reply, dispatching any events that come first."""
        self._next_id += 1
        cid = self._next_id
        msg: dict[str, Any] = {"id": cid, "method": method, "params": params}
        if session is not None:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            _, ready, _ = select.select([], [self._out], [], self._remaining())
            if ready:
                data = data[os.write(self._out, data) :]
        while cid not in self._replies:
            msg = self._read_message(self._remaining())
            if msg is None:
                continue
            if "id" in msg:
                self._replies[msg["id"]] = msg
            elif "method" in msg:
                self._dispatch(msg)
        reply = self._replies.pop(cid)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})

    def pump(self, timeout: float) -> bool:
        """Dispatch events for up to `timeout` seconds; True if any event arrived."""
        got = False
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            msg = self._read_message(left)
            if msg is None:
                return got
            if "id" in msg:
                self._replies[msg["id"]] = msg
            elif "method" in msg:
                self._dispatch(msg)
                got = True


def _remote_value(obj: dict[str, Any]) -> str:
    """A console argument as console.log would print it."""
    if "value" in obj:
        v = obj["value"]
        return v if isinstance(v, str) else json.dumps(v)
    return str(obj.get("description", obj.get("unserializableValue", obj.get("type", "?"))))


def _where(url: str | None, line: int | None) -> str:
    if not url:
        return ""
    return f" ({url}:{line + 1})" if line is not None else f" ({url})"


def _launch(chromium: str, profile: Path, width: int, log: Path) -> tuple[Any, int, int]:
    """Start Chromium with its debugging pipe on fds 3/4; return (process, write fd, read fd)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    flags = [
        "--headless=new",
        "--no-sandbox",  # root in containers and CI has no usable sandbox
        "--disable-gpu",
        "--disable-dev-shm-usage",  # small /dev/shm in containers would crash renderers
        f"--user-data-dir={profile}",
        "--remote-debugging-pipe",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--mute-audio",
        "--hide-scrollbars",
        "--force-color-profile=srgb",  # stable screenshot colours
        "--host-resolver-rules=MAP * ~NOTFOUND",  # backstop: no name resolves
        f"--window-size={width},900",
        "about:blank",
    ]
    # A tiny Python trampoline moves our pipe ends to fds 3 and 4 (where Chromium expects them)
    # and execs it. Not `sh -c 'exec ... 3<&N'` (dash rejects fd numbers above 9) and not a
    # preexec_fn (not fork-safe with threads). F_DUPFD first, so the two ends cannot clobber
    # each other when one of them already is fd 3 or 4.
    trampoline = (
        "import fcntl, os, sys\n"
        "a = fcntl.fcntl(int(sys.argv[1]), fcntl.F_DUPFD, 10)\n"
        "b = fcntl.fcntl(int(sys.argv[2]), fcntl.F_DUPFD, 10)\n"
        "os.dup2(a, 3); os.dup2(b, 4); os.close(a); os.close(b)\n"
        "os.execv(sys.argv[3], sys.argv[3:])\n"
    )
    cmd = [sys.executable, "-c", trampoline, str(to_child_r), str(from_child_w), chromium]
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [*cmd, *flags],
            stdin=subprocess.DEVNULL,
            stdout=err,
            stderr=err,
            pass_fds=(to_child_r, from_child_w),
            start_new_session=True,  # its own process group, so we can kill every child
        )
    os.close(to_child_r)
    os.close(from_child_w)
    return proc, to_child_w, from_child_r


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Terminate Chromium's whole process group; SIGKILL whatever survives 5 s."""
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait_s)
            # The group may outlive its leader for a moment (renderers, zygote).
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            continue
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def render_page(
    html_path: Path,
    screenshot_path: Path,
    *,
    evaluate: dict[str, str] | None = None,
    width: int = 1280,
    timeout_s: float = 60,
    chromium: str | None = None,
) -> PageReport:
    """Load `html_path` in headless Chromium, offline, and report what happened.

    `evaluate` maps names to JavaScript expressions run after the page settled (load event,
    no request in flight, fonts ready, two animation frames); their JSON values land in
    `PageReport.evaluated` (a promise is awaited). An expression that throws raises
    BrowserError naming it, so a typo in a probe fails loudly instead of reading as "absent".
    The full page is saved as a PNG at `screenshot_path`, and copied into
    $ACCELBENCH_SCREENSHOT_DIR when that is set (so a person can look at the latest one).
    Raises BrowserError if Chromium is missing, dies, or the whole job exceeds `timeout_s`.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no HTML file to render at {html_path}")
    exe = chromium or find_chromium()
    if exe is None:
        raise BrowserError("Chromium not found; see require_chromium()")
    url = html_path.as_uri()
    deadline = time.monotonic() + timeout_s
    workdir = Path(tempfile.mkdtemp(prefix="accelbench-chromium-"))
    log = workdir / "chromium.log"
    proc = None
    fds: list[int] = []
    try:
        proc, wfd, rfd = _launch(exe, workdir / "profile", width, log)
        fds = [wfd, rfd]
        cdp = _Cdp(wfd, rfd, deadline)
        report = _drive(cdp, url, screenshot_path, evaluate or {}, width)
    except BrowserError as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise BrowserError(f"{exc} [rendering {url}]\nChromium log tail:\n{tail}") from exc
    finally:
        if proc is not None:
            _kill(proc)
        for fd in fds:
            os.close(fd)
        shutil.rmtree(workdir, ignore_errors=True)
    copy_dir = os.environ.get("ACCELBENCH_SCREENSHOT_DIR")
    if copy_dir and report.screenshot is not None:
        Path(copy_dir).mkdir(parents=True, exist_ok=True)
        shutil.copy2(report.screenshot, Path(copy_dir) / report.screenshot.name)
    return report


def _drive(
    cdp: _Cdp, url: str, screenshot_path: Path, evaluate: dict[str, str], width: int
) -> PageReport:
    report = PageReport(url=url, title="")
    in_flight: set[str] = set()
    # (loaderId, name) of lifecycle events: the wait below matches the load of OUR navigation,
    # never a late one from the initial about:blank.
    lifecycle: dict[tuple[str, str], float] = {}
    session: str | None = None

    def on_event(msg: dict[str, Any]) -> None:
        method, p = msg["method"], msg.get("params", {})
        if session is None or msg.get("sessionId") != session:
            return
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_value(a) for a in p.get("args", []))
            frames = (p.get("stackTrace") or {}).get("callFrames") or [{}]
            where = _where(frames[0].get("url"), frames[0].get("lineNumber"))
            level = {"warn": "warning"}.get(p["type"], p["type"])
            report.console.setdefault(level, []).append(text + where)
        elif method == "Log.entryAdded":
            e = p["entry"]
            where = _where(e.get("url"), e.get("lineNumber"))
            report.console.setdefault(e["level"], []).append(e.get("text", "") + where)
        elif method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            exc = d.get("exception") or {}
            text = exc.get("description") or d.get("text", "exception")
            report.exceptions.append(text + _where(d.get("url"), d.get("lineNumber")))
        elif method == "Network.requestWillBeSent":
            report.requests.append(p["request"]["url"])
            in_flight.add(p["requestId"])
        elif method in ("Network.loadingFinished", "Network.loadingFailed"):
            in_flight.discard(p["requestId"])
        elif method == "Fetch.requestPaused":
            req_url = p["request"]["url"]
            if req_url.startswith(("file:", "data:")):
                cdp.send("Fetch.continueRequest", session, requestId=p["requestId"])
            else:
                report.blocked.append(req_url)
                cdp.send(
                    "Fetch.failRequest",
                    session,
                    requestId=p["requestId"],
                    errorReason="BlockedByClient",
                )
        elif method == "Page.lifecycleEvent":
            lifecycle.setdefault((p["loaderId"], p["name"]), time.monotonic())

    cdp.on_event = on_event
    target = cdp.send("Target.createTarget", url="about:blank")["targetId"]
    session = cdp.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        cdp.send(f"{domain}.enable", session)
    cdp.send("Page.setLifecycleEventsEnabled", session, enabled=True)
    cdp.send("Fetch.enable", session, patterns=[{"urlPattern": "*"}])
    cdp.send(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=False,
    )
    t0 = time.monotonic()
    nav = cdp.send("Page.navigate", session, url=url)
    if nav.get("errorText"):
        raise BrowserError(f"navigation failed: {nav['errorText']}")
    load_key = (nav["loaderId"], "load")
    while load_key not in lifecycle:
        cdp.pump(0.1)
    report.load_s = lifecycle[load_key] - t0
    # Settle: let late requests finish (or fail) and their errors arrive. Capped, so a page
    # that logs on a timer forever still gets probed and captured instead of timing out.
    settle_end = time.monotonic() + _MAX_SETTLE_S
    while (cdp.pump(_QUIET_S) or in_flight) and time.monotonic() < settle_end:
        pass
    settle = (
        "new Promise(r => document.fonts.ready.then("
        "() => requestAnimationFrame(() => requestAnimationFrame(() => r(true)))))"
    )
    _evaluate(cdp, session, settle, "settle")
    cdp.pump(0.05)

    report.title = _evaluate(cdp, session, "document.title", "title")
    for name, expr in evaluate.items():
        report.evaluated[name] = _evaluate(cdp, session, expr, name)

    metrics = cdp.send("Page.getLayoutMetrics", session)
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    full_h = max(1, round(size["height"]))
    height = min(full_h, _MAX_SCREENSHOT_HEIGHT)
    shot_w = max(width, round(size["width"]))
    shot = cdp.send(
        "Page.captureScreenshot",
        session,
        format="png",
        captureBeyondViewport=True,
        clip={"x": 0, "y": 0, "width": shot_w, "height": height, "scale": 1},
    )
    screenshot_path = Path(screenshot_path)
    screenshot_path.parent.mkdir(parents=True, exist_ok=True)
    screenshot_path.write_bytes(base64.b64decode(shot["data"]))
    report.screenshot = screenshot_path
    report.screenshot_size = (shot_w, height)
    report.screenshot_truncated = full_h > height
    # Anything logged while probing (e.g. an evaluate that logs) still counts.
    cdp.pump(0.05)
    return report


def _evaluate(cdp: _Cdp, session: str | None, expr: str, name: str) -> Any:
    res = cdp.send(
        "Runtime.evaluate",
        session,
        expression=expr,
        returnByValue=True,
        awaitPromise=True,
    )
    if "exceptionDetails" in res:
        d = res["exceptionDetails"]
        text = (d.get("exception") or {}).get("description") or d.get("text")
        raise BrowserError(f"evaluate {name!r} ({expr}) threw: {text}")
    return res["result"].get("value")


def read_png(path: Path) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into (width, height, pixel rows).

    Why by hand: it lets a test check real pixels of a screenshot (not just that a file exists)
    without adding pillow to the project only for tests. Raises ValueError on anything else.
    """
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG (bad signature)")
    pos, idat, ihdr = 8, b"", b""
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if zlib.crc32(kind + body) != int.from_bytes(
            data[pos + 8 + length : pos + 12 + length], "big"
        ):
            raise ValueError(f"{path}: bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height = int.from_bytes(ihdr[0:4], "big"), int.from_bytes(ihdr[4:8], "big")
    depth, colour, interlace = ihdr[8], ihdr[9], ihdr[12]
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit RGB/RGBA non-interlaced PNGs are supported")
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise ValueError(f"{path}: image data does not match {width}x{height}")
    rows: list[list[tuple[int, ...]]] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[x * bpp : x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows
