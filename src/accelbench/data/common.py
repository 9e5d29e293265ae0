"""What every dataset loader shares: finding the data (and fetching it on first use), reading a
directory or a .tar.gz the same way, and caching the decoded tensors.

Datasets are read in their standard published layouts, either unpacked or as the archive they
ship in, so a user points ``--data-dir`` at what they downloaded. Where a set is looked for:
the data directory (``--data-dir``, else ``$ACCELBENCH_DATA_DIR``), then the folder that
``accelbench data fetch`` fills when no data directory is given (``datasets/`` under the cache
directory). A set that is in neither is downloaded on first use when the registry has a URL for
it and the run is not offline (``--offline``, ``ACCELBENCH_OFFLINE=1``), before any clock starts
(:func:`accelbench.data.fetch.ensure_dataset`).

Decoding (60,000 JPEGs, 50,000 reviews) is slow on a small host, so the decoded tensors are
cached in one file keyed by the source's size and modification time: a changed source is
decoded again, never served stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from accelbench.data.registry import DATASETS
from accelbench.errors import UserError

ENV_DATA_DIR = "ACCELBENCH_DATA_DIR"
ENV_CACHE_DIR = "ACCELBENCH_CACHE_DIR"
ENV_OFFLINE = "ACCELBENCH_OFFLINE"


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


def default_data_dir() -> Path:
    """Where ``accelbench data fetch`` puts datasets when no data directory is given:
    ``datasets/`` under the cache directory (``$ACCELBENCH_CACHE_DIR``, else
    ``~/.cache/accelbench``)."""
    return resolve_cache_dir() / "datasets"


def search_dirs(data_dir: Path | None) -> list[Path]:
    """The folders a dataset is looked for in, in order: the data directory when one is given
    (or ``$ACCELBENCH_DATA_DIR``), then :func:`default_data_dir`."""
    dirs = [d for d in (resolve_data_dir(data_dir), default_data_dir()) if d is not None]
    return list(dict.fromkeys(dirs))


def offline_from_env() -> bool:
    """``ACCELBENCH_OFFLINE`` set to 1/true/yes: never download."""
    return os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


def fetch_dir(data_dir: Path | None) -> Path:
    """Where a download goes: the data directory when one is given and writable, else
    :func:`default_data_dir`. A folder with no write permission bits counts as read-only even
    for root (who could write anyway): a shared, read-only data folder is left alone."""
    given = resolve_data_dir(data_dir)
    if given is not None:
        probe = given
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if os.access(probe, os.W_OK) and probe.stat().st_mode & 0o222:
            return given
    return default_data_dir()


def fetch_hint(name: str | None) -> str:
    """How to get dataset ``name`` when it is missing: the fetch command, or for a login-only
    set where to get it."""
    if name is None:
        return f"pass --data-dir DIR (or set {ENV_DATA_DIR}) to the folder that holds it"
    ds = DATASETS.get(name)
    if ds is not None and ds.access == "manual":
        return f"it needs a login: {ds.how_to_get}; or pass --data-dir DIR to where it is"
    return (
        f"fetch it with `accelbench data fetch {name}` (or pass --data-dir DIR, or set "
        f"{ENV_DATA_DIR}, to the folder that holds it)"
    )


def find_source(
    data_dir: Path | None, candidates: list[str], dataset: str, *, name: str | None = None
) -> Path:
    """The first of ``candidates`` that exists in :func:`search_dirs` (or the data directory
    itself when it is one of them); else :class:`DataNotFound` naming every path looked at and
    how to get the set (``name``: its registry name, for the fetch command)."""
    given = resolve_data_dir(data_dir)
    if given is not None and given.name in candidates and given.exists():
        return given
    looked = [d / c for d in search_dirs(data_dir) for c in candidates]
    for p in looked:
        if p.exists():
            return p
    none_given = "no data directory given, and " if given is None else ""
    raise DataNotFound(
        f"{dataset} not found: {none_given}looked for {', '.join(str(p) for p in looked)}; "
        + fetch_hint(name)
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
    import torch  # here, not at the top: finding and fetching data must not need torch

    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"{name}-{digest}.pt"
    if path.exists():
        try:
            return torch.load(path, weights_only=True), True
        except Exception:  # corrupt or from an incompatible torch: decode again
            pass
    data = build()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(data, tmp)
        tmp.replace(path)
    except OSError:  # a read-only cache is slower, not wrong
        pass
    return data, False
