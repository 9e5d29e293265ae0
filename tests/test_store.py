"""The SQLite result store: WAL, versioning and migration, merge without duplicates, filters,
deletes, and two processes writing at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, db_count, suite_data

from accelbench.api import run_suite, validate_suite
from accelbench.devices.fake import FakeDevice
from accelbench.errors import StoreError
from accelbench.results import store as store_mod
from accelbench.results.io import export_results, read_results
from accelbench.results.schema import Result, Status
from accelbench.results.store import Store

MiB = 1 << 20


def make_result(template: Result, **update: Any) -> Result:
    """A new record from a template, with its ids derived again from the new content."""
    data = {**template.model_dump(mode="json"), "result_id": "", "case_key": "", **update}
    return Result.model_validate(data)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Result]:
    """Two runs of a two-workload suite: ok, oom and unsupported results."""
    data = suite_data([16, 2048], ["float32", "float16"], name="storetest")
    data["workloads"].append(
        {"name": "gemm-b", "kind": "gemm", "params": {"sizes": [8], "dtypes": ["float32"]}}
    )
    suite = validate_suite(data, "test")
    db = tmp_path_factory.mktemp("store") / "sample.db"
    out: list[Result] = []
    for _ in range(2):
        dev = FakeDevice(memory_bytes=8 * MiB, dtypes=["float32"])
        out += run_suite(suite, device=dev, db=db, threads=1, resume=False).results
    assert len(out) == 10
    assert len({r.run_id for r in out}) == 2
    return out


@pytest.fixture
def store(tmp_path: Path, sample: list[Result]) -> Store:
    st = Store(tmp_path / "s.db")
    st.add_many(sample)
    yield st
    st.close()


# -- opening, WAL, versions ---------------------------------------------------------------------
def test_new_store_uses_wal_and_has_a_version(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Store(path) as st:
        assert st.version == store_mod.STORE_VERSION
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
    assert con.execute("PRAGMA user_version").fetchone()[0] == store_mod.STORE_VERSION
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "results"} <= tables
    con.close()


def test_migration_step_runs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.db"
    Store(path).close()  # a store at the current version, with a result in it
    calls: list[int] = []

    def add_note_column(con: sqlite3.Connection) -> None:
        calls.append(1)
        con.execute("ALTER TABLE results ADD COLUMN note TEXT")

    new_version = store_mod.STORE_VERSION + 1
    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, add_note_column])
    monkeypatch.setattr(store_mod, "STORE_VERSION", new_version)
    with Store(path) as st:
        assert st.version == new_version
    assert calls == [1]
    with Store(path) as st:  # already migrated: the step does not run again
        assert st.version == new_version
    assert calls == [1]
    con = sqlite3.connect(path)
    assert "note" in {r[1] for r in con.execute("PRAGMA table_info(results)")}
    con.close()
    # a brand-new store runs every step from zero
    with Store(tmp_path / "fresh.db") as st:
        assert st.version == new_version
    assert calls == [1, 1]


def test_failed_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample: list[Result]
) -> None:
    path = tmp_path / "m.db"
    with Store(path) as st:
        st.add(sample[0])
    old = store_mod.STORE_VERSION

    def half_done(con: sqlite3.Connection) -> None:
        con.execute("ALTER TABLE results ADD COLUMN note TEXT")
        con.execute("THIS IS NOT SQL")

    monkeypatch.setattr(store_mod, "MIGRATIONS", [*store_mod.MIGRATIONS, half_done])
    monkeypatch.setattr(store_mod, "STORE_VERSION", old + 1)
    with pytest.raises(StoreError):
        Store(path)
    monkeypatch.undo()
    with Store(path) as st:  # still the old version, the column rolled back, the data intact
        assert st.version == old
        assert st.count() == 1
    con = sqlite3.connect(path)
    assert "note" not in {r[1] for r in con.execute("PRAGMA table_info(results)")}
    con.close()


def test_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    Store(path).close()
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version={store_mod.STORE_VERSION + 5}")
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="not a usable accelbench database"):
        Store(path)
    assert path.read_text().startswith("these are my notes")  # and it was not overwritten


def test_unusable_paths(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "missing" / "x.db")


def test_a_corrupt_record_is_skipped_with_a_warning_naming_it(store: Store, capsys) -> None:
    """One unreadable row never costs the others: query skips it and says which; get of
    that very id is one clear error."""
    n = store.count()
    (rid,) = store._con.execute("SELECT result_id FROM results WHERE rowid=1").fetchone()
    store._con.execute("UPDATE results SET record='{\"broken\": ' WHERE rowid=1")
    assert len(store.query()) == n - 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning:") and rid in err
    with pytest.raises(StoreError, match=f"{rid} cannot be read: not valid JSON"):
        store.get(rid)


# -- adding, merging ------------------------------------------------------------------------------
def test_add_is_idempotent_by_result_id(tmp_path: Path, sample: list[Result]) -> None:
    with Store(tmp_path / "a.db") as st:
        assert st.add(sample[0]) is True
        assert st.add(sample[0]) is False
        assert st.count() == 1


def test_import_same_export_twice_adds_nothing_new(
    tmp_path: Path, store: Store, sample: list[Result]
) -> None:
    export = tmp_path / "export.jsonl"
    export_results(store.query(), export)
    with Store(tmp_path / "other.db") as other:
        assert other.add_many(read_results(export)) == (len(sample), 0)
        assert other.add_many(read_results(export)) == (0, len(sample))
        assert other.count() == len(sample)
        # the runs came along, marked as imported
        runs = other.runs()
        assert {r.run_id for r in runs} == {r.run_id for r in sample}
        assert {r.state for r in runs} == {"imported"}
        assert sum(r.n_results for r in runs) == len(sample)


def test_import_from_another_db_merges(tmp_path: Path, sample: list[Result]) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with Store(a) as st:
        st.add_many(sample[:6])
    with Store(b) as st:
        st.add_many(sample[4:])  # overlaps a on two results
        added, present = st.add_many(read_results(a))
        assert (added, present) == (4, 2)
        assert st.count() == len(sample)
        assert {r.result_id for r in st.query()} == {r.result_id for r in sample}


def test_merge_keeps_the_local_run_state(tmp_path: Path, sample: list[Result]) -> None:
    with Store(tmp_path / "a.db") as st:
        r = sample[0]
        st.start_run(r.run_id, r.suite, r.device, r.environment.host, 1, {})
        st.finish_run(r.run_id, "complete")
        st.add_many(sample)
        states = {x.run_id: x.state for x in st.runs()}
        assert states[r.run_id] == "complete"


# -- queries --------------------------------------------------------------------------------------
def test_query_filters(store: Store, sample: list[Result]) -> None:
    run_a = sample[0].run_id
    assert store.count() == len(sample)
    in_a = store.query(run=run_a)
    assert len(in_a) == 5 and {r.run_id for r in in_a} == {run_a}
    # a unique prefix of a run id selects that run
    prefix = next(
        run_a[:n] for n in range(len(run_a)) if not sample[-1].run_id.startswith(run_a[:n])
    )
    assert [r.result_id for r in store.query(run=prefix)] == [r.result_id for r in in_a]
    assert store.count(run="no-such-run") == 0

    assert {r.status for r in store.query(status="ok")} == {Status.OK}
    assert store.count(status="ok") == 4
    assert store.count(status="oom") == 2
    assert store.count(status="unsupported") == 4
    assert store.count(workload="gemm-b") == 2
    assert store.count(workload="gemm-square", status="ok", run=run_a) == 1
    assert store.count(suite="storetest") == len(sample)
    assert store.count(suite="other") == 0
    assert store.count(device="fake:0") == len(sample)
    assert store.count(kind="gemm") == len(sample)
    assert store.count(threads=1) == len(sample)
    with pytest.raises(StoreError, match="expected one of"):
        store.count(status="fine")


def test_query_order_and_limit(store: Store, sample: list[Result]) -> None:
    oldest = store.query()
    assert [r.started_at for r in oldest] == sorted(r.started_at for r in sample)
    newest = store.query(limit=3, newest_first=True)
    assert [r.result_id for r in newest] == [r.result_id for r in oldest[::-1][:3]]


def test_get_by_prefix(store: Store, sample: list[Result]) -> None:
    r = sample[3]
    assert store.get(r.result_id).result_id == r.result_id
    assert store.get(r.result_id[:12]).result_id == r.result_id
    with pytest.raises(StoreError, match="no result"):
        store.get("zzzz")
    with pytest.raises(StoreError, match="empty"):
        store.get("")  # an empty prefix names no result (it would match them all)
    first = {x.result_id[0] for x in sample}
    shared = next(c for c in first if sum(x.result_id[0] == c for x in sample) > 1)
    with pytest.raises(StoreError, match="ambiguous"):
        store.get(shared)


def test_ok_cases_and_resumable_run(tmp_path: Path, sample: list[Result]) -> None:
    store = Store(tmp_path / "local.db")
    for x in sample:
        store.add(x)  # measured here (add), not imported (add_many)
    r = sample[0]
    host = r.environment.host
    done = store.ok_cases("storetest", "fake:0", host, 1)
    assert done == {(x.workload, x.case_key) for x in sample if x.status is Status.OK}
    assert len(done) == 2  # the same two ok cases in both runs
    assert store.ok_cases("storetest", "fake:0", host, 2) == set()  # other thread count
    assert store.ok_cases("storetest", "cpu", host, 1) == set()
    store.start_run("resume-me", "storetest", "fake:0", host, 1, {})
    assert store.resumable_run("storetest", "fake:0", host, 1) == "resume-me"
    store.finish_run("resume-me", "interrupted")
    assert store.resumable_run("storetest", "fake:0", host, 1) == "resume-me"
    store.finish_run("resume-me", "complete")
    assert store.resumable_run("storetest", "fake:0", host, 1) is None


# -- delete ----------------------------------------------------------------------------------------
def test_delete_requires_a_filter(store: Store, sample: list[Result]) -> None:
    with pytest.raises(StoreError, match="refusing"):
        store.delete()
    with pytest.raises(StoreError, match="refusing"):
        store.delete(ids=[], run=None, status=None)
    for blank in ({"run": ""}, {"ids": [""]}, {"ids": ["  "]}, {"suite": " "}, {"run": "\t"}):
        with pytest.raises(StoreError, match="empty"):
            store.delete(**blank)
    assert store.count() == len(sample)


def test_delete_by_filter_and_ids(store: Store, sample: list[Result]) -> None:
    assert store.delete(status="oom") == 2
    assert store.count(status="oom") == 0
    assert store.count() == len(sample) - 2
    ok = store.query(status="ok")
    assert store.delete(ids=[ok[0].result_id[:10]]) == 1
    with pytest.raises(StoreError):
        store.get(ok[0].result_id)
    run_a = sample[0].run_id
    store.delete(run=run_a)
    assert store.count(run=run_a) == 0
    assert run_a not in {r.run_id for r in store.runs()}  # an emptied run goes too
    assert store.count() > 0


# -- two processes at once ----------------------------------------------------------------------
WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from accelbench.results.schema import Result
    from accelbench.results.store import Store

    db, template, tag, n, go = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    base = json.loads(Path(template).read_text())
    records = []
    for i in range(n):
        d = dict(base, result_id="", case_key="", run_id=f"writer-{tag}",
                 case={**base["case"], "m": i})
        records.append(Result.model_validate(d))
    Path(go + "." + tag).touch()  # ready
    while not Path(go).exists():
        time.sleep(0.005)
    t0 = time.time()
    with Store(db, timeout_s=30) as st:   # every writer opens (and creates) the store itself
        for r in records:
            assert st.add(r)
    print("done", tag, t0, time.time())
    """
)


def test_two_processes_write_at_once(tmp_path: Path, sample: list[Result]) -> None:
    db = tmp_path / "shared.db"  # does not exist yet: both writers race to create it too
    template = tmp_path / "template.json"
    template.write_text(sample[0].model_dump_json())
    go = tmp_path / "go"
    n = 150
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(template), tag, str(n), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for tag in ("a", "b")
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.{t}").exists() for t in "ab") and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (stdout, stderr) in zip(procs, outs, strict=True):
        assert p.returncode == 0, stderr
        assert stderr.strip() == ""
        assert stdout.startswith("done")
    assert db_count(db) == 2 * n
    with Store(db) as st:
        rs = st.query()
        assert len({r.result_id for r in rs}) == 2 * n
        for tag in ("a", "b"):
            ms = sorted(r.case["m"] for r in rs if r.run_id == f"writer-{tag}")
            assert ms == list(range(n))
        assert st.version == store_mod.STORE_VERSION
    # the writers really overlapped: each started before the other had finished
    spans = [tuple(map(float, o.split()[2:4])) for o, _ in outs]
    assert max(s for s, _ in spans) < min(e for _, e in spans)


def test_reader_sees_committed_results_while_a_writer_holds_a_transaction(
    tmp_path: Path, sample: list[Result]
) -> None:
    path = tmp_path / "wal.db"
    with Store(path) as w, Store(path, timeout_s=1) as r:
        w.add(sample[0])
        w._con.execute("BEGIN IMMEDIATE")
        w._con.execute("DELETE FROM results")
        assert r.count() == 1  # WAL: the reader is not blocked and sees the last commit
        w._con.execute("ROLLBACK")
        assert json.loads(json.dumps(r.get(sample[0].result_id).model_dump(mode="json")))


def test_id_and_run_prefixes_match_literally(tmp_path: Path, sample: list[Result]) -> None:
    """A prefix is a plain prefix: '_' and '%' are not wildcards and case matters, so that
    `results delete --run my_suite-...` cannot take another suite's results with it."""
    with Store(tmp_path / "p.db") as st:
        for run in ("my_suite-1", "myXsuite-1", "My_suite-2", "50%-1", "500-1"):
            st.add(make_result(sample[0], run_id=run))
        assert {r.run_id for r in st.query(run="my_suite")} == {"my_suite-1"}
        assert {r.run_id for r in st.query(run="50%")} == {"50%-1"}
        assert st.count(run="MY_SUITE") == 0
        assert st.delete(run="my_suite") == 1
        assert st.count() == 4
        rid = st.query(run="500")[0].result_id
        assert st.get(rid[:8]).run_id == "500-1"
        if rid != rid.upper():  # hex ids are lower case; an upper-case spelling is not them
            assert st.count(ids=[rid.upper()]) == 0
        with pytest.raises(StoreError, match="no result"):
            st.get("%")


# -- run ownership, atomic merge, real migration ---------------------------------------------------
def test_a_live_run_in_another_process_is_not_joined(store: Store, sample: list[Result]) -> None:
    host = sample[0].environment.host
    store.start_run("live", "storetest", "fake:0", host, 1, {})
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as other:
        try:
            store._con.execute("UPDATE runs SET pid=? WHERE run_id='live'", (other.pid,))
            assert store.resumable_run("storetest", "fake:0", host, 1) is None
        finally:
            other.kill()
    other.wait()
    # Its owner is gone (killed): now it is an abandoned run to resume.
    assert store.resumable_run("storetest", "fake:0", host, 1) == "live"


def test_add_many_is_all_or_nothing(tmp_path: Path, sample: list[Result]) -> None:
    class Boom(Exception):
        pass

    def results_then_failure():
        yield sample[0]
        yield sample[1]
        raise Boom

    with Store(tmp_path / "a.db") as st:
        with pytest.raises(Boom):
            st.add_many(results_then_failure())
        assert st.count() == 0
        assert st.add_many(sample) == (len(sample), 0)


def test_version_1_store_is_migrated_in_place(tmp_path: Path, sample: list[Result]) -> None:
    """A store written by the first release (no runs.pid) opens, keeps its data, gains pid."""
    path = tmp_path / "v1.db"
    con = sqlite3.connect(path)
    store_mod._migrate_0_to_1(con)
    con.execute("PRAGMA user_version=1")
    con.execute(
        "INSERT INTO runs (run_id, suite, device, host, threads, state, started_at)"
        " VALUES ('old', 's', 'cpu', 'h', 1, 'interrupted', '2026-01-01')"
    )
    con.commit()
    con.close()
    with Store(path) as st:
        assert st.version == store_mod.STORE_VERSION
        assert st.resumable_run("s", "cpu", "h", 1) == "old"
        st.add_many(sample)
        assert st.count() == len(sample)
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(runs)")]
    assert "pid" in cols


def _v2_store(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    store_mod._migrate_0_to_1(con)
    store_mod._migrate_1_to_2(con)
    con.execute("PRAGMA user_version=2")
    return con


def test_version_2_store_upgrades_and_keeps_its_imports_apart(
    tmp_path: Path, sample: list[Result]
) -> None:
    """A store written before provenance was kept: results of runs marked 'imported' become
    results of one legacy import; local ones stay measured here; the data is intact."""
    path = tmp_path / "v2.db"
    con = _v2_store(path)
    local, foreign = sample[0], sample[5]
    assert local.run_id != foreign.run_id
    for r, state in ((local, "complete"), (foreign, "imported")):
        e = r.environment
        con.execute(
            "INSERT INTO runs (run_id, suite, device, host, threads, state, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (r.run_id, r.suite, r.device, e.host, e.threads, state, "2026-01-01"),
        )
        con.execute(
            "INSERT INTO results (result_id, run_id, suite, workload, kind, device, host,"
            " threads, case_key, status, started_at, record) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                r.result_id,
                r.run_id,
                r.suite,
                r.workload,
                r.kind,
                r.device,
                e.host,
                e.threads,
                r.case_key,
                r.status.value,
                r.started_at.isoformat(),
                r.model_dump_json(),
            ),
        )
    con.commit()
    con.close()
    with Store(path, readonly=True) as st:  # a reader reads it as it is, without upgrading
        assert st.version == 2 and st.imported_ids() == {foreign.result_id}
    with Store(path) as st:
        assert st.version == store_mod.STORE_VERSION
        assert st.imported_ids() == {foreign.result_id}
        (imp,) = st.imports()
        assert imp["source"] == store_mod.LEGACY_IMPORT_SOURCE and imp["results"] == 1
        here = st.query(measured_here=True)
        assert [r.result_id for r in here] == [local.result_id]
        assert {r.result_id for r in st.query()} == {local.result_id, foreign.result_id}


def test_imports_keep_their_source_and_time(tmp_path: Path, sample: list[Result]) -> None:
    with Store(tmp_path / "a.db") as st:
        (s,) = st.merge([("/data/from-box-b.jsonl", sample[:3])])
        assert (s.added, s.already_present, s.conflicts) == (3, 0, [])
        (imp,) = st.imports()
        assert imp["source"] == "/data/from-box-b.jsonl" and imp["results"] == 3
        assert imp["imported_at"].startswith("20")
        # the same file again adds nothing and leaves no empty import behind
        (s,) = st.merge([("/data/from-box-b.jsonl", sample[:3])])
        assert (s.added, s.already_present) == (0, 3)
        assert len(st.imports()) == 1


def test_an_imported_record_with_a_local_run_id_stays_imported(
    tmp_path: Path, sample: list[Result]
) -> None:
    """The run row says 'complete' (measured here); the result still came from a file."""
    with Store(tmp_path / "a.db") as st:
        r = sample[0]
        st.start_run(r.run_id, r.suite, r.device, r.environment.host, 1, {})
        st.finish_run(r.run_id)
        st.merge([("crafted.jsonl", [r])])
        assert r.result_id in st.imported_ids()
        assert r.result_id not in {x.result_id for x in st.query(measured_here=True)}
        assert (r.workload, r.case_key) not in st.ok_cases(
            r.suite, r.device, r.environment.host, r.environment.threads
        )
        assert {x.state for x in st.runs() if x.run_id == r.run_id} == {"complete"}


def test_a_duplicate_id_with_other_content_is_a_conflict(
    tmp_path: Path, sample: list[Result]
) -> None:
    ok = next(r for r in sample if r.status is Status.OK)
    other = Result.model_validate(
        {**ok.model_dump(mode="json"), "message": "numbers changed after the fact"}
    )
    assert other.result_id == ok.result_id
    with Store(tmp_path / "a.db") as st:
        st.add(ok)
        (s,) = st.merge([("tampered.jsonl", [other])])
        assert (s.added, s.already_present, s.conflicts) == (0, 0, [ok.result_id])
        assert st.get(ok.result_id).message == ok.message


def test_a_blank_limit_or_one_beyond_sqlite_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="--limit"):
        store.query(limit=2**63)
    assert len(store.query(limit=2**63 - 1)) == store.count()
