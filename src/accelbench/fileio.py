"""Every file accelbench writes (report, figures, export, comparison) goes through here.

Why one helper: ``open(path, "w")`` truncates the previous report before the new one exists,
so a full disk or a kill leaves a fragment that looks like a report; a naive temp file and
rename replaces ``/dev/null`` or ``/dev/stdout`` with a regular file when run as root; and an
``-o`` that names the result database overwrites the results. The rules:

- ``-`` is standard output (and ``/dev/stdout``, ``/dev/stderr`` are this process's streams).
- A regular file, or a new name, is written to a temporary file in the same folder, flushed
  to disk, and renamed over the destination only when complete: a reader sees the old file or
  the new one, never a fragment. A symbolic link is followed, so the file it points to is
  replaced and the link stays a link. The file keeps the mode the old one had.
- A character device or a FIFO (``/dev/null``, ``/dev/full``, a named pipe) is written
  directly: it cannot be renamed over, and replacing it with a file would break the system.
- Anything else (a directory, a block device, a socket) is refused, and so is a destination
  that is an SQLite database (or its ``-wal``/``-shm``/``-journal`` file), or that resolves to
  one of the databases the command reads, by path or by inode (a hard link).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from accelbench.errors import UserError

STDOUT = "-"
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file
DB_SIDECARS = ("", "-wal", "-shm", "-journal")
_STREAM_ALIASES = {"/dev/stdout": 1, "/dev/stderr": 2, "/proc/self/fd/1": 1, "/proc/self/fd/2": 2}


def is_stream(dest: Path | str) -> bool:
    """Whether ``dest`` is this process's standard output or error (``-``, ``/dev/stdout``):
    a command that writes there must print its own messages elsewhere."""
    return str(dest) == STDOUT or str(dest) in _STREAM_ALIASES


def is_special(dest: Path | str) -> bool:
    """Whether ``dest`` is an existing character device or FIFO (written directly)."""
    try:
        mode = os.stat(dest).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_destination(
    dest: Path, option: str, protect: Iterable[Path] = (), make_parents: bool = False
) -> str:
    """How ``dest`` will be written: 'stream', 'special' (written directly) or 'regular'
    (temp file and rename). Raises :class:`UserError` naming ``option`` when it must not be
    written at all (``make_parents``: a missing folder will be created, not refused)."""
    if is_stream(dest):
        return "stream"
    try:
        st: os.stat_result | None = os.stat(dest)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise UserError(f"{option} {dest}: cannot write there ({exc.strerror or exc})") from None
    target = dest.resolve()
    for db in protect:
        for suffix in DB_SIDECARS:
            other = Path(f"{db}{suffix}")
            same = other.resolve() == target
            if not same and st is not None:
                with contextlib.suppress(OSError):
                    same = _same_file(os.stat(other), st)
            if same:
                raise UserError(
                    f"{option} {dest}: is the result database {db}"
                    + (f" (its {suffix[1:]} file)" if suffix else "")
                    + "; refusing to overwrite it, choose another file"
                )
    if st is None:
        if not make_parents and not target.parent.is_dir():
            raise UserError(f"{option} {dest}: folder {target.parent} does not exist")
        return "regular"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return "special"
    if not stat.S_ISREG(st.st_mode):
        raise UserError(
            f"{option} {dest}: is {_kind(st.st_mode)}; expected a file name, a character "
            "device such as /dev/null, a named pipe, or - for standard output"
        )
    if target.name.endswith(("-wal", "-shm", "-journal")) or _is_sqlite(target):
        raise UserError(
            f"{option} {dest}: is an SQLite database (or part of one); refusing to overwrite "
            "it, choose another file"
        )
    return "regular"


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def _new_file_mode() -> int:
    umask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _stream(dest: Path | str) -> Iterator[IO[bytes]]:
    fd = _STREAM_ALIASES.get(str(dest), 1)
    target = sys.stdout if fd == 1 else sys.stderr
    target.flush()
    buf = getattr(target, "buffer", None)
    if buf is not None:
        yield buf
        buf.flush()
        return
    # A text-only stream (a test harness capturing output): collect bytes, write them as text.
    collected = io.BytesIO()
    yield collected
    target.write(collected.getvalue().decode("utf-8", errors="replace"))
    target.flush()


@contextlib.contextmanager
def _regular(target: Path) -> Iterator[IO[bytes]]:
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def open_output(
    dest: Path | str,
    *,
    option: str,
    protect: Iterable[Path] = (),
    make_parents: bool = False,
) -> Iterator[IO[bytes]]:
    """A binary file object for ``dest``, written by the rules above; nothing is visible at a
    regular destination until the block ends without an exception. OS errors become one
    :class:`UserError` line naming ``option`` and ``dest``."""
    path = Path(dest)
    try:
        if make_parents and not is_stream(path):
            path.resolve().parent.mkdir(parents=True, exist_ok=True)
        how = check_destination(path, option, protect)
        if how == "stream":
            with _stream(dest) as f:
                yield f
        elif how == "special":
            with path.open("wb") as f:
                yield f
        else:
            with _regular(path.resolve()) as f:
                yield f
    except OSError as exc:
        raise UserError(f"{option} {dest}: cannot write there ({exc.strerror or exc})") from None


def write_bytes(
    dest: Path | str,
    data: bytes,
    *,
    option: str,
    protect: Iterable[Path] = (),
    make_parents: bool = False,
) -> int:
    """Write ``data`` to ``dest`` by the rules above; returns the number of bytes."""
    with open_output(dest, option=option, protect=protect, make_parents=make_parents) as f:
        f.write(data)
    return len(data)


def write_text(
    dest: Path | str,
    text: str,
    *,
    option: str,
    protect: Iterable[Path] = (),
    make_parents: bool = False,
) -> int:
    """Write ``text`` as UTF-8 (whatever the locale) to ``dest``; returns the bytes written."""
    return write_bytes(
        dest, text.encode("utf-8"), option=option, protect=protect, make_parents=make_parents
    )


@contextlib.contextmanager
def text_writer(binary: IO[bytes], newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text view of ``binary`` that leaves it open (for csv and line writers)."""
    wrapper = io.TextIOWrapper(binary, encoding="utf-8", newline=newline)  # type: ignore[arg-type]
    try:
        yield wrapper
        wrapper.flush()
    finally:
        with contextlib.suppress(ValueError):
            wrapper.detach()


def write_with(
    dest: Path | str,
    writer: Callable[[IO[bytes]], None],
    *,
    option: str,
    protect: Iterable[Path] = (),
) -> None:
    """Call ``writer`` with the file object of ``dest`` (for writers that stream, such as
    Parquet)."""
    with open_output(dest, option=option, protect=protect) as f:
        writer(f)
