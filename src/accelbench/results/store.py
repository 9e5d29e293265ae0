"""The embedded result store: one SQLite file, WAL mode, one transaction per result.

Why SQLite: it ships with Python, a single file is easy to copy between machines, and WAL
mode lets a reader (a report) and several writers (two sweeps) share it. Each result is
committed on its own, so a crash loses at most the measurement that was in flight. The whole
record is kept as JSON; a few columns are copied out for filtering and resume.

Results are the product, so the store is defensive about what it holds and where it writes:
- every result remembers where it came from: measured here (``import_id`` NULL) or brought in
  by ``results import`` (a row of ``imports``: which file, when). Only results measured here
  feed measured peaks, idle power and resume, whatever run ids an import carries;
- one unreadable stored row (invalid JSON, a record that no longer validates) is skipped with
  a warning naming its id, never a reason to refuse the other results;
- a read-only open (``readonly=True``, for commands that only read) never writes, and no open
  creates tables in a database that is not accelbench's;
- SQLite errors (disk full, read-only file, corrupt file) become one :class:`StoreError` line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
from pydantic import ValidationError

from accelbench.errors import StoreError
from accelbench.results.schema import SCHEMA_VERSION, Result, Status, upgrade_record

STORE_VERSION = 3
# How every record this schema writes starts (model_dump_json keeps field order): those are
# validated straight from their JSON, about three times faster than loading them first.
_CURRENT = f'{{"schema_version":{SCHEMA_VERSION},'
MAX_LIMIT = 2**63 - 1  # SQLite integers are signed 64-bit


def _run_script(con: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the migration's transaction halfway; run statements one by one.
    for stmt in script.split(";"):
        if stmt.strip():
            con.execute(stmt)


def _migrate_0_to_1(con: sqlite3.Connection) -> None:
    _run_script(
        con,
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            suite TEXT NOT NULL,
            device TEXT NOT NULL,
            host TEXT NOT NULL,
            threads INTEGER NOT NULL,
            state TEXT NOT NULL,            -- running, complete, interrupted or imported
            started_at TEXT NOT NULL,
            finished_at TEXT,
            info TEXT NOT NULL DEFAULT '{}' -- device info and resolved suite, JSON
        );
        CREATE TABLE results (
            result_id TEXT PRIMARY KEY,
            run_id TEXT NOT NULL,
            suite TEXT NOT NULL,
            workload TEXT NOT NULL,
            kind TEXT NOT NULL,
            device TEXT NOT NULL,
            host TEXT NOT NULL,
            threads INTEGER NOT NULL,
            case_key TEXT NOT NULL,
            status TEXT NOT NULL,
            started_at TEXT NOT NULL,
            record TEXT NOT NULL
        );
        CREATE INDEX results_resume
            ON results (suite, device, host, threads, workload, case_key, status);
        CREATE INDEX results_run ON results (run_id);
        """,
    )


def _migrate_1_to_2(con: sqlite3.Connection) -> None:
    # The process that owns a 'running' run, so a second sweep does not join a live one.
    con.execute("ALTER TABLE runs ADD COLUMN pid INTEGER")


LEGACY_IMPORT_SOURCE = "(imported before accelbench kept the source file)"


def _migrate_2_to_3(con: sqlite3.Connection) -> None:
    # Provenance per result: a result is measured here (import_id NULL) or came from the
    # import recorded in `imports`. Before, only the run's state said 'imported', and an
    # imported record carrying a local run id passed for a local measurement.
    # runs.in_flight: the case a sweep is measuring right now (JSON), so a resume after the
    # process died recognises the case that killed it.
    _run_script(
        con,
        """
        CREATE TABLE imports (
            import_id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,           -- the file the results were read from
            imported_at TEXT NOT NULL,
            imported_on TEXT NOT NULL       -- host that ran the import
        );
        ALTER TABLE results ADD COLUMN import_id INTEGER REFERENCES imports (import_id);
        CREATE INDEX results_import ON results (import_id);
        ALTER TABLE runs ADD COLUMN in_flight TEXT
        """,
    )
    if con.execute("SELECT 1 FROM runs WHERE state = 'imported' LIMIT 1").fetchone():
        cur = con.execute(
            "INSERT INTO imports (source, imported_at, imported_on) VALUES (?, ?, ?)",
            (LEGACY_IMPORT_SOURCE, _now(), socket.gethostname()),
        )
        con.execute(
            "UPDATE results SET import_id = ? WHERE run_id IN"
            " (SELECT run_id FROM runs WHERE state = 'imported')",
            (cur.lastrowid,),
        )


# MIGRATIONS[v] upgrades a store at version v to v+1; the store runs them in order on open.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_0_to_1,
    _migrate_1_to_2,
    _migrate_2_to_3,
]


@dataclass(frozen=True)
class RunRow:
    run_id: str
    suite: str
    device: str
    host: str
    threads: int
    state: str
    started_at: str
    finished_at: str | None
    n_results: int
    n_ok: int


@dataclass
class MergeSummary:
    """What ``results import`` did with one file."""

    source: str
    added: int = 0
    already_present: int = 0
    conflicts: list[str] = field(default_factory=list)
    """Ids stored already with different content: the stored record is kept."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "added": self.added,
            "already_present": self.already_present,
            "conflicts": self.conflicts,
        }


# A literal, case-sensitive prefix match (LIKE would treat '_' and '%' as wildcards and ignore
# case, so a prefix could select other runs' results, e.g. for `results delete`).
_PREFIX = "substr({col}, 1, ?) = ?"


def _gone(pid: int | None) -> bool:
    """Whether the process that owned a run on this host has ended (not this process)."""
    return pid is not None and pid != os.getpid() and not psutil.pid_exists(pid)


def _alive_elsewhere(pid: int | None) -> bool:
    """Whether another live process on this host has this pid (pids can be reused: rare)."""
    return pid is not None and pid != os.getpid() and psutil.pid_exists(pid)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def stderr_warning(message: str) -> None:
    """The default way a store reports a row it skipped: one line on stderr."""
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()


def _unwritable(path: Path) -> bool:
    """Whether files cannot be created beside ``path`` (read-only mount or folder)."""
    folder = path.parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return True
    except (OSError, AttributeError):  # pragma: no cover - no statvfs (Windows)
        pass
    return not os.access(folder, os.W_OK)


def _sqlite_reason(exc: sqlite3.Error) -> str:
    """What a user can do about an SQLite error, in words."""
    text = str(exc)
    low = text.lower()
    if "disk is full" in low or "disk i/o" in low:
        return f"{text}: free some space there"
    if "readonly" in low or "read-only" in low:
        return (
            f"{text}: the file, its folder or its filesystem is read-only (or the file is "
            "immutable)"
        )
    if "malformed" in low or "not a database" in low:
        return f"{text}: the file is damaged; restore it from a copy or an export"
    return text


class Store:
    """A result store at ``path`` (created on first use unless ``readonly``).

    ``readonly`` opens the file as SQLite's read-only mode, for commands that only read: the
    file is not migrated, switched to WAL or otherwise touched. ``warn`` receives one line
    per stored row that had to be skipped.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        timeout_s: float = 60.0,
        readonly: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._warn_fn = warn or stderr_warning
        self._warned: set[str] = set()
        if self.path.is_dir():
            raise StoreError(f"--db {self.path}: is a directory; expected a database file")
        if not self.path.parent.exists():
            raise StoreError(f"--db {self.path}: folder {self.path.parent} does not exist")
        if readonly and not self.path.is_file():
            raise StoreError(f"--db {self.path}: no such database file")
        self._con = self._connect(timeout_s, immutable=False)
        try:
            try:
                self._check_ours()
            except sqlite3.OperationalError as exc:
                # A WAL store on a read-only filesystem: SQLite cannot make the shared-memory
                # file a reader needs. Nothing can write there, so reading it as immutable is
                # safe, unless a WAL file holds commits not yet copied into the database.
                if not (readonly and "unable to open" in str(exc) and _unwritable(self.path)):
                    raise
                wal = Path(f"{self.path}-wal")
                if wal.exists() and wal.stat().st_size > 0:
                    raise
                self._con.close()
                self._con = self._connect(timeout_s, immutable=True)
                self._check_ours()
            if not readonly:
                self._enable_wal(timeout_s)
                self._con.execute("PRAGMA synchronous=FULL")
                self._migrate()
        except BaseException as exc:
            self._con.close()
            if isinstance(exc, sqlite3.DatabaseError):
                what = "cannot open it" if "unable to open" in str(exc) else "not a usable"
                if what == "not a usable":
                    what += " accelbench database"
                raise StoreError(f"--db {self.path}: {what} ({self._why(exc)})") from None
            raise
        self._version = self.version

    def _connect(self, timeout_s: float, *, immutable: bool) -> sqlite3.Connection:
        try:
            if self.readonly:
                uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}?mode=ro"
                con = sqlite3.connect(
                    uri + ("&immutable=1" if immutable else ""),
                    uri=True,
                    timeout=timeout_s,
                    isolation_level=None,
                )
            else:
                con = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
            con.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            return con
        except sqlite3.Error as exc:
            raise StoreError(f"--db {self.path}: cannot open ({self._why(exc)})") from None

    def _why(self, exc: sqlite3.Error) -> str:
        if "unable to open" in str(exc) and _unwritable(self.path):
            return (
                f"{exc}: {self.path.parent} is read-only, and SQLite needs to create "
                f"{self.path.name}-wal and -shm beside the database"
            )
        return _sqlite_reason(exc)

    def _check_ours(self) -> None:
        """Refuse a database that is not an accelbench store before anything is written to
        it: a non-empty SQLite file with other tables is somebody else's data."""
        tables = {
            r[0]
            for r in self._con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        version = self.version
        if version == 0 and not tables:
            if self.readonly:
                raise StoreError(f"--db {self.path}: an empty database; it holds no results")
            return  # a new store: ours to create
        if not {"runs", "results"} <= tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(
                f"--db {self.path}: not an accelbench database (its tables: {shown or 'none'});"
                " nothing was changed"
            )

    def _enable_wal(self, timeout_s: float) -> None:
        # Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
        # locked" at once (without its busy handler) when another process is doing the same, as
        # when two sweeps start on a fresh store together. Retry until the timeout.
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self._con.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # -- housekeeping -------------------------------------------------------------------------
    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, action: str = "write to it") -> Iterator[sqlite3.Connection]:
        """One write transaction, taken eagerly so concurrent writers queue instead of failing.
        An SQLite error (disk full, read-only file) rolls it back and becomes a StoreError."""
        if self.readonly:
            raise StoreError(f"--db {self.path}: opened read-only; cannot {action}")
        try:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"--db {self.path}: cannot {action} ({_sqlite_reason(exc)})") from None

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        try:
            return self._con.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"--db {self.path}: cannot read ({_sqlite_reason(exc)})") from None

    def warn(self, message: str) -> None:
        """Report a skipped row once per store and message."""
        if message not in self._warned:
            self._warned.add(message)
            self._warn_fn(message)

    @property
    def _local(self) -> str:
        """SQL condition on ``results``: measured here, not imported."""
        if self._version >= 3:
            return "import_id IS NULL"
        # A legacy store opened read-only keeps its old schema: the run state is all it has.
        return "run_id NOT IN (SELECT run_id FROM runs WHERE state = 'imported')"

    @property
    def version(self) -> int:
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.version == STORE_VERSION:
            return
        with self._write("upgrade the store") as con:
            current = int(con.execute("PRAGMA user_version").fetchone()[0])  # re-read under lock
            if current > STORE_VERSION:
                raise StoreError(
                    f"--db {self.path}: store version {current} is newer than this accelbench "
                    f"supports ({STORE_VERSION}); upgrade accelbench"
                )
            for v in range(current, STORE_VERSION):
                MIGRATIONS[v](con)
            con.execute(f"PRAGMA user_version={STORE_VERSION}")

    # -- runs ---------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, suite: str, device: str, host: str, threads: int, info: dict[str, Any]
    ) -> None:
        with self._write(f"start run {run_id}") as con:
            con.execute(
                "INSERT INTO runs (run_id, suite, device, host, threads, state, started_at, info,"
                " pid) VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)"
                " ON CONFLICT(run_id) DO UPDATE SET state='running', finished_at=NULL,"
                " pid=excluded.pid",
                (
                    run_id,
                    suite,
                    device,
                    host,
                    threads,
                    _now(),
                    json.dumps(info, default=str),
                    os.getpid(),
                ),
            )

    def finish_run(self, run_id: str, state: str = "complete") -> None:
        with self._write(f"mark run {run_id} {state}") as con:
            con.execute(
                "UPDATE runs SET state=?, finished_at=?, in_flight=NULL WHERE run_id=?",
                (state, _now(), run_id),
            )

    def mark_in_flight(self, run_id: str, case: dict[str, Any]) -> None:
        """Record the case ``run_id`` is about to measure; :meth:`add` of its result clears
        it. Still set when the run is resumed means the process died during that case."""
        # Only a process death needs the marker, not a power cut: skip the fsync a sweep of
        # many short cases would otherwise pay once per case (the OS still has the write).
        self._con.execute("PRAGMA synchronous=NORMAL")
        try:
            with self._write(f"record the case run {run_id} is measuring") as con:
                con.execute(
                    "UPDATE runs SET in_flight=? WHERE run_id=?",
                    (json.dumps(case, default=str), run_id),
                )
        finally:
            self._con.execute("PRAGMA synchronous=FULL")

    def take_in_flight(self, run_id: str) -> dict[str, Any] | None:
        """The case ``run_id`` was measuring when its process died, if any, and clear it."""
        rows = self._read("SELECT in_flight FROM runs WHERE run_id=?", (run_id,))
        if not rows or not rows[0][0]:
            return None
        with self._write(f"clear the in-flight case of run {run_id}") as con:
            con.execute("UPDATE runs SET in_flight=NULL WHERE run_id=?", (run_id,))
        try:
            data = json.loads(rows[0][0])
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def resumable_run(self, suite: str, device: str, host: str, threads: int) -> str | None:
        """The latest unfinished run of this suite on this device, host and thread count.

        A run still marked 'running' is resumable only when the process that owned it is gone
        (killed or crashed); a live sweep in another process is left alone.
        """
        rows = self._read(
            "SELECT run_id, state, pid FROM runs WHERE suite=? AND device=? AND host=?"
            " AND threads=? AND state IN ('running', 'interrupted') ORDER BY started_at DESC",
            (suite, device, host, threads),
        )
        for run_id, state, pid in rows:
            if state == "interrupted" or not _alive_elsewhere(pid):
                return str(run_id)
        return None

    def imported_ids(self, run_id: str | None = None) -> set[str]:
        """Ids of results brought in by ``results import`` (of one run, or all): measured
        elsewhere, never a reference here, whatever run id they carry."""
        where, params = self._where(run=run_id)
        where = (where + " AND " if where else " WHERE ") + f"NOT ({self._local})"
        return {r[0] for r in self._read(f"SELECT result_id FROM results{where}", params)}

    def imports(self) -> list[dict[str, Any]]:
        """Every import: which file, when, on which host, and how many of its results remain."""
        if self._version < 3:
            return []
        rows = self._read(
            "SELECT i.import_id, i.source, i.imported_at, i.imported_on, COUNT(x.result_id)"
            " FROM imports i LEFT JOIN results x ON x.import_id = i.import_id"
            " GROUP BY i.import_id ORDER BY i.import_id"
        )
        keys = ("import_id", "source", "imported_at", "imported_on", "results")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def runs(self) -> list[RunRow]:
        """Every run with its result counts. A run still marked 'running' on this host whose
        process is gone is shown 'interrupted': it was killed, or it stopped on a store that
        could not take even that last write (a full disk), and it resumes like one."""
        pid = "r.pid" if self._version >= 2 else "NULL"
        rows = self._read(
            "SELECT r.run_id, r.suite, r.device, r.host, r.threads, r.state, r.started_at,"
            f" r.finished_at, COUNT(x.result_id), COALESCE(SUM(x.status='ok'), 0), {pid}"
            " FROM runs r LEFT JOIN results x ON x.run_id = r.run_id"
            " GROUP BY r.run_id ORDER BY r.started_at"
        )
        here = socket.gethostname()
        out = []
        for *row, owner in rows:
            run = RunRow(*row)
            if run.state == "running" and run.host == here and _gone(owner):
                run = dataclasses.replace(run, state="interrupted")
            out.append(run)
        return out

    # -- results ------------------------------------------------------------------------------
    def add(self, result: Result) -> bool:
        """Store one result measured here, in its own transaction; False if its id is already
        stored. Clears its run's in-flight case: the case is answered."""
        with self._write(f"store result {result.result_id}") as con:
            added = self._insert(con, result, None) == "added"
            con.execute("UPDATE runs SET in_flight=NULL WHERE run_id=?", (result.run_id,))
            return added

    def _insert(self, con: sqlite3.Connection, result: Result, import_id: int | None) -> str:
        """'added', 'present' (the same record is stored) or 'conflict' (the id is stored with
        other content; the stored one is kept)."""
        env = result.environment
        record = result.model_dump_json()
        cur = con.execute(
            "INSERT OR IGNORE INTO results (result_id, run_id, suite, workload, kind, device,"
            " host, threads, case_key, status, started_at, record, import_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.result_id,
                result.run_id,
                result.suite,
                result.workload,
                result.kind,
                result.device,
                env.host,
                env.threads,
                result.case_key,
                result.status.value,
                result.started_at.isoformat(),
                record,
                import_id,
            ),
        )
        if not cur.rowcount:
            (stored,) = con.execute(
                "SELECT record FROM results WHERE result_id=?", (result.result_id,)
            ).fetchone()
            return "present" if self._same_record(stored, result) else "conflict"
        # A result from another machine brings its run along, marked as imported.
        con.execute(
            "INSERT OR IGNORE INTO runs (run_id, suite, device, host, threads, state,"
            " started_at) VALUES (?, ?, ?, ?, ?, 'imported', ?)",
            (
                result.run_id,
                result.suite,
                result.device,
                env.host,
                env.threads,
                result.started_at.isoformat(),
            ),
        )
        return "added"

    @staticmethod
    def _same_record(stored: str, result: Result) -> bool:
        try:
            return Result.model_validate(upgrade_record(json.loads(stored))) == result
        except (ValueError, TypeError, RecursionError, StoreError):
            return False

    def merge(self, batches: Iterable[tuple[str, Iterable[Result]]]) -> list[MergeSummary]:
        """Import results from other machines, every batch in ONE transaction (all or
        nothing), each batch recorded in ``imports`` with its source and time. Imported
        results never count as measured here. A stored id with different content is a
        conflict: kept as stored, and listed."""
        summaries: list[MergeSummary] = []
        with self._write("import results") as con:
            for source, results in batches:
                cur = con.execute(
                    "INSERT INTO imports (source, imported_at, imported_on) VALUES (?, ?, ?)",
                    (source, _now(), socket.gethostname()),
                )
                import_id = cur.lastrowid
                summary = MergeSummary(source)
                for r in results:
                    outcome = self._insert(con, r, import_id)
                    if outcome == "added":
                        summary.added += 1
                    elif outcome == "present":
                        summary.already_present += 1
                    else:
                        summary.conflicts.append(r.result_id)
                if not summary.added:  # nothing of it is here: no provenance row to keep
                    con.execute("DELETE FROM imports WHERE import_id=?", (import_id,))
                summaries.append(summary)
        return summaries

    def add_many(self, results: Iterable[Result], source: str = "(python)") -> tuple[int, int]:
        """Merge results (e.g. from another machine) in one transaction, all or nothing;
        returns (added, already present or conflicting). They are imports: never used as this
        machine's measurements."""
        (s,) = self.merge([(source, results)])
        return s.added, s.already_present + len(s.conflicts)

    def ok_cases(self, suite: str, device: str, host: str, threads: int) -> set[tuple[str, str]]:
        """(workload, case_key) pairs already stored as ok: what a resumed run skips."""
        rows = self._read(
            "SELECT workload, case_key FROM results WHERE suite=? AND device=? AND host=?"
            f" AND threads=? AND status='ok' AND {self._local}",
            (suite, device, host, threads),
        )
        return {(w, k) for w, k in rows}

    def stored_cases(
        self, suite: str, device: str, host: str, threads: int
    ) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        """(run_id, workload, case_key, status, measure settings) of every result measured here
        for this suite, device, host and thread count. Imported results are left out whatever
        run id they carry: a result from another machine that shares a host name is not a
        measurement of this one. A row whose record cannot be read (invalid JSON, a record that
        no longer validates) is left out too, with a warning, so its case is measured again
        rather than counted as done with a result nobody can read."""
        rows = self._read(
            "SELECT result_id, run_id, workload, case_key, status, record FROM results"
            f" WHERE suite=? AND device=? AND host=? AND threads=? AND {self._local}",
            (suite, device, host, threads),
        )
        out = []
        for rid, r, w, k, st, text in rows:
            try:
                record = self._parse(text)
            except StoreError as exc:
                self.warn(
                    f"{self.path}: stored result {rid} cannot be read ({exc}); measuring again"
                )
                continue
            out.append((r, w, k, st, dict(record.config.get("measure") or {})))
        return out

    def _where(
        self,
        run: str | None = None,
        suite: str | None = None,
        device: str | None = None,
        status: str | None = None,
        workload: str | None = None,
        ids: list[str] | None = None,
        kind: str | None = None,
        host: str | None = None,
        threads: int | None = None,
        measured_here: bool = False,
    ) -> tuple[str, list[Any]]:
        """SQL for the filters. A filter given as an empty or blank string is a mistake (an
        empty prefix matches every result), never "no filter"."""
        clauses: list[str] = []
        params: list[Any] = []
        for name, val in (
            ("--run", run),
            ("--suite", suite),
            ("--device", device),
            ("--workload", workload),
            ("kind", kind),
            ("host", host),
            ("--status", status),
        ):
            if val is not None and not str(val).strip():
                raise StoreError(f"{name} {val!r}: empty; give a value or leave the option out")
        for i in ids or []:
            if not i.strip():
                raise StoreError(
                    f"result id {i!r}: empty; give an id or a prefix of one (an empty prefix "
                    "would match every result)"
                )
        if run:
            clauses.append(_PREFIX.format(col="run_id"))
            params += [len(run), run]
        for col, val in (
            ("suite", suite),
            ("device", device),
            ("workload", workload),
            ("kind", kind),
            ("host", host),
            ("threads", threads),
        ):
            if val is not None:
                clauses.append(f"{col} = ?")
                params.append(val)
        if measured_here:
            clauses.append(self._local)
        if status:
            if status not in {s.value for s in Status}:
                raise StoreError(
                    f"--status {status!r}: expected one of {', '.join(s.value for s in Status)}"
                )
            clauses.append("status = ?")
            params.append(status)
        if ids:
            clauses.append("(" + " OR ".join(_PREFIX.format(col="result_id") for _ in ids) + ")")
            params += [p for i in ids for p in (len(i), i)]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query(
        self, limit: int | None = None, newest_first: bool = False, **filters: Any
    ) -> list[Result]:
        """Matching results, oldest first (or newest first). A stored row that cannot be read
        is skipped with a warning naming its id; the others are returned."""
        where, params = self._where(**filters)
        order = "DESC" if newest_first else "ASC"
        sql = (
            f"SELECT result_id, record FROM results{where}"
            f" ORDER BY started_at {order}, rowid {order}"
        )
        if limit:
            if not 0 < limit <= MAX_LIMIT:
                raise StoreError(f"--limit {limit}: expected 1 to {MAX_LIMIT}")
            sql += " LIMIT ?"
            params.append(int(limit))
        out = []
        for rid, text in self._read(sql, params):
            r = self._load(rid, text)
            if r is not None:
                out.append(r)
        return out

    def count(self, **filters: Any) -> int:
        where, params = self._where(**filters)
        return int(self._read(f"SELECT COUNT(*) FROM results{where}", params)[0][0])

    def get(self, result_id: str) -> Result:
        if not result_id.strip():
            raise StoreError(f"result id {result_id!r}: empty; give an id or a prefix of one")
        rows = self._read(
            "SELECT result_id, record FROM results WHERE "
            + _PREFIX.format(col="result_id")
            + " LIMIT 2",
            (len(result_id), result_id),
        )
        if not rows:
            raise StoreError(f"no result with id {result_id!r} in {self.path}")
        if len(rows) > 1:
            raise StoreError(f"result id prefix {result_id!r} is ambiguous; give more characters")
        rid, text = rows[0]
        try:
            return self._parse(text)
        except StoreError as exc:
            raise StoreError(f"{self.path}: stored result {rid} cannot be read: {exc}") from None

    def delete(self, **filters: Any) -> int:
        where, params = self._where(**filters)
        if not where:
            raise StoreError("refusing to delete every result: give ids or a filter")
        with self._write("delete results") as con:
            n = con.execute(f"DELETE FROM results{where}", params).rowcount
            con.execute(
                "DELETE FROM runs WHERE run_id NOT IN (SELECT DISTINCT run_id FROM results)"
                " AND state != 'running'"
            )
            if self._version >= 3:
                con.execute(
                    "DELETE FROM imports WHERE import_id NOT IN"
                    " (SELECT DISTINCT import_id FROM results WHERE import_id IS NOT NULL)"
                )
        return int(n)

    @staticmethod
    def _parse(text: Any) -> Result:
        """A stored record as a Result, or StoreError saying why it cannot be one."""
        if not isinstance(text, str):
            raise StoreError(f"the record is {type(text).__name__}, not JSON text")
        if text.startswith(_CURRENT):  # written by this schema: validate straight from JSON
            with contextlib.suppress(ValidationError):
                return Result.model_validate_json(text)
        try:
            data = json.loads(text)
        except RecursionError:
            raise StoreError("the record is nested too deeply to read") from None
        except ValueError as exc:
            raise StoreError(f"not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise StoreError(f"expected a JSON object, got {type(data).__name__}")
        try:
            return Result.model_validate(upgrade_record(data))
        except ValidationError as exc:
            raise StoreError(f"not a valid record ({validation_summary(exc)})") from None
        except (TypeError, ValueError, RecursionError) as exc:
            raise StoreError(f"not a valid record ({exc})") from None

    def _load(self, result_id: str, text: Any) -> Result | None:
        try:
            return self._parse(text)
        except StoreError as exc:
            self.warn(f"{self.path}: skipping stored result {result_id}: {exc}")
            return None


def validation_summary(exc: ValidationError) -> str:
    """The first error of a pydantic validation as 'field.path: message', one line."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "record"
    msg = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    if msg.startswith(f"{loc}.") or msg.startswith(f"{loc}:"):
        return f"{msg}{more}"  # the message names the path inside the field already
    return f"{loc}: {msg}{more}"
