"""The embedded result store: one SQLite file, WAL mode, one transaction per result.

Why SQLite: it ships with Python, a single file is easy to copy between machines, and WAL
mode lets a reader (a report) and several writers (two sweeps) share it. Each result is
committed on its own, so a crash loses at most the measurement that was in flight. The whole
record is kept as JSON; a few columns are copied out for filtering and resume.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
from pydantic import ValidationError

from accelbench.errors import StoreError
from accelbench.results.schema import Result, Status, upgrade_record

STORE_VERSION = 2


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


# MIGRATIONS[v] upgrades a store at version v to v+1; the store runs them in order on open.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_0_to_1, _migrate_1_to_2]


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


# A literal, case-sensitive prefix match (LIKE would treat '_' and '%' as wildcards and ignore
# case, so a prefix could select other runs' results, e.g. for `results delete`).
_PREFIX = "substr({col}, 1, ?) = ?"


def _alive_elsewhere(pid: int | None) -> bool:
    """Whether another live process on this host has this pid (pids can be reused: rare)."""
    return pid is not None and pid != os.getpid() and psutil.pid_exists(pid)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class Store:
    """A result store at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"--db {self.path}: is a directory; expected a database file")
        if not self.path.parent.exists():
            raise StoreError(f"--db {self.path}: folder {self.path.parent} does not exist")
        self._con = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        try:
            self._con.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
            self._enable_wal(timeout_s)
            self._con.execute("PRAGMA synchronous=FULL")
            self._migrate()
        except BaseException as exc:
            self._con.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(
                    f"--db {self.path}: not a usable accelbench database ({exc})"
                ) from None
            raise

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
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken eagerly so concurrent writers queue instead of failing."""
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.version == STORE_VERSION:
            return
        with self._write() as con:
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
        with self._write() as con:
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
        with self._write() as con:
            con.execute(
                "UPDATE runs SET state=?, finished_at=? WHERE run_id=?", (state, _now(), run_id)
            )

    def resumable_run(self, suite: str, device: str, host: str, threads: int) -> str | None:
        """The latest unfinished run of this suite on this device, host and thread count.

        A run still marked 'running' is resumable only when the process that owned it is gone
        (killed or crashed); a live sweep in another process is left alone.
        """
        rows = self._con.execute(
            "SELECT run_id, state, pid FROM runs WHERE suite=? AND device=? AND host=?"
            " AND threads=? AND state IN ('running', 'interrupted') ORDER BY started_at DESC",
            (suite, device, host, threads),
        ).fetchall()
        for run_id, state, pid in rows:
            if state == "interrupted" or not _alive_elsewhere(pid):
                return str(run_id)
        return None

    def imported_runs(self) -> set[str]:
        """Runs brought in by ``results import``: measured elsewhere, never a reference here."""
        rows = self._con.execute("SELECT run_id FROM runs WHERE state = 'imported'").fetchall()
        return {r[0] for r in rows}

    def runs(self) -> list[RunRow]:
        rows = self._con.execute(
            "SELECT r.run_id, r.suite, r.device, r.host, r.threads, r.state, r.started_at,"
            " r.finished_at, COUNT(x.result_id), COALESCE(SUM(x.status='ok'), 0)"
            " FROM runs r LEFT JOIN results x ON x.run_id = r.run_id"
            " GROUP BY r.run_id ORDER BY r.started_at"
        ).fetchall()
        return [RunRow(*r) for r in rows]

    # -- results ------------------------------------------------------------------------------
    def add(self, result: Result) -> bool:
        """Store one result in its own transaction; False if its id is already stored."""
        with self._write() as con:
            return self._insert(con, result)

    @staticmethod
    def _insert(con: sqlite3.Connection, result: Result) -> bool:
        env = result.environment
        cur = con.execute(
            "INSERT OR IGNORE INTO results (result_id, run_id, suite, workload, kind, device,"
            " host, threads, case_key, status, started_at, record)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                result.model_dump_json(),
            ),
        )
        if cur.rowcount:
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
        return bool(cur.rowcount)

    def add_many(self, results: Iterable[Result]) -> tuple[int, int]:
        """Merge results (e.g. from another machine) in one transaction, all or nothing;
        returns (added, already present)."""
        added = skipped = 0
        with self._write() as con:
            for r in results:
                if self._insert(con, r):
                    added += 1
                else:
                    skipped += 1
        return added, skipped

    def ok_cases(self, suite: str, device: str, host: str, threads: int) -> set[tuple[str, str]]:
        """(workload, case_key) pairs already stored as ok: what a resumed run skips."""
        rows = self._con.execute(
            "SELECT workload, case_key FROM results WHERE suite=? AND device=? AND host=?"
            " AND threads=? AND status='ok'",
            (suite, device, host, threads),
        ).fetchall()
        return {(w, k) for w, k in rows}

    def stored_cases(
        self, suite: str, device: str, host: str, threads: int
    ) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        """(run_id, workload, case_key, status, measure settings) of every result measured here
        for this suite, device, host and thread count. Imported runs are left out: a result
        from another machine that shares a host name is not a measurement of this one."""
        rows = self._con.execute(
            "SELECT run_id, workload, case_key, status, json_extract(record, '$.config.measure')"
            " FROM results WHERE suite=? AND device=? AND host=? AND threads=? AND run_id IN"
            " (SELECT run_id FROM runs WHERE state != 'imported')",
            (suite, device, host, threads),
        ).fetchall()
        return [(r, w, k, st, json.loads(m) if m else {}) for r, w, k, st, m in rows]

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
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
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
            if val is not None and val != "":
                clauses.append(f"{col} = ?")
                params.append(val)
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
        where, params = self._where(**filters)
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT record FROM results{where} ORDER BY started_at {order}, rowid {order}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [self._load(row[0]) for row in self._con.execute(sql, params)]

    def count(self, **filters: Any) -> int:
        where, params = self._where(**filters)
        return int(self._con.execute(f"SELECT COUNT(*) FROM results{where}", params).fetchone()[0])

    def get(self, result_id: str) -> Result:
        rows = self._con.execute(
            "SELECT record FROM results WHERE " + _PREFIX.format(col="result_id") + " LIMIT 2",
            (len(result_id), result_id),
        ).fetchall()
        if not rows:
            raise StoreError(f"no result with id {result_id!r} in {self.path}")
        if len(rows) > 1:
            raise StoreError(f"result id prefix {result_id!r} is ambiguous; give more characters")
        return self._load(rows[0][0])

    def delete(self, **filters: Any) -> int:
        where, params = self._where(**filters)
        if not where:
            raise StoreError("refusing to delete every result: give ids or a filter")
        with self._write() as con:
            n = con.execute(f"DELETE FROM results{where}", params).rowcount
            con.execute(
                "DELETE FROM runs WHERE run_id NOT IN (SELECT DISTINCT run_id FROM results)"
                " AND state != 'running'"
            )
        return int(n)

    def _load(self, text: str) -> Result:
        try:
            return Result.model_validate(upgrade_record(json.loads(text)))
        except (ValidationError, json.JSONDecodeError) as exc:
            raise StoreError(f"{self.path}: a stored record is corrupt ({exc})") from None
