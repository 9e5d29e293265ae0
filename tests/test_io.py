"""Result schema round-trips: run_suite -> store -> query, and export -> import through JSONL,
CSV and Parquet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import tiny_suite
from pydantic import ValidationError

from accelbench.api import run_suite
from accelbench.devices.fake import FakeDevice
from accelbench.errors import StoreError, UserError
from accelbench.results import schema
from accelbench.results.io import detect_format, export_results, flatten, read_results
from accelbench.results.schema import (
    SCHEMA_VERSION,
    Metric,
    Result,
    Status,
    case_key,
    result_json_schema,
    upgrade_record,
)
from accelbench.results.store import Store

MiB = 1 << 20


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> list[Result]:
    """A small sweep with every kind of outcome: ok, oom and unsupported."""
    db = tmp_path_factory.mktemp("io") / "source.db"
    dev = FakeDevice(memory_bytes=8 * MiB, dtypes=["float32"])
    report = run_suite(
        tiny_suite([16, 2048, 32], ["float32", "float16"]), device=dev, db=db, threads=1
    )
    assert len(report.results) == 6
    return report.results


def dumps(rs: list[Result]) -> list[dict]:
    return [r.model_dump() for r in rs]


def test_fixture_has_every_outcome(results: list[Result]) -> None:
    statuses = [r.status for r in results]
    assert statuses.count(Status.OK) == 2
    assert statuses.count(Status.OOM) == 1
    assert statuses.count(Status.UNSUPPORTED) == 3
    ok = next(r for r in results if r.status is Status.OK)
    # an ok GEMM carries raw samples, a summary and metrics with units
    assert len(ok.samples) == 3 and ok.summary is not None and ok.summary.n == 3
    assert ok.metrics["achieved_gflops"].unit == "GFLOP/s"
    assert ok.metrics["achieved_gflops"].value > 0
    # no measured peak in the store: the metric says why instead of holding a number
    um = ok.metrics["utilisation_measured"]
    assert um.value is None and um.unavailable


def test_store_round_trip(results: list[Result], tmp_path: Path) -> None:
    with Store(tmp_path / "r.db") as st:
        assert st.add_many(results) == (len(results), 0)
    with Store(tmp_path / "r.db") as st:
        back = st.query()
        assert {r.result_id: r.model_dump() for r in back} == {
            r.result_id: r.model_dump() for r in results
        }
        one = st.get(results[0].result_id[:10])
        assert one.model_dump() == results[0].model_dump()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_import_round_trip(results: list[Result], tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"out.{fmt}"
    assert export_results(results, path) == len(results)
    back = list(read_results(path))
    assert dumps(back) == dumps(results)
    # and again through a second export: the format is a fixed point
    path2 = tmp_path / f"again.{fmt}"
    export_results(back, path2)
    assert dumps(list(read_results(path2))) == dumps(results)


def test_round_trip_through_store_and_every_format(results: list[Result], tmp_path: Path) -> None:
    """Machine A exports JSONL; B imports it and exports CSV; C imports that, exports Parquet."""
    rs = results
    for i, fmt in enumerate(["jsonl", "csv", "parquet"]):
        with Store(tmp_path / f"m{i}.db") as st:
            st.add_many(rs)
            rs = st.query()
        export_results(rs, tmp_path / f"m{i}.{fmt}")
        rs = list(read_results(tmp_path / f"m{i}.{fmt}"))
    assert sorted(dumps(rs), key=lambda d: d["result_id"]) == sorted(
        dumps(results), key=lambda d: d["result_id"]
    )


def test_csv_is_a_flat_table_with_units(results: list[Result], tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    export_results(results, path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results)
    cols = rows[0].keys()
    assert {"result_id", "status", "case.m", "case.dtype", "record"} <= set(cols)
    assert "achieved_gflops [GFLOP/s]" in cols and "time.median [s]" in cols
    assert list(cols)[-1] == "record"
    assert {r["status"] for r in rows} == {"ok", "oom", "unsupported"}


def test_parquet_columns_are_typed(results: list[Result], tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    export_results(results, path)
    table = pq.read_table(path)
    assert table.num_rows == len(results)
    assert str(table.schema.field("case.m").type) == "int64"
    assert str(table.schema.field("achieved_gflops [GFLOP/s]").type) == "double"
    assert table.column("status").to_pylist() == [r.status.value for r in results]


def test_flatten_keeps_nested_case_values_readable(results: list[Result]) -> None:
    r = results[0].model_copy(update={"case": {"sizes": [1, 2], "dtype": "float32"}})
    row = flatten(r)
    assert row["case.sizes"] == "[1, 2]"
    assert row["case.dtype"] == "float32"


def test_result_ids_are_stable(results: list[Result]) -> None:
    r = results[0]
    assert len(r.result_id) == 32
    data = r.model_dump(mode="json")
    # recomputed from content on another machine: the same id
    recomputed = Result.model_validate({**data, "result_id": "", "case_key": ""})
    assert recomputed.result_id == r.result_id
    assert recomputed.case_key == r.case_key
    # the case key does not depend on the order of the case's keys
    assert case_key(dict(reversed(list(r.case.items())))) == r.case_key
    # a different run (or start time) of the same case is a different result
    other = Result.model_validate({**data, "result_id": "", "run_id": "another-run"})
    assert other.result_id != r.result_id
    assert len({x.result_id for x in results}) == len(results)


def test_results_are_immutable(results: list[Result]) -> None:
    with pytest.raises(ValidationError):
        results[0].status = Status.ERROR  # type: ignore[misc]


def test_metric_without_value_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="unavailable"):
        Metric(value=None, unit="%")
    with pytest.raises(ValidationError):
        Metric(value=None, unit="%", unavailable="")
    m = Metric.missing("%", "no datasheet entry")
    assert m.value is None and m.unavailable == "no datasheet entry"
    assert Metric(value=1.5, unit="s").unavailable is None
    with pytest.raises(ValidationError):
        Metric(value=1.0, unit="s", bogus=1)  # type: ignore[call-arg]


def test_unknown_fields_are_rejected(results: list[Result]) -> None:
    data = results[0].model_dump(mode="json")
    with pytest.raises(ValidationError):
        Result.model_validate({**data, "surprise": 1})


def test_upgrade_record_refuses_newer_schema(results: list[Result]) -> None:
    data = results[0].model_dump(mode="json")
    assert upgrade_record(dict(data)) == data  # current version: unchanged
    newer = {**data, "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(StoreError, match="newer"):
        upgrade_record(newer)


def test_upgrade_record_applies_steps(results: list[Result], monkeypatch) -> None:
    """A record of an older version is lifted through every upgrade step in order."""
    calls = []

    def v1_to_v2(d: dict) -> dict:
        calls.append(d["schema_version"])
        return {**d, "schema_version": 2}

    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(schema, "RECORD_UPGRADES", [v1_to_v2])
    data = {**results[0].model_dump(mode="json"), "schema_version": 1}
    assert upgrade_record(data)["schema_version"] == 2
    assert calls == [1]
    assert upgrade_record({**data, "schema_version": 2})["schema_version"] == 2
    assert calls == [1]  # already current: no step ran


def test_version_1_record_gains_an_empty_trace(results: list[Result]) -> None:
    data = results[0].model_dump(mode="json")
    data.pop("trace")
    data["schema_version"] = 1
    up = upgrade_record(data)
    assert up["schema_version"] == SCHEMA_VERSION and up["trace"] == []
    assert Result.model_validate(up).trace == []


def test_newer_record_in_an_export_is_a_clear_error(results: list[Result], tmp_path: Path) -> None:
    data = results[0].model_dump(mode="json")
    data["schema_version"] = SCHEMA_VERSION + 1
    path = tmp_path / "future.jsonl"
    path.write_text(json.dumps(data) + "\n")
    with pytest.raises(UserError, match=r"future\.jsonl:1: .*newer"):
        list(read_results(path))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("scalar.jsonl", b"123\n", "expected a JSON object, got int"),
        ("list.jsonl", b"[1, 2]\n", "expected a JSON object, got list"),
        ("version.jsonl", b'{"schema_version": "abc"}\n', "not an accelbench result"),
        ("binary.jsonl", b"PAR1\x00\xff\xfe\x80", "not a text file"),
        ("short.csv", b"result_id,record\nabc\n", "empty or missing record"),
        ("bad.json.jsonl", b'{"unterminated": "x\n', "not valid JSON (Invalid control character"),
    ],
)
def test_malformed_imports_are_one_line_user_errors(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as ei:
        list(read_results(path))
    msg = str(ei.value)
    assert expected in msg and str(path) in msg and "\n" not in msg


def test_parquet_without_a_record_column_is_one_line(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "norec.parquet"
    pq.write_table(pa.table({"a": [1, 2]}), path)
    with pytest.raises(UserError, match="'record' column") as ei:
        list(read_results(path))
    assert "\n" not in str(ei.value)


def test_export_to_a_directory_or_unwritable_place_is_a_user_error(
    results: list[Result], tmp_path: Path
) -> None:
    (tmp_path / "d.jsonl").mkdir()
    with pytest.raises(UserError, match="is a directory"):
        export_results(results, tmp_path / "d.jsonl")
    with pytest.raises(UserError, match="cannot write"):
        export_results(results, Path("/proc/accelbench.jsonl"))
    assert not list(tmp_path.glob(".*.tmp"))  # no half-written file left behind


def test_json_schema_describes_the_record() -> None:
    js = result_json_schema()
    assert {"result_id", "status", "metrics", "samples", "environment"} <= set(js["properties"])
    assert "Metric" in js["$defs"] and "Environment" in js["$defs"]
    assert set(js["$defs"]["Status"]["enum"]) == {s.value for s in Status}


# -- bad input -----------------------------------------------------------------------------------
def test_detect_format() -> None:
    assert detect_format(Path("a.jsonl"), None) == "jsonl"
    assert detect_format(Path("a.NDJSON"), None) == "jsonl"
    assert detect_format(Path("a.csv"), None) == "csv"
    assert detect_format(Path("a.parquet"), None) == "parquet"
    assert detect_format(Path("a.db"), None) == "db"
    assert detect_format(Path("a.txt"), "csv") == "csv"
    with pytest.raises(UserError, match="extension"):
        detect_format(Path("a.txt"), None)
    with pytest.raises(UserError, match="--format"):
        detect_format(Path("a.csv"), "xlsx")


def test_export_refuses_db_and_missing_folder(results: list[Result], tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"copy the \.db"):
        export_results(results, tmp_path / "x.db")
    with pytest.raises(UserError, match="does not exist"):
        export_results(results, tmp_path / "nope" / "x.jsonl")


def test_read_bad_files(results: list[Result], tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        list(read_results(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(results[0].model_dump_json() + "\n{not json\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:2: not valid JSON"):
        list(read_results(bad))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"hello": 1}\n')
    with pytest.raises(UserError, match="not an accelbench result"):
        list(read_results(wrong))
    plain = tmp_path / "plain.csv"
    plain.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="'record' column"):
        list(read_results(plain))
    notpq = tmp_path / "x.parquet"
    notpq.write_text("not parquet")
    with pytest.raises(UserError, match="Parquet"):
        list(read_results(notpq))
    notdb = tmp_path / "x.db"
    notdb.write_text("not a database, just text " * 100)
    with pytest.raises(UserError, match="not an accelbench database"):
        list(read_results(notdb))


def test_read_results_from_another_db(results: list[Result], tmp_path: Path) -> None:
    with Store(tmp_path / "other.db") as st:
        st.add_many(results)
    back = list(read_results(tmp_path / "other.db"))
    assert sorted(dumps(back), key=lambda d: d["result_id"]) == sorted(
        dumps(results), key=lambda d: d["result_id"]
    )


def test_blank_lines_in_jsonl_are_ignored(results: list[Result], tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text("\n".join(r.model_dump_json() for r in results[:2]) + "\n\n\n")
    assert [r.result_id for r in read_results(path)] == [r.result_id for r in results[:2]]


def test_exports_are_utf8_whatever_the_locale(results: list[Result], tmp_path: Path) -> None:
    """A host or CPU name outside ASCII must export and import under a C/ASCII locale too."""
    import os
    import subprocess
    import sys

    r = results[0]
    env_model = r.environment.model_copy(update={"host": "büro-ü", "cpu_model": "Ärm Ω"})
    src = tmp_path / "src.json"
    # A new host is new content: the record gets the id that content gives.
    moved = {**r.model_dump(mode="json"), "environment": env_model.model_dump(), "result_id": ""}
    src.write_text(Result.model_validate(moved).model_dump_json(), "utf-8")
    script = (
        "import sys; from pathlib import Path\n"
        "from accelbench.results.schema import Result\n"
        "from accelbench.results.io import export_results, read_results\n"
        "r = Result.model_validate_json(Path(sys.argv[1]).read_bytes())\n"
        "for fmt in ('jsonl', 'csv'):\n"
        "    p = Path(sys.argv[2]) / ('out.' + fmt)\n"
        "    export_results([r], p)\n"
        "    (back,) = read_results(p)\n"
        "    assert back.model_dump() == r.model_dump(), fmt\n"
    )
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    proc = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", script, str(src), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "büro-ü" in (tmp_path / "out.jsonl").read_text("utf-8")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_empty_export_reads_back_empty(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"empty.{fmt}"
    assert export_results([], path) == 0
    assert path.exists()
    assert list(read_results(path)) == []


def test_version_2_record_moves_peaks_used_into_typed_references(
    results: list[Result],
) -> None:
    """A v2 record kept the peaks it was compared with as an untyped ``config.peaks_used`` and
    the idle power under ``config.power.idle``; v3 reads both into ``references``, and the
    derived numbers recomputed from them equal the ones stored."""
    from accelbench.analysis.derived import rederive

    data = results[0].model_dump(mode="json")
    data.pop("references")
    data["schema_version"] = 2
    data["case"] = {**data["case"], "dtype": "float32"}
    data["metrics"] = {
        "achieved_gflops": {"value": 50.0, "unit": "GFLOP/s"},
        "arithmetic_intensity": {"value": 2.0, "unit": "FLOP/B"},
        "utilisation_measured": {"value": 50.0, "unit": "%"},
        "utilisation_datasheet": {"value": 0.5, "unit": "%"},
        "power_avg_w": {"value": 100.0, "unit": "W"},
    }
    data["config"] = {
        **data["config"],
        "peaks_used": {
            "datasheet_peak": {
                "name": "X",
                "flops": 1e13,
                "source": "s",
                "memory_bandwidth_gbs": 1e3,
            },
            "measured_peak": {"flops": 1e11, "result_id": "p", "cv": 0.01, "converged": True},
            "measured_bandwidth": {"bytes_per_s": 1e10, "result_id": "b"},
            "roofline_bound": "memory",
        },
        "power": {"duration_s": 2.0, "iterations": 4, "idle": {"watts": 40.0, "result_id": "i"}},
    }
    r = Result.model_validate(upgrade_record(data))
    refs = r.references
    assert "peaks_used" not in r.config and "idle" not in r.config["power"]
    assert refs.basis.compute_dtype == "float32"
    assert refs.measured_peak is not None and refs.measured_peak.result_id == "p"
    assert refs.measured_bandwidth is not None and refs.measured_bandwidth.value == 1e10
    assert refs.datasheet is not None and refs.datasheet.flops == 1e13
    assert refs.idle_power is not None and refs.idle_power.watts == 40.0
    derived = rederive(r)
    assert derived["utilisation_measured"].value == pytest.approx(50.0)
    assert derived["utilisation_datasheet"].value == pytest.approx(0.5)
    # memory roof at intensity 2 is 2e10 FLOP/s, below the 1e11 compute roof
    assert derived["roofline_attainable_gflops"].value == pytest.approx(20.0)
    assert derived["net_energy_per_iter_j"].value == pytest.approx((100 - 40) * 2.0 / 4)
