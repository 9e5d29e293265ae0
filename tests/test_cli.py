"""The command line: one clear line for a user mistake, JSON for machines, and the results
commands end to end on a temporary store."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest
import torch
from helpers import cli_subprocess, suite_data, write_suite

from accelbench import __version__
from accelbench.cli import main
from accelbench.results.io import read_results
from accelbench.results.store import Store


@pytest.fixture(autouse=True)
def _keep_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def flat(text: str) -> str:
    """Human output with rich's line wrapping undone."""
    return " ".join(text.split())


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "tiny.yaml", suite_data([16, 32], ["float32", "float16"]))


@pytest.fixture
def filled_db(tmp_path: Path, suite_file: Path, capsys) -> tuple[Path, dict]:
    """A store holding one run of the tiny suite: 4 results, 2 per dtype."""
    db = tmp_path / "cli.db"
    code, out, _ = cli(
        capsys, "run", str(suite_file), "--device", "fake", "--db", str(db), "--json"
    )
    assert code == 0
    return db, json.loads(out)


# -- mistakes: one line, exit 2 ----------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["run", "quick", "--bogus"],
        ["run"],
        ["no-such-command"],
        ["run", "quick", "--threads", "many"],
        ["results", "list", "--limit", "x"],
    ],
    ids=["unknown-option", "missing-argument", "unknown-command", "bad-int", "bad-int-results"],
)
def test_usage_errors_are_one_line(capsys, args: list[str]) -> None:
    code, out, err = cli(capsys, *args)
    assert code == 2
    line = one_error_line(err)
    assert "--help" in line
    assert out == ""


def test_malformed_yaml_is_one_line(tmp_path: Path, capsys) -> None:
    bad = write_suite(tmp_path / "bad.yaml", "name: t\nworkloads:\n  - name: g\n   kind: gemm\n")
    code, out, err = cli(
        capsys, "run", str(bad), "--device", "fake", "--db", str(tmp_path / "x.db")
    )
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert str(bad) in line and "line 4" in line
    assert not (tmp_path / "x.db").exists()  # nothing was run or created


def test_invalid_suite_value_is_one_line(tmp_path: Path, capsys) -> None:
    bad = write_suite(tmp_path / "bad.yaml", suite_data([256, "big"]))  # type: ignore[list-item]
    code, _, err = cli(capsys, "run", str(bad), "--device", "fake", "--db", str(tmp_path / "x.db"))
    assert code == 2
    assert "workloads[0].params.sizes[1]" in one_error_line(err)


def test_verbose_shows_the_traceback(tmp_path: Path, capsys) -> None:
    code, _, err = cli(capsys, "run", str(tmp_path / "missing.yaml"), "--verbose")
    assert code == 2
    assert "Traceback" in err and "ConfigError" in err
    assert err.strip().splitlines()[-1].startswith("error:")
    assert "missing.yaml: no such file" in err


def test_unknown_device_is_one_line(suite_file: Path, tmp_path: Path, capsys) -> None:
    code, _, err = cli(
        capsys, "run", str(suite_file), "--device", "tpu9", "--db", str(tmp_path / "x.db")
    )
    assert code == 2
    assert "tpu9" in one_error_line(err)


def test_zero_threads_is_a_clear_error(suite_file: Path, tmp_path: Path, capsys) -> None:
    code, _, err = cli(
        capsys,
        "run",
        str(suite_file),
        "--device",
        "fake",
        "--db",
        str(tmp_path / "x.db"),
        "--threads",
        "0",
    )
    assert code == 2
    line = one_error_line(err)
    assert "--threads 0" in line and "expected 1 to" in line


def test_missing_db_is_a_clear_error(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing.db"
    for args in (
        ["results", "list"],
        ["results", "show", "abc"],
        ["results", "export", "x.jsonl"],
        ["results", "delete", "--status", "ok", "--yes"],
    ):
        code, _, err = cli(capsys, *args, "--db", str(missing))
        assert code == 2, args
        assert "no such database" in one_error_line(err)
    assert not missing.exists()  # and no empty store was left behind


def test_not_a_database_is_a_clear_error(tmp_path: Path, capsys) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("hello " * 1000)
    code, _, err = cli(capsys, "results", "list", "--db", str(notes))
    assert code == 2
    assert "not a usable accelbench database" in one_error_line(err)


def test_version(capsys) -> None:
    code, out, _ = cli(capsys, "--version")
    assert code == 0 and __version__ in out


# -- machine-readable output -----------------------------------------------------------------------
def test_devices_json_lists_the_cpu(capsys) -> None:
    code, out, _ = cli(capsys, "devices", "--json")
    assert code == 0
    data = json.loads(out)
    cpu = next(d for d in data["devices"] if d["kind"] == "cpu")
    assert cpu["spec"] == "cpu" and "float32" in cpu["supported_dtypes"]
    assert cpu["threads"] >= 1 and cpu["timer"] == "perf_counter"
    assert any(p["kind"] == "fake" and not p["available"] for p in data["absent"])


def test_suites_json(capsys) -> None:
    code, out, _ = cli(capsys, "suites", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["quick"]["cases"] == (
        22
        + rows["quick-inference"]["cases"]
        + rows["quick-train"]["cases"]
        + rows["quick-ops"]["cases"]
    )
    assert rows["quick"]["workloads"] == [
        "peak-compute",
        "peak-memory",
        "gemm-square",
        *rows["quick-inference"]["workloads"],
        *rows["quick-train"]["workloads"],
        *rows["quick-ops"]["workloads"],
    ]
    assert "gemm" in rows


def test_results_schema_is_json_schema(capsys) -> None:
    code, out, _ = cli(capsys, "results", "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["type"] == "object"
    assert {"result_id", "status", "metrics", "environment"} <= set(schema["properties"])


def test_run_json(filled_db, tmp_path: Path) -> None:
    db, report = filled_db
    assert report["run_id"].startswith("tiny-")
    assert report["device"] == "fake:0" and report["interrupted"] is False
    assert len(report["results"]) == 4
    (wl,) = report["workloads"]
    assert (wl["workload"], wl["cases"], wl["ok"]) == ("gemm-square", 4, 4)
    with Store(db) as st:
        assert {r.result_id for r in st.query()} == set(report["results"])


def test_run_with_unsupported_dtypes_reports_them(tmp_path: Path, capsys) -> None:
    # the fake device advertises float16, so exercise 'unsupported' through float64
    suite = write_suite(tmp_path / "s.yaml", suite_data([8], ["float32", "float64"]))
    code, out, err = cli(
        capsys, "run", str(suite), "--device", "fake", "--db", str(tmp_path / "u.db")
    )
    assert code == 0
    assert "unsupported: gemm-square gemm 8x8x8 float64" in flat(err)
    assert "2 results stored in" in flat(out)


def test_run_twice_skips_and_no_resume_measures_again(filled_db, suite_file: Path, capsys) -> None:
    db, first = filled_db
    code, out, err = cli(capsys, "run", str(suite_file), "--device", "fake", "--db", str(db))
    assert code == 0
    assert "nothing to do: all 4 cases are already stored" in flat(err)
    assert f"4 results already in {db} (runs: {first['run_id']})" in flat(out)
    code, out, _ = cli(
        capsys, "run", str(suite_file), "--device", "fake", "--db", str(db), "--no-resume", "--json"
    )
    assert code == 0
    again = json.loads(out)
    assert again["skipped_already_stored"] == 0 and len(again["results"]) == 4
    assert again["run_id"] != first["run_id"]
    with Store(db) as st:
        assert st.count() == 8


# -- results commands end to end -----------------------------------------------------------------
def test_results_list_and_show(filled_db, capsys) -> None:
    db, report = filled_db
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"ok"}
    assert {r["run"] for r in rows} == {report["run_id"]}
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--json", "--limit", "1")
    assert len(json.loads(out)) == 1
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--json", "--status", "oom")
    assert json.loads(out) == []
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--runs", "--json")
    (run,) = json.loads(out)
    assert run["run_id"] == report["run_id"]
    assert run["n_results"] == 4 and run["state"] == "complete"
    code, out, _ = cli(capsys, "results", "list", "--db", str(db))
    assert code == 0 and "4 results in" in out

    rid = report["results"][0]
    code, out, _ = cli(capsys, "results", "show", rid[:10], "--db", str(db), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["result_id"] == rid and len(shown["samples"]) == 3
    code, out, _ = cli(capsys, "results", "show", rid[:10], "--db", str(db))
    assert code == 0 and rid in out and "achieved_gflops" in out and "median=" in out

    code, _, err = cli(capsys, "results", "show", "ffffffffff", "--db", str(db))
    assert code == 2 and "no result" in one_error_line(err)
    code, _, err = cli(capsys, "results", "list", "--db", str(db), "--status", "great")
    assert code == 2 and "expected one of" in one_error_line(err)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_then_import_elsewhere(filled_db, tmp_path: Path, capsys, fmt: str) -> None:
    db, report = filled_db
    path = tmp_path / f"export.{fmt}"
    code, out, _ = cli(capsys, "results", "export", str(path), "--db", str(db))
    assert code == 0 and "exported 4 results" in out
    assert {r.result_id for r in read_results(path)} == set(report["results"])

    other = tmp_path / "other.db"  # a store on another machine; import creates it
    code, out, _ = cli(capsys, "results", "import", str(path), "--db", str(other), "--json")
    assert code == 0
    assert json.loads(out) == [
        {"file": str(path.resolve()), "added": 4, "already_present": 0, "conflicts": []}
    ]
    code, out, _ = cli(capsys, "results", "import", str(path), "--db", str(other))
    assert code == 0 and "0 added, 4 already present" in flat(out)
    with Store(db) as a, Store(other) as b:
        assert [r.model_dump() for r in a.query()] == [r.model_dump() for r in b.query()]


def test_export_filters(filled_db, tmp_path: Path, capsys) -> None:
    db, _ = filled_db
    path = tmp_path / "f16.jsonl"
    code, out, _ = cli(
        capsys,
        "results",
        "export",
        str(path),
        "--db",
        str(db),
        "--status",
        "ok",
        "--workload",
        "gemm-square",
    )
    assert code == 0 and "exported 4" in out
    code, _, err = cli(capsys, "results", "export", str(tmp_path / "x.xlsx"), "--db", str(db))
    assert code == 2 and "extension" in one_error_line(err)


def test_import_a_db_file(filled_db, tmp_path: Path, capsys) -> None:
    db, report = filled_db
    other = tmp_path / "merged.db"
    code, out, _ = cli(capsys, "results", "import", str(db), "--db", str(other), "--json")
    assert code == 0 and json.loads(out)[0]["added"] == 4
    with Store(other) as st:
        assert {r.result_id for r in st.query()} == set(report["results"])
        assert [r.state for r in st.runs()] == ["imported"]


def test_import_is_all_or_nothing(filled_db, tmp_path: Path, capsys) -> None:
    db, _ = filled_db
    good = tmp_path / "good.jsonl"
    cli(capsys, "results", "export", str(good), "--db", str(db))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"not": "a result"}\n')
    other = tmp_path / "other.db"
    code, _, err = cli(capsys, "results", "import", str(good), str(bad), "--db", str(other))
    assert code == 2
    assert "bad.jsonl:1" in one_error_line(err)
    if other.exists():
        with Store(other) as st:
            assert st.count() == 0


def test_delete(filled_db, capsys, monkeypatch) -> None:
    db, report = filled_db
    code, _, err = cli(capsys, "results", "delete", "--db", str(db), "--yes")
    assert code == 2 and "refusing" in one_error_line(err)

    rid = report["results"][0]
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = cli(capsys, "results", "delete", rid[:12], "--db", str(db))
    assert code == 1  # declined: nothing deleted
    with Store(db) as st:
        assert st.count() == 4

    code, out, _ = cli(capsys, "results", "delete", rid[:12], "--db", str(db), "--yes")
    assert code == 0 and "deleted 1 results" in out
    code, out, _ = cli(capsys, "results", "delete", "--status", "oom", "--db", str(db), "--yes")
    assert code == 0 and "nothing matches" in out
    code, out, _ = cli(
        capsys, "results", "delete", "--run", report["run_id"][:12], "--db", str(db), "--yes"
    )
    assert code == 0 and "deleted 3 results" in out
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0
    con.close()


def test_interrupt_exits_130_with_a_message(
    suite_file: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    import accelbench.api.runner as api

    real = api.run_case
    calls = []

    def interrupted_on_the_third(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(api, "run_case", interrupted_on_the_third)
    db = tmp_path / "i.db"
    code, out, err = cli(
        capsys, "run", str(suite_file), "--device", "fake", "--db", str(db), "--json"
    )
    assert code == 130
    assert json.loads(out)["interrupted"] is True
    assert "interrupted: 2 results of this run are stored" in flat(err)
    assert "Traceback" not in err
    with Store(db) as st:
        assert st.count() == 2 and st.runs()[0].state == "interrupted"


# -- as a user runs it: the console script in a fresh process --------------------------------
def test_console_script_bad_option() -> None:
    proc = cli_subprocess("run", "quick", "--no-such-flag")
    assert proc.returncode == 2
    line = one_error_line(proc.stderr)
    assert "--no-such-flag" in line
    assert proc.stdout == ""


def test_console_script_malformed_yaml(tmp_path: Path) -> None:
    bad = write_suite(tmp_path / "bad.yaml", "name: [t\n")
    proc = cli_subprocess("run", str(bad), "--db", str(tmp_path / "x.db"))
    assert proc.returncode == 2
    assert "malformed YAML at line" in one_error_line(proc.stderr)


def test_device_filter_accepts_what_run_accepts(filled_db, capsys) -> None:
    db, first = filled_db
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--device", "fake", "--json")
    assert code == 0 and len(json.loads(out)) == len(first["results"])
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--device", "cuda", "--json")
    assert code == 0 and json.loads(out) == []


def test_delete_without_a_filter_is_refused_before_asking(filled_db, capsys) -> None:
    db, first = filled_db
    code, _, err = cli(capsys, "results", "delete", "--db", str(db))
    assert code == 2 and "refusing to delete every result" in one_error_line(err)
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--json")
    assert len(json.loads(out)) == len(first["results"])  # nothing was lost


def test_run_ids_are_printed_whole_in_a_narrow_terminal(filled_db, capsys, monkeypatch) -> None:
    db, first = filled_db
    monkeypatch.setenv("COLUMNS", "60")
    code, out, _ = cli(capsys, "results", "list", "--db", str(db), "--runs")
    assert code == 0 and first["run_id"] in out


def test_repeated_unsupported_reasons_are_counted_not_repeated(tmp_path: Path, capsys) -> None:
    suite = write_suite(tmp_path / "s.yaml", suite_data([8, 16, 32], ["float32", "tfloat32"]))
    code, _, err = cli(
        capsys, "run", str(suite), "--device", "fake", "--db", str(tmp_path / "r.db")
    )
    assert code == 0
    text = flat(err)
    assert text.count("unsupported: gemm-square") == 1  # the first one, with its reason
    assert "without tfloat32" in text
    assert "and 2 more unsupported cases for the reasons above" in text
