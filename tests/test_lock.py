"""The host-wide device lock: one folder for every environment and user of the host, usable by
a second user, and one clear line when it cannot be used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from helpers import REPO, suite_data, write_suite

from accelbench import locking as lock_mod
from accelbench.cli import main
from accelbench.errors import DeviceError
from accelbench.locking import device_lock, lock_folder

HOLD = """
import sys, time
from accelbench.locking import device_lock
with device_lock(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""
TAKE = """
import sys
from accelbench.locking import device_lock
from accelbench.errors import DeviceError
try:
    with device_lock(sys.argv[1]):
        print("got it")
except DeviceError as exc:
    print("refused:", exc)
"""


def _env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def _hold(spec: str, seconds: float, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, spec, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
    return proc


def test_the_lock_folder_does_not_follow_tmpdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    monkeypatch.delenv(lock_mod.ENV_LOCK_DIR)
    monkeypatch.setattr(lock_mod, "SHARED_LOCK_DIRS", (shared,))
    seen = set()
    for tmp in ("t1", "t2"):
        (tmp_path / tmp).mkdir()
        monkeypatch.setenv("TMPDIR", str(tmp_path / tmp))
        monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() caches its answer
        seen.add(lock_folder())
    assert seen == {shared}
    assert shared.stat().st_mode & 0o7777 == lock_mod.FOLDER_MODE  # others may add locks


def test_two_sweeps_with_different_tmpdirs_exclude_each_other(tmp_path: Path) -> None:
    """The real host folders (/run/lock, /var/tmp), as two shells would use them."""
    spec = f"test-{uuid.uuid4().hex[:8]}"
    env1 = _env(ACCELBENCH_LOCK_DIR=None, TMPDIR=str(tmp_path))
    (tmp_path / "other").mkdir()
    env2 = _env(ACCELBENCH_LOCK_DIR=None, TMPDIR=str(tmp_path / "other"))
    holder = _hold(spec, 30, env1)
    try:
        second = subprocess.run(
            [sys.executable, "-c", TAKE, spec], capture_output=True, text=True, env=env2, cwd=REPO
        )
        assert second.stdout.startswith("refused:") and f"pid {holder.pid}" in second.stdout
    finally:
        holder.kill()
        holder.wait()
    folder = next(p for p in lock_mod.SHARED_LOCK_DIRS if (p / f"{spec}.lock").exists())
    (folder / f"{spec}.lock").unlink()


def test_the_kernel_releases_the_lock_of_a_killed_holder(tmp_path: Path) -> None:
    spec = f"test-{uuid.uuid4().hex[:8]}"
    holder = _hold(spec, 30, dict(os.environ))
    holder.kill()
    holder.wait()
    with device_lock(spec):
        pass


def _nobody_can_run_python() -> bool:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    probe = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", "1"],
        capture_output=True,
    )
    return probe.returncode == 0


@pytest.mark.skipif(not _nobody_can_run_python(), reason="needs root and setpriv to act as nobody")
def test_a_second_user_waits_its_turn_then_takes_the_lock() -> None:
    """Root's lock file is usable by 'nobody': refused as busy while held (not a
    PermissionError), taken once free; and nobody can create a lock of its own there."""
    base = Path(tempfile.mkdtemp(prefix="accelbench-lock-test-", dir="/tmp"))
    try:
        os.chmod(base, 0o755)
        env = _env(ACCELBENCH_LOCK_DIR=str(base))
        spec = "fake:7"
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run(
            [*as_nobody, sys.executable, "-c", "import accelbench"],
            capture_output=True,
            env=env,
            cwd=REPO,
        )
        if probe.returncode != 0:  # e.g. a checkout under a private (0700) folder
            pytest.skip("'nobody' cannot run this checkout's Python: no second user to test")
        holder = _hold(spec, 30, env)
        try:
            busy = subprocess.run(
                [*as_nobody, sys.executable, "-c", TAKE, spec],
                capture_output=True,
                text=True,
                env=env,
                cwd=REPO,
            )
            assert busy.stdout.startswith("refused:") and "busy" in busy.stdout, busy.stderr
        finally:
            holder.kill()
            holder.wait()
        for s in (spec, "fake:8"):
            took = subprocess.run(
                [*as_nobody, sys.executable, "-c", TAKE, s],
                capture_output=True,
                text=True,
                env=env,
                cwd=REPO,
            )
            assert took.stdout.strip() == "got it", took.stdout + took.stderr
    finally:
        shutil.rmtree(base)


def test_an_unusable_lock_folder_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    suite = write_suite(tmp_path / "s.yaml", suite_data([8]))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(lock_mod.ENV_LOCK_DIR, str(blocker))
    db = tmp_path / "x.db"
    code = main(["run", str(suite), "--device", "fake", "--db", str(db)])
    err = capsys.readouterr().err
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: device lock folder"), err
    assert str(blocker) in lines[0] and "Traceback" not in err


def test_a_lock_file_that_cannot_be_opened_is_one_clear_line(tmp_path: Path) -> None:
    folder = tmp_path / "accelbench-locks"
    folder.mkdir()
    (folder / "fake_0.lock").mkdir()  # a folder where the lock file should be
    old = os.environ[lock_mod.ENV_LOCK_DIR]
    os.environ[lock_mod.ENV_LOCK_DIR] = str(tmp_path)
    try:
        with (
            pytest.raises(DeviceError, match=r"device lock .*fake_0.lock: cannot open it"),
            device_lock("fake:0"),
        ):
            pass
    finally:
        os.environ[lock_mod.ENV_LOCK_DIR] = old


def test_fallback_to_the_temporary_folder_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.delenv(lock_mod.ENV_LOCK_DIR)
    monkeypatch.setattr(lock_mod, "SHARED_LOCK_DIRS", (blocker / "a", blocker / "b"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert lock_folder() == tmp_path / "accelbench-locks"
    err = capsys.readouterr().err
    assert err.startswith("warning: device lock in") and err.count("\n") == 1
    assert "ACCELBENCH_LOCK_DIR" in err
