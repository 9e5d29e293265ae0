"""Download a dataset's published files: resumable, verified before use, atomic.

How a file is fetched (:func:`fetch_file`):

* into ``NAME.part`` beside the final name. A ``.part`` left by an earlier fetch (killed,
  dropped, timed out) is resumed with an HTTP ``Range`` request; a server that ignores the range
  (200 instead of 206) makes it start over, never append a second copy;
* a connection dropped mid-file is resumed at once, a few times, as long as each try makes
  progress;
* the size and checksum (SHA-256, or MD5 where that is all that is published) are checked on
  the ``.part`` before it is renamed into place (``os.replace``, atomic on one file system).
  A file with a wrong checksum is deleted, never kept under either name. So a killed fetch
  leaves at most a ``.part``, and a file under its final name is always a verified one;
* URLs are tried in order (the publisher, then mirrors); ``ACCELBENCH_DATA_MIRROR=URL`` replaces
  them all with ``URL/<dataset>/<file>`` (an internal mirror for sites without internet;
  ``file://`` works too);
* proxies come from the usual ``http_proxy`` / ``https_proxy`` / ``no_proxy`` variables
  (urllib's ``ProxyHandler``);
* one fetch of a file at a time on a host: a second waits, then finds it in place;
* every network wait has a timeout (30 s, ``ACCELBENCH_FETCH_TIMEOUT`` or ``--timeout``); a
  server that stops answering becomes one line naming the URL, and the ``.part`` is kept for
  the next try.

:func:`ensure_dataset` is the fetch on first use that training workloads call before their
clock starts: nothing when the set is already on disk in any form, a download (said so on
stderr, with progress lines) when it is missing and the run may, else one error naming the
dataset, the command that fetches it and the paths looked at.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelbench import __version__
from accelbench.data.common import (
    ENV_OFFLINE,
    DataError,
    DataNotFound,
    fetch_dir,
    fetch_hint,
    offline_from_env,
    resolve_data_dir,
    search_dirs,
)
from accelbench.data.registry import Dataset, RemoteFile, get
from accelbench.data.verify import (
    CHUNK,
    LineProgress,
    NullProgress,
    ProgressSink,
    check_remote_file,
    digest_mismatch,
    expected_digests,
)

ENV_MIRROR = "ACCELBENCH_DATA_MIRROR"
ENV_TIMEOUT = "ACCELBENCH_FETCH_TIMEOUT"
DEFAULT_TIMEOUT_S = 30.0
RESUME_TRIES = 5
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)?/(\d+|\*)")


class FetchError(DataError):
    """A file that could not be downloaded and verified; the message names it and every URL
    tried with what went wrong there."""


class _TryNext(Exception):
    """This URL failed (the reason is the message); try the next one."""


@dataclass
class FileReport:
    name: str
    path: Path
    status: str
    """downloaded, resumed (continued a ``.part``) or present (already there, verified)."""
    bytes_downloaded: int = 0
    seconds: float = 0.0
    url: str | None = None


@dataclass
class FetchReport:
    dataset: str
    path: Path
    files: list[FileReport] = field(default_factory=list)

    @property
    def bytes_downloaded(self) -> int:
        return sum(f.bytes_downloaded for f in self.files)


def timeout_from_env() -> float:
    raw = os.environ.get(ENV_TIMEOUT)
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise DataError(f"{ENV_TIMEOUT}={raw!r}: expected a positive number of seconds")
    return value


def urls_for(ds: Dataset, f: RemoteFile, mirror: str | None = None) -> list[str]:
    """Where to get ``f``: the mirror alone when one is set (argument, else
    ``$ACCELBENCH_DATA_MIRROR``), else the registry's URLs in order."""
    mirror = mirror if mirror is not None else os.environ.get(ENV_MIRROR) or None
    if mirror:
        return [f"{mirror.rstrip('/')}/{ds.name}/{f.name}"]
    return list(f.urls)


def _opener() -> urllib.request.OpenerDirector:
    # build_opener installs ProxyHandler(), which reads *_proxy / no_proxy from the environment.
    return urllib.request.build_opener()


def _reason(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words, for the one-line error."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, BaseException):
            return str(exc.reason)
        exc = exc.reason
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s (raise it with --timeout or {ENV_TIMEOUT})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"


def _hash_existing(path: Path, algos: list[str], progress: ProgressSink) -> dict[str, Any]:
    hs: dict[str, Any] = {a: hashlib.new(a) for a in algos}
    progress.start(f"checking partial {path.name}", path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            for h in hs.values():
                h.update(chunk)
            progress.advance(len(chunk))
    progress.finish()
    return hs


def _download(
    url: str,
    f: RemoteFile,
    part: Path,
    final: Path,
    timeout: float,
    progress: ProgressSink,
    label: str,
) -> FileReport:
    want = expected_digests(f)
    opener = _opener()
    t0 = time.perf_counter()
    downloaded = 0
    resumed = part.exists() and part.stat().st_size > 0
    tries = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if f.size is not None and have > f.size:  # not a prefix of this file: start over
            part.unlink()
            have = 0
        hashers: dict[str, Any] = _hash_existing(part, list(want), progress) if have else {}
        headers = {"User-Agent": f"accelbench/{__version__}", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have and have == f.size:
                break  # the .part is already whole: verify it below
            if exc.code == 416 and have:
                part.unlink()  # the server has less than we hold: not the same file
                continue
            raise _TryNext(_reason(exc, timeout)) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise _TryNext(_reason(exc, timeout) + _kept(part)) from None
        with resp:
            status = getattr(resp, "status", 200) or 200
            start = 0
            if status == 206:
                m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                start = int(m.group(1)) if m else -1
            if have and start != have:  # range ignored or misunderstood: from the beginning
                have, hashers = 0, {}
            if not hashers:
                hashers = {a: hashlib.new(a) for a in want}
            length_hdr = resp.headers.get("Content-Length")
            length = int(length_hdr) if length_hdr and length_hdr.isdigit() else None
            if f.size is not None and length is not None and have + length != f.size:
                raise _TryNext(
                    f"the server offers {have + length:,} bytes, the registry expects "
                    f"{f.size:,} (not the published file)"
                )
            progress.start(label, f.size or (have + length if length is not None else None), have)
            got = 0
            failure: BaseException | None = None
            # read1: whatever has arrived (up to CHUNK), so bytes received before a stall are
            # written out rather than lost in a buffer waiting for a full chunk.
            read = getattr(resp, "read1", None) or resp.read
            with part.open("ab" if have else "wb") as out:
                try:
                    while chunk := read(CHUNK):
                        out.write(chunk)
                        for h in hashers.values():
                            h.update(chunk)
                        got += len(chunk)
                        progress.advance(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    failure = exc
                out.flush()
                os.fsync(out.fileno())
            progress.finish()
            downloaded += got
        held = have + got
        short = (length is not None and got < length) or (
            length is None and f.size is not None and held < f.size
        )
        if failure is None and not short:
            break
        # Dropped or stalled mid-file: resume from what we have, while each try makes progress.
        tries += 1
        if got == 0 or tries > RESUME_TRIES:
            why = _reason(failure, timeout) if failure else "the connection closed early"
            raise _TryNext(f"{why} after {held:,} bytes" + _kept(part))
    size = part.stat().st_size
    if f.size is not None and size != f.size:
        part.unlink()
        raise _TryNext(f"got {size:,} bytes, expected {f.size:,}; the download was deleted")
    got_digests = {a: h.hexdigest() for a, h in hashers.items()}
    bad = digest_mismatch(got_digests, want)
    if bad:
        part.unlink()
        raise _TryNext(
            f"checksum mismatch ({bad}; published by {f.source}): the download was deleted, "
            "nothing was kept"
        )
    os.replace(part, final)
    with contextlib.suppress(OSError):  # make the rename itself durable where we can
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return FileReport(
        f.name,
        final,
        "resumed" if resumed else "downloaded",
        downloaded,
        time.perf_counter() - t0,
        url,
    )


def _kept(part: Path) -> str:
    if part.exists() and part.stat().st_size:
        return f"; {part.stat().st_size:,} bytes kept in {part}: run the fetch again to resume"
    return ""


@contextlib.contextmanager
def _fetch_lock(final: Path) -> Iterator[None]:
    """One fetch of a file at a time on this host: a second waits for the first, then finds
    the file in place (two writers appending to one ``.part`` would only produce a download
    that fails its checksum). The lock files live with the device locks, not in the data
    folder; the kernel releases a lock when its holder dies. (No-op without ``fcntl``.)"""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = Path(os.environ.get("ACCELBENCH_LOCK_DIR") or tempfile.gettempdir())
    folder = folder / "accelbench-locks"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(final.resolve()).encode()).hexdigest()[:16]
    with (folder / f"fetch-{key}.lock").open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fetch_file(
    f: RemoteFile,
    dest_dir: Path,
    urls: list[str],
    *,
    timeout: float | None = None,
    progress: ProgressSink | None = None,
    label: str | None = None,
) -> FileReport:
    """Make ``dest_dir/f.name`` the verified published file, downloading what is missing."""
    sink = progress or NullProgress()
    timeout = timeout if timeout is not None else timeout_from_env()
    label = label or f.name
    final = dest_dir / f.name
    if not expected_digests(f):
        raise FetchError(f"{f.name}: no published checksum, so a download could not be verified")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"{dest_dir}: cannot create the download folder ({exc})") from None
    with _fetch_lock(final):
        return _fetch_locked(f, final, urls, timeout, sink, label)


def _fetch_locked(
    f: RemoteFile, final: Path, urls: list[str], timeout: float, sink: ProgressSink, label: str
) -> FileReport:
    dest_dir = final.parent
    if final.exists():
        check = check_remote_file(f, final, sink, f"checking {f.name}")
        if check.ok:
            return FileReport(f.name, final, "present")
        # A corrupt file under the final name is replaced only by a verified download.
    if not urls:
        raise FetchError(f"{f.name}: no URL to download it from")
    part = dest_dir / (f.name + ".part")
    errors = []
    for url in urls:
        try:
            return _download(url, f, part, final, timeout, sink, label)
        except _TryNext as exc:
            errors.append(f"{url}: {exc}")
        except PermissionError as exc:
            raise FetchError(f"{dest_dir}: not writable ({exc})") from None
    raise FetchError(f"{f.name}: could not download and verify it: " + "; ".join(errors))


def fetch_dataset(
    ds: Dataset,
    data_dir: Path,
    *,
    timeout: float | None = None,
    mirror: str | None = None,
    progress: ProgressSink | None = None,
) -> FetchReport:
    """Every published file of ``ds`` into ``data_dir/ds.folder``, verified.

    Login-only sets raise :class:`FetchError` saying where to get them; bundled ones need
    nothing.
    """
    if ds.access == "manual":
        raise FetchError(
            f"{ds.name}: cannot be downloaded without a login: "
            + ds.how_to_get.replace("DIR", str(data_dir))
        )
    dest = data_dir / ds.folder if ds.folder else data_dir
    report = FetchReport(ds.name, dest)
    for f in ds.files:
        report.files.append(
            fetch_file(
                f,
                dest,
                urls_for(ds, f, mirror),
                timeout=timeout,
                progress=progress,
                label=f"{ds.name} {f.name}",
            )
        )
    return report


def ensure_dataset(
    name: str,
    data_dir: Path | None,
    *,
    offline: bool | None = None,
    progress: ProgressSink | None = None,
) -> dict[str, Any]:
    """Make sure registry dataset ``name`` is on disk, downloading it on first use.

    Returns what happened, for the result's provenance: ``{"fetched": False}`` when it was
    already there (or ships inside a package), else the download's size, time and place.
    Raises :class:`DataNotFound` naming the dataset, the command that fetches it and every
    path looked at when it is missing and cannot be downloaded here: a login-only set, an
    offline run (``offline``, default ``$ACCELBENCH_OFFLINE``), or no network.
    """
    ds = get(name)
    if ds.access == "bundled":
        return {"fetched": False, "bundled": True}
    given = resolve_data_dir(data_dir)
    if given is not None and given.name in ds.candidates and given.exists():
        return {"fetched": False}
    dirs = search_dirs(data_dir)
    if any((d / c).exists() for d in dirs for c in ds.candidates):
        return {"fetched": False}
    # Compact (each folder once), since a stored result keeps only the first 500 characters.
    where = f"looked for {', '.join(ds.candidates)} in {' and '.join(str(d) for d in dirs)}"
    if ds.access == "manual":
        raise DataNotFound(f"{ds.title} not found: {fetch_hint(name)}; {where}")
    if offline if offline is not None else offline_from_env():
        raise DataNotFound(
            f"{ds.title} not found and this run is offline (--offline or {ENV_OFFLINE}=1): "
            f"fetch it with `accelbench data fetch {name}` where the network allows, or pass "
            f"--data-dir DIR to the folder that holds it; {where}"
        )
    target = fetch_dir(data_dir)
    size = ds.download_size
    print(
        f"  {ds.title} not found ({where}): downloading "
        f"{f'{size / 1e6:,.1f} MB' if size else 'it'} into {target} (--offline forbids this)",
        file=sys.stderr,
        flush=True,
    )
    t0 = time.perf_counter()
    try:
        report = fetch_dataset(ds, target, progress=progress or LineProgress(sys.stderr))
    except FetchError as exc:
        raise DataNotFound(
            f"{ds.title} not found and the download failed: fetch it with `accelbench data "
            f"fetch {name}` when the network allows, or pass --data-dir DIR to the folder that "
            f"holds it; {where}; the download: {exc}"
        ) from None
    return {
        "fetched": True,
        "fetch_s": round(time.perf_counter() - t0, 3),
        "fetched_bytes": report.bytes_downloaded,
        "fetched_into": str(report.path),
    }


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "ENV_MIRROR",
    "ENV_TIMEOUT",
    "FetchError",
    "FetchReport",
    "FileReport",
    "ensure_dataset",
    "fetch_dataset",
    "fetch_file",
    "timeout_from_env",
    "urls_for",
]
