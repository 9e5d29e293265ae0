"""Hostile and clumsy attempts against a source tree of accelbench, counted per group.

Not a test module (pytest does not collect it): a tool that measures how a version of
accelbench holds up, so a change to the store's safety can be compared before and after on
the same attempts. It runs the CLI of the tree given with ``--src`` in-process (and in
subprocesses where an attempt needs its own environment: a small filesystem, a memory cgroup,
another user, a signal), and prints per group: attempts tried, clean (correct behaviour, or
one ``error:`` line and a non-zero exit with the store unchanged), wrong (a traceback, an
internal error, exit 0 on bad input, a silent wrong answer, a replaced device node), and
results lost (stored results deleted, overwritten or made unreadable).

    python tests/hostile_attempts.py --src src                 # this tree
    python tests/hostile_attempts.py --src /tmp/before/src     # e.g. `git archive main`

Needs root for the attempts that use mount namespaces, memory cgroups (v1 or v2) and a
second user; those are reported as skipped elsewhere. Device nodes are made with mknod in
a temporary folder: a version that replaces a device by a file replaces that copy, never
the host's /dev.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GROUPS = {
    "loss": "data loss and unreadable stores (1-5)",
    "trust": "trust boundaries (6-10)",
    "limits": "resource limits and faults (11-15)",
    "small": "smaller ones (16)",
}
EVIL = {
    "title": "\x1b]0;PWNED\x07",
    "clear": "\x1b[2J\x1b[H",
    "markup": "[/bold][red]x",
    "bidi": "\u202egnp.exe",
}
HTML = "<script>alert(1)</script>"
MARKER = 123456.789012


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def ok(self) -> bool:
        return self.code == 0 and "internal error" not in self.err and "Traceback" not in self.err

    @property
    def refused(self) -> bool:
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        return (
            self.code not in (0, None)
            and len(lines) == 1
            and lines[0].startswith("error:")
            and "internal error" not in self.err
        )


@dataclass
class Outcome:
    group: str
    name: str
    clean: bool
    lost: bool = False
    note: str = ""
    skipped: bool = False


class Harness:
    def __init__(self, src: Path, work: Path) -> None:
        self.src = src.resolve()
        self.work = work
        self.n = 0
        sys.path.insert(0, str(self.src))
        os.environ["ACCELBENCH_LOCK_DIR"] = str(work / "locks")
        from accelbench.cli import main

        self.main = main
        self.env = {**os.environ, "PYTHONPATH": str(self.src), "COLUMNS": "200"}
        self.tiny = self.write("tiny.yaml", suite([16, 32, 48], ["float32", "float16"]))
        self.base = work / "base.db"
        r = self.cli("run", str(self.tiny), "--device", "fake", "--db", str(self.base))
        assert r.ok, r.err
        r = self.cli("results", "export", str(work / "base.jsonl"), "--db", str(self.base))
        assert r.ok, r.err
        lines = (work / "base.jsonl").read_text().splitlines()
        self.records = [json.loads(x) for x in lines]
        self.ok_record = next(r for r in self.records if r["status"] == "ok")

    # -- plumbing --------------------------------------------------------------------------------
    def write(self, name: str, data: Any) -> Path:
        path = self.work / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def fresh(self) -> tuple[Path, Path]:
        """A private folder with a copy of the base store."""
        self.n += 1
        d = self.work / f"a{self.n:03d}"
        d.mkdir()
        db = d / "r.db"
        shutil.copy(self.base, db)
        return d, db

    def cli(self, *args: str) -> Run:
        import torch  # `run --threads N` sets torch's threads for the rest of this process

        threads = torch.get_num_threads()
        out_b, err_b = io.BytesIO(), io.BytesIO()
        out = io.TextIOWrapper(out_b, encoding="utf-8", write_through=True)
        err = io.TextIOWrapper(err_b, encoding="utf-8", write_through=True)
        old = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = out, err
        try:
            code = self.main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        except BaseException as exc:  # a crash of the CLI is an outcome too
            code = 99
            err.write(f"Traceback: {type(exc).__name__}: {exc}\n")
        finally:
            sys.stdout, sys.stderr = old
            torch.set_num_threads(threads)  # so a later run's default matches the base store's
        return Run(code, out_b.getvalue().decode(errors="replace"), err_b.getvalue().decode())

    def sub(self, *cmd: str, env: dict[str, str] | None = None, timeout: float = 600) -> Run:
        try:
            p = subprocess.run(
                list(cmd), capture_output=True, text=True, env=env or self.env, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return Run(124, "", f"timed out after {timeout:g} s")
        return Run(p.returncode, p.stdout, p.stderr)

    def py(self) -> list[str]:
        return [sys.executable, "-m", "accelbench"]

    @staticmethod
    def count(db: Path) -> int | None:
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
            finally:
                con.close()
        except sqlite3.Error:
            return None

    def readers_ok(self, db: Path, d: Path) -> bool:
        """list, export, report and compare all succeed on ``db``."""
        return all(
            self.cli(*a).ok
            for a in (
                ("results", "list", "--db", str(db)),
                ("results", "export", str(d / "chk.jsonl"), "--db", str(db)),
                ("report", "--db", str(db), "-o", str(d / "chk.md"), "--format", "md"),
                ("compare", str(db), str(db), "--db", str(db)),
            )
        )


def suite(sizes: list[int], dtypes: list[str], name: str = "tiny", kind: str = "gemm") -> str:
    return json.dumps(
        {
            "name": name,
            "seed": 0,
            "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
            "workloads": [
                {"name": f"{kind}-w", "kind": kind, "params": {"sizes": sizes, "dtypes": dtypes}}
            ],
        }
    )


def case_key(case: dict[str, Any]) -> str:
    return json.dumps(case, sort_keys=True, separators=(",", ":"), default=str)


def with_ids(d: dict[str, Any]) -> dict[str, Any]:
    key = case_key(d["case"])
    ident = "|".join(
        [
            d["run_id"],
            d["suite"],
            d["workload"],
            key,
            d["device"],
            d["environment"]["host"],
            d["started_at"].replace("Z", "+00:00"),
        ]
    )
    return {**d, "case_key": key, "result_id": hashlib.sha256(ident.encode()).hexdigest()[:32]}


def copy(d: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(d))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "-"


def root() -> bool:
    return os.geteuid() == 0


def can_unshare() -> bool:
    if not root() or shutil.which("unshare") is None:
        return False
    p = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return p.returncode == 0


@contextlib.contextmanager
def memory_cgroup(limit: int) -> Iterator[Path | None]:
    """A child memory cgroup (v1 or v2) with ``limit`` bytes, or None where none can be made.
    A process moved into it is OOM-killed alone, never the host's other processes."""
    folder: Path | None = None
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctl, path = line.split(":", 2)
            if "memory" in ctl.split(","):
                folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "abhostile"
                limit_file = "memory.limit_in_bytes"
            elif ctl == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
                folder = Path("/sys/fs/cgroup") / path.lstrip("/") / "abhostile"
                limit_file = "memory.max"
        if folder is None:
            yield None
            return
        folder.mkdir(exist_ok=True)
        (folder / limit_file).write_text(str(limit))
        swap = folder / "memory.memsw.limit_in_bytes"
        with contextlib.suppress(OSError):
            if swap.exists():
                swap.write_text(str(limit))
        yield folder
    except OSError:
        yield None
    finally:
        if folder is not None:
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def pids_cgroup(limit: int) -> Iterator[Path | None]:
    """A child pids cgroup allowing ``limit`` tasks, or None. A version that lets torch start
    100,000 threads would otherwise take the host's whole pid space (pid_max is often 32768)."""
    folder: Path | None = None
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctl, path = line.split(":", 2)
            if "pids" in ctl.split(","):
                folder = Path("/sys/fs/cgroup/pids") / path.lstrip("/") / "abhostile-pids"
            elif ctl == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists() and not folder:
                folder = Path("/sys/fs/cgroup") / path.lstrip("/") / "abhostile-pids"
        if folder is None:
            yield None
            return
        folder.mkdir(exist_ok=True)
        (folder / "pids.max").write_text(str(limit))
        yield folder
    except OSError:
        yield None
    finally:
        if folder is not None:
            with contextlib.suppress(OSError):
                folder.rmdir()


# -- group 1: data loss and unreadable stores ------------------------------------------------------
LOCATIONS: dict[str, Callable[[dict, Any], None]] = {
    "metric": lambda d, v: d["metrics"]["time_median"].update(value=v),
    "sample": lambda d, v: d["samples"].__setitem__(0, v),
    "summary": lambda d, v: d["summary"].update(median=v),
    "trace": lambda d, v: d["trace"].append({"epoch": 1, "wall_s": v, "train_s": 1.0}),
    "config": lambda d, v: d["config"].setdefault("protocol", {}).update(wall_s=v),
}


def loss_attempts(h: Harness) -> Iterator[Outcome]:
    def imported_then_readable(name: str, path: Path, d: Path, db: Path) -> Outcome:
        n = h.count(db)
        r = h.cli("results", "import", str(path), "--db", str(db))
        readable = h.readers_ok(db, d)
        if not readable:
            return Outcome("loss", name, False, lost=True, note="store unreadable after import")
        return Outcome("loss", name, r.refused and h.count(db) == n, note=r.err.strip()[:120])

    for where, put in LOCATIONS.items():
        payloads = ["NaN", "Infinity", "-Infinity", "1e400"]
        if where in ("metric", "sample", "summary"):
            payloads.append('"NaN"')
        for payload in payloads:
            d, db = h.fresh()
            bad = copy(h.ok_record)
            bad["run_id"] = "elsewhere"
            put(bad, MARKER)
            text = json.dumps(with_ids(bad)).replace(repr(MARKER), payload)
            path = d / "bad.jsonl"
            path.write_text(text + "\n")
            yield imported_then_readable(f"non-finite {payload} in {where}", path, d, db)
    for fmt in ("csv", "parquet"):
        d, db = h.fresh()
        bad = copy(h.ok_record)
        bad["run_id"] = "elsewhere"
        bad["metrics"]["time_median"]["value"] = MARKER
        text = json.dumps(with_ids(bad)).replace(repr(MARKER), "NaN")
        path = d / f"bad.{fmt}"
        if fmt == "csv":
            with path.open("w", newline="") as f:
                csv.writer(f).writerows([["record"], [text]])
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({"record": [text]}), path)
        yield imported_then_readable(f"non-finite NaN in a {fmt} record", path, d, db)

    # one bad stored row, then every reader
    for damage in ("invalid JSON", "null metric"):
        readers: list[tuple[str, Callable[[Path, Path, str], list[str]]]] = [
            ("list", lambda d, db, other: ["results", "list", "--db", str(db)]),
            ("show another", lambda d, db, other: ["results", "show", other, "--db", str(db)]),
            ("export", lambda d, db, o: ["results", "export", str(d / "x.jsonl"), "--db", str(db)]),
            (
                "report",
                lambda d, db, o: [
                    "report",
                    "--db",
                    str(db),
                    "-o",
                    str(d / "r.md"),
                    "--format",
                    "md",
                ],
            ),
            ("compare", lambda d, db, o: ["compare", str(db), str(db), "--db", str(db)]),
            ("run", lambda d, db, o: ["run", str(h.tiny), "--device", "fake", "--db", str(db)]),
        ]
        for rname, args in readers:
            d, db = h.fresh()
            con = sqlite3.connect(db)
            ids = [r[0] for r in con.execute("SELECT result_id FROM results ORDER BY rowid")]
            if damage == "invalid JSON":
                con.execute(
                    "UPDATE results SET record='{\"broken\": ' WHERE result_id=?", (ids[0],)
                )
            else:
                rec = json.loads(
                    con.execute(
                        "SELECT record FROM results WHERE result_id=?", (ids[0],)
                    ).fetchone()[0]
                )
                rec["metrics"]["time_median"]["value"] = None  # what NaN became when stored
                con.execute(
                    "UPDATE results SET record=? WHERE result_id=?", (json.dumps(rec), ids[0])
                )
            con.commit()
            con.close()
            r = h.cli(*args(d, db, ids[1]))
            named = rname == "show another" or ids[0] in r.err  # the skipped row is named
            yield Outcome(
                "loss",
                f"stored row with {damage}, then {rname}",
                r.ok and named,
                lost=not r.ok,
                note=r.err.strip()[:120],
            )

    for args in (
        [""],
        [" "],
        ["\t"],
        ["--run", ""],
        ["--run", " "],
        ["--suite", " "],
    ):
        d, db = h.fresh()
        n = h.count(db)
        r = h.cli("results", "delete", *args, "--db", str(db), "--yes")
        after = h.count(db)
        yield Outcome(
            "loss", f"delete {args!r}", r.refused and after == n, lost=(after or 0) < (n or 0)
        )

    for label, make in (
        ("report -o DB", lambda d, db: ["report", "--db", str(db), "-o", str(db)]),
        ("report -o DB-wal", lambda d, db: ["report", "--db", str(db), "-o", f"{db}-wal"]),
        (
            "report md -o DB",
            lambda d, db: ["report", "--db", str(db), "-o", str(db), "--format", "md"],
        ),
        (
            "compare -o DB",
            lambda d, db: ["compare", str(db), str(db), "--db", str(db), "-o", str(db)],
        ),
        (
            "export DB --format jsonl",
            lambda d, db: ["results", "export", str(db), "--db", str(db), "--format", "jsonl"],
        ),
        (
            "export DB --format csv",
            lambda d, db: ["results", "export", str(db), "--db", str(db), "--format", "csv"],
        ),
        (
            "report -o hard link of DB",
            lambda d, db: ["report", "--db", str(db), "-o", str(d / "alias.html")],
        ),
    ):
        d, db = h.fresh()
        os.link(db, d / "alias.html")
        before, n = digest(db), h.count(db)
        r = h.cli(*make(d, db))
        lost = digest(db) != before and h.count(db) != n
        yield Outcome("loss", label, r.refused and digest(db) == before, lost=lost)

    # special files: device nodes made here, so a version that replaces them harms nothing
    for label, kind in (
        ("export to a null device", "null"),
        ("export to a full device", "full"),
        ("report -o a null device", "report-null"),
        ("compare -o a null device", "compare-null"),
        ("export to a link to /proc/self/fd/1", "stdout-link"),
        ("report -o a link to /proc/self/fd/1", "report-stdout-link"),
        ("export to a FIFO", "fifo"),
        ("export to -", "dash"),
    ):
        d, db = h.fresh()
        yield special_file(h, d, db, label, kind)

    for label, cmd in (
        ("report onto a full disk", "report"),
        ("export onto a full disk", "export"),
        ("compare -o onto a full disk", "compare"),
    ):
        d, db = h.fresh()
        yield full_disk_write(h, d, db, label, cmd)


def special_file(h: Harness, d: Path, db: Path, label: str, kind: str) -> Outcome:
    if kind in ("null", "full", "report-null", "compare-null"):
        if not root():
            return Outcome("loss", label, False, skipped=True)
        node = d / ("full" if kind == "full" else "null")
        os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 7 if kind == "full" else 3))
        args = {
            "null": ["results", "export", str(node), "--db", str(db), "--format", "jsonl"],
            "full": ["results", "export", str(node), "--db", str(db), "--format", "jsonl"],
            "report-null": ["report", "--db", str(db), "-o", str(node), "--format", "md"],
            "compare-null": ["compare", str(db), str(db), "--db", str(db), "-o", str(node)],
        }[kind]
        r = h.cli(*args)
        still = stat.S_ISCHR(os.lstat(node).st_mode)
        good = r.refused if kind == "full" else r.ok
        return Outcome("loss", label, still and good, note=r.err.strip()[:100])
    if kind in ("stdout-link", "report-stdout-link"):
        link = d / "stdout"
        link.symlink_to("/proc/self/fd/1")
        args = (
            ["results", "export", str(link), "--db", str(db), "--format", "jsonl"]
            if kind == "stdout-link"
            else ["report", "--db", str(db), "-o", str(link), "--format", "md"]
        )
        p = subprocess.run([*h.py(), *args], capture_output=True, text=True, env=h.env)
        still = link.is_symlink()
        wrote = '"result_id"' in p.stdout or "# accelbench report" in p.stdout
        return Outcome("loss", label, p.returncode == 0 and still and wrote)
    if kind == "fifo":
        fifo = d / "pipe"
        os.mkfifo(fifo)
        got: list[bytes] = []
        t = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
        t.start()
        r = h.cli("results", "export", str(fifo), "--db", str(db), "--format", "jsonl")
        if t.is_alive():  # nobody opened it for writing: release the reader
            with contextlib.suppress(OSError), open(fifo, "wb"):
                pass
        t.join(5)
        still = stat.S_ISFIFO(os.lstat(fifo).st_mode)
        return Outcome("loss", label, r.ok and still and bool(got and got[0]))
    p = subprocess.run(
        [*h.py(), "results", "export", "-", "--db", str(db), "--format", "jsonl"],
        capture_output=True,
        text=True,
        env=h.env,
        cwd=d,
    )
    return Outcome(
        "loss", label, p.returncode == 0 and '"result_id"' in p.stdout and not (d / "-").exists()
    )


def full_disk_write(h: Harness, d: Path, db: Path, label: str, cmd: str) -> Outcome:
    if not can_unshare():
        return Outcome("loss", label, False, skipped=True)
    mnt = d / "small"
    mnt.mkdir()
    target = {"report": "out.md", "export": "out.jsonl", "compare": "out.md"}[cmd]
    args = {
        "report": f"report --db {db} -o {mnt}/{target} --format md",
        "export": f"results export {mnt}/{target} --db {db}",
        "compare": f"compare {db} {db} --db {db} -o {mnt}/{target}",
    }[cmd]
    script = f"""
mount -t tmpfs -o size=8k tmpfs {mnt} || exit 99
printf 'the complete old file' > {mnt}/{target}
{sys.executable} -m accelbench {args} > /dev/null 2> {d}/err
echo "rc=$?"
cat {mnt}/{target}
"""
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=h.env
    )
    err = (d / "err").read_text() if (d / "err").exists() else ""
    r = Run(int(p.stdout.split("rc=")[1].split()[0]) if "rc=" in p.stdout else 99, "", err)
    intact = "the complete old file" in p.stdout
    return Outcome("loss", label, r.refused and intact, note=err.strip()[:100])


# -- group 2: trust boundaries ---------------------------------------------------------------------
def trust_attempts(h: Harness) -> Iterator[Outcome]:
    yield forged_peak(h)
    yield forged_resume(h)
    d, db = h.fresh()
    bad = {**copy(h.ok_record), "run_id": "someone-else"}  # old id, new content
    path = d / "bad.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    n = h.count(db)
    r = h.cli("results", "import", str(path), "--db", str(db))
    yield Outcome("trust", "id that does not match the content", r.refused and h.count(db) == n)
    d, db = h.fresh()
    bad = copy(h.ok_record)
    bad["metrics"]["achieved_gflops"]["value"] = 1e9
    path = d / "dup.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    r = h.cli("results", "import", str(path), "--db", str(db))
    yield Outcome("trust", "same id, other content", r.ok and "conflict" in (r.out + r.err))

    for field in ("suite", "workload", "message", "device_name", "host"):
        d, db = h.fresh()
        evil = copy(h.ok_record)
        evil["run_id"] = "evil-run"
        if field in ("device_name", "host"):
            evil["environment"][field] = HTML + "[x](javascript:alert(1))"
        else:
            evil[field] = HTML + "[x](javascript:alert(1))"
        path = d / "evil.jsonl"
        path.write_text(json.dumps(with_ids(evil)) + "\n")
        h.cli("results", "import", str(path), "--db", str(db))
        out = d / "r.md"
        r = h.cli("report", "--db", str(db), "-o", str(out), "--format", "md", "--run", "evil-run")
        text = out.read_text() if out.exists() else ""
        yield Outcome("trust", f"markdown report, hostile {field}", r.ok and "<script" not in text)
    d, db = h.fresh()
    evil = copy(h.ok_record)
    evil.update(run_id="evil-run", suite=HTML)
    path = d / "evil.jsonl"
    path.write_text(json.dumps(with_ids(evil)) + "\n")
    h.cli("results", "import", str(path), "--db", str(db))
    out = d / "c.md"
    r = h.cli("compare", str(db), "evil-run", "--db", str(db), "-o", str(out))
    text = out.read_text() if out.exists() else ""
    yield Outcome(
        "trust", "markdown comparison, hostile suite", r.code in (0, 1) and "<script" not in text
    )

    for ename, payload in EVIL.items():
        d, db = h.fresh()
        evil = copy(h.ok_record)
        evil.update(run_id="evil-run" + payload, workload="w" + payload, message="m" + payload)
        evil["environment"]["host"] = "h" + payload
        evil = with_ids(evil)
        path = d / "evil.jsonl"
        path.write_text(json.dumps(evil) + "\n")
        h.cli("results", "import", str(path), "--db", str(db))
        for args in (
            ("results", "list"),
            ("results", "list", "--runs"),
            ("results", "show", evil["result_id"]),
            ("compare", str(db), str(db)),
        ):
            r = h.cli(*args, "--db", str(db))
            text = r.out + r.err
            clean = r.ok and not any(c in text for c in ("\x1b", "\x07", "\u202e"))
            yield Outcome("trust", f"terminal: {' '.join(args[:2])} with {ename}", clean)

    for field, value in (
        ("message", '=HYPERLINK("http://evil")'),
        ("workload", "+cmd|' /C calc'!A0"),
        ("suite", "-2+3"),
        ("run_id", "@SUM(A1)"),
    ):
        d, db = h.fresh()
        evil = copy(h.ok_record)
        evil[field] = value
        if field != "run_id":
            evil["run_id"] = "csv-run"
        path = d / "evil.jsonl"
        path.write_text(json.dumps(with_ids(evil)) + "\n")
        h.cli("results", "import", str(path), "--db", str(db))
        out = d / "x.csv"
        r = h.cli("results", "export", str(out), "--db", str(db))
        cells = [row[field] for row in csv.DictReader(out.open(newline=""))] if out.exists() else []
        yield Outcome("trust", f"CSV cell {value[:12]!r}", r.ok and value not in cells)

    for args in (
        ["results", "list"],
        ["results", "list", "--runs"],
        ["results", "show", "abc"],
        ["results", "export", "x.jsonl"],
        ["report", "-o", "x.html"],
        ["results", "import", "IMPORT"],
        ["results", "delete", "abc", "--yes"],
        ["run", "TINY", "--device", "fake"],
        ["compare", "FOREIGN", "BASE"],
    ):
        d, _ = h.fresh()
        foreign = d / "notes.sqlite"
        con = sqlite3.connect(foreign)
        con.execute("CREATE TABLE notes (text)")
        con.execute("INSERT INTO notes VALUES ('mine')")
        con.commit()
        con.close()
        before = digest(foreign)
        real = [
            {
                "IMPORT": str(h.work / "base.jsonl"),
                "TINY": str(h.tiny),
                "FOREIGN": str(foreign),
                "BASE": str(h.base),
                "x.jsonl": str(d / "x.jsonl"),
                "x.html": str(d / "x.html"),
            }.get(a, a)
            for a in args
        ]
        r = h.cli(*real, "--db", str(foreign))
        yield Outcome(
            "trust",
            f"foreign database: {' '.join(args[:2])}",
            r.refused and digest(foreign) == before,
        )
    d, db = h.fresh()
    for s in ("-wal", "-shm"):
        Path(f"{db}{s}").unlink(missing_ok=True)
    before = digest(db)
    h.readers_ok(db, d)
    yield Outcome("trust", "reading commands leave the store file as it was", digest(db) == before)

    for fragment in ("'; DROP TABLE results; --", "%", "_", "' OR 1=1 --"):
        for args in (["--run", fragment], [fragment], ["--suite", fragment]):
            d, db = h.fresh()
            n = h.count(db)
            r = h.cli("results", "delete", *args, "--db", str(db), "--yes")
            after = h.count(db)
            yield Outcome(
                "trust",
                f"SQL fragment {fragment!r} as {args[0] if len(args) > 1 else 'id'}",
                r.ok and after == n,
                lost=(after or 0) < (n or 0),
            )


def forged_peak(h: Harness) -> Outcome:
    d, db = h.fresh()
    peaks = h.write(
        "peaks.yaml",
        json.dumps(
            {
                "name": "pk",
                "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
                "workloads": [
                    {
                        "name": "peak",
                        "kind": "peak-gemm",
                        "params": {"sizes": [32], "dtypes": ["float32"]},
                    },
                    {"name": "g", "kind": "gemm", "params": {"sizes": [32], "dtypes": ["float32"]}},
                ],
            }
        ),
    )
    gemm = h.write(
        "gemm.yaml",
        json.dumps(
            {
                "name": "pk",
                "measure": {"mode": "fixed", "warmup": 1, "iterations": 3},
                "workloads": [
                    {"name": "g", "kind": "gemm", "params": {"sizes": [32], "dtypes": ["float32"]}}
                ],
            }
        ),
    )
    assert h.cli("run", str(peaks), "--device", "fake", "--db", str(db), "--threads", "1").ok
    exp = d / "pk.jsonl"
    h.cli("results", "export", str(exp), "--db", str(db), "--workload", "peak")
    forged = json.loads(exp.read_text().splitlines()[0])
    forged["metrics"]["peak_gflops"]["value"] = 1e9
    forged["started_at"] = "2099-01-01T00:00:00Z"
    path = d / "forged.jsonl"
    path.write_text(json.dumps(with_ids(forged)) + "\n")
    h.cli("results", "import", str(path), "--db", str(db))
    r = h.cli(
        "run",
        str(gemm),
        "--device",
        "fake",
        "--db",
        str(db),
        "--threads",
        "1",
        "--no-resume",
        "--json",
    )
    if not r.ok:
        return Outcome("trust", "forged peak with a local run id", False, note=r.err[:100])
    rid = json.loads(r.out)["results"][0]
    shown = h.cli("results", "show", rid, "--db", str(db), "--json")
    rec = json.loads(shown.out)
    refs = (rec.get("references") or {}).get("measured_peak")  # records of schema 3
    old = rec["config"].get("peaks_used", {}).get("measured_peak")  # earlier records
    used = (refs or {}).get("value") or (old or {}).get("flops")
    return Outcome("trust", "forged peak with a local run id", used != 1e18, note=str(used))


def forged_resume(h: Harness) -> Outcome:
    d, db = h.fresh()
    con = sqlite3.connect(db)
    (rid, rec) = con.execute(
        "SELECT result_id, record FROM results WHERE status='ok' ORDER BY rowid DESC"
    ).fetchone()
    con.execute("DELETE FROM results WHERE result_id=?", (rid,))
    con.execute("UPDATE runs SET state='interrupted'")
    con.commit()
    con.close()
    forged = json.loads(rec)
    forged["started_at"] = "2099-01-01T00:00:00Z"
    path = d / "forged.jsonl"
    path.write_text(json.dumps(with_ids(forged)) + "\n")
    h.cli("results", "import", str(path), "--db", str(db))
    r = h.cli("run", str(h.tiny), "--device", "fake", "--db", str(db), "--json")
    measured = json.loads(r.out)["results"] if r.ok else []
    return Outcome(
        "trust",
        "forged result under an interrupted local run",
        len(measured) == 1,
        note=f"measured {len(measured)}: {r.err[-100:]}",
    )


# -- group 3: resource limits and faults -----------------------------------------------------------
def limits_attempts(h: Harness) -> Iterator[Outcome]:
    for label, workload in (
        (
            "CPU GEMM larger than the memory limit",
            {"kind": "gemm", "params": {"sizes": [16384], "dtypes": ["float32"]}},
        ),
        (
            "CPU linear larger than the memory limit",
            {
                "kind": "linear",
                "params": {
                    "batch": [16384],
                    "in_features": [16384],
                    "out_features": [16384],
                    "dtypes": ["float32"],
                    "modes": ["forward"],
                },
            },
        ),
        (
            "CPU triad larger than the memory limit",
            {"kind": "bandwidth", "params": {"directions": ["triad"], "sizes": ["1GiB"]}},
        ),
        (
            "CPU peak GEMM with a size too large",
            {"kind": "peak-gemm", "params": {"sizes": [64, 16384], "dtypes": ["float32"]}},
        ),
    ):
        yield memory_attempt(h, label, workload)
    yield killer_attempt(h)
    yield from lock_attempts(h)
    yield disk_full_run(h)
    yield disk_full_import(h)

    bad_numbers = [
        ["run", "TINY", "--device", "fake", "--threads", "100000"],
        ["run", "TINY", "--device", "fake", "--threads", "1099511627776"],
        ["run", "TINY", "--device", "fake", "--threads", "0"],
        ["run", "TINY", "--device", "fake", "--threads", "-1"],
        ["run", "TINY", "--device", "fake", "--power-rate", "0.05"],
        ["run", "TINY", "--device", "fake", "--power-rate", "5000"],
        ["run", "TINY", "--device", "fake", "--power-rate", "nan"],
        ["run", "TINY", "--device", "fake", "--power-rate", "0"],
        ["results", "list", "--limit", "99999999999999999999999"],
        ["results", "list", "--limit", "9223372036854775808"],
        ["compare", "BASE", "BASE", "--base-price", "inf"],
        ["compare", "BASE", "BASE", "--base-price", "nan"],
        ["compare", "BASE", "BASE", "--candidate-price", "1e300"],
        ["devices", "--threads", "100000"],
        ["peaks", "--device", "fake", "--threads", "100000"],
        ["idle-power", "--device", "fake", "--power-rate", "0.01", "--seconds", "1"],
    ]
    for args in bad_numbers:
        d, db = h.fresh()
        n = h.count(db)
        real = [{"TINY": str(h.tiny), "BASE": str(db)}.get(a, a) for a in args]
        extra = [] if args[0] == "devices" else ["--db", str(db)]
        # In a subprocess capped at 256 tasks: a version that lets torch start 100,000 threads
        # may abort, and must not take the host's pid space with it.
        with pids_cgroup(256) as cg:
            if cg is None:
                yield Outcome("limits", " ".join(args[-2:]), False, skipped=True)
                continue
            cap = f'echo $$ > {cg}/cgroup.procs; exec "$@"'
            r = h.sub("sh", "-c", cap, "sh", *h.py(), *real, *extra)
        runs = sqlite3.connect(db).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        yield Outcome(
            "limits",
            " ".join(args[-2:]) + f" ({args[0]})",
            r.refused and h.count(db) == n and runs == 1,
            note=r.err.strip()[:100],
        )

    big = copy(h.ok_record)
    big["run_id"] = "big"
    big["message"] = "x" * (20 * 2**20)
    text = json.dumps(with_ids(big))
    for fmt in ("jsonl", "csv", "parquet", "db"):
        d, db = h.fresh()
        path = d / f"big.{fmt}"
        if fmt == "jsonl":
            path.write_text(text + "\n")
        elif fmt == "csv":
            with path.open("w", newline="") as f:
                csv.writer(f).writerows([["record"], [text]])
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.table({"record": [text]}), path)
        else:
            shutil.copy(h.base, path)
            con = sqlite3.connect(path)
            con.execute("UPDATE results SET record=? WHERE rowid=1", (text,))
            con.commit()
            con.close()
        n = h.count(db)
        r = h.cli("results", "import", str(path), "--db", str(db))
        yield Outcome(
            "limits", f"20 MiB record in {fmt}", r.refused and h.count(db) == n, note=r.err[:100]
        )
    for depth in (200_000, 100):
        d, db = h.fresh()
        path = d / "deep.jsonl"
        if depth > 1000:  # a raw text line: no JSON encoder could write it
            path.write_text('{"config": ' + "[" * depth + "]" * depth + "}\n")
        else:
            deep: Any = 1.0
            for _ in range(depth):
                deep = {"d": deep}
            rec = copy(h.ok_record)
            rec["run_id"] = "deep"
            rec["config"]["deep"] = deep
            path.write_text(json.dumps(with_ids(rec)) + "\n")
        n = h.count(db)
        r = h.cli("results", "import", str(path), "--db", str(db))
        ok_after = h.readers_ok(db, d)
        yield Outcome(
            "limits",
            f"{depth}-deep record",
            r.refused and h.count(db) == n and ok_after,
            lost=not ok_after,
            note=r.err[:100],
        )


def memory_attempt(h: Harness, label: str, workload: dict[str, Any]) -> Outcome:
    if not root():
        return Outcome("limits", label, False, skipped=True)
    _, db = h.fresh()
    s = h.write(
        f"mem{h.n}.yaml",
        json.dumps(
            {
                "name": "mem",
                "measure": {"mode": "fixed", "warmup": 0, "iterations": 1},
                "workloads": [
                    {
                        "name": "small",
                        "kind": "gemm",
                        "params": {"sizes": [16], "dtypes": ["float32"]},
                    },
                    {"name": "huge", **workload},
                    {
                        "name": "after",
                        "kind": "gemm",
                        "params": {"sizes": [24], "dtypes": ["float32"]},
                    },
                ],
            }
        ),
    )
    with memory_cgroup(1536 * 2**20) as cg:
        if cg is None:
            return Outcome("limits", label, False, skipped=True)
        procs = cg / "cgroup.procs"
        codes = []
        for _ in range(2):  # the run, and the rerun a user would try
            p = subprocess.run(
                [
                    "sh",
                    "-c",
                    f'echo $$ > {procs}; exec "$@"',
                    "sh",
                    *h.py(),
                    "run",
                    str(s),
                    "--device",
                    "cpu",
                    "--db",
                    str(db),
                    "--threads",
                    "1",
                    "--no-power",
                ],
                capture_output=True,
                text=True,
                env=h.env,
                timeout=900,
            )
            codes.append(p.returncode)
    con = sqlite3.connect(db)
    rows = dict(con.execute("SELECT workload, status FROM results WHERE suite='mem'").fetchall())
    done = rows.get("huge") in ("oom", "ok") and rows.get("after") == "ok"
    return Outcome("limits", label, codes[0] == 0 and done, note=f"exit {codes}, {rows}")


KILLER = """
import os, signal, sys, traceback
from accelbench.api import run_suite
from accelbench.config import validate_suite
from accelbench.devices.fake import FakeDevice
def die():  # called at every device sync: kill the process while it measures m=16
    for frame, _ in traceback.walk_stack(None):
        case = frame.f_locals.get("case")
        if isinstance(case, dict) and case.get("m") == 16:
            os.kill(os.getpid(), signal.SIGKILL)
suite = validate_suite({"name": "k", "measure": {"mode": "fixed", "warmup": 0, "iterations": 1},
    "workloads": [{"name": "g", "kind": "gemm", "params": {"sizes": [8, 16, 24],
    "dtypes": ["float32"]}}]}, "t")
r = run_suite(suite, device=FakeDevice(fail_when=die), db=sys.argv[1], threads=1)
print("finished", len(r.results))
"""


def killer_attempt(h: Harness) -> Outcome:
    """A case that kills the process every time it runs (as the OOM killer would)."""
    _, db = h.fresh()
    db.unlink()
    codes = []
    for _ in range(3):
        p = subprocess.run(
            [sys.executable, "-c", KILLER, str(db)], capture_output=True, text=True, env=h.env
        )
        codes.append(p.returncode)
        if p.returncode == 0:
            break
    return Outcome(
        "limits", "a case that kills the process every time", codes[-1] == 0, note=str(codes)
    )


SLOW = json.dumps(
    {
        "name": "slow",
        "measure": {"mode": "fixed", "warmup": 1, "iterations": 2000},
        "workloads": [
            {
                "name": "g",
                "kind": "gemm",
                "params": {"sizes": [512, 520, 528, 536, 544, 552], "dtypes": ["float32"]},
            }
        ],
    }
)  # about a minute of 512-float GEMMs on one thread: the first sweep is still running


def lock_attempts(h: Harness) -> Iterator[Outcome]:
    d, db = h.fresh()
    s = h.write("slow.yaml", SLOW)
    env = {k: v for k, v in h.env.items() if k != "ACCELBENCH_LOCK_DIR"}
    (d / "t1").mkdir()
    (d / "t2").mkdir()
    first = subprocess.Popen(
        [*h.py(), "run", str(s), "--device", "fake", "--db", str(d / "one.db"), "--threads", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "TMPDIR": str(d / "t1")},
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and h.count(d / "one.db") in (None,):
        time.sleep(0.1)
    time.sleep(1)
    # Another (tiny) suite on the same device: the lock is the device's, whatever the suite.
    second = h.sub(
        *h.py(),
        "run",
        str(h.tiny),
        "--device",
        "fake",
        "--db",
        str(d / "two.db"),
        "--threads",
        "1",
        env={**env, "TMPDIR": str(d / "t2")},
    )
    first.kill()
    first.wait()
    yield Outcome(
        "limits",
        "two sweeps, different TMPDIR, one device",
        second.refused and "busy" in second.err,
    )

    if root() and shutil.which("setpriv"):
        base = Path(tempfile.mkdtemp(prefix="abhostile-", dir="/tmp"))
        os.chmod(base, 0o777)
        t = base / "tmp"
        t.mkdir(mode=0o777)
        os.chmod(t, 0o777)
        shutil.copy(h.tiny, base / "tiny.yaml")
        os.chmod(base / "tiny.yaml", 0o644)
        env2 = {**env, "TMPDIR": str(t), "ACCELBENCH_LOCK_DIR": str(base / "locks")}
        h.sub(
            *h.py(),
            "run",
            str(base / "tiny.yaml"),
            "--device",
            "fake",
            "--db",
            str(base / "root.db"),
            env=env2,
        )
        r = h.sub(
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            *h.py(),
            "run",
            str(base / "tiny.yaml"),
            "--device",
            "fake",
            "--db",
            str(t / "nobody.db"),
            env=env2,
        )
        shutil.rmtree(base, ignore_errors=True)
        yield Outcome("limits", "a second user after root held the lock", r.ok, note=r.err[-150:])
    else:
        yield Outcome("limits", "a second user after root held the lock", False, skipped=True)

    d, db = h.fresh()
    blocker = d / "file"
    blocker.write_text("x")
    r = h.sub(
        *h.py(),
        "run",
        str(h.tiny),
        "--device",
        "fake",
        "--db",
        str(db),
        "--no-resume",
        env={**h.env, "ACCELBENCH_LOCK_DIR": str(blocker)},
    )
    yield Outcome("limits", "lock folder is a file", r.refused, note=r.err[-120:])
    d, db = h.fresh()
    (d / "accelbench-locks" / "fake_0.lock").mkdir(parents=True)
    r = h.sub(
        *h.py(),
        "run",
        str(h.tiny),
        "--device",
        "fake",
        "--db",
        str(db),
        "--no-resume",
        env={**h.env, "ACCELBENCH_LOCK_DIR": str(d)},
    )
    yield Outcome("limits", "lock file is a folder", r.refused, note=r.err[-120:])


def disk_full_run(h: Harness) -> Outcome:
    label = "run onto a full disk"
    if not can_unshare():
        return Outcome("limits", label, False, skipped=True)
    d, _ = h.fresh()
    mnt = d / "small"
    mnt.mkdir()
    many = h.write("many.yaml", suite(list(range(8, 400, 8)), ["float32"], name="many"))
    script = f"""
mount -t tmpfs -o size=160k tmpfs {mnt} || exit 99
{sys.executable} -m accelbench run {many} --device fake --db {mnt}/x.db --threads 1 \\
    > /dev/null 2> {d}/err
echo "rc=$?"
{sys.executable} -m accelbench results list --runs --json --db {mnt}/x.db
"""
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=h.env
    )
    err = (d / "err").read_text() if (d / "err").exists() else ""
    code = int(p.stdout.split("rc=")[1].split()[0]) if "rc=" in p.stdout else 99
    states = (
        [r.get("state") for r in json.loads(p.stdout.split("\n", 1)[1] or "[]")]
        if "rc=" in p.stdout
        else []
    )
    # stderr also carries the run's progress lines; what counts is that the one error is clean
    said = [ln for ln in err.splitlines() if ln.startswith(("error:", "internal error"))]
    clean = Run(code, "", "\n".join(said)).refused and "Traceback" not in err
    clean = clean and states == ["interrupted"]
    return Outcome("limits", label, clean, note=f"{' '.join(said)[:100]} {states}")


def disk_full_import(h: Harness) -> Outcome:
    label = "import onto a full disk"
    if not can_unshare():
        return Outcome("limits", label, False, skipped=True)
    d, _ = h.fresh()
    mnt = d / "small"
    mnt.mkdir()
    script = f"""
mount -t tmpfs -o size=1m tmpfs {mnt} || exit 99
cp {h.base} {mnt}/x.db
free=$(df --output=avail -B1 {mnt} | tail -1)
fallocate -l $((free - 49152)) {mnt}/filler  # leave 48 KiB: room to open, not to import
{sys.executable} -m accelbench results import {h.work}/big-import.jsonl --db {mnt}/x.db \\
    > /dev/null 2> {d}/err
echo "rc=$?"
{sys.executable} -c "import sqlite3; c = sqlite3.connect('{mnt}/x.db')
print('rows', c.execute('select count(*) from results').fetchone()[0])"
"""
    p = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=h.env
    )
    err = (d / "err").read_text() if (d / "err").exists() else ""
    code = int(p.stdout.split("rc=")[1].split()[0]) if "rc=" in p.stdout else 99
    rows = p.stdout.split("rows")[-1].strip()
    n = h.count(h.base)
    return Outcome(
        "limits",
        label,
        Run(code, "", err).refused and rows == str(n),
        note=err[:100],
        lost=rows not in (str(n), ""),
    )


# -- group 4: the smaller ones ---------------------------------------------------------------------
def small_attempts(h: Harness) -> Iterator[Outcome]:
    d, db = h.fresh()
    conv = h.write(
        "conv.yaml",
        json.dumps(
            {
                "name": "conv",
                "workloads": [
                    {
                        "name": "c",
                        "kind": "conv2d",
                        "params": {
                            "batch": [8],
                            "input_size": [4],
                            "in_channels": [8],
                            "out_channels": [8],
                            "kernel_size": [7],
                            "padding": [0],
                        },
                    }
                ],
            }
        ),
    )
    r = h.cli("run", str(conv), "--device", "fake", "--db", str(db))
    yield Outcome("small", "impossible conv grid", r.refused and "empty" in r.err, note=r.err[:100])

    d, _ = h.fresh()
    cache = d / "cache"
    cache.mkdir()
    locked = subprocess.run(["chattr", "+i", str(cache)], capture_output=True).returncode == 0
    if locked:
        script = (
            "import sys, torch\nfrom accelbench.data.common import cached\n"
            "from pathlib import Path\n"
            "cached(Path(sys.argv[1]), 'demo', {'k': 1}, lambda: {'x': torch.ones(2)})\n"
            "print('ok')"
        )
        r = h.sub(sys.executable, "-c", script, str(cache))
        subprocess.run(["chattr", "-i", str(cache)], capture_output=True)
        yield Outcome(
            "small",
            "unwritable cache folder",
            r.ok and str(cache) in r.err and "inline_container" not in r.err,
            note=r.err[-120:],
        )
    else:
        yield Outcome("small", "unwritable cache folder", False, skipped=True)

    yield sigint_import(h)

    d, db = h.fresh()
    (run_id,) = sqlite3.connect(db).execute("SELECT run_id FROM runs").fetchone()
    r = h.cli(
        "report",
        "--db",
        str(db),
        "-o",
        str(d / "r.md"),
        "--format",
        "md",
        "--run",
        run_id,
        "--run",
        run_id,
    )
    yield Outcome(
        "small", "report --run X --run X", r.ok and "from 1 run(s)" in r.out, note=r.out[:80]
    )

    for label, args in (
        ("import into an immutable database", ["results", "import", str(h.work / "base.jsonl")]),
        ("run on an immutable database", ["run", str(h.tiny), "--device", "fake", "--no-resume"]),
    ):
        d, db = h.fresh()
        other = d / "other.jsonl"
        rec = copy(h.ok_record)
        rec["run_id"] = "new-run"
        other.write_text(json.dumps(with_ids(rec)) + "\n")
        real = [str(other) if a.endswith("base.jsonl") else a for a in args]
        if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
            yield Outcome("small", label, False, skipped=True)
            continue
        try:
            n = h.count(db)
            r = h.cli(*real, "--db", str(db))
            yield Outcome("small", label, r.refused and h.count(db) == n, note=r.err[:100])
        finally:
            subprocess.run(["chattr", "-i", str(db)], capture_output=True)
    label = "list a store on a read-only filesystem"
    if can_unshare():
        d, db = h.fresh()
        ro = d / "ro"
        ro.mkdir()
        shutil.copy(db, ro / "x.db")
        script = f"""
mount --bind {ro} {ro} && mount -o remount,bind,ro {ro} || exit 99
{sys.executable} -m accelbench results list --db {ro}/x.db --json > {d}/out 2> {d}/err
echo "rc=$?"
"""
        p = subprocess.run(
            ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=h.env
        )
        out = (d / "out").read_text() if (d / "out").exists() else ""
        good = (
            "rc=0" in p.stdout
            and out.strip().startswith("[")
            and len(json.loads(out)) == h.count(db)
        )
        yield Outcome(
            "small",
            label,
            good,
            note=((d / "err").read_text() if (d / "err").exists() else "")[:100],
        )
    else:
        yield Outcome("small", label, False, skipped=True)


def sigint_import(h: Harness) -> Outcome:
    _, db = h.fresh()
    path = h.work / "big-import.jsonl"
    n0 = h.count(db)
    p = subprocess.Popen(
        [*h.py(), "results", "import", str(path), "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=h.env,
    )
    # Interrupt once it reads the file (not while Python is still starting up).
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:
        with contextlib.suppress(OSError):
            fds = [os.readlink(f) for f in Path(f"/proc/{p.pid}/fd").iterdir()]
            if str(path) in fds:
                break
        time.sleep(0.05)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=600)
    n1 = h.count(db)
    said = any(w in err for w in ("nothing was imported", "committed", "imported"))
    consistent = (
        (n1 == n0 and "nothing" in err) or (n1 != n0 and "committed" in err) or p.returncode == 0
    )
    return Outcome(
        "small",
        "Ctrl-C during results import",
        (p.returncode == 130 and said and consistent) or p.returncode == 0,
        note=f"rc {p.returncode}: {err.strip()[:100]}",
    )


def make_big_import(h: Harness, n: int = 5000) -> None:
    """Many distinct valid records, for the interrupted and the full-disk imports."""
    lines = []
    for i in range(n):
        rec = copy(h.ok_record)
        rec["run_id"] = f"bulk-{i // 100}"
        rec["case"] = {**rec["case"], "m": 1000 + i}
        lines.append(json.dumps(with_ids(rec)))
    (h.work / "big-import.jsonl").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, required=True, help="the tree's src folder")
    ap.add_argument("--json", type=Path, help="write every outcome here")
    ap.add_argument("--groups", default=",".join(GROUPS), help="comma-separated subset")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="abhostile-") as tmp:
        h = Harness(args.src, Path(tmp))
        make_big_import(h)
        makers = {
            "loss": loss_attempts,
            "trust": trust_attempts,
            "limits": limits_attempts,
            "small": small_attempts,
        }
        outcomes: list[Outcome] = []
        for g in args.groups.split(","):
            attempts = makers[g](h)
            while True:
                try:
                    o = next(attempts)
                except StopIteration:
                    break
                except Exception as exc:  # the harness's own failure: say so, go on
                    o = Outcome(
                        g,
                        f"harness error {type(exc).__name__}",
                        False,
                        skipped=True,
                        note=str(exc)[:120],
                    )
                    attempts = iter(())  # a generator that raised is finished
                outcomes.append(o)
                mark = (
                    "skip" if o.skipped else ("LOST" if o.lost else ("ok" if o.clean else "WRONG"))
                )
                print(f"{mark:5} {GROUPS[o.group][:12]:12} {o.name}  {o.note[:90]!r}", flush=True)
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        t = table[o.group]
        if o.skipped:
            t["skipped"] += 1
            continue
        t["tried"] += 1
        t["clean" if o.clean and not o.lost else "wrong"] += 1
        t["lost"] += int(o.lost)
    print(f"\n{'group':40} tried clean wrong lost skipped")
    for g, name in GROUPS.items():
        t = table[g]
        print(
            f"{name:40} {t['tried']:5} {t['clean']:5} {t['wrong']:5} {t['lost']:4} {t['skipped']:7}"
        )
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
