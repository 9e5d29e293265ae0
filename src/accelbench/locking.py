"""The host-wide lock that keeps two sweeps off one device at the same time.

Two sweeps on one device distort each other's timings while both store 'ok' numbers, so the
second one is refused, naming the first one's pid. The lock must be where every user and
every environment of the host looks: a folder under ``$TMPDIR`` is not (two shells with
different ``TMPDIR`` both got the lock and measured at a third of the real speed). The folder
is the first usable of:

1. ``$ACCELBENCH_LOCK_DIR`` (tests keep their fake sweeps out of the host's real folder);
2. ``/run/lock/accelbench`` (the FHS place for lock files, a tmpfs cleared at boot);
3. ``/var/tmp/accelbench-locks`` (shared by every user, kept across reboots);
4. the temporary folder, with a warning that other environments may not see it.

The folder is made world-writable with the sticky bit (like ``/tmp``) and each lock file
readable and writable by all, so a second user's sweep waits its turn instead of failing;
``flock`` works on a read-only descriptor too, so a lock file another user created with a
narrower mode still locks. The kernel drops the lock when its holder dies, so a killed sweep
never leaves a stale lock. (No-op where ``fcntl`` is missing, i.e. Windows.)
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from accelbench.errors import DeviceError

ENV_LOCK_DIR = "ACCELBENCH_LOCK_DIR"
SHARED_LOCK_DIRS: tuple[Path, ...] = (
    Path("/run/lock/accelbench"),
    Path("/var/tmp/accelbench-locks"),
)
FOLDER_MODE = 0o1777  # everyone may create lock files; only their owner may remove them
FILE_MODE = 0o666


def _usable(folder: Path) -> bool:
    """Create ``folder`` (shared mode) if needed; whether lock files can be made in it."""
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # another user's folder: leave its mode alone
                os.chmod(folder, FOLDER_MODE)
        return os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        return False


def lock_folder(warn: bool = True) -> Path:
    """The folder that holds this host's device locks (see the module docstring)."""
    given = os.environ.get(ENV_LOCK_DIR)
    if given:
        folder = Path(given) / "accelbench-locks"
        if not _usable(folder):
            raise DeviceError(
                f"device lock folder {folder} (from {ENV_LOCK_DIR}): cannot create lock files "
                "there; point it at a folder every sweep on this host can write"
            )
        return folder
    for folder in SHARED_LOCK_DIRS:
        if _usable(folder):
            return folder
    folder = Path(tempfile.gettempdir()) / "accelbench-locks"
    if not _usable(folder):
        raise DeviceError(
            f"device lock: no usable lock folder ({', '.join(map(str, SHARED_LOCK_DIRS))} and "
            f"{folder} cannot be written); set {ENV_LOCK_DIR} to a folder every sweep on "
            "this host can write"
        )
    if warn:
        sys.stderr.write(
            f"warning: device lock in {folder}: {' and '.join(map(str, SHARED_LOCK_DIRS))} "
            "cannot be written, so a sweep run with another TMPDIR or by another user may not "
            f"see this one; set {ENV_LOCK_DIR} to a shared folder\n"
        )
    return folder


def _open_lock_file(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except PermissionError:
        # Created by another user with a narrower mode: a read-only descriptor still locks.
        try:
            return os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DeviceError(
                f"device lock {path}: cannot open it ({exc.strerror or exc}); ask its owner "
                f"to make it readable, or set {ENV_LOCK_DIR}"
            ) from None
    except OSError as exc:
        raise DeviceError(f"device lock {path}: cannot open it ({exc.strerror or exc})") from None
    with contextlib.suppress(OSError):  # umask narrowed it; only the owner can widen it
        if stat.S_IMODE(os.fstat(fd).st_mode) != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    return fd


@contextlib.contextmanager
def device_lock(spec: str) -> Iterator[None]:
    """Hold this host's lock on device ``spec`` for the length of a sweep; a second sweep
    on the same device is refused with a :class:`DeviceError` naming the holder's pid."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = lock_folder() / f"{spec.replace(':', '_').replace(os.sep, '_')}.lock"
    fd = _open_lock_file(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise DeviceError(
                f"--device {spec}: busy, another accelbench run (pid {owner}) is measuring on "
                "it; two sweeps on one device distort each other's timings, so wait for it"
            ) from None
        except OSError as exc:
            raise DeviceError(
                f"device lock {path}: cannot lock it ({exc.strerror or exc})"
            ) from None
        with contextlib.suppress(OSError):  # read-only descriptor: the lock holds anyway
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


__all__ = ["device_lock", "lock_folder"]
