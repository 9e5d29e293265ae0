"""What every dataset loader shares: finding the data, reading a directory or a .tar.gz the
same way, and caching the decoded tensors.

Datasets are read in their standard published layouts, either unpacked or as the archive they
ship in, so a user points ``--data-dir`` at what they downloaded. Decoding (60,000 JPEGs, 50,000
reviews) is slow on a small host, so the decoded tensors are cached in one file keyed by the
source's size and modification time: a changed source is decoded again, never served stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from accelbench.errors import UserError

ENV_DATA_DIR = "ACCELBENCH_DATA_DIR"
ENV_CACHE_DIR = "ACCELBENCH_CACHE_DIR"


class DataError(UserError):
    """A dataset file that is missing, unreadable or not in the expected format; names it."""


class DataNotFound(DataError):
    """No dataset where we looked; the message names the paths and says how to point at it."""


def resolve_data_dir(given: str | Path | None) -> Path | None:
    """The data directory: the one given (``--data-dir``), else ``$ACCELBENCH_DATA_DIR``."""
    if given:
        return Path(given).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else None


def resolve_cache_dir(given: str | Path | None = None) -> Path:
    """Where decoded datasets are cached: given, else ``$ACCELBENCH_CACHE_DIR``, else
    ``~/.cache/accelbench``."""
    if given:
        return Path(given).expanduser()
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "accelbench"


def find_source(data_dir: Path | None, candidates: list[str], dataset: str) -> Path:
    """The first of ``candidates`` (names under ``data_dir``, or ``data_dir`` itself when it
    is one of them) that exists; else :class:`DataNotFound` naming every path looked at."""
    if data_dir is None:
        raise DataNotFound(
            f"{dataset}: no data directory given; pass --data-dir DIR (or set "
            f"{ENV_DATA_DIR}) to a folder holding one of: {', '.join(candidates)}"
        )
    if data_dir.name in candidates and data_dir.exists():
        return data_dir
    looked = [data_dir / c for c in candidates]
    for p in looked:
        if p.exists():
            return p
    raise DataNotFound(
        f"{dataset} not found: looked for {', '.join(str(p) for p in looked)}; pass "
        f"--data-dir DIR (or set {ENV_DATA_DIR}) to the folder that holds it"
    )


def source_fingerprint(path: Path) -> str:
    """Size and modification time of a file, or of every file under a directory: cheap, and
    changes whenever the source is replaced or edited."""
    if path.is_file():
        st = path.stat()
        parts: list[Any] = [str(path.resolve()), st.st_size, st.st_mtime_ns]
    else:
        parts = [str(path.resolve())]
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                parts.append((str(p.relative_to(path)), st.st_size, st.st_mtime_ns))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


class FileTree:
    """Read-only view of a dataset as relative paths -> bytes, over a directory or a .tar.gz,
    so each loader is written once for both forms."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar: tarfile.TarFile | None = None
        if path.is_file():
            try:
                self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by close())
                self._members = {
                    m.name.removeprefix("./"): m for m in self._tar.getmembers() if m.isfile()
                }
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise DataError(f"{path}: not a readable tar archive ({exc})") from None

    def names(self) -> list[str]:
        if self._tar is not None:
            return sorted(self._members)
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*") if p.is_file())

    def where(self, name: str) -> str:
        return f"{self.path}:{name}" if self._tar is not None else str(self.path / name)

    def read(self, name: str) -> bytes:
        try:
            if self._tar is not None:
                f = self._tar.extractfile(self._members[name])
                assert f is not None
                return f.read()
            return (self.path / name).read_bytes()
        except (KeyError, OSError, tarfile.TarError, EOFError) as exc:
            raise DataError(f"{self.where(name)}: cannot read ({exc})") from None

    def iter_read(self, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
        """Read the ``wanted`` files in archive order (one pass over a compressed stream)."""
        if self._tar is None:
            for name in sorted(wanted):
                yield name, self.read(name)
            return
        try:
            for m in self._tar:
                name = m.name.removeprefix("./")
                if m.isfile() and name in wanted:
                    f = self._tar.extractfile(m)
                    assert f is not None
                    yield name, f.read()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise DataError(f"{self.path}: corrupt archive ({exc})") from None

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()


def cached(
    cache_dir: Path, name: str, key: dict[str, Any], build: Callable[[], dict[str, Any]]
) -> tuple[dict[str, Any], bool]:
    """``build()``'s tensors, from ``cache_dir`` when a file for this exact ``key`` exists.

    Returns (data, hit). A cache file that cannot be read is rebuilt (and overwritten), never
    trusted; the write goes through a temporary file so a killed run leaves no half file.
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"{name}-{digest}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True), True
        except Exception:  # corrupt or from an incompatible torch: decode again
            pass
    data = build()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Opened here, not by torch.save(path): an unwritable folder is then an OSError that
        # names the path, not torch's "inline_container.cc" RuntimeError.
        with tmp.open("wb") as f:
            torch.save(data, f)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # a read-only cache is slower, not wrong
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        sys.stderr.write(
            f"warning: cache {cache_dir}: cannot write {path.name} ({reason}); "
            f"{name} will be decoded again next time (set {ENV_CACHE_DIR} to a writable folder)\n"
        )
    return data, False
