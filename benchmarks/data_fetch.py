"""How fast does `accelbench data fetch` move a file, verification included?

Serves one file from a local HTTP server on 127.0.0.1 (Python's ``http.server`` in a thread,
so no network limits the number) and fetches it R times with :func:`fetch_file`, the code
behind ``accelbench data fetch``: write to a ``.part``, SHA-256 while receiving, check size and
checksum, rename into place. Each round goes to a fresh folder. Reports MB/s (10^6 bytes) of
the whole fetch (median, min, max over the rounds), the rate of the SHA-256 check alone over
the same bytes on this host, and the rate of the progress bar's updates included (the rich bar
that ``data fetch`` shows, drawn to a non-terminal here).

Default file: the 30 MB IMDB archive of ../shared/data, with its SHA-256 from SHA256SUMS.

    .venv/bin/python benchmarks/data_fetch.py --rounds 5
    .venv/bin/python benchmarks/data_fetch.py --file /path/to/any.bin --rounds 5
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rich.console import Console

from accelbench.cli.data import RichProgress
from accelbench.data.fetch import fetch_file
from accelbench.data.registry import RemoteFile
from accelbench.data.verify import hash_file

HERE = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout, or where this project's machines keep it.
SHARED = next(
    (p for p in (HERE.parent / "shared" / "data", Path("/work/shared/data")) if p.is_dir()),
    HERE.parent / "shared" / "data",
)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def _summary(rates: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(rates), 1),
        "min": round(min(rates), 1),
        "max": round(max(rates), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", type=Path, default=SHARED / "aclImdb.tar.gz")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    src: Path = args.file
    if not src.is_file():
        raise SystemExit(f"{src}: not found (pass --file)")
    size = src.stat().st_size
    sums = src.parent / "SHA256SUMS"
    known = {}
    if sums.is_file():
        known = {n: h for h, n in (ln.split() for ln in sums.read_text().splitlines() if ln)}
    sha = known.get(src.name) or hash_file(src, ["sha256"])["sha256"]
    f = RemoteFile(name=src.name, size=size, sha256=sha, source=str(sums))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(src.parent)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{src.name}"
    fetch_rates, bar_rates, hash_rates = [], [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for kind, rates in (("plain", fetch_rates), ("bar", bar_rates)):
                    dest = Path(tmp) / f"{kind}{r}"
                    bar = RichProgress(Console(file=io.StringIO(), force_terminal=False))
                    t0 = time.perf_counter()
                    rep = fetch_file(f, dest, [url], progress=bar if kind == "bar" else None)
                    dt = time.perf_counter() - t0
                    bar.close()
                    assert rep.status == "downloaded" and rep.bytes_downloaded == size
                    rates.append(size / dt / 1e6)
                    (dest / src.name).unlink()
                t0 = time.perf_counter()
                with src.open("rb") as fh:
                    h = hashlib.sha256()
                    while chunk := fh.read(1 << 20):
                        h.update(chunk)
                hash_rates.append(size / (time.perf_counter() - t0) / 1e6)
                assert h.hexdigest() == sha
    finally:
        httpd.shutdown()
        httpd.server_close()
    print(
        json.dumps(
            {
                "file": str(src),
                "bytes": size,
                "rounds": args.rounds,
                "fetch_and_verify_MBps": _summary(fetch_rates),
                "fetch_and_verify_with_progress_bar_MBps": _summary(bar_rates),
                "sha256_alone_MBps": _summary(hash_rates),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
