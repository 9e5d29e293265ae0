"""The one writer of every output file: atomic for regular files, direct for devices and
pipes, standard output for '-', and never over a database."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from accelbench import fileio
from accelbench.errors import UserError


def test_regular_file_is_replaced_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old report")
    os.chmod(out, 0o640)
    assert fileio.write_text(out, "new report", option="-o") == len("new report")
    assert out.read_text() == "new report"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temp file left


def test_a_new_file_gets_the_umask_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fileio.write_text(tmp_path / "new.md", "x", option="-o")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.md").stat().st_mode) == 0o640


def test_a_failure_while_writing_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    out.write_text("the previous export, complete\n")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), fileio.open_output(out, option="export") as f:
        f.write(b"half of the new ")
        raise Boom
    assert out.read_text() == "the previous export, complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "latest.html"
    link.symlink_to(target)
    fileio.write_text(link, "new", option="-o")
    assert link.is_symlink() and target.read_text() == "new"


def test_dev_null_stays_a_device(tmp_path: Path) -> None:
    before = os.stat("/dev/null")
    fileio.write_text("/dev/null", "discarded", option="-o")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_dev_full_is_one_clear_error_and_stays_a_device() -> None:
    with pytest.raises(UserError, match=r"-o /dev/full: cannot write there \(No space left"):
        fileio.write_text("/dev/full", "x" * 100_000, option="-o")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_fifo_is_written_directly(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    fileio.write_text(fifo, "through the pipe", option="-o")
    reader.join(timeout=10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dash_and_dev_stdout_are_standard_output(capfd) -> None:
    fileio.write_text("-", "to stdout\n", option="-o")
    fileio.write_text("/dev/stdout", "again\n", option="-o")
    assert capfd.readouterr().out == "to stdout\nagain\n"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_redirected_stdout_file_is_not_renamed_over(tmp_path: Path) -> None:
    """`accelbench report -o /dev/stdout > out.html`: the shell's file gets the report."""
    out = tmp_path / "out.html"
    script = "from accelbench import fileio; fileio.write_text('/dev/stdout', 'R', option='-o')"
    with out.open("w") as f:
        subprocess.run([sys.executable, "-c", script], stdout=f, check=True, timeout=60)
    assert out.read_text() == "R"


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_the_database_and_its_journal_files_are_refused(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / "a.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    dest = Path(f"{db}{suffix}")
    before = db.read_bytes()
    with pytest.raises(UserError, match="refusing to overwrite"):
        fileio.write_text(dest, "<html>", option="-o", protect=[db])
    assert db.read_bytes() == before


def test_a_hard_link_to_the_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    db.write_bytes(b"not yet sqlite")  # the inode, not the header, is what matches
    alias = tmp_path / "report.html"
    os.link(db, alias)
    with pytest.raises(UserError, match="is the result database"):
        fileio.write_text(alias, "x", option="-o", protect=[db])
    assert db.read_bytes() == b"not yet sqlite"


def test_any_sqlite_file_is_refused_even_unprotected(tmp_path: Path) -> None:
    other = tmp_path / "someone-elses.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(UserError, match="is an SQLite database"):
        fileio.write_text(other, "x", option="-o")


def test_directories_and_missing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a directory"):
        fileio.write_text(tmp_path, "x", option="-o")
    with pytest.raises(UserError, match="does not exist"):
        fileio.write_text(tmp_path / "no" / "such" / "r.html", "x", option="-o")
    fileio.write_text(tmp_path / "made" / "r.html", "x", option="-o", make_parents=True)
    assert (tmp_path / "made" / "r.html").read_text() == "x"


def test_a_socket_is_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(UserError, match="is a socket"):
            fileio.write_text(path, "x", option="-o")
