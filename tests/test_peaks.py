"""`accelbench peaks`: measured peaks are stored, shown, reused by sweeps, and not re-measured."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_cli import cli, flat, one_error_line

from accelbench.analysis.derived import roofline_bound, unreliable_peaks
from accelbench.api import run_suite, validate_suite
from accelbench.api.peaks import ACCELERATOR_SIZES, CPU_SIZES, peaks_suite
from accelbench.api.references import peak_ref
from accelbench.cli import main
from accelbench.devices.cpu import CpuDevice
from accelbench.devices.fake import FakeDevice
from accelbench.results.store import Store
from accelbench.workloads.gemm import search_shapes

FAST = [
    "--device",
    "fake",
    "--size",
    "16",
    "--size",
    "32",
    "--bandwidth-size",
    "64KiB",
    "--time-budget",
    "0.2",
    "--no-search",
]


def test_peaks_suite_sizes_follow_the_device() -> None:
    cpu = peaks_suite(CpuDevice())
    gemm = next(w for w in cpu.workloads if w.kind == "peak-gemm")
    assert gemm.params["sizes"] == CPU_SIZES
    fake = peaks_suite(FakeDevice(), sizes=[64], bandwidth_sizes=[4096])
    assert next(w for w in fake.workloads if w.kind == "peak-gemm").params["sizes"] == [64]
    assert next(w for w in fake.workloads if w.kind == "peak-bandwidth").params == {"sizes": [4096]}
    accel = peaks_suite(FakeDevice())
    assert next(w for w in accel.workloads if w.kind == "peak-gemm").params["sizes"] == (
        ACCELERATOR_SIZES
    )


def test_peaks_are_measured_stored_and_shown_again_without_remeasuring(
    tmp_path: Path, capsys
) -> None:
    db = tmp_path / "p.db"
    code, out, _ = cli(capsys, "peaks", *FAST, "--db", str(db), "--json")
    assert code == 0, out
    first = json.loads(out)["peaks"]
    by_name = {r["peak"]: r for r in first}
    # tfloat32 exists only on NVIDIA GPUs: stored as unsupported, with the reason
    assert by_name["compute tfloat32"]["status"] == "unsupported"
    assert "without tfloat32" in by_name["compute tfloat32"]["message"]
    for name in ("compute float32", "compute bfloat16", "compute float16", "memory bandwidth"):
        assert by_name[name]["status"] == "ok" and by_name[name]["measured"] > 0, name
    # the fake's datasheet entry gives 10 TFLOPS float32: the ratio is measured / datasheet
    f32 = by_name["compute float32"]
    assert f32["datasheet"] == pytest.approx(10_000.0)
    assert f32["of_datasheet"] == pytest.approx(f32["measured"] / 10_000.0)
    with Store(db) as st:
        stored = st.count()
    assert stored == 5

    code, out, _ = cli(capsys, "peaks", *FAST, "--db", str(db), "--json")
    assert code == 0
    again = json.loads(out)["peaks"]
    assert [r["result_id"] for r in again] == [r["result_id"] for r in first]
    with Store(db) as st:
        assert st.count() == stored  # nothing measured twice

    code, out, _ = cli(capsys, "peaks", *FAST, "--db", str(db), "--json", "--remeasure")
    assert code == 0
    with Store(db) as st:
        assert st.count() == 2 * stored


def test_peaks_table_names_measured_and_datasheet(tmp_path: Path, capsys) -> None:
    code, out, _ = cli(capsys, "peaks", *FAST, "--db", str(tmp_path / "p.db"))
    assert code == 0
    text = flat(out)
    assert "GB/s" in text and "GFLOP/s" in text and "bandwidth" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--dtype", "int4"], "--dtype 'int4'"),
        (["--size", "0"], "--size 0"),
        (["--bandwidth-size", "1MB"], "--bandwidth-size"),
        (["--device", "tpu9"], "tpu9"),
    ],
)
def test_bad_peaks_input_is_one_error_line(
    tmp_path: Path, capsys, args: list[str], needle: str
) -> None:
    base = ["--device", "fake"] if "--device" not in args else []
    code, _, err = cli(capsys, "peaks", *base, *args, "--db", str(tmp_path / "p.db"))
    assert code == 2
    assert needle in one_error_line(err)


def test_later_sweeps_use_the_stored_peaks_for_the_roofline(tmp_path: Path, capsys) -> None:
    db = tmp_path / "p.db"
    dev = FakeDevice(durations=[1e-3])
    run_suite(
        peaks_suite(dev, sizes=[16], dtypes=["float32"], bandwidth_sizes=[4096]), device=dev, db=db
    )
    suite = validate_suite(
        {
            "name": "later",
            "measure": {"warmup": 1, "iterations": 3},
            "workloads": [
                {
                    "name": "fc",
                    "kind": "linear",
                    "params": {
                        "batch": [8],
                        "in_features": [8],
                        "out_features": [8],
                        "modes": ["forward"],
                        "dtypes": ["float32"],
                    },
                }
            ],
        },
        "test",
    )
    report = run_suite(suite, device=dev, db=db)
    r = report.results[0]
    with Store(db) as st:
        bw = st.query(kind="peak-bandwidth")[0]
        peak = st.query(kind="peak-gemm")[0]
    used = r.references
    assert used.measured_bandwidth is not None and used.measured_bandwidth.result_id == bw.result_id
    assert used.measured_peak is not None and used.measured_peak.result_id == peak.result_id
    assert r.metric("roofline_efficiency") is not None
    assert roofline_bound(r) in {"memory", "compute"}


def test_peaks_from_another_software_stack_are_measured_again(tmp_path: Path, capsys) -> None:
    """A torch upgrade can move the peak and sweeps will not use the old one, so `peaks` must
    not answer "already stored" with it."""
    db = tmp_path / "p.db"
    assert cli(capsys, "peaks", *FAST, "--db", str(db), "--json")[0] == 0
    con = sqlite3.connect(db)
    with con:
        con.execute("UPDATE results SET record = json_set(record, '$.environment.torch', '1.0')")
    con.close()
    code, out, err = cli(capsys, "peaks", *FAST, "--db", str(db), "--json")
    assert code == 0
    assert "another software stack" in err
    rows = json.loads(out)["peaks"]
    with Store(db) as st:
        assert st.count() == 10
        fresh = {r.result_id for r in st.query() if r.environment.torch != "1.0"}
    assert {r["result_id"] for r in rows} <= fresh


def test_peaks_show_only_this_thread_count(tmp_path: Path, capsys) -> None:
    db = tmp_path / "p.db"
    one = json.loads(cli(capsys, "peaks", *FAST, "--db", str(db), "--threads", "1", "--json")[1])
    two = json.loads(cli(capsys, "peaks", *FAST, "--db", str(db), "--threads", "2", "--json")[1])
    again = json.loads(cli(capsys, "peaks", *FAST, "--db", str(db), "--threads", "1", "--json")[1])
    ids = [r["result_id"] for r in one["peaks"]]
    assert [r["result_id"] for r in again["peaks"]] == ids
    assert not set(ids) & {r["result_id"] for r in two["peaks"]}


def test_noisy_peak_is_flagged() -> None:
    from accelbench.api.peaks import quality_note
    from accelbench.results.schema import Result

    dev = FakeDevice(durations=[1e-3, 3e-3])  # every other iteration 3x slower: IQR = median
    suite = peaks_suite(
        dev, sizes=[16], dtypes=["float32"], bandwidth_sizes=[4096], time_budget_s=1.0
    )
    report = run_suite(suite, device=dev, db=":memory:")
    r: Result = report.results[0]
    assert r.summary is not None and r.summary.high_spread
    assert "noisy" in quality_note(r) and "--remeasure" in quality_note(r)


def test_peak_gemm_searches_shapes_around_the_best_square_and_stores_its_interval() -> None:
    data = {
        "name": "p",
        "measure": {"warmup": 1, "iterations": 5},
        "workloads": [
            {
                "name": "peak",
                "kind": "peak-gemm",
                "params": {"sizes": [64, 128], "dtypes": ["float32"], "warmup_s": 0.01},
            }
        ],
    }
    (r,) = run_suite(validate_suite(data, "test"), device=FakeDevice(), db=":memory:").results
    tried = [tuple(x["shape"]) for x in r.config["shapes_tried"]]
    best = max((64, 128), key=lambda s: r.metric(f"gflops_at_{s}"))
    assert tried[:2] == [(64, 64, 64), (128, 128, 128)]
    assert set(tried[2:]) == set(search_shapes(best)) - {(64, 64, 64), (128, 128, 128)}
    rates = [x["gflops"] for x in r.config["shapes_tried"]]
    assert r.metric("peak_gflops") == pytest.approx(max(rates))
    assert list(r.config["best_shape"]) == list(tried[rates.index(max(rates))])
    low, high = r.metric("peak_gflops_low"), r.metric("peak_gflops_high")
    assert low <= r.metric("peak_gflops") <= high
    assert r.config["peak_interval"]["resamples"] == 2000
    assert r.config["warmup_s"] == 0.01
    # the reference later cases get carries the interval
    ref = peak_ref(r)
    assert ref.low == pytest.approx(low * 1e9) and ref.high == pytest.approx(high * 1e9)
    assert search_shapes(2048) == [
        (1536, 1536, 1536),
        (2560, 2560, 2560),
        (4096, 1024, 2048),
        (1024, 4096, 2048),
    ]


def test_a_case_above_the_peaks_upper_bound_marks_the_peak_unreliable(tmp_path: Path) -> None:
    """Constant scripted timings: a 64^3 GEMM in the time of the 16^3 peak is 64x the peak,
    far above its upper bound, so the peak is no ceiling: no utilisation above 100% is stored,
    for that case or any later one, and the report says so."""
    data = {
        "name": "u",
        "measure": {"warmup": 1, "iterations": 5},
        "workloads": [
            {
                "name": "peak",
                "kind": "peak-gemm",
                "params": {"sizes": [16], "dtypes": ["float32"], "search": False, "warmup_s": 0},
            },
            {"name": "g", "kind": "gemm", "params": {"sizes": [64, 16], "dtypes": ["float32"]}},
        ],
    }
    db = tmp_path / "u.db"
    dev = FakeDevice(durations=[1e-3])
    peak, big, same = run_suite(validate_suite(data, "test"), device=dev, db=db).results
    assert big.metric("achieved_gflops") > 60 * peak.metric("peak_gflops")
    mp = big.references.measured_peak
    assert mp is not None and mp.result_id == peak.result_id
    assert mp.unreliable and "gemm 64x64x64 float32 reached" in mp.unreliable
    util = big.metrics["utilisation_measured"]
    assert (
        util.value is None
        and "measured peak" in util.unavailable
        and "unreliable" in (util.unavailable)
    )
    assert big.metrics["roofline_efficiency"].value is None
    # the later case, equal to the peak, is not judged against it either
    assert same.references.measured_peak.unreliable == mp.unreliable
    assert same.metrics["utilisation_measured"].value is None
    assert unreliable_peaks([peak, big, same]) == {peak.result_id: mp.unreliable}
    out = tmp_path / "r.md"
    assert main(["report", "--db", str(db), "-o", str(out), "--format", "md"]) == 0
    text = out.read_text()
    assert "peak unreliable" in text and "Measured peak unreliable: gemm 64x64x64" in text
    assert "6,400" not in text and "%" in text
