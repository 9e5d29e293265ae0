"""A real HTTP server on 127.0.0.1 for the download tests: serves files with byte ranges, and
misbehaves on request (drops the connection, corrupts a byte, hangs, throttles, 404s).

It is Python's own ``http.server`` in a thread of the test process, so the client under test
talks real HTTP over a real socket; nothing reaches beyond this machine. Requests are recorded
(path, Range header, whether it came through a proxy) so tests can see resumes and proxying.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class Behaviour:
    drop_after: int | None = None
    """Send only this many bytes of the body, then close the connection ..."""
    drop_times: int = 1
    """... on this many requests (later ones are served whole)."""
    corrupt_at: int | None = None
    """Flip the bits of the byte at this offset in everything served."""
    hang: bool = False
    """Accept the request and never answer (until the server stops)."""
    stall_after: int | None = None
    """Send this many bytes of the body, then stop sending without closing."""
    bytes_per_s: float | None = None
    """Throttle the body to about this rate."""
    ignore_range: bool = False
    """Answer every request with the whole file (200), as some servers do."""
    status: int | None = None
    """Answer with this status and no body."""


@dataclass
class Request:
    path: str
    range: str | None
    proxied: bool
    host: str | None


@dataclass
class DataServer:
    files: dict[str, bytes | Path] = field(default_factory=dict)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, path: str, content: bytes | Path, **behaviour: object) -> str:
        """Serve ``content`` at ``path``; returns its URL."""
        path = "/" + path.lstrip("/")
        self.files[path] = content
        if behaviour:
            self.behaviour[path] = Behaviour(**behaviour)  # type: ignore[arg-type]
        return self.url + path

    def ranges(self, path: str) -> list[str | None]:
        return [r.range for r in self.requests if r.path == "/" + path.lstrip("/")]


def _handler(server: DataServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: the tests read server.requests instead

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            proxied = bool(parts.scheme)  # a proxy is sent the absolute URL
            path = parts.path
            rng = self.headers.get("Range")
            server.requests.append(Request(path, rng, proxied, parts.hostname))
            b = server.behaviour.get(path, Behaviour())
            if b.hang:
                server.stop.wait(60)
                return
            if b.status is not None or path not in server.files:
                self.send_response(b.status or 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            content = server.files[path]
            data = content.read_bytes() if isinstance(content, Path) else content
            if b.corrupt_at is not None:
                data = bytearray(data)
                data[b.corrupt_at] ^= 0xFF
                data = bytes(data)
            start = 0
            if rng and not b.ignore_range and rng.startswith("bytes="):
                start = int(rng[len("bytes=") :].split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            limit = len(body)
            if b.drop_after is not None and b.drop_times > 0:
                b.drop_times -= 1
                limit = min(limit, b.drop_after)
            if b.stall_after is not None:
                self._send(body[: b.stall_after], None)
                self.wfile.flush()
                server.stop.wait(60)
                return
            self._send(body[:limit], b.bytes_per_s)
            if limit < len(body):
                self.close_connection = True  # the rest never comes

        def _send(self, body: bytes, rate: float | None) -> None:
            step = 64 * 1024 if rate is None else max(int(rate / 20), 1)
            try:
                for i in range(0, len(body), step):
                    if server.stop.is_set():
                        return
                    self.wfile.write(body[i : i + step])
                    if rate is not None:
                        self.wfile.flush()
                        time.sleep(step / rate)
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


@contextmanager
def serving(**files: bytes | Path) -> Iterator[DataServer]:
    """A :class:`DataServer` on a free port of 127.0.0.1 for the ``with`` block."""
    ds = DataServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ds))
    httpd.daemon_threads = True
    ds.port = httpd.server_address[1]
    for name, content in files.items():
        ds.add(name, content)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield ds
    finally:
        ds.stop.set()
        httpd.shutdown()
        httpd.server_close()
