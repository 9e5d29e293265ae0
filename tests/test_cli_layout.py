"""The CLI at 80 columns: tables lay out for the width without cutting a number or a unit,
progress in a pipe is plain lines, and the help is reachable and complete."""

from __future__ import annotations

import importlib
import io
import re
from pathlib import Path

import pytest
from helpers import suite_data, write_suite
from rich.console import Console

from accelbench.cli import main
from accelbench.cli.layout import Col, fit_columns, print_table

ELLIPSIS = ("…", "...")


def _console(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False, color_system=None), buf


def test_numbers_stay_whole_and_dropped_columns_are_named():
    cols = [
        Col("workload"),
        Col("best rate", numeric=True),
        Col("best case", priority=2),
        Col("median CV", numeric=True, priority=1),
        Col("notes", priority=3),
    ]
    rows = [
        ["peak-compute-with-a-long-name", "123456.7 GFLOP/s", "gemm 4096 float32 fwd", "0.3%", "x"],
        ["ops-rnn", "12.5 samples/s", "lstm b=64 h=1024 seq=100 float32", "12.0%", "y " * 30],
    ]
    con, buf = _console(50)
    print_table(con, cols, rows, title="run")
    text = buf.getvalue()
    assert "123456.7 GFLOP/s" in text and "12.5 samples/s" in text
    assert not any(e in text for e in ELLIPSIS), text
    assert "left out at 50 columns" in " ".join(text.split())
    assert all(len(line) <= 50 for line in text.splitlines()), text
    # the lowest-priority column went first; priority 0 never goes
    keep = fit_columns(cols, rows, 50)
    assert 0 in keep and 1 in keep and 4 not in keep


def test_a_wide_terminal_keeps_every_column():
    cols = [Col("a"), Col("b", numeric=True, priority=1)]
    assert fit_columns(cols, [["x", "1.0 ms"]], 200) == [0, 1]


@pytest.fixture
def narrow(monkeypatch):
    """Consoles built from here on see an 80-column pipe, as `accelbench ... | less` would."""
    cli_app = importlib.import_module("accelbench.cli.app")
    for name in ("out", "err"):
        con = getattr(cli_app, name)
        monkeypatch.setattr(con, "_width", 80)
    monkeypatch.setenv("COLUMNS", "80")


def _no_cut_numbers(text: str) -> None:
    assert "…" not in text, text
    # a number directly followed by an ellipsis, or a cut unit, is what the issue saw
    assert not re.search(r"\d\.\.\.", text), text
    assert all(len(line) <= 80 for line in text.splitlines()), text


def test_run_summary_results_list_and_suites_fit_80_columns(tmp_path: Path, capsys, narrow):
    suite = write_suite(tmp_path / "s.yaml", suite_data([16, 32], ["float32", "float64"]))
    db = tmp_path / "n.db"
    assert main(["run", str(suite), "--device", "fake", "--db", str(db)]) == 0
    cap = capsys.readouterr()
    _no_cut_numbers(cap.out)
    assert "GFLOP/s" in cap.out and "unsupported" in cap.out
    # stderr is captured, not a terminal: one plain line per workload, no bar
    assert "━" not in cap.err and "eta" not in cap.err, cap.err
    assert re.search(r"\[\d+/\d+\] \S+: 4 cases \(", cap.err), cap.err
    for args in (
        ["results", "list", "--db", str(db)],
        ["results", "list", "--runs", "--db", str(db)],
        ["suites"],
    ):
        assert main(args) == 0
        _no_cut_numbers(capsys.readouterr().out)


def test_compare_fits_80_columns(tmp_path: Path, capsys, narrow):
    suite = write_suite(tmp_path / "s.yaml", suite_data([16, 32], ["float32"]))
    db = tmp_path / "c.db"
    assert main(["run", str(suite), "--device", "fake", "--db", str(db)]) == 0
    assert main(["run", str(suite), "--device", "fake", "--db", str(db), "--no-resume"]) == 0
    capsys.readouterr()
    assert main(["results", "list", "--runs", "--db", str(db), "--json"]) == 0
    import json

    runs = [r["run_id"] for r in json.loads(capsys.readouterr().out)]
    assert main(["compare", runs[0], runs[1], "--db", str(db)]) == 0
    _no_cut_numbers(capsys.readouterr().out)


def test_bare_command_prints_help_and_verbose_is_documented(capsys):
    assert main([]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Usage: accelbench") and "--verbose" in text
    assert main(["results"]) == 0
    assert "Usage: accelbench results" in capsys.readouterr().out


def test_verbose_still_works_anywhere(tmp_path: Path, capsys):
    code = main(["results", "list", "--db", str(tmp_path / "none" / "x.db"), "--verbose"])
    err = capsys.readouterr().err
    assert code == 2 and "error:" in err


def test_progress_in_a_pipe_is_plain_lines():
    from accelbench.cli.progress import PlainReporter, RichReporter, reporter_for

    con, buf = _console(80)
    assert isinstance(reporter_for(con), PlainReporter)
    term = Console(file=io.StringIO(), force_terminal=True, width=80)
    assert isinstance(reporter_for(term), RichReporter)
    assert buf.getvalue() == ""


def test_plain_progress_times_each_workload_from_its_first_case(monkeypatch):
    """A workload's time runs from the end of the case before its first to the end of its last
    case, whatever the next workload does (it once read the next workload's first case)."""
    from types import SimpleNamespace

    from accelbench.cli import progress
    from accelbench.results.schema import Status

    clock = iter([0.0, 0.0, 30.0, 31.0, 500.0])  # start, init; case ends at 30, 31 and 500
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    con, buf = _console(80)
    rep = progress.PlainReporter(con)
    rep.start("run-1", 3, 0)
    for workload in ("train", "ops", "ops"):
        rep.case_finished(SimpleNamespace(workload=workload, status=Status.OK))
    rep.finish()
    lines = [ln for ln in buf.getvalue().splitlines() if ln.startswith("[")]
    assert lines == [
        "[1/3] train: 1 case (1 ok) in 30.0 s",
        "[3/3] ops: 2 cases (2 ok) in 470.0 s",
    ]
