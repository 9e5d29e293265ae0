"""Clumsy and hostile input against the store and every path that reads or writes it.

Results are the product: one bad record must never make a store unreadable, an import must
never pass for this machine's measurements, and no output path may overwrite the database or
a device. Each test drives the CLI (in-process, as a user types it) with non-finite numbers,
control characters, HTML and Markdown payloads, SQL fragments, huge and deep records, special
files and read-only paths, and checks that it ends in correct behaviour or in one ``error:``
line naming the field or file, a non-zero exit, and the store's row count unchanged.
Numbered comments refer to the items of the issue that asked for this (issue 13).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from helpers import REPO, db_count, suite_data, write_suite

from accelbench.api import run_suite
from accelbench.cli import main
from accelbench.config import validate_suite
from accelbench.devices.fake import FakeDevice
from accelbench.results import io as io_mod
from accelbench.results.schema import case_key
from accelbench.results.store import Store

MiB = 1 << 20
EVIL = (
    "<script>alert(1)</script>\x1b]0;PWNED\x07\x1b[2J[/bold][x](javascript:alert(1))"
    "|=cmd|' /C calc'!A0 \u202egnp.exe"
)


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one run: three ok GEMMs and three unsupported float16 ones."""
    db = tmp_path_factory.mktemp("hostile") / "base.db"
    suite = validate_suite(suite_data([16, 32, 48], ["float32", "float16"], name="tiny"), "test")
    run_suite(suite, device=FakeDevice(dtypes=["float32"]), db=db, threads=1)
    return db


@pytest.fixture
def db(base: Path, tmp_path: Path) -> Path:
    """A private copy of the base store."""
    path = tmp_path / "results.db"
    shutil.copy(base, path)
    return path


@pytest.fixture
def record(base: Path) -> dict[str, Any]:
    """One stored ok record as plain JSON data, to craft imports from."""
    with Store(base, readonly=True) as st:
        ok = st.query(status="ok")[0]
    return json.loads(ok.model_dump_json())


def with_ids(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the ids its content gives (what a careful forger computes)."""
    key = case_key(data["case"])
    ident = "|".join(
        [
            data["run_id"],
            data["suite"],
            data["workload"],
            key,
            data["device"],
            data["environment"]["host"],
            data["started_at"].replace("Z", "+00:00"),
        ]
    )
    return {**data, "case_key": key, "result_id": hashlib.sha256(ident.encode()).hexdigest()[:32]}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_error(err: str, *must: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in err and "internal error" not in err
    for m in must:
        assert m in lines[0], (m, lines[0])
    return lines[0]


def jsonl(path: Path, *records: dict[str, Any] | str) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n")
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def twin(db: Path) -> Path:
    """Another run of the base suite, beside ``db``: the other side of a comparison (a store
    compared with itself is refused outright, every ratio being 1 by construction)."""
    path = db.with_name("other-run.db")
    if not path.exists():
        suite = validate_suite(suite_data([16, 32, 48], ["float32", "float16"], name="tiny"), "t")
        run_suite(suite, device=FakeDevice(dtypes=["float32"]), db=path, threads=1)
    return path


def every_reader_works(capsys, db: Path, tmp_path: Path) -> None:
    """list, show, export, report and compare all succeed on ``db``."""
    code, out, err = cli(capsys, "results", "list", "--db", str(db), "--json")
    assert code == 0, err
    first = json.loads(out)[0]["id"]
    assert cli(capsys, "results", "show", first, "--db", str(db))[0] == 0
    assert cli(capsys, "results", "export", str(tmp_path / "x.jsonl"), "--db", str(db))[0] == 0
    code, _, err = cli(
        capsys, "report", "--db", str(db), "-o", str(tmp_path / "r.md"), "--format", "md"
    )
    assert code == 0, err
    code, _, err = cli(capsys, "compare", str(twin(db)), str(db), "--db", str(db))
    assert code == 0, err


# -- 1. non-finite numbers -------------------------------------------------------------------------
LOCATIONS = {
    "metric": (
        "metrics.time_median.value",
        lambda d, v: d["metrics"]["time_median"].update(value=v),
    ),
    "sample": ("samples.0", lambda d, v: d["samples"].__setitem__(0, v)),
    "summary": ("summary.median", lambda d, v: d["summary"].update(median=v)),
    "trace": (
        "trace.0.wall_s",
        lambda d, v: d["trace"].append({"epoch": 1, "wall_s": v, "train_s": 1.0}),
    ),
    "config": ("config.protocol.wall_s", lambda d, v: d["config"]["protocol"].update(wall_s=v)),
}
# Literal JSON text for each payload, put in place of a marker number.
PAYLOADS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e400": "1e400"}
MARKER = 123456.789012


@pytest.mark.parametrize("where", list(LOCATIONS))
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_non_finite_numbers_are_refused_with_file_line_and_field(
    capsys, db: Path, tmp_path: Path, record: dict, where: str, payload: str
) -> None:
    field, put = LOCATIONS[where]
    bad = json.loads(json.dumps(record))
    bad["run_id"] = "elsewhere"
    put(bad, MARKER)
    text = json.dumps(with_ids(bad)).replace(repr(MARKER), PAYLOADS[payload])
    path = jsonl(tmp_path / "bad.jsonl", with_ids({**record, "run_id": "fine"}), text)
    n = db_count(db)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, f"{path}:2", field)
    assert db_count(db) == n  # the good record on line 1 was not added either
    if (where, payload) == ("metric", "NaN"):  # once: the store is as readable as before
        every_reader_works(capsys, db, tmp_path)


@pytest.mark.parametrize("where", ["metric", "sample", "summary"])
def test_a_nan_string_in_a_number_field_is_refused(
    capsys, db: Path, tmp_path: Path, record: dict, where: str
) -> None:
    field, put = LOCATIONS[where]
    bad = json.loads(json.dumps(record))
    put(bad, "NaN")
    path = jsonl(tmp_path / "bad.jsonl", with_ids(bad))
    n = db_count(db)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, f"{path}:1", field, "finite")
    assert db_count(db) == n


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_non_finite_numbers_in_csv_and_parquet_records_are_refused(
    capsys, db: Path, tmp_path: Path, record: dict, fmt: str
) -> None:
    bad = json.loads(json.dumps(record))
    bad["metrics"]["time_median"]["value"] = MARKER
    text = json.dumps(with_ids(bad)).replace(repr(MARKER), "NaN")
    path = tmp_path / f"bad.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["result_id", "record"])
            w.writerow(["x", text])
    else:
        pq.write_table(pa.table({"record": [text]}), path)
    n = db_count(db)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, str(path), "metrics.time_median.value")
    assert db_count(db) == n


def test_a_fresh_measurement_is_validated_the_same_way() -> None:
    from pydantic import ValidationError

    from accelbench.results.schema import Metric

    with pytest.raises(ValidationError, match="finite"):
        Metric(value=float("nan"), unit="s")
    with pytest.raises(ValidationError, match="finite"):
        Metric(value=float("inf"), unit="s")


def _break_rows(db: Path) -> list[str]:
    """Two damaged stored rows: invalid JSON, and a record a NaN turned into null (what an
    older accelbench stored). Returns their ids."""
    con = sqlite3.connect(db)
    ids = [r[0] for r in con.execute("SELECT result_id FROM results ORDER BY rowid LIMIT 2")]
    con.execute("UPDATE results SET record = '{\"broken\": ' WHERE result_id = ?", (ids[0],))
    rec = json.loads(
        con.execute("SELECT record FROM results WHERE result_id=?", (ids[1],)).fetchone()[0]
    )
    rec["metrics"] = {"x": {"value": None, "unit": "s"}}
    con.execute("UPDATE results SET record = ? WHERE result_id = ?", (json.dumps(rec), ids[1]))
    con.commit()
    con.close()
    return ids


def test_one_bad_stored_row_never_costs_the_others(capsys, db: Path, tmp_path: Path) -> None:
    n = db_count(db)
    bad = _break_rows(db)
    code, out, err = cli(capsys, "results", "list", "--db", str(db), "--json")
    assert code == 0
    assert len(json.loads(out)) == n - 2
    warnings = [ln for ln in err.splitlines() if ln]
    assert len(warnings) == 2 and all(w.startswith("warning:") for w in warnings)
    assert all(any(b in w for w in warnings) for b in bad)
    for args in (
        ("results", "export", str(tmp_path / "x.csv")),
        ("report", "-o", str(tmp_path / "r.md"), "--format", "md"),
        ("compare", str(twin(db)), str(db)),
    ):
        code, _, err = cli(capsys, *args, "--db", str(db))
        assert code == 0, err
        assert all(b in err for b in bad) and "error" not in err
    code, _, err = cli(capsys, "results", "show", bad[0], "--db", str(db))
    assert code == 2
    one_error(err, bad[0], "not valid JSON")
    assert db_count(db) == n


def test_a_run_on_a_store_with_unreadable_rows_measures_those_cases_again(
    capsys, db: Path, tmp_path: Path
) -> None:
    """`run` used to die with 'OperationalError: malformed JSON' on such a row. A row nobody
    can read does not count as done: both damaged cases are measured again."""
    bad = _break_rows(db)
    suite = write_suite(tmp_path / "s.yaml", suite_data([16, 32, 48], ["float32", "float16"]))
    code, out, err = cli(
        capsys, "run", str(suite), "--device", "fake", "--db", str(db), "--threads", "1", "--json"
    )
    assert code == 0, err
    assert all(b in err for b in bad) and "measuring again" in err
    assert len(json.loads(out)["results"]) == 2


# -- 2. an empty id prefix -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [[""], [" "], ["\t"], ["--run", ""], ["--run", " "], ["--suite", " "], ["--status", ""]],
    ids=["empty", "space", "tab", "run-empty", "run-space", "suite-space", "status-empty"],
)
def test_an_empty_filter_deletes_nothing(capsys, db: Path, args: list[str]) -> None:
    n = db_count(db)
    code, _, err = cli(capsys, "results", "delete", *args, "--db", str(db), "--yes")
    assert code == 2
    one_error(err)
    assert db_count(db) == n


@pytest.mark.parametrize("fragment", ["'; DROP TABLE results; --", "%", "_", "' OR 1=1 --"])
def test_sql_fragments_are_plain_text(capsys, db: Path, fragment: str) -> None:
    n = db_count(db)
    for args in (["--run", fragment], ["--suite", fragment], [fragment]):
        code, out, err = cli(capsys, "results", "delete", *args, "--db", str(db), "--yes")
        assert code == 0 and "nothing matches" in out, err
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--workload", fragment, "--json")
    assert code == 0 and json.loads(out) == []
    assert db_count(db) == n


# -- 3. output onto the database -------------------------------------------------------------------
def test_no_output_can_overwrite_the_database(capsys, db: Path, tmp_path: Path) -> None:
    n, before = db_count(db), digest(db)
    os.link(db, tmp_path / "alias.html")
    attempts = [
        ("report", "--db", str(db), "-o", str(db)),
        ("report", "--db", str(db), "-o", str(tmp_path / "alias.html")),
        ("report", "--db", str(db), "-o", f"{db}-wal"),
        ("report", "--db", str(db), "--format", "md", "-o", str(db)),
        ("compare", str(twin(db)), str(db), "--db", str(db), "-o", str(db)),
        ("results", "export", str(db), "--db", str(db), "--format", "jsonl"),
        ("results", "export", str(db), "--db", str(db), "--format", "csv"),
    ]
    for args in attempts:
        code, _, err = cli(capsys, *args)
        assert code == 2, args
        one_error(err, "refusing to overwrite")
    assert digest(db) == before and db_count(db) == n


# -- 4. special files ------------------------------------------------------------------------------
def test_devices_and_stdout_stay_what_they_are(capfd, db: Path, tmp_path: Path) -> None:
    null = os.stat("/dev/null")
    for args in (
        ("results", "export", "/dev/null"),
        ("report", "-o", "/dev/null", "--format", "md"),
    ):
        assert main([*args, "--db", str(db)]) == 0
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == null.st_rdev
    capfd.readouterr()
    assert main(["results", "export", "-", "--db", str(db)]) == 0
    out = capfd.readouterr()
    assert len(out.out.splitlines()) == db_count(db)
    assert all(json.loads(line)["result_id"] for line in out.out.splitlines())
    assert "exported" in out.err  # the message goes to stderr, the data alone to stdout
    assert main(["report", "-o", "-", "--format", "md", "--db", str(db)]) == 0
    out = capfd.readouterr()
    assert out.out.startswith("# accelbench report") and "report of" in out.err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_device_is_one_error_and_stays_a_device(capsys, db: Path) -> None:
    code, _, err = cli(capsys, "results", "export", "/dev/full", "--db", str(db))
    assert code == 2
    one_error(err, "/dev/full", "No space left")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


# -- 5. atomic writes ------------------------------------------------------------------------------
def test_a_write_that_fails_midway_leaves_the_old_report_whole(
    capsys, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast stand-in for a full disk: the final flush to disk fails (ENOSPC)."""
    import errno

    from accelbench import fileio

    out = tmp_path / "report.md"  # Markdown: the same writer, without drawing figures
    out.write_text("<html>yesterday's complete report</html>")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full)
    for args in (
        ("report", "-o", str(out), "--format", "md"),
        ("results", "export", str(out), "--format", "csv"),
        ("compare", str(twin(db)), str(db), "-o", str(out)),
    ):
        code, _, err = cli(capsys, *args, "--db", str(db))
        assert code == 2
        one_error(err, str(out), "No space left")
        assert out.read_text() == "<html>yesterday's complete report</html>"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


NEEDS_TMPFS = pytest.mark.skipif(
    not _can_mount_tmpfs(), reason="needs root and mount namespaces to make a small filesystem"
)


@pytest.mark.slow
@NEEDS_TMPFS
def test_a_report_on_a_really_full_disk_leaves_the_old_one(db: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    script = f"""
set -e
mount -t tmpfs -o size=32k tmpfs {mnt}
printf 'complete old report' > {mnt}/report.html
set +e
{sys.executable} -m accelbench report --db {db} -o {mnt}/report.html 2> {tmp_path}/err
echo "rc=$?"
cat {mnt}/report.html; echo; ls -a {mnt}
"""
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=REPO
    )
    err = (tmp_path / "err").read_text()
    assert "rc=2" in done.stdout, done.stdout + err
    assert "complete old report" in done.stdout
    assert ".report.html." not in done.stdout  # no temporary file left behind
    one_error(err, "No space left")


# -- 6. imported results are other machines' facts -------------------------------------------------
def test_a_crafted_import_cannot_become_this_machines_peak(
    capsys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged peak-gemm result carrying the id of a run measured here (and this host's name
    and stack) must not be the peak that later utilisation is computed against."""
    db = tmp_path / "mine.db"
    data = suite_data([32], ["float32"], name="peaks")
    data["workloads"].insert(
        0, {"name": "peak", "kind": "peak-gemm", "params": {"sizes": [32], "dtypes": ["float32"]}}
    )
    suite = validate_suite(data, "test")
    first = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    peak = next(r for r in first.results if r.kind == "peak-gemm")
    forged = json.loads(peak.model_dump_json())
    forged["metrics"]["peak_gflops"]["value"] = 1e9
    forged["started_at"] = "2099-01-01T00:00:00Z"  # newer than anything measured here
    path = jsonl(tmp_path / "forged.jsonl", with_ids(forged))
    assert cli(capsys, "results", "import", str(path), "--db", str(db))[0] == 0
    gemm_only = validate_suite(suite_data([32], ["float32"], name="peaks"), "test")
    again = run_suite(gemm_only, device=FakeDevice(), db=db, threads=1, resume=False)
    (r,) = again.results
    used = r.references.measured_peak
    assert used is not None and used.result_id == peak.result_id and used.value != 1e18


def test_a_crafted_import_cannot_become_this_machines_idle_power(capsys, tmp_path: Path) -> None:
    """A forged idle-power result, newer than the measured one and carrying its run id, must
    not be the idle power that later results report their net energy above."""
    db = tmp_path / "mine.db"
    args = ("idle-power", "--device", "fake", "--seconds", "0.2", "--settle", "0")
    code, out, err = cli(capsys, *args, "--db", str(db), "--json")
    assert code == 0, err
    measured = json.loads(out)["result_id"]
    with Store(db, readonly=True) as st:
        forged = json.loads(st.get(measured).model_dump_json())
    forged["metrics"]["idle_power_w"]["value"] = 1.0
    forged["started_at"] = "2099-01-01T00:00:00Z"
    path = jsonl(tmp_path / "forged.jsonl", with_ids(forged))
    assert cli(capsys, "results", "import", str(path), "--db", str(db))[0] == 0
    with Store(db, readonly=True) as st:
        assert len(st.query(kind="idle-power")) == 2  # the forgery is stored, as an import
    suite = validate_suite(suite_data([16], ["float32"]), "test")
    (r,) = run_suite(suite, device="fake", db=db).results  # idle-power's thread count
    assert r.references.idle_power is not None
    assert r.references.idle_power.result_id == measured and r.references.idle_power.watts > 50


def test_a_crafted_import_cannot_make_resume_skip_a_case(capsys, tmp_path: Path) -> None:
    db = tmp_path / "mine.db"
    suite = validate_suite(suite_data([8, 16], ["float32"]), "test")
    first = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    with Store(db) as st:  # interrupted before its second case
        st._con.execute("DELETE FROM results WHERE case_key LIKE '%\"m\":16%'")
        st.finish_run(first.run_id, "interrupted")
    forged = json.loads(first.results[1].model_dump_json())
    forged["started_at"] = "2099-01-01T00:00:00Z"
    path = jsonl(tmp_path / "forged.jsonl", with_ids(forged))
    assert cli(capsys, "results", "import", str(path), "--db", str(db))[0] == 0
    resumed = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    assert resumed.run_id == first.run_id
    assert [r.case["m"] for r in resumed.results] == [16]  # measured, not skipped


def test_a_record_whose_id_does_not_match_its_content_is_refused(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    forged = {**record, "run_id": "someone-else"}  # the old id, other content
    path = jsonl(tmp_path / "forged.jsonl", forged)
    n = db_count(db)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, f"{path}:1", "does not match")
    assert db_count(db) == n


def test_a_duplicate_id_with_other_content_is_reported(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    forged = json.loads(json.dumps(record))
    forged["metrics"]["achieved_gflops"]["value"] = 1e9  # same identity, other numbers
    path = jsonl(tmp_path / "forged.jsonl", forged)
    n = db_count(db)
    code, out, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 0
    assert "1 conflicting (kept as stored)" in " ".join(out.split())
    assert record["result_id"] in err and err.startswith("warning:")
    assert db_count(db) == n
    with Store(db, readonly=True) as st:
        assert st.get(record["result_id"]).metric("achieved_gflops") != 1e9


# -- 7. Markdown is escaped ------------------------------------------------------------------------
def _hostile_db(db: Path, tmp_path: Path, record: dict, capsys) -> Path:
    evil = json.loads(json.dumps(record))
    evil.update(suite="s" + EVIL, workload="w" + EVIL, message="=1+1" + EVIL, run_id="r" + EVIL)
    evil["status"] = "error"
    evil["environment"].update(host="h" + EVIL, device_name="d" + EVIL, cpu_model="c" + EVIL)
    path = jsonl(tmp_path / "evil.jsonl", with_ids(evil))
    assert cli(capsys, "results", "import", str(path), "--db", str(db))[0] == 0
    return path


def test_markdown_report_and_comparison_escape_hostile_strings(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    _hostile_db(db, tmp_path, record, capsys)
    out = tmp_path / "r.md"
    code, _, err = cli(capsys, "report", "--db", str(db), "-o", str(out), "--format", "md")
    assert code == 0, err
    cmp_out = tmp_path / "c.md"
    assert (
        cli(capsys, "compare", str(twin(db)), str(db), "-o", str(cmp_out), "--db", str(db))[0] == 0
    )
    for text in (out.read_text(), cmp_out.read_text()):
        assert "<script" not in text and "&lt;script&gt;" in text
        assert not re.search(r"(?<!\\)\]\(javascript:", text)  # no link, only its text
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text


# -- 8. terminal escapes ---------------------------------------------------------------------------
def test_printed_text_carries_no_terminal_escapes(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    _hostile_db(db, tmp_path, record, capsys)
    with Store(db, readonly=True) as st:
        evil_id = st.query(status="error")[0].result_id
    for args in (
        ("results", "list"),
        ("results", "list", "--runs"),
        ("results", "show", evil_id),
        ("compare", str(twin(db)), str(db)),
    ):
        code, out, err = cli(capsys, *args, "--db", str(db))
        assert code == 0, err
        for ch in ("\x1b", "\x07", "\u202e"):
            assert ch not in out + err, (args, ch)
    code, out, _ = cli(capsys, "results", "show", evil_id, "--db", str(db))
    assert "\\x1b]0;PWNED" in "".join(out.split())  # shown, visibly, not obeyed


# -- 9. CSV formula injection ----------------------------------------------------------------------
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    evil = json.loads(json.dumps(record))
    evil.update(message='=HYPERLINK("http://x")', workload="+cmd", run_id="@SUM(A1)", suite="-2+3")
    evil["case"]["note"] = "=1+1"
    path = jsonl(tmp_path / "evil.jsonl", with_ids(evil))
    assert cli(capsys, "results", "import", str(path), "--db", str(db))[0] == 0
    out = tmp_path / "x.csv"
    assert cli(capsys, "results", "export", str(out), "--db", str(db))[0] == 0
    with out.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["suite"] == "'-2+3"]
    (row,) = rows
    assert row["message"] == '\'=HYPERLINK("http://x")'
    assert row["workload"] == "'+cmd" and row["run_id"] == "'@SUM(A1)"
    assert row["case.note"] == "'=1+1"
    assert float(row["time_median [s]"]) > 0  # numbers stay numbers
    (back,) = [r for r in io_mod.read_results(out) if r.suite == "-2+3"]
    assert back.message == '=HYPERLINK("http://x")'  # the record column stays lossless


# -- 10. read-only commands leave other files alone ------------------------------------------------
@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    path = tmp_path / "notes.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (text TEXT)")
    con.execute("INSERT INTO notes VALUES ('my own data')")
    con.commit()
    con.close()
    return path


def test_no_command_touches_a_database_that_is_not_accelbenchs(
    capsys, foreign: Path, tmp_path: Path, base: Path
) -> None:
    before = digest(foreign)
    suite = write_suite(tmp_path / "s.yaml", suite_data([8]))
    export = tmp_path / "e.jsonl"
    assert main(["results", "export", str(export), "--db", str(base)]) == 0
    capsys.readouterr()
    for args in (
        ("results", "list"),
        ("results", "list", "--runs"),
        ("results", "show", "abc"),
        ("results", "export", str(tmp_path / "x.jsonl")),
        ("report", "-o", str(tmp_path / "r.html")),
        ("results", "import", str(export)),
        ("results", "delete", "abc", "--yes"),
        ("run", str(suite), "--device", "fake"),
        ("compare", str(foreign), str(base)),
    ):
        code, _, err = cli(capsys, *args, "--db", str(foreign))
        assert code == 2, args
        one_error(err, str(foreign), "not an accelbench database")
    assert digest(foreign) == before
    con = sqlite3.connect(foreign)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 0
    assert [r[0] for r in con.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_reading_commands_do_not_change_the_store(capsys, db: Path, tmp_path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    before = digest(db)
    every_reader_works(capsys, db, tmp_path)
    assert digest(db) == before


# -- 11. a case larger than memory; a process that died during a case ------------------------------
def test_a_cpu_case_larger_than_ram_is_stored_as_oom_without_allocating(
    capsys, tmp_path: Path
) -> None:
    data = suite_data([8], ["float32"])
    data["workloads"].append(
        {"name": "huge", "kind": "gemm", "params": {"sizes": [1 << 20], "dtypes": ["float32"]}}
    )
    suite = write_suite(tmp_path / "s.yaml", data)
    db = tmp_path / "x.db"
    code, _, err = cli(
        capsys, "run", str(suite), "--device", "cpu", "--db", str(db), "--threads", "1"
    )
    assert code == 0, err
    with Store(db, readonly=True) as st:
        (r,) = st.query(workload="huge")
    assert r.status.value == "oom" and "checked before allocating" in r.message
    check = r.config["memory_check"]
    assert check["need_bytes"] == 3 * (1 << 40) * 4 and check["free_bytes"] < check["need_bytes"]


def test_resume_stores_the_case_a_dead_process_was_measuring_as_an_error(tmp_path: Path) -> None:
    """What a kill -9 (or the kernel's OOM killer) leaves: a 'running' run whose process is
    gone and whose in-flight case has no result. The resume records it and moves on."""
    db = tmp_path / "x.db"
    suite = validate_suite(suite_data([8, 16, 24], ["float32"]), "test")
    first = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with Store(db) as st:
        st._con.execute(
            "DELETE FROM results WHERE case_key LIKE '%\"m\":16%' OR case_key LIKE '%\"m\":24%'"
        )
        st.mark_in_flight(
            first.run_id, {"workload": "gemm-square", "case_key": first.results[1].case_key}
        )
        st._con.execute("UPDATE runs SET state='running', pid=?", (gone.pid,))
    resumed = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    assert resumed.run_id == first.run_id
    assert [(r.case["m"], r.status.value) for r in resumed.results] == [(16, "error"), (24, "ok")]
    assert resumed.results[0].message.startswith("process died during this case")
    again = run_suite(suite, device=FakeDevice(), db=db, threads=1)  # a new run retries it
    assert [(r.case["m"], r.status.value) for r in again.results] == [(16, "ok")]


KILLER = """
import os, signal, sys
from accelbench.api import run_suite
from accelbench.config import validate_suite
from accelbench.devices.fake import FakeDevice
calls = []
def die():
    calls.append(1)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
suite = validate_suite({"name": "k", "measure": {"mode": "fixed", "warmup": 0, "iterations": 1},
    "workloads": [{"name": "g", "kind": "gemm", "params": {"sizes": [8, 16, 24]}}]}, "t")
run_suite(suite, device=FakeDevice(fail_when=die), db=sys.argv[1], threads=1)
"""


@pytest.mark.slow
def test_a_sweep_killed_mid_case_resumes_past_that_case(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    calls_per_case = 1
    dead = subprocess.run(
        [sys.executable, "-c", KILLER, str(db), str(3 * calls_per_case + 1)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert dead.returncode == -9, dead.stderr
    suite = validate_suite(
        {
            "name": "k",
            "measure": {"mode": "fixed", "warmup": 0, "iterations": 1},
            "workloads": [{"name": "g", "kind": "gemm", "params": {"sizes": [8, 16, 24]}}],
        },
        "t",
    )
    resumed = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    statuses = {(r.case["m"], r.case["dtype"]): r.status.value for r in resumed.results}
    assert "error" in statuses.values()
    with Store(db, readonly=True) as st:
        assert len(st.query()) == 9 and [r.state for r in st.runs()] == ["complete"]


# -- 13. a full disk -------------------------------------------------------------------------------
def test_a_full_store_is_one_line_and_the_run_is_marked_interrupted(tmp_path: Path) -> None:
    """SQLite's own 'database or disk is full', made with max_page_count."""
    from accelbench.errors import StoreError

    db = tmp_path / "x.db"
    suite = validate_suite(suite_data(list(range(8, 200, 8)), ["float32"]), "test")
    st = Store(db)
    pages = st._con.execute("PRAGMA page_count").fetchone()[0]
    st._con.execute(f"PRAGMA max_page_count={pages + 6}")
    with pytest.raises(StoreError, match="database or disk is full") as exc:
        run_suite(suite, device=FakeDevice(), store=st, threads=1)
    assert "is marked interrupted" in str(exc.value) and "\n" not in str(exc.value)
    (run,) = st.runs()
    assert run.state == "interrupted" and 0 < run.n_results < 24
    st.close()
    # with room again, the same command resumes it
    resumed = run_suite(suite, device=FakeDevice(), db=db, threads=1)
    assert resumed.run_id == run.run_id and resumed.skipped_already_stored == run.n_results


@pytest.mark.slow
@NEEDS_TMPFS
def test_a_really_full_disk_stops_the_run_with_one_line(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    suite = write_suite(tmp_path / "s.yaml", suite_data(list(range(8, 400, 8)), ["float32"]))
    script = f"""
mount -t tmpfs -o size=160k tmpfs {mnt} || exit 99
{sys.executable} -m accelbench run {suite} --device fake --db {mnt}/x.db --threads 1 \
    2> {tmp_path}/err
echo "rc=$?"
{sys.executable} -c "
from accelbench.results.store import Store
print('states', [r.state for r in Store('{mnt}/x.db', readonly=True).runs()])"
"""
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=REPO
    )
    err = (tmp_path / "err").read_text()
    assert "rc=2" in done.stdout, done.stdout + done.stderr + err
    assert "states ['interrupted']" in done.stdout
    line = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(line) == 1 and "database or disk is full" in line[0], err


# -- 14. numbers outside what the machine can use --------------------------------------------------
@pytest.mark.parametrize(
    "args, option",
    [
        (["--threads", "100000"], "--threads 100000"),
        (["--threads", "1099511627776"], "--threads 1099511627776"),
        (["--threads", "0"], "--threads 0"),
        (["--power-rate", "0.05"], "--power-rate 0.05"),
        (["--power-rate", "5000"], "--power-rate 5000"),
        (["--power-rate", "nan"], "--power-rate nan"),
        (["--power-rate", "inf"], "--power-rate inf"),
    ],
)
def test_run_options_are_bounded(capsys, tmp_path: Path, args: list[str], option: str) -> None:
    suite = write_suite(tmp_path / "s.yaml", suite_data([8]))
    db = tmp_path / "x.db"
    code, _, err = cli(capsys, "run", str(suite), "--device", "fake", "--db", str(db), *args)
    assert code == 2
    line = one_error(err, option)
    assert " to " in line  # the bound is in the message
    assert db_count(db) == 0
    if db.exists():
        with Store(db, readonly=True) as st:
            assert st.runs() == []  # no orphan run


@pytest.mark.parametrize(
    "args, option",
    [
        (["results", "list", "--limit", "99999999999999999999999"], "--limit"),
        (["compare", "a@fake:0", "b@fake:0", "--base-price", "inf"], "--base-price inf"),
        (["compare", "a@fake:0", "b@fake:0", "--candidate-price", "1e300"], "--candidate-price"),
        (["devices", "--threads", "100000"], "--threads 100000"),
    ],
)
def test_other_numeric_options_are_bounded(capsys, db: Path, args: list[str], option: str) -> None:
    n = db_count(db)
    code, _, err = cli(capsys, *args, *(["--db", str(db)] if args[0] != "devices" else []))
    assert code == 2
    one_error(err, option)
    assert db_count(db) == n


# -- 15. oversized input ---------------------------------------------------------------------------
def test_a_deeply_nested_record_is_one_line(capsys, db: Path, tmp_path: Path) -> None:
    depth = 200_000
    path = tmp_path / "deep.jsonl"
    path.write_text('{"config": ' + "[" * depth + "]" * depth + "}\n")
    n = db_count(db)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, f"{path}:1", "nested too deeply")
    assert db_count(db) == n


def test_nesting_beyond_the_limit_is_refused_by_the_schema(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    deep: Any = 1.0
    for _ in range(100):
        deep = {"d": deep}
    bad = {**record, "config": {**record["config"], "deep": deep}}
    path = jsonl(tmp_path / "deep.jsonl", with_ids(bad))
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, "config.deep.d.d", "nested deeper than")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "db"])
def test_an_oversized_record_is_refused_before_it_is_read_whole(
    capsys, db: Path, tmp_path: Path, record: dict, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(io_mod, "MAX_RECORD_BYTES", 64 * 1024)  # the real cap is 16 MiB
    big = {**record, "message": "x" * (200 * 1024), "run_id": "big"}
    text = json.dumps(with_ids(big))
    path = tmp_path / f"big.{fmt}"
    if fmt == "jsonl":
        jsonl(path, text)
    elif fmt == "csv":
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["record"])
            w.writerow([text])
    elif fmt == "parquet":
        pq.write_table(pa.table({"record": [text]}), path)
    else:
        Store(path).close()  # an empty accelbench store
        con = sqlite3.connect(path)
        con.execute(
            "INSERT INTO results (result_id, run_id, suite, workload, kind, device, host, threads,"
            " case_key, status, started_at, record) VALUES ('x','big','s','w','k','d','h',1,'c',"
            "'ok','t',?)",
            (text,),
        )
        con.commit()
        con.close()
    n = db_count(db)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 2
    one_error(err, str(path), "record larger than")
    assert db_count(db) == n


# -- 16. the smaller ones --------------------------------------------------------------------------
def test_an_impossible_conv_grid_says_why(capsys, tmp_path: Path) -> None:
    data = {
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
    suite = write_suite(tmp_path / "conv.yaml", data)
    db = tmp_path / "x.db"
    code, _, err = cli(capsys, "run", str(suite), "--device", "fake", "--db", str(db))
    assert code == 2
    one_error(err, str(suite), "grid is empty", "kernel 7")
    assert not db.exists()


def test_an_unwritable_cache_names_the_path(tmp_path: Path, capsys) -> None:
    from accelbench.data.common import cached

    cache = tmp_path / "cache"
    cache.mkdir()
    locked = subprocess.run(["chattr", "+i", str(cache)], capture_output=True)
    if locked.returncode != 0:
        if os.geteuid() == 0:
            pytest.skip("cannot make a folder unwritable for root here (no chattr +i)")
        cache.chmod(0o555)
    try:
        data, hit = cached(cache, "demo", {"k": 1}, lambda: {"x": torch.arange(3)})
    finally:
        subprocess.run(["chattr", "-i", str(cache)], capture_output=True)
        cache.chmod(0o755)
    assert not hit and torch.equal(data["x"], torch.arange(3))
    err = capsys.readouterr().err
    assert err.startswith(f"warning: cache {cache}: cannot write") and "inline_container" not in err


def test_sigint_during_import_says_what_was_committed(
    capsys, db: Path, tmp_path: Path, base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "theirs.jsonl"
    other = tmp_path / "other.db"
    suite = validate_suite(suite_data([8, 24], ["float32"], name="theirs"), "test")
    run_suite(suite, device=FakeDevice(), db=other, threads=1)
    assert main(["results", "export", str(path), "--db", str(other)]) == 0
    n = db_count(db)
    original = Store.merge

    def interrupted_before_commit(self, batches):
        list(batches)
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "merge", interrupted_before_commit)
    capsys.readouterr()
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert code == 130 and err.strip() == (
        "interrupted: nothing was imported (the import is all or nothing; run it again)"
    )
    assert db_count(db) == n

    def interrupted_after_commit(self, batches):
        original(self, batches)
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "merge", interrupted_after_commit)
    code, _, err = cli(capsys, "results", "import", str(path), "--db", str(db))
    assert (
        code == 130 and err.strip() == "interrupted after the import was committed: 2 results added"
    )
    assert db_count(db) == n + 2


def test_a_run_named_twice_is_reported_once(capsys, db: Path, tmp_path: Path) -> None:
    with Store(db, readonly=True) as st:
        (run,) = st.runs()
    out = tmp_path / "r.md"
    code, stdout, err = cli(
        capsys,
        "report",
        "--db",
        str(db),
        "-o",
        str(out),
        "--format",
        "md",
        "--run",
        run.run_id,
        "--run",
        run.run_id[:12],
    )
    assert code == 0, err
    assert "from 1 run(s)" in stdout and f"report of {run.n_results} results" in stdout


def _immutable(path: Path) -> bool:
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


def test_a_read_only_database_is_one_line_for_import_and_run(
    capsys, db: Path, tmp_path: Path, record: dict
) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if not _immutable(db):
        if os.geteuid() == 0:
            pytest.skip("root ignores file modes and chattr +i is unavailable here")
        db.chmod(0o444)
    try:
        path = jsonl(tmp_path / "new.jsonl", with_ids({**record, "run_id": "new"}))
        suite = write_suite(tmp_path / "s.yaml", suite_data([8]))
        n = db_count(db)
        for args in (
            ("results", "import", str(path)),
            ("run", str(suite), "--device", "fake", "--no-resume"),
            ("results", "delete", record["result_id"], "--yes"),
        ):
            code, _, err = cli(capsys, *args, "--db", str(db))
            assert code == 2, args
            one_error(err, str(db), "read-only")
        assert db_count(db) == n
        code, out, err = cli(capsys, "results", "list", "--db", str(db), "--json")
        assert code == 0 and len(json.loads(out)) == n  # reading still works
    finally:
        subprocess.run(["chattr", "-i", str(db)], capture_output=True)
        db.chmod(0o644)


# -- the helpers behind the above ------------------------------------------------------------------
def test_printable_makes_control_characters_visible() -> None:
    from accelbench.terminal import printable

    assert printable("a\x1b[2Jb\x07c\u202ed\ttab\nline") == "a\\x1b[2Jb\\x07c\\u202ed\ttab\nline"
    assert printable("ünïcode ok") == "ünïcode ok"


def test_markdown_escape_keeps_text_and_drops_markup() -> None:
    from accelbench.report.markdown import escape

    assert escape("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert (
        escape("[a](javascript:x) *b* `c` |d|") == "\\[a\\](javascript:x) \\*b\\* \\`c\\` \\|d\\|"
    )
    assert escape("achieved_gflops") == "achieved_gflops"  # intraword: not emphasis
    assert escape("_em_") == "\\_em\\_"
    assert escape("# heading") == "\\# heading"
    assert escape("two\nlines") == "two lines"


def test_bounds_say_the_bound() -> None:
    from accelbench.errors import UserError
    from accelbench.limits import check_power_rate, check_price, check_threads, usable_cpus

    assert check_threads(1) == 1 and check_threads(usable_cpus()) == usable_cpus()
    with pytest.raises(UserError, match=f"expected 1 to {usable_cpus()}"):
        check_threads(usable_cpus() + 1)
    assert check_power_rate(10.0) == 10.0
    with pytest.raises(UserError, match=r"stretches each to 100 s"):
        check_power_rate(0.05)
    with pytest.raises(UserError, match="competes"):
        check_power_rate(1e4)
    with pytest.raises(UserError, match="positive hourly price"):
        check_price(float("inf"), "--base-price")


def _memory_cgroup_root() -> Path | None:
    """Where a child memory cgroup can be made for this process (v1 or v2), if anywhere."""
    if os.geteuid() != 0:
        return None
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctl, path = line.split(":", 2)
        if "memory" in ctl.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
        if ctl == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            folder = Path("/sys/fs/cgroup") / path.lstrip("/")
            if "memory" in (folder / "cgroup.subtree_control").read_text():
                return folder
    return None


@pytest.mark.slow
@pytest.mark.skipif(_memory_cgroup_root() is None, reason="needs root and a memory cgroup")
def test_a_case_beyond_the_memory_cgroup_is_oom_not_a_killed_sweep(tmp_path: Path) -> None:
    """Inside a 1.5 GiB memory cgroup (a container's limit, below the host's free RAM), a
    3 GiB GEMM is stored as oom before allocating, and the sweep goes on; without the check
    the kernel kills the process (exit 137) on every rerun."""
    parent = _memory_cgroup_root()
    assert parent is not None
    group = parent / f"accelbench-test-{os.getpid()}"
    group.mkdir()
    try:
        limit_file = (
            "memory.limit_in_bytes"
            if (group / "memory.limit_in_bytes").exists()
            else ("memory.max")
        )
        (group / limit_file).write_text(str(1536 * MiB))
        data = suite_data([16], ["float32"])
        data["workloads"].append(
            {"name": "huge", "kind": "gemm", "params": {"sizes": [16384], "dtypes": ["float32"]}}
        )
        data["workloads"].append(
            {"name": "after", "kind": "gemm", "params": {"sizes": [24], "dtypes": ["float32"]}}
        )
        suite = write_suite(tmp_path / "s.yaml", data)
        db = tmp_path / "x.db"
        done = subprocess.run(
            [
                "sh",
                "-c",
                f'echo $$ > {group}/cgroup.procs; exec "$@"',
                "sh",
                sys.executable,
                "-m",
                "accelbench",
                "run",
                str(suite),
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
            cwd=REPO,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        with Store(db, readonly=True) as st:
            status = {r.workload: r.status.value for r in st.query()}
            (huge,) = st.query(workload="huge")
        assert status == {"gemm-square": "ok", "huge": "oom", "after": "ok"}
        assert huge.config["memory_check"]["free_bytes"] <= 1536 * MiB
    finally:
        time.sleep(0.2)
        group.rmdir()
