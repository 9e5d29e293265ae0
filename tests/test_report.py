"""The report and compare commands on constructed stores, and a report of a real fake-device
run. (Rendering in a real browser is in test_report_browser.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from analysis_data import FULL_REPORT_SECTIONS, full_run
from helpers import suite_data, write_suite

from accelbench.api import load_suite, run_suite
from accelbench.api.sources import resolve_side, select_runs
from accelbench.cli import main
from accelbench.devices.fake import FakeDevice
from accelbench.report import write_report
from accelbench.results.store import Store

SECTIONS = FULL_REPORT_SECTIONS


@pytest.fixture
def two_platforms(tmp_path: Path) -> Path:
    db = tmp_path / "two.db"
    with Store(db) as st:
        st.add_many(full_run("run-a", "box-a"))
        st.add_many(full_run("run-b", "box-b", scale=2.0, start_s=1000, price_per_hour=0.5))
    return db


def section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


def test_report_has_every_section_in_order(two_platforms: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", "--db", str(two_platforms), "-o", str(out)]) == 0
    html = out.read_text()
    assert section_ids(html) == SECTIONS
    # one figure per section's analysis, per platform where it is per platform
    figures = re.findall(r'<figure id="([^"]+)"', html)
    assert "success-figure" in figures and "ratio-scatter-1" in figures
    assert sum(f.startswith("roofline-") for f in figures) == 2
    assert sum(f.startswith("bandwidth-") for f in figures) == 2
    assert sum(f.startswith("heatmap-") for f in figures) == 2  # linear, per platform
    assert {"training-curves", "training-throughput"} <= set(figures)
    assert html.count("<svg") == len(figures)
    # offline and script-free
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_comparison_in_the_report_shows_the_known_ratio(
    two_platforms: Path, tmp_path: Path
) -> None:
    with Store(two_platforms) as st:
        groups = select_runs(st, str(two_platforms))
    assert [g.key for g in groups] == ["run-a", "run-b"]
    w = write_report(groups, tmp_path / "r.md", fmt="md")
    text = w.path.read_text()
    # run-b is 2x on every configuration: min = median = max = geomean = 2
    row = next(line for line in text.splitlines() if line.startswith("| linear | achieved_gflops"))
    cells = row.split("|")
    # n, geometric mean and median with their intervals (the samples are exactly 2x), verdict
    # (Markdown escapes the brackets: stored text never becomes a link)
    assert cells[3:7] == [" 36 ", r" 2 \[2, 2\] ", r" 2 \[2, 2\] ", " faster "]
    assert cells[-3:-1] == [" 2 ", " 2 "]  # min, max
    assert "Figure: Roofline" in text  # named, not drawn, without --figures
    # inference: twice the throughput at half the price is 4x per unit of price
    cost = [line for line in text.splitlines() if "runtime=eager" in line and "| 0.5 |" in line]
    assert cost and cost[0].split("|")[-3:-1] == [" 2 ", " 4 "]
    assert "no bf16 kernel" in text  # an unsupported runtime is listed with its reason


def test_markdown_with_figure_files(two_platforms: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.md"
    figs = tmp_path / "out" / "fig"
    code = main(
        [
            "report",
            "--db",
            str(two_platforms),
            "-o",
            str(out),
            "--format",
            "md",
            "--figures",
            str(figs),
            "--figure-format",
            "png",
        ]
    )
    assert code == 0
    files = sorted(p.name for p in figs.iterdir())
    assert "success-figure.png" in files and len(files) >= 8
    assert all((figs / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)
    assert "![Outcome per workload kind](fig/success-figure.png)" in out.read_text()


def test_report_of_one_chosen_run(two_platforms: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "one.html"
    assert main(["report", "--db", str(two_platforms), "--run", "run-b", "-o", str(out)]) == 0
    assert "comparison-1" not in section_ids(out.read_text())
    assert capsys.readouterr().out.strip().splitlines()[-1] == str(out.resolve())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "nope"], "no run 'nope'"),
        (["--format", "pdf"], "--format 'pdf': expected html or md"),
        (["--figure-format", "gif"], "expected svg or png"),
    ],
)
def test_report_errors_are_one_line(
    two_platforms: Path, tmp_path: Path, capsys, args, message
) -> None:
    assert main(["report", "--db", str(two_platforms), "-o", str(tmp_path / "x.html"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("option", ["-o", "--figures"])
def test_an_unwritable_destination_is_one_line(
    two_platforms: Path, tmp_path: Path, capsys, option: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / ("r.html" if option == "-o" else "figs")
    args = ["report", "--db", str(two_platforms), option, str(target)]
    if option == "--figures":
        args += ["-o", str(tmp_path / "r.html")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "cannot write there" in err and str(target) in err.replace("\n", "")


def test_report_without_a_database(tmp_path: Path, capsys) -> None:
    assert main(["report", "--db", str(tmp_path / "none.db")]) == 2
    assert "no such database" in capsys.readouterr().err


def test_compare_run_ids_prints_the_ratio_table(
    two_platforms: Path, tmp_path: Path, capsys
) -> None:
    html = tmp_path / "cmp.html"
    assert main(["compare", "run-a", "run-b", "--db", str(two_platforms), "-o", str(html)]) == 0
    text = capsys.readouterr().out
    assert re.search(r"linear\s+36\s+2 \[2, 2\]\s+2 \[2, 2\]\s+faster", text)
    assert "comparison-1" in section_ids(html.read_text())


def test_compare_prints_performance_per_price(two_platforms: Path, capsys) -> None:
    args = ["compare", "run-a", "run-b", "--db", str(two_platforms)]
    assert main(args) == 0
    text = capsys.readouterr().out
    # stored prices: 2x the throughput at half the price
    assert re.search(r"resnet50 offline eager\s+│\s+1\s+│\s+0\.5\s+│\s+2\s+│\s+4", text)
    assert main([*args, "--base-price", "1", "--candidate-price", "2"]) == 0
    assert re.search(
        r"resnet50 offline eager\s+│\s+1\s+│\s+2\s+│\s+2\s+│\s+1\s", capsys.readouterr().out
    )
    assert main([*args, "--base-price", "0"]) == 2
    assert "--base-price 0: expected a positive" in capsys.readouterr().err


def test_compare_database_files_and_suite_at_device(
    two_platforms: Path, tmp_path: Path, capsys
) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with Store(a) as st:
        st.add_many(full_run("run-a", "box-a"))
    with Store(b) as st:
        st.add_many(full_run("run-b", "box-b", scale=0.5))
    assert main(["compare", str(a), str(b), "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)
    linear = next(s for s in data["summaries"] if s["kind"] == "linear")
    assert linear["geomean"] == pytest.approx(0.5)
    # training is judged on time to threshold: half the speed is twice the time, ratio 0.5
    train = next(s for s in data["summaries"] if s["kind"] == "train-demo")
    assert train["geomean"] == pytest.approx(0.5)
    assert resolve_side("s@cpu", two_platforms).key == "run-b"  # newest run of suite s on cpu


@pytest.mark.parametrize(
    ("side", "message"),
    [
        ("missing.db", "no such database file"),
        ("nosuite@cpu", "no run of suite 'nosuite'"),
        ("run-", "ambiguous"),
    ],
)
def test_compare_side_errors(two_platforms: Path, capsys, side: str, message: str) -> None:
    assert main(["compare", side, "run-a", "--db", str(two_platforms)]) == 2
    assert message in capsys.readouterr().err


def test_report_of_a_real_fake_device_run(tmp_path: Path) -> None:
    """A run through the real pipeline (fake device, GEMM with measured peaks) reports."""
    data = suite_data([16, 32, 64])
    data["workloads"].insert(
        0,
        {
            "name": "peak",
            "kind": "peak-gemm",
            "params": {"sizes": [32], "dtypes": ["float32"], "warmup_s": 0},
        },
    )
    suite = load_suite(write_suite(tmp_path / "s.yaml", data))
    db = tmp_path / "real.db"
    run_suite(suite, device=FakeDevice(), db=db)
    out = tmp_path / "real.html"
    assert main(["report", "--db", str(db), "-o", str(out)]) == 0
    ids = section_ids(out.read_text())
    assert ids[:3] == ["summary", "platforms", "success"] and "roofline" in ids


def test_the_report_opens_with_headline_numbers_linking_to_their_sections(
    two_platforms: Path, tmp_path: Path
) -> None:
    with Store(two_platforms) as st:
        groups = select_runs(st, str(two_platforms))
    text = write_report(groups, tmp_path / "r.md", fmt="md").path.read_text()
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in summary.splitlines() if ln.startswith("| on box-")]
    # both platforms, named by what differs between them (the host), each with its numbers
    assert {r.split("|")[1].strip() for r in rows} == {"on box-a", "on box-b"}
    best_linear = [r for r in rows if "best linear float32" in r]
    assert len(best_linear) == 2
    a, b = (float(r.split("|")[3].split()[0].replace(",", "")) for r in best_linear)
    assert b == pytest.approx(2 * a, rel=1e-3)  # run-b is 2x on every configuration
    assert all("](#" in r for r in rows)  # every headline links to its section
    # ... by the anchor Markdown gives the section's heading
    assert "](#best-and-median-throughput-per-operator)" in best_linear[0]
    assert "## Best and median throughput per operator" in text
    assert any("time to threshold" in r for r in rows)
    html = tmp_path / "r.html"
    assert main(["report", "--db", str(two_platforms), "-o", str(html)]) == 0
    assert section_ids(html.read_text())[0] == "summary"
    assert '<a href="#operators">' in html.read_text()
